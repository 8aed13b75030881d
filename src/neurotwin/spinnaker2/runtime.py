"""Running an :class:`~neurotwin.spinnaker2.program.S2Program`: trials tick by tick in the
compiled loop of :mod:`.tick`, then spikes, traces, deadline misses and the cost.

Trials run one after the other, the ticks in chunks of ``CHUNK_STEPS`` (the source
spikes of a chunk are drawn before it runs; a chunk is cut short where the spike buffer
fills). Spikes are stamped at the end of their tick; traces are sampled at the start of
every tick and held on the network's dt grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neurotwin.engines.plan import CHUNK_STEPS, source_spikes, spike_records, trial_rngs
from neurotwin.engines.result import Result
from neurotwin.errors import CapacityError, ConfigError, check_int
from neurotwin.spinnaker2.cost import DeadlineMiss, estimate_cost
from neurotwin.spinnaker2.program import S2Program
from neurotwin.spinnaker2.specs import (
    CYCLES_PER_FILTERED_PACKET,
    CYCLES_PER_PACKET,
    CYCLES_PER_SPIKE_SENT,
    CYCLES_PER_SYNAPSE,
)
from neurotwin.spinnaker2.tick import count_packets, deliver_spikes, run_ticks

__all__ = [
    "MISS_CAPACITY", "LoopOutput", "RunBuffers", "assemble_result", "check_ticks", "run_loop",
    "run_program",
]

MISS_CAPACITY = 10_000
"""Deadline misses kept in detail (all are counted, and the cost's worst lateness is taken
over all of them)."""


def _hold(traces: np.ndarray, tick: float, dt: float, steps: int) -> np.ndarray:
    """Traces sampled per tick, resampled to the network's dt grid (sample-and-hold)."""
    if traces.shape[1] == steps:
        return traces
    idx = np.minimum(np.floor(np.arange(steps) * dt / tick + 1e-9).astype(np.int64),
                     traces.shape[1] - 1)
    return traces[:, idx, :]


def check_ticks(prog: S2Program, duration: float) -> int:
    """Ticks in ``duration`` ms (ConfigError unless a positive multiple of the tick)."""
    prog.network.steps(duration)
    ticks_f = duration / prog.tick_ms
    ticks = round(ticks_f)
    if ticks < 1 or abs(ticks_f - ticks) > 1e-9 * max(1.0, ticks_f):
        raise ConfigError(
            f"duration must be a multiple of the tick {prog.tick_ms:g} ms, got {duration!r} ms"
        )
    return ticks


@dataclass(eq=False)
class RunBuffers:
    """What the tick loop keeps between ticks for all trials (the arguments of
    :func:`~.tick.run_ticks`; shapes per trial, slices = PEs of ``prog.base_cycles``)."""

    state: np.ndarray
    refrac: np.ndarray
    flags: np.ndarray
    ring: np.ndarray
    pkt: np.ndarray
    bcast: np.ndarray
    syn_count: np.ndarray
    row_count: np.ndarray
    sent: np.ndarray
    """(trials, n_slices + 1): the last slot counts what units of no slice here send
    (a PE of another rank: :mod:`.distributed`)."""
    max_cycles: np.ndarray
    total_cycles: np.ndarray
    late: np.ndarray
    class_count: np.ndarray
    touched: np.ndarray
    unit_spikes: np.ndarray
    traces: np.ndarray


@dataclass(eq=False)
class LoopOutput:
    """The raw outcome of :func:`run_loop` (what :func:`assemble_result` turns into a
    Result; :mod:`.distributed` merges those of several ranks)."""

    unit_spikes: np.ndarray
    """(trials, n_units) spikes per unit."""
    total_cycles: np.ndarray
    max_cycles: np.ndarray
    """(trials, n_slices) cycles per PE summed over ticks / largest in a tick."""
    late: np.ndarray
    """(trials,) cycles by which each tick's slowest PE ran over, summed."""
    misses: np.ndarray
    """(4, m) int64 rows trial, tick, slice, cycles of the first misses found."""
    miss_count: int
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]]
    traces: np.ndarray
    """(trials, ticks, n_traces) float32."""
    wall_s: float


def _buffers(prog: S2Program, trials: int, ticks: int) -> RunBuffers:
    n, n_slices = prog.n_neurons, prog.base_cycles.size
    n_classes = prog.class_ptr.size - 1
    return RunBuffers(
        state=np.repeat(prog.initial[:, None, :], trials, axis=1).astype(np.float32),
        refrac=np.zeros((trials, n), prog.seg_refrac.dtype),
        flags=np.zeros((trials, -(-n // 8) * 8), np.uint8),  # padding never set
        ring=np.zeros((trials, prog.n_slots * 2 * n), prog.ring_dtype),
        pkt=np.zeros((trials, 2, n_slices), np.int64),
        bcast=np.zeros((trials, 2), np.int64),
        syn_count=np.zeros((trials, 2, n_slices), np.int64),
        row_count=np.zeros((trials, 2, n_slices), np.int64),
        sent=np.zeros((trials, n_slices + 1), np.int64),
        max_cycles=np.zeros((trials, n_slices), np.int64),
        total_cycles=np.zeros((trials, n_slices), np.int64),
        late=np.zeros(trials, np.int64),
        class_count=np.zeros((trials, n_classes), np.int64),
        touched=np.zeros((trials, n_classes + 1), np.int64),
        unit_spikes=np.zeros((trials, n + prog.n_sources), np.int64),
        traces=np.zeros((trials, ticks, prog.recording.trace_code.size), np.float32),
    )


def run_loop(
    prog: S2Program,
    ticks: int,
    seed: int,
    trials: int,
    progress: Callable[[int, int], None] | None = None,
    after_tick: Callable[[int, RunBuffers], None] | None = None,
) -> LoopOutput:
    """The tick loop of :func:`run_program` over ``ticks`` ticks. With ``after_tick``, the
    ticks run one at a time and ``after_tick(j, buffers)`` is called after tick ``j`` of
    every trial (a sharded run adds the packets from other ranks there: :mod:`.distributed`)."""
    rngs = trial_rngs(seed, trials)
    start = time.perf_counter()
    n = prog.n_neurons
    buf = _buffers(prog, trials, ticks)
    capacity = MISS_CAPACITY
    misses = np.zeros((4, capacity), np.int64)
    miss_count = np.zeros(1, np.int64)
    n_record = int(prog.recording.record_spikes.sum())
    cap = max(4096, 4 * n_record)
    spike_step = np.zeros((trials, cap), np.int64)
    spike_id = np.zeros((trials, cap), np.int64)
    spike_count = np.zeros(trials, np.int64)
    reached = np.zeros(trials, np.int64)

    syn = (prog.unit_class, prog.syn_ptr, prog.syn_word)
    recv = (prog.recv_ptr, prog.recv_slice, prog.recv_neg)
    plan = prog.sources
    early = plan.array_source[plan.array_emit_step < 0]
    before = (prog.n_slots - 1) * 2 * n  # the slot of tick -1
    early_units = n + early[prog.sends[n + early]]
    for b in range(trials):
        np.add.at(buf.unit_spikes[b], n + early, 1)
        deliver_spikes(early_units, early_units.size, before, buf.ring[b], syn,
                       prog.unit_slice, buf.class_count[b], buf.touched[b],
                       buf.syn_count[b, 0], buf.row_count[b, 0],
                       buf.sent[b])  # charged to tick 0
        buf.bcast[b, 0] = count_packets(buf.class_count[b], buf.touched[b], buf.pkt[b, 0],
                                        buf.bcast[b, 0], recv)
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.full(early.size, -1), early)] for _ in range(trials)
    ]

    def flush() -> None:
        for b in range(trials):
            c = spike_count[b]
            neuron_chunks[b].append((spike_step[b, :c].copy(), spike_id[b, :c].copy()))
        spike_count[:] = 0

    for j0 in range(0, ticks, CHUNK_STEPS):
        j1 = min(j0 + CHUNK_STEPS, ticks)
        src_ptr, src_ids = source_spikes(plan, rngs, j0, j1)
        spiking = np.empty(n + int(np.diff(src_ptr, axis=1).max(initial=0)), np.int64)
        while reached.min() < j1:
            stop = j1 if after_tick is None else int(reached.min()) + 1
            run_ticks(
                0, trials, j0, stop, reached, buf.state, buf.refrac, buf.flags, buf.ring,
                prog.seg_ptr, prog.seg_consts, prog.seg_refrac, prog.seg_scale, syn, recv,
                prog.recv_universe, prog.unit_slice, prog.sends, src_ptr, src_ids,
                buf.class_count, buf.touched, spiking, prog.base_cycles, CYCLES_PER_PACKET,
                CYCLES_PER_FILTERED_PACKET, CYCLES_PER_SYNAPSE, CYCLES_PER_SPIKE_SENT,
                prog.budget_cycles, buf.pkt, buf.bcast, buf.syn_count, buf.row_count,
                buf.sent, buf.max_cycles, buf.total_cycles, buf.late, misses[0], misses[1],
                misses[2], misses[3], miss_count, prog.recording.record_spikes, spike_step,
                spike_id, spike_count, n_record, buf.unit_spikes, prog.recording.trace_code,
                prog.recording.trace_neuron, buf.traces,
            )  # fmt: skip
            if after_tick is None:
                flush()
                continue
            after_tick(stop - 1, buf)
            if spike_count.max() + n_record > cap or stop == j1:
                flush()
        if prog.recording.record_sources:
            for b in range(trials):
                k = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                source_chunks[b].append((k, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]))
        if progress is not None:
            progress(j1, ticks)
    m = min(int(miss_count[0]), capacity)
    return LoopOutput(
        unit_spikes=buf.unit_spikes, total_cycles=buf.total_cycles, max_cycles=buf.max_cycles,
        late=buf.late, misses=misses[:, :m], miss_count=int(miss_count[0]),
        neuron_chunks=neuron_chunks, source_chunks=source_chunks, traces=buf.traces,
        wall_s=time.perf_counter() - start,
    )


def assemble_result(
    prog: S2Program,
    duration: float,
    ticks: int,
    trials: int,
    out: LoopOutput,
    meta: dict[str, Any] | None = None,
) -> Result:
    """The Result of a run of ``prog`` from its loop's outcome: deadline misses (sorted
    by trial, tick and PE; CapacityError under ``deadline="raise"``), the cost, spike
    records and traces held on the network's dt grid; ``meta`` is added to the Result's."""
    net = prog.network
    budget = prog.budget_cycles
    pl = prog.placement
    order = np.lexsort((out.misses[2], out.misses[1], out.misses[0]))
    misses = tuple(
        DeadlineMiss(
            trial=int(trial), tick=int(tick), chip=pl.machine.xy(int(pl.slice_chip[s])),
            pe=int(pl.slice_pe[s]), node=pl.labels[int(pl.slice_node[s])],
            cycles=int(cycles), budget_cycles=budget,
            over_us=(int(cycles) - budget) / prog.clock_mhz,
        )
        for trial, tick, s, cycles in out.misses[:, order].T
    )
    if misses and prog.deadline == "raise":
        first = misses[0]
        raise CapacityError(
            "PE cycles per tick", first.cycles, budget,
            f"PE {first.pe} of chip {first.chip} ({first.node!r}) misses the "
            f"{prog.tick_ms:g} ms deadline at {prog.clock_mhz:g} MHz in tick {first.tick} "
            f"(trial {first.trial}) by {first.over_us:.3g} µs; {out.miss_count} miss(es)",
        )
    cost = estimate_cost(
        prog, ticks=ticks, trials=trials, wall_time_s=out.wall_s,
        unit_spikes=out.unit_spikes.sum(axis=0), total_cycles=out.total_cycles.sum(axis=0),
        max_cycles=out.max_cycles.max(axis=0), late_cycles=int(out.late.sum()),
        misses=misses, miss_count=out.miss_count, duration=float(duration),
    )
    held = _hold(out.traces, prog.tick_ms, net.dt, net.steps(duration))
    traces_t = torch.from_numpy(np.ascontiguousarray(held))
    return Result(
        network=net,
        duration=float(duration),
        n_trials=trials,
        spike_records=spike_records(
            prog.recording, prog.pop_slices, prog.source_slices, prog.tick_ms, trials,
            out.neuron_chunks, out.source_chunks,
        ),
        traces={
            key: traces_t[:, :, lo:hi]
            for key, (lo, hi) in prog.recording.trace_columns.items()
        },
        cost=cost,
        meta={
            "backend": "spinnaker2",
            "tick_ms": prog.tick_ms,
            "clock_mhz": prog.clock_mhz,
            "weight_format": prog.weight_format.name,
            "weight_scales_nA": dict(prog.scales),
            "looped_keys": int(prog.looped.sum()),
            **(meta or {}),
        },
    )


def run_program(
    prog: S2Program,
    duration: float,
    seed: int = 0,
    trials: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run ``prog`` for ``duration`` ms (a multiple of the tick and of dt), ``trials`` trials.

    Returns a :class:`~neurotwin.engines.result.Result` whose ``cost`` is an
    :class:`~neurotwin.spinnaker2.cost.S2Cost`. Spikes are stamped at the end of their
    tick; traces are sampled at the start of every tick and held on the network's dt grid.

    Raises
    ------
    CapacityError
        ``deadline="raise"`` and a PE misses its deadline ("PE cycles per tick").
    """
    ticks = check_ticks(prog, duration)
    check_int("trials", trials, low=1)
    out = run_loop(prog, ticks, seed, trials, progress)
    return assemble_result(prog, duration, ticks, trials, out)
