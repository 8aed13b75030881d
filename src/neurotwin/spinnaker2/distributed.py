r"""The SpiNNaker2 runtime over several processes (ranks): each rank runs the tick loop
(:func:`.runtime.run_loop`) for the PEs of its chips, and the packets that leave its
chips cross to the other ranks once per tick, SpiNNaker2's smallest delay.

**Chips to ranks.** The chips that hold a slice, in chip order, are split into ``ranks``
contiguous blocks of (nearly) equal counts (:func:`chip_ranks`; a board's 48 chips are
consecutive, so a block is a run of boards where there are more chips than ranks). A
rank holds the neurons, synapse rows and cycle counters of the PEs of its chips; every
rank draws every source's spikes from the single-process streams (as the ``ideal``
backend's ranks do) and delivers them through its own rows, so source spikes are not
exchanged.

**Packets across ranks.** The route class of a unit is the walk of its key through the
router tables from its chip (:func:`~.router.route_classes`, done once in
:func:`~.program.compile_program`): the PEs it reaches, whichever rank holds them. A
neuron spike whose class reaches a PE of another rank is all-gathered after the tick
(:class:`~neurotwin.engines.distributed.comm.SpikeExchange`: one code ``trial * n +
neuron`` each, int32 where ``trials * n < 2**31``); a rank that the class reaches adds
the synapses of its own PEs to its ring buffer and counts the packets its PEs receive
(:func:`~.tick.deliver_spikes`, :func:`~.tick.count_packets`), charged to the next tick
as in one process. A wrong router entry sends a packet to the wrong chips in both modes
alike.

**Bitwise identity.** The ring buffers hold integer weights (the order of the adds
changes no bit), each neuron's float32 update reads only its own slot and state, and
the counts are integers: spikes, traces, packet, synapse and cycle counts, deadline
misses, late ticks and energy equal those of :func:`~.runtime.run_program`. A tick runs
late when its slowest PE over *all* ranks overruns: each rank keeps its slowest PE per
tick and the maxima are taken at the end. Deadline misses are listed by (trial, tick,
PE) in both modes; with more than :data:`~.runtime.MISS_CAPACITY` misses and several
trials the misses kept in detail may differ (their count and the cost do not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np
import torch

from neurotwin.engines.distributed.comm import (
    DEFAULT_TIMEOUT_S,
    SpikeExchange,
    join_group,
    resolve_ranks,
)
from neurotwin.engines.distributed.launch import run_ranks
from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError, check_int
from neurotwin.spinnaker2.program import SLICE_SHIFT, WEIGHT_SHIFT, S2Program
from neurotwin.spinnaker2.runtime import (
    MISS_CAPACITY,
    LoopOutput,
    RunBuffers,
    assemble_result,
    check_ticks,
    run_loop,
)
from neurotwin.spinnaker2.specs import CHIP_PES
from neurotwin.spinnaker2.tick import count_packets, deliver_spikes

__all__ = ["RankView", "ShardedS2Program", "chip_ranks", "rank_view", "run_s2_rank",
           "run_s2_sharded", "shard_s2_program"]


@dataclass(frozen=True, eq=False)
class ShardedS2Program:
    """An :class:`~.program.S2Program` to be run over ``ranks`` processes."""

    program: S2Program
    ranks: int
    timeout_s: float
    """Time-out of every collective, s."""
    in_group: bool
    """True when this process is already one of the ranks (torchrun)."""
    chip_rank: np.ndarray
    """(n_chips,) rank of each chip (-1: a chip without slices)."""


def chip_ranks(prog: S2Program, ranks: int) -> np.ndarray:
    """(n_chips,) rank of each chip: the chips that hold a slice, in chip order, in
    ``ranks`` contiguous blocks of nearly equal counts; -1 for the others.

    Raises
    ------
    ConfigError
        More ranks than chips with slices (a rank holds whole chips).
    """
    pl = prog.placement
    used = np.unique(pl.slice_chip).astype(np.int64)
    if ranks > used.size:
        raise ConfigError(
            f"ranks = {ranks} exceeds the {used.size} chip(s) this program uses: a rank "
            f"holds whole chips (map onto a machine with fewer PEs per chip, or use fewer ranks)"
        )
    out = np.full(pl.machine.n_chips, -1, np.int64)
    for rank, block in enumerate(np.array_split(used, ranks)):
        out[block] = rank
    return out


def shard_s2_program(
    prog: S2Program, ranks: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> S2Program | ShardedS2Program:
    """``prog`` as it runs over ``ranks`` processes, or ``prog`` itself for one
    (``ranks=None``: torchrun's world size, else 1).

    Raises
    ------
    ConfigError
        A rank count below 1 or above the chips the program uses, or one that
        contradicts torchrun's world size.
    """
    ranks, in_group = resolve_ranks(ranks, timeout_s)
    if ranks == 1:
        return prog
    return ShardedS2Program(prog, ranks, float(timeout_s), in_group, chip_ranks(prog, ranks))


@dataclass(frozen=True, eq=False)
class RankView:
    """One rank's part of a program: ``view`` is an S2Program over the rank's own
    neurons and slices (unit space: its neurons, all sources, then the other ranks'
    neurons whose packets reach its PEs), run by :func:`.runtime.run_loop`."""

    view: S2Program
    slices: np.ndarray
    """Global slice of each local slice (ascending)."""
    neurons: np.ndarray
    """Global index of each local neuron (ascending)."""
    crossing: np.ndarray
    """(local neurons,) its packets reach a PE of another rank."""
    remote_unit: np.ndarray
    """(n_neurons,) unit of the view through which another rank's neuron's spike is
    delivered here, -1 when it reaches no PE here (or is local)."""
    trace_columns: np.ndarray
    """Global trace column of each local one."""


@numba.njit(cache=True, nogil=True)
def _local_table(
    units, syn_ptr, syn_word, slice_local, neuron_local, n, n_loc
):  # pragma: no cover - compiled
    """The synapse words of ``units`` (global) onto local slices, re-encoded for the
    rank: ring-buffer index over its ``n_loc`` neurons, local slice; order kept."""
    ptr = np.zeros(units.shape[0] + 1, np.int64)
    for k in range(units.shape[0]):
        u = units[k]
        count = 0
        for q in range(syn_ptr[u], syn_ptr[u + 1]):
            if slice_local[np.int64(syn_word[q] >> np.uint64(SLICE_SHIFT))] >= 0:
                count += 1
        ptr[k + 1] = ptr[k] + count
    out = np.empty(ptr[-1], np.uint64)
    weight_bits = np.uint64(0xFF) << np.uint64(WEIGHT_SHIFT)
    m = 0
    for k in range(units.shape[0]):
        u = units[k]
        for q in range(syn_ptr[u], syn_ptr[u + 1]):
            word = syn_word[q]
            target = slice_local[np.int64(word >> np.uint64(SLICE_SHIFT))]
            if target < 0:
                continue
            x = np.int64(word & np.uint64(0xFFFFFFFF))
            delay, rest = x // (2 * n), x % (2 * n)
            index = delay * 2 * n_loc + (rest // n) * n_loc + neuron_local[rest % n]
            out[m] = (np.uint64(index) | (word & weight_bits)
                      | (np.uint64(target) << np.uint64(SLICE_SHIFT)))
            m += 1
    return ptr, out


def rank_view(prog: S2Program, chip_rank: np.ndarray, rank: int) -> RankView:
    """Rank ``rank``'s part of ``prog`` under the chip assignment ``chip_rank``."""
    pl = prog.placement
    n, n_src, n_slices = prog.n_neurons, prog.n_sources, pl.n_slices
    slice_rank = chip_rank[pl.slice_chip]
    slices = np.flatnonzero(slice_rank == rank)
    slice_local = np.full(n_slices, -1, np.int64)
    slice_local[slices] = np.arange(slices.size)
    owner = slice_rank[prog.unit_slice[:n]]
    neurons = np.flatnonzero(owner == rank)
    neuron_local = np.full(n, -1, np.int64)
    neuron_local[neurons] = np.arange(neurons.size)

    # which ranks each route class reaches (PEs without a slice drop the packet)
    pe_slice = np.full(pl.machine.n_chips * CHIP_PES, -1, np.int64)
    pe_slice[pl.slice_chip * CHIP_PES + pl.slice_pe] = np.arange(n_slices)
    n_classes = prog.class_ptr.size - 1
    reached = pe_slice[prog.class_pe]
    cls = np.repeat(np.arange(n_classes), np.diff(prog.class_ptr))
    reach = np.zeros((n_classes, int(chip_rank.max()) + 1), bool)
    reach[cls[reached >= 0], slice_rank[reached[reached >= 0]]] = True
    neuron_reach = reach[prog.unit_class[:n]] & prog.sends[:n, None]
    others = neuron_reach.sum(axis=1) - neuron_reach[np.arange(n), owner]
    crossing = others[neurons] > 0
    remote = np.flatnonzero(neuron_reach[:, rank] & (owner != rank))
    n_loc = neurons.size
    remote_unit = np.full(n, -1, np.int64)
    remote_unit[remote] = n_loc + n_src + np.arange(remote.size)

    units = np.concatenate([neurons, n + np.arange(n_src), remote]).astype(np.int64)
    syn_ptr, syn_word = _local_table(units, prog.syn_ptr, prog.syn_word, slice_local,
                                     neuron_local, n, n_loc)
    unit_slice = np.full(units.size, slices.size, np.int64)  # another rank's PE
    local_unit = slice_local[prog.unit_slice[units[: n_loc + n_src]]]
    unit_slice[: n_loc + n_src] = np.where(local_unit >= 0, local_unit, slices.size)
    keep = slice_local[prog.recv_slice] >= 0
    recv_class = np.repeat(np.arange(n_classes), np.diff(prog.recv_ptr))[keep]
    rec = prog.recording
    traced = np.flatnonzero(neuron_local[rec.trace_neuron] >= 0)
    view = replace(
        prog,
        n_neurons=n_loc,
        seg_ptr=np.searchsorted(neurons, prog.seg_ptr).astype(np.int64),
        initial=np.ascontiguousarray(prog.initial[:, neurons]),
        unit_slice=unit_slice,
        sends=prog.sends[units],
        unit_class=prog.unit_class[units],
        recv_ptr=np.concatenate([[0], np.cumsum(np.bincount(recv_class, minlength=n_classes))]),
        recv_slice=slice_local[prog.recv_slice[keep]],
        recv_universe=prog.recv_universe[slices],
        syn_ptr=syn_ptr,
        syn_word=syn_word,
        base_cycles=prog.base_cycles[slices],
        recording=replace(rec, record_spikes=rec.record_spikes[neurons],
                          trace_code=rec.trace_code[traced],
                          trace_neuron=neuron_local[rec.trace_neuron[traced]]),
    )
    return RankView(view, slices, neurons, crossing, remote_unit, traced)


@numba.njit(cache=True, nogil=True)
def _outgoing(
    flags, crossing, neurons, n, j, total_cycles, last_total, slowest, out
):  # pragma: no cover - compiled
    """After tick ``j``: the codes ``trial * n + neuron`` of the local spikes that leave
    the rank into ``out`` (their count returned), and each trial's slowest local PE of
    the tick into ``slowest[:, j]`` (from the growth of ``total_cycles``)."""
    m = 0
    for b in range(flags.shape[0]):
        worst = 0
        for s in range(total_cycles.shape[1]):
            worst = max(worst, total_cycles[b, s] - last_total[b, s])
            last_total[b, s] = total_cycles[b, s]
        slowest[b, j] = worst
        words = flags[b].view(np.uint64)
        for w in range(words.shape[0]):
            if words[w] == 0:
                continue
            for i in range(8 * w, 8 * w + 8):
                if flags[b, i] and crossing[i]:
                    out[m] = b * n + neurons[i]
                    m += 1
    return m


@numba.njit(cache=True, nogil=True)
def _deliver_remote(
    codes, n, remote_unit, j, base, ring, syn, unit_slice, class_count, touched, syn_count,
    row_count, sent, pkt, bcast, recv,
):  # pragma: no cover - compiled
    """Spikes of tick ``j`` from other ranks (``codes``): synapses of this rank's PEs
    into the ring buffer from the slot at ``base``, packets counted for tick ``j + 1``."""
    nxt = (j + 1) % 2
    units = np.empty(codes.shape[0], np.int64)
    for b in range(ring.shape[0]):
        m = 0
        for e in range(codes.shape[0]):
            if codes[e] // n == b and remote_unit[codes[e] % n] >= 0:
                units[m] = remote_unit[codes[e] % n]
                m += 1
        if m == 0:
            continue
        deliver_spikes(units, m, base, ring[b], syn, unit_slice, class_count[b], touched[b],
                       syn_count[b, nxt], row_count[b, nxt], sent[b])
        bcast[b, nxt] = count_packets(class_count[b], touched[b], pkt[b, nxt], bcast[b, nxt],
                                      recv)


def run_s2_sharded(
    art: ShardedS2Program,
    duration: float,
    seed: int = 0,
    trials: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run ``art`` for ``duration`` ms: as this process's rank under torchrun, else in
    ``art.ranks`` workers started here (``progress`` is then not called)."""
    check_ticks(art.program, duration)  # before any process starts
    check_int("trials", trials, low=1)
    result: Result = run_ranks(run_s2_rank, art, duration, seed, trials, progress)
    return result


def run_s2_rank(
    art: ShardedS2Program,
    rank: int,
    duration: float,
    seed: int,
    trials: int,
    progress: Callable[[int, int], None] | None,
) -> Result:
    """This process's part of a sharded run, as rank ``rank``; every rank returns the
    whole run's Result (``meta`` adds ranks, exchanges, bytes sent and time in
    collectives per rank)."""
    prog = art.program
    ticks = check_ticks(prog, duration)
    join_group(rank, art.ranks, art.timeout_s)
    part = rank_view(prog, art.chip_rank, rank)
    view, n = part.view, prog.n_neurons
    n_loc = view.n_neurons
    exchange = SpikeExchange(rank, art.ranks, art.timeout_s,
                             torch.int64 if trials * n >= 2**31 else torch.int32)
    out = np.zeros(trials * max(n_loc, 1), np.int64)
    slowest = np.zeros((trials, ticks), np.int64)
    last_total = np.zeros((trials, view.base_cycles.size), np.int64)
    syn = (view.unit_class, view.syn_ptr, view.syn_word)
    recv = (view.recv_ptr, view.recv_slice, view.recv_neg)

    def after_tick(j: int, buf: RunBuffers) -> None:
        count = _outgoing(buf.flags, part.crossing, part.neurons, n, j, buf.total_cycles,
                          last_total, slowest, out)
        codes = exchange.all_gather(out[:count], j)
        if codes.size:
            _deliver_remote(codes, n, part.remote_unit, j, (j % view.n_slots) * 2 * n_loc,
                            buf.ring, syn, view.unit_slice, buf.class_count, buf.touched,
                            buf.syn_count, buf.row_count, buf.sent, buf.pkt, buf.bcast, recv)

    loop = run_loop(view, ticks, seed, trials, progress if rank == 0 else None, after_tick)
    gathered = exchange.all_gather_object(
        (part.slices, part.neurons, part.trace_columns, loop, slowest, exchange.bytes_sent,
         exchange.wait_s),
        "gathering the results",
    )
    merged = _merge(prog, ticks, trials, gathered)
    meta = {
        "ranks": art.ranks,
        "exchanges": exchange.exchanges,
        "bytes_sent": [g[5] for g in gathered],
        "collective_time_s": [g[6] for g in gathered],
    }
    return assemble_result(prog, duration, ticks, trials, merged, meta)


def _merge(prog: S2Program, ticks: int, trials: int, parts: list[Any]) -> LoopOutput:
    """The single-process LoopOutput from every rank's (slices, neurons, trace columns,
    loop output, slowest PE per tick, ...)."""
    n, n_slices = prog.n_neurons, prog.placement.n_slices
    unit_spikes = np.zeros((trials, n + prog.n_sources), np.int64)
    total = np.zeros((trials, n_slices), np.int64)
    most = np.zeros((trials, n_slices), np.int64)
    traces = np.zeros((trials, ticks, prog.recording.trace_code.size), np.float32)
    slowest = np.zeros((trials, ticks), np.int64)
    misses: list[np.ndarray] = []
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    for slices, neurons, columns, loop, rank_slowest, *_ in parts:
        n_loc = neurons.size
        unit_spikes[:, neurons] = loop.unit_spikes[:, :n_loc]
        total[:, slices] = loop.total_cycles
        most[:, slices] = loop.max_cycles
        traces[:, :, columns] = loop.traces
        np.maximum(slowest, rank_slowest, out=slowest)
        misses.append(np.stack([loop.misses[0], loop.misses[1], slices[loop.misses[2]],
                                loop.misses[3]]))
        for b in range(trials):
            neuron_chunks[b] += [(step, neurons[ids]) for step, ids in loop.neuron_chunks[b]]
    first = parts[0][3]
    unit_spikes[:, n:] = first.unit_spikes[:, parts[0][1].size :]  # every rank drew them
    found = np.concatenate(misses, axis=1)
    found = found[:, np.lexsort((found[2], found[1], found[0]))[:MISS_CAPACITY]]
    return LoopOutput(
        unit_spikes=unit_spikes, total_cycles=total, max_cycles=most,
        late=np.maximum(slowest - prog.budget_cycles, 0).sum(axis=1), misses=found,
        miss_count=sum(p[3].miss_count for p in parts), neuron_chunks=neuron_chunks,
        source_chunks=first.source_chunks, traces=traces,
        wall_s=max(p[3].wall_s for p in parts),
    )
