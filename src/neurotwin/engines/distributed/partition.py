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
``local post + receptor * n_local``, and builds them itself from the network's
projections (:func:`~neurotwin.engines.synapse_build.build_synapse_table`: a rule's
blocks are drawn from their own streams, so a rank's synapses are the single-process
ones; the peak memory of a rank falls with the rank count). Every rank sees every spike
(the exchange gathers them all), so it needs no routing: it walks the rows of the spikes
it is told about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from neurotwin.engines.plan import CHUNK_STEPS
from neurotwin.engines.step import StepProgram
from neurotwin.engines.synapse_build import (
    SynapseTable,
    build_synapse_table,
    shortest_neuron_delay,
)
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
    table: SynapseTable
    """The synapses onto local neurons: CSR over the global presynaptic index, (n_global +
    n_sources + 1,) rows, local targets ``local post + receptor * n_local``; its
    ``n_slots`` is the program's (the longest delay of the whole network + 1)."""
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
    shortest = shortest_neuron_delay(prog.network)
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
    """The part of ``prog`` that ``rank`` of ``ranks`` runs (see the module docstring);
    its synapses are built here from ``prog.network`` (``prog`` may be compiled without
    them).

    Raises
    ------
    ConfigError
        If ``ranks`` exceeds the network's neurons (a rank would hold none) or ``rank``
        is not in [0, ranks).
    """
    check_ranks(prog, ranks)
    check_int("rank", rank, low=0, high=ranks - 1)
    n = prog.n_neurons
    gid = owned(n, rank, ranks)
    pop_slices = {}
    for label, (first, end) in prog.pop_slices.items():
        lo, hi = math.ceil(max(first - rank, 0) / ranks), math.ceil(max(end - rank, 0) / ranks)
        if hi > lo:
            pop_slices[label] = (lo, hi)

    dtype = np.float64 if prog.dtype == torch.float64 else np.float32
    table = build_synapse_table(prog.network, prog.pop_slices, prog.source_slices, n,
                                prog.n_sources, dtype, rank, ranks)
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
        table=table,
        dc_step=prog.dc_step[local_dc],
        dc_neuron=prog.dc_neuron[local_dc] // ranks,
        dc_value=prog.dc_value[local_dc],
        trace_code=rec.trace_code[local_trace],
        trace_neuron=rec.trace_neuron[local_trace] // ranks,
        trace_column=np.nonzero(local_trace)[0].astype(np.int64),
    )
