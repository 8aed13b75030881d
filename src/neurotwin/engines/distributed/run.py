"""A compiled network run over several ranks: the ``ideal`` backend's sharded artefact,
one rank's loop, and the launch of ranks from a normal process.

Each rank steps its own neurons (:mod:`.partition`) for one exchange interval
(:func:`.kernel.advance_local`), all-gathers the interval's spikes (:mod:`.comm`) and
adds them into its ring buffer (:func:`.kernel.deliver`). Every rank draws every source
spike from the single-process streams (:func:`~neurotwin.engines.plan.trial_rngs`,
:func:`~neurotwin.engines.plan.source_spikes`, in chunks that are whole intervals) and
keeps the synapses onto its neurons, so spikes and traces are bitwise those of
:func:`~neurotwin.engines.step.run_program` (why: :mod:`.kernel`). Every rank sees every
spike, so each assembles the spike records; traces are all-gathered at the end. Every
rank returns the same complete :class:`~neurotwin.engines.result.Result`.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from neurotwin.engines.distributed.comm import (
    DEFAULT_TIMEOUT_S,
    SpikeExchange,
    join_group,
    resolve_ranks,
)
from neurotwin.engines.distributed.kernel import advance_local, deliver
from neurotwin.engines.distributed.launch import run_ranks
from neurotwin.engines.distributed.partition import (
    check_ranks,
    exchange_steps,
    make_shard,
)
from neurotwin.engines.plan import chunk_steps, source_spikes, trial_rngs
from neurotwin.engines.result import Result
from neurotwin.engines.segments import segment_table
from neurotwin.engines.step import StepProgram, assemble_result
from neurotwin.engines.synapse_build import estimate_table_bytes, initial_buffer
from neurotwin.engines.synapse_dynamics import refuse_dynamic
from neurotwin.errors import ConfigError, check_int, check_memory

__all__ = ["SPIKE_LIST_BYTES", "ShardedProgram", "run_rank", "run_sharded", "shard_program"]

SPIKE_LIST_BYTES = 64 * 2**20
"""Most memory of a rank's spike list for one exchange interval (8 bytes per possible
spike: trials x interval steps x neurons); longer intervals are shortened to fit."""


@dataclass(frozen=True, eq=False)
class ShardedProgram:
    """A :class:`~neurotwin.engines.step.StepProgram` to be run over ``ranks`` processes."""

    program: StepProgram
    ranks: int
    exchange_steps: int
    """Steps between spike exchanges (the smallest delay between neurons)."""
    timeout_s: float
    """Time-out of every collective, s."""
    in_group: bool
    """True when this process is already one of the ranks (torchrun); False when the run
    starts its ranks itself."""


def shard_program(
    prog: StepProgram,
    ranks: int | None = None,
    exchange_ms: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> StepProgram | ShardedProgram:
    """``prog`` as it runs over ``ranks`` processes, or ``prog`` itself for one.

    ``ranks=None`` takes the world size of torchrun's environment (one without it). Under
    torchrun, ``ranks`` must match the world size; from a normal process, ``ranks > 1``
    starts that many workers on this machine.

    Raises
    ------
    ConfigError
        For more ranks than neurons, a rank count that contradicts torchrun's, the torch
        kernel or a non-CPU device (ranks exchange spikes with gloo between numba
        kernels), or an exchange interval longer than the smallest delay between neurons.
    """
    ranks, in_group = resolve_ranks(ranks, timeout_s)
    if ranks == 1:
        if exchange_ms is not None:
            exchange_steps(prog, exchange_ms)  # the same checks as for several ranks
        return prog
    refuse_dynamic(prog.network, f"a run over {ranks} ranks",
                   "their per-synapse state is not sharded; run them on one rank")
    if prog.kernel != "numba":
        raise ConfigError(
            f"a run over {ranks} ranks uses the numba kernel on the CPU (spikes travel over "
            f"gloo), got kernel {prog.kernel!r} on {prog.device}; use device='cpu'"
        )
    check_ranks(prog, ranks)
    return ShardedProgram(prog, ranks, exchange_steps(prog, exchange_ms), float(timeout_s),
                          in_group)


def run_sharded(
    art: ShardedProgram,
    duration: float,
    seed: int = 0,
    trials: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run ``art`` for ``duration`` ms: as this process's rank under torchrun, else in
    ``art.ranks`` workers started here (``progress`` is then not called: the steps
    happen in other processes)."""
    art.program.network.steps(duration)  # checks the duration before any process starts
    check_int("trials", trials, low=1)
    result: Result = run_ranks(run_rank, art, duration, seed, trials, progress)
    return result


def run_rank(
    art: ShardedProgram,
    rank: int,
    duration: float,
    seed: int,
    trials: int,
    progress: Callable[[int, int], None] | None,
) -> Result:
    """This process's part of a sharded run, as rank ``rank``; every rank returns the
    whole run's Result (``meta`` adds ranks, exchange interval, exchanges, bytes sent per
    rank, time in collectives per rank, each rank's loop CPU time and process peak memory,
    and ``cpu_time_s``, the slowest rank's)."""
    prog = art.program
    steps = prog.network.steps(duration)
    join_group(rank, art.ranks, art.timeout_s)
    # the interval's spike list holds up to trials x interval x neurons codes: a shorter
    # interval is as exact (any interval up to the smallest delay is), so cap its memory
    # (the same on every rank: from the largest shard)
    largest = -(-prog.n_neurons // art.ranks)
    stride = min(art.exchange_steps, max(1, SPIKE_LIST_BYTES // (8 * trials * largest)))
    dtype = np.float64 if prog.dtype == torch.float64 else np.float32
    itemsize = np.dtype(dtype).itemsize
    check_memory(f"rank {rank} of {art.ranks}: the synapses onto its neurons",
                 estimate_table_bytes(prog.network, art.ranks, itemsize))
    shard = make_shard(prog, rank, art.ranks, stride)
    n_local, n_global = shard.n_local, shard.n_global
    table, syn = shard.table, shard.table.codes
    check_memory(
        f"rank {rank} of {art.ranks}: ring buffer of {table.n_slots} delay slots for "
        f"{n_local} neurons x {trials} trial(s), traces of {steps} steps",
        itemsize * trials * (table.n_slots * 2 * n_local + steps * shard.trace_code.size)
        + 8 * trials * stride * n_local,
    )
    segments, kinds, c, n_refrac = segment_table(
        shard.pop_slices, n_local, {label: prog.kinds[label] for label in shard.pop_slices},
        shard.constants, dtype
    )
    state = np.repeat(shard.initial[:, None, :], trials, axis=1).astype(dtype)
    refrac = np.zeros((trials, n_local), n_refrac.dtype)
    i_ext = np.zeros((trials, n_local), dtype)
    early = prog.sources.array_source[prog.sources.array_emit_step < 0]
    buf = initial_buffer(table, n_global + early, 2 * n_local, trials).astype(dtype)
    slots4 = buf.reshape(table.n_slots, trials, 2, n_local)
    flags = np.zeros((trials, -(-n_local // 8) * 8), np.uint8)
    traces = np.zeros((trials, steps, shard.trace_code.size), dtype)
    out = np.zeros(trials * stride * n_local, np.int64)
    rails = np.array([-np.inf, np.inf], dtype)
    wide = trials * stride * n_global >= 2**31
    exchange = SpikeExchange(rank, art.ranks, art.timeout_s,
                             torch.int64 if wide else torch.int32)
    rngs = trial_rngs(seed, trials)
    record = prog.recording.record_spikes
    source_chunks = [[(np.full(early.size, -1), early)] for _ in range(trials)]
    recorded: list[np.ndarray] = []  # codes of recorded spikes, interval by interval
    starts: list[int] = []

    start = time.perf_counter()
    cpu_start = time.process_time()
    chunk = chunk_steps(prog.sources, trials, stride)
    for c0 in range(0, steps, chunk):
        c1 = min(c0 + chunk, steps)
        src_ptr, src_ids = source_spikes(prog.sources, rngs, c0, c1)
        if prog.recording.record_sources:
            for b in range(trials):
                k = np.repeat(np.arange(c0, c1), np.diff(src_ptr[b]))
                source_chunks[b].append((k, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]))
        for j0 in range(c0, c1, stride):
            j1 = min(j0 + stride, c1)
            lo, hi = np.searchsorted(shard.dc_step, [j0, j1])
            dc_ptr = (lo + np.searchsorted(shard.dc_step[lo:hi], np.arange(j0, j1 + 1)))
            count = advance_local(
                j0, j1, c0, stride, n_global, state, refrac, i_ext, buf, slots4, flags,
                segments, kinds, c, n_refrac,
                table.indptr, syn.code, syn.weights, syn.tabled, syn.target_mask,
                syn.delay_shift, syn.delay_mask, syn.weight_shift,
                src_ptr, src_ids, dc_ptr.astype(np.int64), shard.dc_neuron, shard.dc_value,
                shard.trace_code, shard.trace_neuron, traces, rails, shard.global_id, out,
            )  # fmt: skip
            codes = np.sort(exchange.all_gather(out[:count], j0))
            deliver(j0, j1, c0, stride, n_global, buf, codes, table.indptr, syn.code,
                    syn.weights, syn.tabled, syn.target_mask, syn.delay_shift, syn.delay_mask,
                    syn.weight_shift, src_ptr, src_ids)
            keep = codes[record[codes % n_global]]
            if keep.size:
                recorded.append(keep)
                starts.append(j0)
        if progress is not None and rank == 0:
            progress(c1, steps)
    wall = time.perf_counter() - start

    gathered = exchange.all_gather_object(
        (shard.trace_column, traces, exchange.bytes_sent, exchange.wait_s, exchange.collectives,
         time.process_time() - cpu_start,
         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),  # Linux: KiB
        "gathering the traces",
    )
    all_traces = np.zeros((trials, steps, prog.recording.trace_code.size), dtype)
    for columns, part, *_ in gathered:
        all_traces[:, :, columns] = part
    meta = {
        "ranks": art.ranks,
        "exchange_steps": stride,
        "exchanges": exchange.exchanges,
        "collectives": [g[4] for g in gathered],  # spike all-gathers per rank
        "bytes_sent": [g[2] for g in gathered],
        "collective_time_s": [g[3] for g in gathered],
        # the slowest rank's CPU time of its loop (the run's critical path), s
        "cpu_time_s": max(g[5] for g in gathered),
        "rank_cpu_time_s": [g[5] for g in gathered],
        "rank_peak_rss_mib": [g[6] for g in gathered],  # each rank's process peak, MiB
    }
    spikes = _per_trial(recorded, starts, trials, stride, n_global)
    return assemble_result(prog, duration, spikes, source_chunks, all_traces, wall, meta)


def _per_trial(
    recorded: list[np.ndarray], starts: list[int], trials: int, stride: int, n_global: int
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per trial, one (steps, global ids) chunk from the recorded codes of each
    interval (``starts``: the interval's first step)."""
    if not recorded:
        empty = np.zeros(0, np.int64)
        return [[(empty, empty)] for _ in range(trials)]
    codes = np.concatenate(recorded)
    first = np.repeat(np.array(starts, np.int64), [r.size for r in recorded])
    key, ids = codes // n_global, codes % n_global
    trial, step = key // stride, first + key % stride
    return [[(step[trial == b], ids[trial == b])] for b in range(trials)]
