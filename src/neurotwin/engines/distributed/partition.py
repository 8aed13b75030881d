"""How a compiled network is split over ranks: neurons round-robin, synapses with their
target, and the exchange interval (the smallest delay between neurons).

Neuron g of the network (the :class:`~neurotwin.engines.step.StepProgram`'s index, populations
ordered by kind) lives on rank ``g % ranks`` as its local neuron ``g // ranks``, as in
NEST. Round-robin spreads every population evenly over the ranks, so a rank gets the same
share of fast and slow populations (by population blocks, a rank holding only inhibitory
neurons would wait for the others every exchange). A rank's local neurons keep the
global order, so each population is a contiguous run of them (a segment of the kernel).

A rank holds every synapse *onto* its neurons, stored as CSR over the global presynaptic
index (neurons, then sources) in the single-process order, with the local target
``local post + receptor * n_local``. Every rank sees every spike (the exchange gathers
them all), so it needs no routing: it walks the rows of the spikes it is told about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurotwin.engines.plan import CHUNK_STEPS
from neurotwin.engines.step import StepProgram
from neurotwin.errors import ConfigError, check_int, check_multiple_of, check_positive

__all__ = ["Shard", "check_ranks", "exchange_steps", "make_shard", "owned"]


@dataclass(frozen=True, eq=False)
class Shard:
    """The part of a :class:`~neurotwin.engines.step.StepProgram` one rank runs."""

    rank: int
    ranks: int
    exchange_steps: int
    """Steps between spike exchanges (the smallest delay between neurons, in steps)."""
    n_global: int
    """Neurons of the whole network."""
    global_id: np.ndarray
    """Global index of each local neuron, (n_local,) ascending."""
    n_lif: int
    """Local LIF neurons (they come first)."""
    pop_slices: dict[str, tuple[int, int]]
    """Population label -> (first, end) local index; populations with no neuron here are
    left out."""
    constants: dict[str, np.ndarray]
    """Per local neuron step constants (the program's names), (n_local,)."""
    initial: np.ndarray
    """Initial state of the local neurons, (6, n_local) (rows as the program's)."""
    indptr: np.ndarray
    """CSR over the global presynaptic index, (n_global + n_sources + 1,)."""
    target: np.ndarray
    """Local target ``local post + receptor * n_local`` per synapse."""
    weight: np.ndarray
    delay_steps: np.ndarray
    n_slots: int
    """Ring buffer length: the program's (the longest delay of the network + 1)."""
    dc_step: np.ndarray
    dc_neuron: np.ndarray
    """Local neuron of each injected-current event."""
    dc_value: np.ndarray
    trace_code: np.ndarray
    trace_neuron: np.ndarray
    """Local neuron of each trace column recorded here."""
    trace_column: np.ndarray
    """Column of the program's traces each local trace column fills."""

    @property
    def n_local(self) -> int:
        """Neurons on this rank."""
        return int(self.global_id.size)


def owned(n_global: int, rank: int, ranks: int) -> np.ndarray:
    """Global indices of the neurons of ``rank`` (round-robin), ascending."""
    return np.arange(rank, n_global, ranks, dtype=np.int64)


def exchange_steps(prog: StepProgram, exchange_ms: float | None = None) -> int:
    """Steps between spike exchanges: the smallest delay of a synapse between neurons (a
    spike emitted in step j is needed on another rank in step j + delay at the earliest),
    or ``exchange_ms`` if given; CHUNK_STEPS where no synapse joins two neurons.

    Raises
    ------
    ConfigError
        If ``exchange_ms`` is off the grid, not positive, or longer than the smallest
        delay between neurons (a spike would arrive after it is due).
    """
    rows = np.repeat(np.arange(prog.indptr.size - 1), np.diff(prog.indptr))
    recurrent = prog.delay_steps[rows < prog.n_neurons]
    shortest = int(recurrent.min()) if recurrent.size else None
    if exchange_ms is None:
        return CHUNK_STEPS if shortest is None else shortest
    check_positive("exchange_ms", exchange_ms, "ms")
    steps = int(check_multiple_of("exchange_ms", exchange_ms, prog.dt)[()])
    if shortest is not None and steps > shortest:
        raise ConfigError(
            f"exchange_ms = {exchange_ms} ms ({steps} steps) exceeds the smallest delay "
            f"between neurons, {shortest * prog.dt:g} ms ({shortest} steps): spikes would "
            f"reach other ranks after they are due; use exchange_ms <= {shortest * prog.dt:g}"
        )
    return steps


def check_ranks(prog: StepProgram, ranks: int) -> None:
    """Raise :class:`ConfigError` unless ``ranks`` is a whole number in [1, neurons]."""
    check_int("ranks", ranks, low=1)
    if ranks > prog.n_neurons:
        raise ConfigError(
            f"ranks = {ranks} exceeds the network's {prog.n_neurons} neurons; use at most "
            f"{prog.n_neurons} ranks (each rank must hold at least one neuron)"
        )


def make_shard(prog: StepProgram, rank: int, ranks: int, exchange: int) -> Shard:
    """The part of ``prog`` that ``rank`` of ``ranks`` runs (see the module docstring).

    Raises
    ------
    ConfigError
        If ``ranks`` exceeds the network's neurons (a rank would hold none) or ``rank``
        is not in [0, ranks).
    """
    check_ranks(prog, ranks)
    check_int("rank", rank, low=0, high=ranks - 1)
    n, n_local = prog.n_neurons, math.ceil((prog.n_neurons - rank) / ranks)
    gid = owned(n, rank, ranks)
    pop_slices = {}
    for label, (first, end) in prog.pop_slices.items():
        lo, hi = math.ceil(max(first - rank, 0) / ranks), math.ceil(max(end - rank, 0) / ranks)
        if hi > lo:
            pop_slices[label] = (lo, hi)

    # synapses onto local neurons, in the program's order (rows by global pre)
    post = prog.target % n
    keep = post % ranks == rank
    rows = np.repeat(np.arange(prog.indptr.size - 1), np.diff(prog.indptr))[keep]
    receptor = prog.target[keep] // n
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=prog.indptr.size - 1))])

    local_dc = prog.dc_neuron % ranks == rank
    rec = prog.recording
    local_trace = rec.trace_neuron % ranks == rank
    return Shard(
        rank=rank,
        ranks=ranks,
        exchange_steps=exchange,
        n_global=n,
        global_id=gid,
        n_lif=math.ceil(max(prog.n_lif - rank, 0) / ranks),
        pop_slices=pop_slices,
        constants={name: values[gid] for name, values in prog.constants.items()},
        initial=prog.initial[:, gid],
        indptr=indptr.astype(np.int64),
        target=(post[keep] // ranks + receptor * n_local).astype(np.int64),
        weight=prog.weight[keep],
        delay_steps=prog.delay_steps[keep],
        n_slots=prog.n_slots,
        dc_step=prog.dc_step[local_dc],
        dc_neuron=prog.dc_neuron[local_dc] // ranks,
        dc_value=prog.dc_value[local_dc],
        trace_code=rec.trace_code[local_trace],
        trace_neuron=rec.trace_neuron[local_trace] // ranks,
        trace_column=np.nonzero(local_trace)[0].astype(np.int64),
    )
