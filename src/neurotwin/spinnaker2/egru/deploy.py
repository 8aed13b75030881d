"""Placing an int8 EGRU or GRU on PEs: hidden units cut into slices, one per PE.

A PE owns the units ``a..b-1`` (``c = b - a``): their input, recurrent and output weights
stay in its SRAM, it keeps their float32 state and thresholds, computes their gates and
sends their codes (EGRU: only events) to every PE of the layer. Its data SRAM holds::

    4096 reserved + 3 c I (input weights) + 3 c H (recurrent weights) + C c (output weights)
    + 20 per gate row (bias, multiplier of both products, recurrent weight sum: 3 c rows)
    + 8 c (state, threshold) + 24 c (two 32-bit accumulators per gate row)
    + I (input step) + EVENT_BYTES H (what all units sent) + 12 C (output sums, constants)

A layer takes the fewest PEs whose slices fit ``PE_DATA_BYTES`` and, with
``max_cycles_per_step``, need at most that many cycles in a step in which every unit sends
(the EGRU's worst case and the GRU's every step). Per step and PE (``E`` codes received
from the previous step: the events of the EGRU, all H units for the GRU; ``e`` the PE's own
events)::

    MAC array: mac_cycles(1, I, 3c) + mac_cycles(1, E, 3c) + mac_cycles(1, e, C)
    ARM:       CYCLES_STAGE_OVERHEAD + 6 c CYCLES_PER_REQUANTISE + exp_cycles(3 c)
               + c CYCLES_PER_GRU_UNIT + C CYCLES_PER_PARTIAL_SUM
               + E CYCLES_PER_EVENT_RECEIVED (EGRU only: a GRU's codes arrive as a block)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.errors import CapacityError, ConfigError, check_int
from neurotwin.spinnaker2.accelerators import exp_cycles, mac_cycles
from neurotwin.spinnaker2.egru.quantise import GATES, QuantisedRnn
from neurotwin.spinnaker2.machine import Machine, check_clock
from neurotwin.spinnaker2.specs import (
    CYCLES_PER_EVENT_RECEIVED,
    CYCLES_PER_GRU_UNIT,
    CYCLES_PER_PARTIAL_SUM,
    CYCLES_PER_REQUANTISE,
    CYCLES_STAGE_OVERHEAD,
    EVENT_BYTES,
    MAC_ACCUMULATOR_MAX,
    PE_DATA_BYTES,
    PE_RESERVED_DATA_BYTES,
)

__all__ = ["RnnProgram", "UnitSlice", "deploy_rnn", "step_cycles"]

ROW_CONSTANT_BYTES = 20
"""Per gate row: both biases, both multipliers and the recurrent weight sum (4 B each)."""
UNIT_STATE_BYTES = 8
"""Per unit: float32 state and threshold."""
ROW_ACCUMULATOR_BYTES = 8
"""Per gate row: the input and recurrent accumulators (32 bits each)."""
OUTPUT_BYTES_PER_CLASS = 12
"""Per class: the 32-bit output sum, bias and multiplier."""


@dataclass(frozen=True)
class UnitSlice:
    """One PE's units.

    Parameters
    ----------
    chip, pe
        Where it runs.
    units
        (start, stop) hidden units it owns.
    sram_bytes
        PE data SRAM it uses.
    """

    chip: int
    pe: int
    units: tuple[int, int]
    sram_bytes: int

    @property
    def n_units(self) -> int:
        """Units it owns, c."""
        return self.units[1] - self.units[0]


@dataclass(frozen=True, eq=False)
class RnnProgram:
    """A quantised EGRU or GRU placed on a machine: what :func:`.run.run_rnn` executes."""

    model: QuantisedRnn
    machine: Machine
    slices: tuple[UnitSlice, ...]
    clock_mhz: float

    @property
    def n_pes(self) -> int:
        """PEs used."""
        return len(self.slices)


def _name(model: QuantisedRnn) -> str:
    return (f"{model.kind.upper()} layer (I={model.n_inputs}, H={model.n_hidden}, "
            f"C={model.n_classes})")


def slice_bytes(model: QuantisedRnn, c: int) -> int:
    """PE data SRAM of a slice of ``c`` units (module docstring), bytes."""
    i, h, k = model.n_inputs, model.n_hidden, model.n_classes
    return (PE_RESERVED_DATA_BYTES + GATES * c * (i + h) + k * c
            + GATES * c * (ROW_CONSTANT_BYTES + ROW_ACCUMULATOR_BYTES) + UNIT_STATE_BYTES * c
            + i + EVENT_BYTES * h + OUTPUT_BYTES_PER_CLASS * k)


def step_cycles(model: QuantisedRnn, c: int, received: np.ndarray, own: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(MAC-array cycles, ARM cycles) of a PE with ``c`` units in steps where it received
    ``received`` codes and sent ``own`` events (integer arrays of any shape; module
    docstring)."""
    i, h, k = model.n_inputs, model.n_hidden, model.n_classes
    rec = np.array([mac_cycles(1, e, GATES * c) for e in range(h + 1)], dtype=np.int64)
    out = np.array([mac_cycles(1, e, k) for e in range(c + 1)], dtype=np.int64)
    mac = mac_cycles(1, i, GATES * c) + rec[received] + out[own]
    arm = (CYCLES_STAGE_OVERHEAD + 2 * GATES * c * CYCLES_PER_REQUANTISE + exp_cycles(GATES * c)
           + c * CYCLES_PER_GRU_UNIT + k * CYCLES_PER_PARTIAL_SUM
           + (received * CYCLES_PER_EVENT_RECEIVED if model.kind == "egru" else 0))
    return mac, np.broadcast_to(arm, mac.shape).astype(np.int64)


def _check_accumulators(model: QuantisedRnn) -> None:
    """Every product of one step must stay inside the 29-bit accumulator for any codes."""
    for name, w in (("input", model.w_ih), ("recurrent", model.w_hh), ("output", model.w_out)):
        bound = 255 * int(np.abs(w.astype(np.int64)).sum(axis=1).max())
        if bound > MAC_ACCUMULATOR_MAX:
            raise CapacityError("MAC accumulator", bound, MAC_ACCUMULATOR_MAX,
                                f"{_name(model)}: {name} product of one step could overflow "
                                f"the 29-bit accumulator (reduction too long)")


def deploy_rnn(model: QuantisedRnn, machine: Machine | None = None, *,
               max_cycles_per_step: int | None = None,
               clock_mhz: float | None = None) -> RnnProgram:
    """Cut the hidden units into PE slices and place them (module docstring).

    Parameters
    ----------
    model
        From :func:`.quantise.quantise_rnn`.
    machine
        Where to place it; default a single-chip machine.
    max_cycles_per_step
        Use more PEs until each needs at most this many cycles in a step in which every
        unit sends, as far as one unit per PE allows (None: as few PEs as SRAM allows).
    clock_mhz
        DVFS level (150 or 300 MHz); default the machine's.

    Raises
    ------
    CapacityError
        ``"PE data memory (bytes)"`` naming the layer when one unit with its weights does
        not fit a PE; ``"PEs"`` when the slices need more working PEs than the machine has;
        ``"MAC accumulator"`` when a product could overflow the 29-bit accumulator.
    ConfigError
        An unknown clock or a bad ``max_cycles_per_step``.
    """
    machine = Machine(board_chips=1) if machine is None else machine
    clock = check_clock(machine.clock_mhz if clock_mhz is None else clock_mhz)
    if max_cycles_per_step is not None:
        check_int("max_cycles_per_step", max_cycles_per_step, low=1)
    h = model.n_hidden
    one = slice_bytes(model, 1)
    if one > PE_DATA_BYTES:
        raise CapacityError("PE data memory (bytes)", one, PE_DATA_BYTES,
                            f"{_name(model)}: one hidden unit with its input, recurrent and "
                            f"output weights and the event buffer")
    _check_accumulators(model)
    for n in range(1, h + 1):
        c = -(-h // n)
        mac, arm = step_cycles(model, c, np.array(h), np.array(c))
        if slice_bytes(model, c) <= PE_DATA_BYTES and (
                max_cycles_per_step is None or int(mac + arm) <= max_cycles_per_step):
            break
    free = [(int(ch), int(p)) for ch, p in zip(*np.nonzero(machine.pe_alive), strict=True)]
    if n > len(free):
        raise CapacityError("PEs", n, len(free), f"{_name(model)} needs {n} PE slices")
    edges = np.cumsum([0] + [h // n + (j < h % n) for j in range(n)])
    slices = tuple(UnitSlice(*free[j], (int(edges[j]), int(edges[j + 1])),
                             slice_bytes(model, int(edges[j + 1] - edges[j]))) for j in range(n))
    return RnnProgram(model, machine, slices, clock)


def check_codes(model: QuantisedRnn, codes: np.ndarray) -> None:
    """Refuse input codes that are not uint8 (N, T >= 1, I)."""
    if codes.dtype != np.uint8 or codes.ndim != 3 or codes.shape[2] != model.n_inputs \
            or codes.shape[1] == 0:
        raise ConfigError(f"{_name(model)}: input codes must be uint8 (N, T >= 1, "
                          f"{model.n_inputs}), got {codes.dtype} {codes.shape}")
