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

__all__ = ["MISS_CAPACITY", "run_program"]

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
    net = prog.network
    steps = net.steps(duration)
    check_int("trials", trials, low=1)
    ticks_f = duration / prog.tick_ms
    ticks = round(ticks_f)
    if ticks < 1 or abs(ticks_f - ticks) > 1e-9 * max(1.0, ticks_f):
        raise ConfigError(
            f"duration must be a multiple of the tick {prog.tick_ms:g} ms, got {duration!r} ms"
        )
    rngs = trial_rngs(seed, trials)
    start = time.perf_counter()
    n, n_units = prog.n_neurons, prog.n_neurons + prog.n_sources
    n_slices = prog.placement.n_slices
    state = np.repeat(prog.initial[:, None, :], trials, axis=1).astype(np.float32)
    refrac = np.zeros((trials, n), prog.seg_refrac.dtype)
    flags = np.zeros((trials, -(-n // 8) * 8), np.uint8)  # padding never set
    ring = np.zeros((trials, prog.n_slots * 2 * n), prog.ring_dtype)
    pkt = np.zeros((trials, 2, n_slices), np.int64)
    bcast = np.zeros((trials, 2), np.int64)
    syn_count = np.zeros((trials, 2, n_slices), np.int64)
    row_count = np.zeros((trials, 2, n_slices), np.int64)
    sent = np.zeros((trials, n_slices), np.int64)
    max_cycles = np.zeros((trials, n_slices), np.int64)
    total_cycles = np.zeros((trials, n_slices), np.int64)
    late = np.zeros(trials, np.int64)
    capacity = MISS_CAPACITY
    miss_trial = np.zeros(capacity, np.int64)
    miss_tick = np.zeros(capacity, np.int64)
    miss_slice = np.zeros(capacity, np.int64)
    miss_cycles = np.zeros(capacity, np.int64)
    miss_count = np.zeros(1, np.int64)
    n_record = int(prog.recording.record_spikes.sum())
    cap = max(4096, 4 * n_record)
    spike_step = np.zeros((trials, cap), np.int64)
    spike_id = np.zeros((trials, cap), np.int64)
    spike_count = np.zeros(trials, np.int64)
    unit_spikes = np.zeros((trials, n_units), np.int64)
    traces = np.zeros((trials, ticks, prog.recording.trace_code.size), np.float32)
    reached = np.zeros(trials, np.int64)

    n_classes = prog.class_ptr.size - 1
    class_count = np.zeros((trials, n_classes), np.int64)
    touched = np.zeros((trials, n_classes + 1), np.int64)
    syn = (prog.unit_class, prog.syn_ptr, prog.syn_word)
    recv = (prog.recv_ptr, prog.recv_slice, prog.recv_neg)
    plan = prog.sources
    early = plan.array_source[plan.array_emit_step < 0]
    before = (prog.n_slots - 1) * 2 * n  # the slot of tick -1
    early_units = n + early[prog.sends[n + early]]
    for b in range(trials):
        np.add.at(unit_spikes[b], n + early, 1)
        deliver_spikes(early_units, early_units.size, before, ring[b], syn, prog.unit_slice,
                       class_count[b], touched[b], syn_count[b, 0], row_count[b, 0],
                       sent[b])  # charged to tick 0
        bcast[b, 0] = count_packets(class_count[b], touched[b], pkt[b, 0], bcast[b, 0], recv)
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.full(early.size, -1), early)] for _ in range(trials)
    ]
    for j0 in range(0, ticks, CHUNK_STEPS):
        j1 = min(j0 + CHUNK_STEPS, ticks)
        src_ptr, src_ids = source_spikes(plan, rngs, j0, j1)
        spiking = np.empty(n + int(np.diff(src_ptr, axis=1).max(initial=0)), np.int64)
        while reached.min() < j1:
            run_ticks(
                0, trials, j0, j1, reached, state, refrac, flags, ring, prog.seg_ptr,
                prog.seg_consts, prog.seg_refrac, prog.seg_scale, syn, recv, prog.recv_universe,
                prog.unit_slice, prog.sends, src_ptr, src_ids, class_count, touched, spiking,
                prog.base_cycles, CYCLES_PER_PACKET, CYCLES_PER_FILTERED_PACKET,
                CYCLES_PER_SYNAPSE, CYCLES_PER_SPIKE_SENT, prog.budget_cycles, pkt, bcast,
                syn_count, row_count, sent, max_cycles, total_cycles, late, miss_trial,
                miss_tick, miss_slice, miss_cycles, miss_count, prog.recording.record_spikes,
                spike_step, spike_id, spike_count, n_record, unit_spikes,
                prog.recording.trace_code, prog.recording.trace_neuron, traces,
            )  # fmt: skip
            for b in range(trials):
                c = spike_count[b]
                neuron_chunks[b].append((spike_step[b, :c].copy(), spike_id[b, :c].copy()))
            spike_count[:] = 0
        if prog.recording.record_sources:
            for b in range(trials):
                k = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                source_chunks[b].append((k, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]))
        if progress is not None:
            progress(j1, ticks)
    wall = time.perf_counter() - start

    m = min(int(miss_count[0]), capacity)
    budget = prog.budget_cycles
    pl = prog.placement
    misses = tuple(
        DeadlineMiss(
            trial=int(miss_trial[i]),
            tick=int(miss_tick[i]),
            chip=pl.machine.xy(int(pl.slice_chip[miss_slice[i]])),
            pe=int(pl.slice_pe[miss_slice[i]]),
            node=pl.labels[int(pl.slice_node[miss_slice[i]])],
            cycles=int(miss_cycles[i]),
            budget_cycles=budget,
            over_us=(int(miss_cycles[i]) - budget) / prog.clock_mhz,
        )
        for i in range(m)
    )
    if misses and prog.deadline == "raise":
        first = misses[0]
        raise CapacityError(
            "PE cycles per tick", first.cycles, budget,
            f"PE {first.pe} of chip {first.chip} ({first.node!r}) misses the "
            f"{prog.tick_ms:g} ms deadline at {prog.clock_mhz:g} MHz in tick {first.tick} "
            f"(trial {first.trial}) by {first.over_us:.3g} µs; {int(miss_count[0])} miss(es)",
        )
    cost = estimate_cost(
        prog, ticks=ticks, trials=trials, wall_time_s=wall, unit_spikes=unit_spikes.sum(axis=0),
        total_cycles=total_cycles.sum(axis=0), max_cycles=max_cycles.max(axis=0),
        late_cycles=int(late.sum()), misses=misses, miss_count=int(miss_count[0]),
        duration=float(duration),
    )
    held = _hold(traces, prog.tick_ms, net.dt, steps)
    traces_t = torch.from_numpy(np.ascontiguousarray(held))
    return Result(
        network=net,
        duration=float(duration),
        n_trials=trials,
        spike_records=spike_records(
            prog.recording, prog.pop_slices, prog.source_slices, prog.tick_ms, trials,
            neuron_chunks, source_chunks,
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
        },
    )
