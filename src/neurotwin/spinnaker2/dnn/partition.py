"""Cutting an int8 model into stages and stages into PE slices, and placing them.

A **stage** is one MAC layer (Linear or Conv2d) with the pooling, ReLU and Flatten layers
after it (and, for the first stage, any before it). A stage is cut by **output channels**
(features) into slices of near-equal size, one per PE; every PE of a stage receives the
stage's whole input. A slice's PE data SRAM holds::

    4096 reserved + input (+ the outputs of layers before the first MAC layer)
    + c K weights + 12 c constants (bias term, multiplier, weight sum: 4 B each)
    + 4 c P accumulators + c P output codes + the slice's share of later layers' outputs

for ``c`` channels, ``K`` products per output and ``P`` output positions per channel; the
weights stay in SRAM between inferences. A stage takes the fewest PEs whose slices fit
``PE_DATA_BYTES`` and, if ``max_cycles_per_pe`` is given, need at most that many cycles
(as far as channels allow). A layer whose single output channel with its whole input does
not fit raises ``CapacityError`` (layers are not cut spatially). Slices take the working
PEs of the machine in order (chip by chip), stage after stage.

The reduction of a MAC layer is cut into parts (:func:`reduction_chunks`) so that no sum
can leave the MAC array's 29-bit accumulator for any input; the ARM adds the parts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from neurotwin.errors import CapacityError
from neurotwin.spinnaker2.accelerators import mac_cycles
from neurotwin.spinnaker2.dnn.layers import DnnLayer, Flatten, MacLayer, Pool, QuantisedModel, Relu
from neurotwin.spinnaker2.dnn.ops import CODE_MAX
from neurotwin.spinnaker2.machine import Machine, check_clock
from neurotwin.spinnaker2.specs import (
    CYCLES_PER_PARTIAL_SUM,
    CYCLES_PER_POOL_INPUT,
    CYCLES_PER_RELU,
    CYCLES_PER_REQUANTISE,
    CYCLES_STAGE_OVERHEAD,
    MAC_ACCUMULATOR_MAX,
    PE_DATA_BYTES,
    PE_RESERVED_DATA_BYTES,
)

__all__ = ["DnnProgram", "PeSlice", "Stage", "deploy", "reduction_chunks"]

CONSTANT_BYTES_PER_OUTPUT = 12
"""Bias term (float32), multiplier (float32) and weight sum (int32) per output channel."""
ACCUMULATOR_BYTES = 4
"""One accumulator as the MAC array writes it to SRAM (32-bit word)."""


@dataclass(frozen=True)
class PeSlice:
    """One PE's share of a stage.

    Parameters
    ----------
    chip, pe
        Where it runs (chip index, PE 0..151).
    outputs
        (start, stop) output channels or features it computes.
    sram_bytes
        PE data SRAM it uses.
    mac_cycles, arm_cycles
        Cycles per inference of the MAC array (jobs incl. their start) and of the ARM
        (requantisation, partial sums, pooling, ReLU, stage overhead).
    """

    chip: int
    pe: int
    outputs: tuple[int, int]
    sram_bytes: int
    mac_cycles: int
    arm_cycles: int

    @property
    def cycles(self) -> int:
        """Cycles per inference: MAC array then ARM (no overlap assumed)."""
        return self.mac_cycles + self.arm_cycles


@dataclass(frozen=True, eq=False)
class Stage:
    """A MAC layer with the layers run before and after it on the same PEs."""

    layer: MacLayer
    before: tuple[DnnLayer, ...]
    after: tuple[DnnLayer, ...]
    chunks: tuple[tuple[int, int], ...]
    slices: tuple[PeSlice, ...]

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Shape of one sample of the stage's input."""
        return self.before[0].in_shape if self.before else self.layer.in_shape

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one sample of the stage's output."""
        return self.after[-1].out_shape if self.after else self.layer.out_shape

    @property
    def in_bytes(self) -> int:
        """Bytes of one input sample (uint8 codes)."""
        return int(np.prod(self.in_shape))

    @property
    def out_bytes(self) -> int:
        """Bytes of one output sample (uint8 codes)."""
        return int(np.prod(self.out_shape))


@dataclass(frozen=True, eq=False)
class DnnProgram:
    """A quantised model placed on a machine: what :func:`.run.run_dnn` executes.

    Parameters
    ----------
    model
        The quantised model.
    machine
        The machine.
    stages
        The stages in order, each with its PE slices.
    clock_mhz
        PE clock, MHz (a DVFS level).
    """

    model: QuantisedModel
    machine: Machine
    stages: tuple[Stage, ...]
    clock_mhz: float

    @property
    def n_pes(self) -> int:
        """PEs used."""
        return sum(len(s.slices) for s in self.stages)


def reduction_chunks(layer: MacLayer) -> tuple[tuple[int, int], ...]:
    """Parts (start, stop) of the reduction K, in order, such that for every output and
    every input ``sum |x w|`` over a part stays within ``MAC_ACCUMULATOR_MAX`` (inputs up to
    code 255): a greedy cut on the largest weight magnitude of each column."""
    column = CODE_MAX * np.abs(layer.weight.astype(np.int64)).max(axis=0)
    chunks, start, total = [], 0, 0
    for k, bound in enumerate(column.tolist()):
        if total + bound > MAC_ACCUMULATOR_MAX:
            chunks.append((start, k))
            start, total = k, 0
        total += bound
    chunks.append((start, layer.reduction))
    return tuple(chunks)


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def _op_cycles(layer: DnnLayer, share: float) -> int:
    """ARM cycles of a pooling or ReLU layer on ``share`` of its channels."""
    if isinstance(layer, Pool):
        inputs = _elements(layer.out_shape) * layer.kernel[0] * layer.kernel[1]
        return int(np.ceil(share * inputs)) * CYCLES_PER_POOL_INPUT
    if isinstance(layer, Relu):
        return int(np.ceil(share * _elements(layer.in_shape))) * CYCLES_PER_RELU
    return 0


def _op_bytes(layer: DnnLayer, share: float) -> int:
    """Output buffer of a pooling or ReLU layer for ``share`` of its channels (Flatten is
    a reinterpretation: no buffer)."""
    return 0 if isinstance(layer, Flatten) else int(np.ceil(share * _elements(layer.out_shape)))


def _slice_cost(layer: MacLayer, before: tuple[DnnLayer, ...], after: tuple[DnnLayer, ...],
                chunks: tuple[tuple[int, int], ...], c: int) -> tuple[int, int, int]:
    """(SRAM bytes, MAC cycles, ARM cycles) of a slice of ``c`` output channels."""
    p, k = layer.positions, layer.reduction
    share = c / layer.n_outputs
    in_shape = before[0].in_shape if before else layer.in_shape
    sram = (PE_RESERVED_DATA_BYTES + _elements(in_shape) + sum(_op_bytes(op, 1.0) for op in before)
            + c * k + CONSTANT_BYTES_PER_OUTPUT * c + (ACCUMULATOR_BYTES + 1) * c * p
            + sum(_op_bytes(op, share) for op in after))
    mac = sum(mac_cycles(p, stop - start, c) for start, stop in chunks)
    arm = (CYCLES_STAGE_OVERHEAD + c * p * CYCLES_PER_REQUANTISE
           + (len(chunks) - 1) * c * p * CYCLES_PER_PARTIAL_SUM
           + sum(_op_cycles(op, 1.0) for op in before) + sum(_op_cycles(op, share) for op in after))
    return sram, mac, arm


def _split(n_outputs: int, n: int) -> list[tuple[int, int]]:
    """``n`` near-equal consecutive parts of ``n_outputs`` (the larger ones first)."""
    edges = np.cumsum([0] + [n_outputs // n + (i < n_outputs % n) for i in range(n)])
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _stage_parts(layers: tuple[DnnLayer, ...]
                 ) -> list[tuple[tuple[DnnLayer, ...], MacLayer, tuple[DnnLayer, ...]]]:
    """(before, MAC layer, after) per stage."""
    parts: list[tuple[tuple[DnnLayer, ...], MacLayer, list[DnnLayer]]] = []
    before: list[DnnLayer] = []
    for layer in layers:
        if isinstance(layer, MacLayer):
            parts.append((tuple(before), layer, []))
            before = []
        elif parts:
            parts[-1][2].append(layer)
        else:
            before.append(layer)
    return [(b, m, tuple(a)) for b, m, a in parts]


def deploy(qmodel: QuantisedModel, machine: Machine | None = None, *,
           max_cycles_per_pe: int | None = None, clock_mhz: float | None = None) -> DnnProgram:
    """Cut ``qmodel`` into stages and PE slices and place them (module docstring).

    Parameters
    ----------
    qmodel
        From :func:`.quantisation.quantise`.
    machine
        Where to place it; default a single-chip machine (152 PEs).
    max_cycles_per_pe
        Cut a stage into more slices until each needs at most this many cycles per
        inference (None: only as many as SRAM requires).
    clock_mhz
        DVFS level (150 or 300 MHz); default the machine's.

    Raises
    ------
    CapacityError
        ``"PE data memory (bytes)"`` naming the layer whose one output channel does not fit;
        ``"PEs"`` when the stages need more working PEs than the machine has.
    ConfigError
        An unknown clock.
    """
    machine = Machine(board_chips=1) if machine is None else machine
    clock = check_clock(machine.clock_mhz if clock_mhz is None else clock_mhz)
    free = [(int(c), int(p)) for c, p in zip(*np.nonzero(machine.pe_alive), strict=True)]
    stages: list[Stage] = []
    used = 0
    for before, layer, after in _stage_parts(qmodel.layers):
        chunks = reduction_chunks(layer)
        one = _slice_cost(layer, before, after, chunks, 1)
        if one[0] > PE_DATA_BYTES:
            raise CapacityError("PE data memory (bytes)", one[0], PE_DATA_BYTES,
                                f"{layer.name}: one output channel with its whole input "
                                f"{layer.in_shape}; layers are cut by output channels only")
        for n in range(1, layer.n_outputs + 1):
            sram, mac, arm = _slice_cost(layer, before, after, chunks, -(-layer.n_outputs // n))
            fast = max_cycles_per_pe is None or mac + arm <= max_cycles_per_pe
            if sram <= PE_DATA_BYTES and fast:
                break
        parts = _split(layer.n_outputs, n)
        if used + len(parts) > len(free):
            raise CapacityError("PEs", used + len(parts), len(free),
                                f"{layer.name} is the first layer that does not fit; "
                                f"later layers need more")
        slices = []
        for start, stop in parts:
            sram, mac, arm = _slice_cost(layer, before, after, chunks, stop - start)
            chip, pe = free[used]
            slices.append(PeSlice(chip, pe, (start, stop), sram, mac, arm))
            used += 1
        stages.append(Stage(layer, before, after, chunks, tuple(slices)))
    return DnnProgram(qmodel, machine, tuple(stages), clock)
