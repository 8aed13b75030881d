"""What every time-stepped engine and twin shares: the plans of a run on a grid of dt.

The ``ideal`` engine (:mod:`neurotwin.engines.step`), the BrainScaleS-2 and the
SpiNNaker2 twins all play the network's spike sources, injected currents and recordings
on the same grid, so that the same seed gives the same source spikes everywhere:

* :func:`source_plan` / :func:`source_spikes`: spike-source emissions per step, Poisson
  draws from one PCG64 stream per trial (:func:`trial_rngs`), independent of chunking, at
  a cost proportional to the spikes (:mod:`neurotwin.engines.poisson`);
* :func:`dc_events`: injected currents as step-boundary changes of each neuron's total;
* :func:`recording_plan` / :func:`spike_records`: what a run records, and the spike
  records assembled from per-chunk (step, index) pairs.

A spike emitted in step j is stamped (j + 1) dt; runs advance in chunks of
:data:`CHUNK_STEPS` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.engines.poisson import PoissonNodes, draw_poisson, poisson_nodes
from neurotwin.engines.result import SpikeRecord
from neurotwin.errors import ConfigError, check_int
from neurotwin.network import Network, SpikeSourceArray, SpikeSourcePoisson

__all__ = [
    "CHUNK_SPIKES",
    "CHUNK_STEPS",
    "STATE_CODES",
    "RecordingPlan",
    "SourcePlan",
    "chunk_steps",
    "dc_events",
    "recording_plan",
    "source_plan",
    "source_spikes",
    "spike_records",
    "trial_rngs",
]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2, "w": 3, "di_exc": 4, "di_inh": 5,
               "g_exc": 1, "g_inh": 2, "dg_exc": 4, "dg_inh": 5}
"""Row of each state variable in the kernels' state stack (a conductance-based model's
conductances and rise terms take the rows of the currents and theirs: a model has one
or the other)."""

CHUNK_STEPS = 1000
"""Steps per kernel call: bounds the memory of source spikes and sets progress updates."""
CHUNK_SPIKES = 4_000_000
"""Most expected Poisson spikes of one chunk (all trials): a network whose sources emit
more in :data:`CHUNK_STEPS` steps runs in shorter chunks (:func:`chunk_steps`; the full
microcircuit's background, 1.2e5 spikes per 0.1 ms step, in chunks of 32 steps; about
45 bytes per spike to draw and hold, tests/experiments/test_microcircuit.py). The
streams are consumed the same way however a run is cut into chunks."""


@dataclass(frozen=True, eq=False)
class SourcePlan:
    """Spike-source emissions on a time grid of step ``dt``: what :func:`source_spikes`
    reads. Shared by every engine and twin that must see the same source spikes."""

    array_emit_step: np.ndarray
    """Step in which each SpikeSourceArray spike is emitted (round(t/dt) - 1), sorted."""
    array_source: np.ndarray
    """Source index of each SpikeSourceArray spike."""
    poisson: PoissonNodes
    """The Poisson nodes: first source index, probability per step, active steps."""


def chunk_steps(sources: SourcePlan, trials: int, multiple: int = 1) -> int:
    """Steps per chunk: :data:`CHUNK_STEPS`, fewer where the Poisson sources would emit
    more than :data:`CHUNK_SPIKES` in them; a multiple of ``multiple`` (at least one)."""
    per_step = float(np.sum(sources.poisson.prob)) * trials
    steps = CHUNK_STEPS if per_step * CHUNK_STEPS <= CHUNK_SPIKES else int(CHUNK_SPIKES // per_step)
    return max(1, steps // multiple) * multiple


def source_plan(network: Network, dt: float) -> tuple[SourcePlan, dict[str, tuple[int, int]]]:
    """The network's spike sources on a grid of ``dt`` ms, and source label -> (first, end)
    source index (sources numbered in network order).

    A spike emitted in step j is stamped (j + 1) dt; an array spike at t is rounded to the
    grid; a Poisson source is active in step j when start <= (j + 1) dt < stop, with
    probability rate * dt per step (ConfigError if that exceeds 1).
    """
    source_slices: dict[str, tuple[int, int]] = {}
    emit, which = [], []
    poisson = []
    first = 0
    for src in network.sources:
        source_slices[str(src.label)] = (first, first + src.size)
        if isinstance(src, SpikeSourceArray):
            for k, times in enumerate(src.spike_times):
                steps = np.rint(np.asarray(times) / dt).astype(np.int64)
                emit.append(steps - 1)
                which.append(np.full(steps.size, first + k, np.int64))
        elif isinstance(src, SpikeSourcePoisson):
            prob = np.asarray(src.rate) * dt * 1e-3
            if np.any(prob > 1.0):
                raise ConfigError(
                    f"rate of {src.label!r} must be <= 1/dt = {1e3 / dt} Hz on this grid, "
                    f"got {np.max(src.rate)} Hz"
                )
            start = math.ceil(src.start / dt - 1e-9) - 1
            stop = math.ceil(src.stop / dt - 1e-9) - 1 if math.isfinite(src.stop) else 2**62
            poisson.append((first, prob, max(start, 0), stop))
        first += src.size
    if emit:
        emit_all = np.concatenate(emit)
        which_all = np.concatenate(which)
        order = np.lexsort((which_all, emit_all))
        plan = SourcePlan(emit_all[order], which_all[order], poisson_nodes(poisson))
    else:
        empty = np.zeros(0, np.int64)
        plan = SourcePlan(empty, empty, poisson_nodes(poisson))
    return plan, source_slices


def dc_events(
    net: Network, pop_slices: dict[str, tuple[int, int]], n_neurons: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-constant injected current as (step, neuron, new total value, nA) events,
    sorted by step; neurons indexed by ``pop_slices`` (label -> (first, end)).

    Totals are recomputed from scratch at each change, so switching a source off
    restores the previous value exactly.
    """
    windows = []
    for source, label in net.currents:
        first, end = pop_slices[label]
        start = round(source.start / net.dt)
        stop = round(source.stop / net.dt) if math.isfinite(source.stop) else 2**62
        amp = np.broadcast_to(np.asarray(source.amplitude, np.float64), (end - first,))
        windows.append((start, stop, np.arange(first, end), amp))
    boundaries = sorted({s for w in windows for s in w[:2] if s < 2**62})
    steps, neurons, values = [], [], []
    current = np.zeros(n_neurons)
    for step in boundaries:
        total = np.zeros(n_neurons)
        for start, stop, idx, amp in windows:
            if start <= step < stop:
                total[idx] += amp
        changed = np.nonzero(total != current)[0]
        steps.append(np.full(changed.size, step))
        neurons.append(changed)
        values.append(total[changed])
        current = total
    if not steps:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return (
        np.concatenate(steps).astype(np.int64),
        np.concatenate(neurons).astype(np.int64),
        np.concatenate(values),
    )


@dataclass(frozen=True)
class RecordingPlan:
    """What a run records, in a kernel's index spaces (neurons; sources)."""

    record_spikes: np.ndarray
    """Per neuron: record its spikes (bool)."""
    record_sources: dict[str, np.ndarray]
    """Source label -> indices (within the node) whose spikes are recorded."""
    trace_code: np.ndarray
    """Per recorded trace column: state row (``state_codes`` of :func:`recording_plan`)."""
    trace_neuron: np.ndarray
    """Per recorded trace column: neuron index."""
    trace_columns: dict[tuple[str, str], tuple[int, int]]
    """(label, variable) -> (first, end) trace column."""


def recording_plan(
    network: Network,
    pop_slices: dict[str, tuple[int, int]],
    source_slices: dict[str, tuple[int, int]],
    n_neurons: int,
    state_codes: dict[str, int] = STATE_CODES,
) -> RecordingPlan:
    """The network's recordings as index arrays; ConfigError for a state variable the
    kernel does not hold (``state_codes``: variable -> state row)."""
    record_spikes = np.zeros(n_neurons, bool)
    record_sources: dict[str, np.ndarray] = {}
    trace_code, trace_neuron = [], []
    trace_columns: dict[tuple[str, str], tuple[int, int]] = {}
    column = 0
    for label, variables in network.recordings.items():
        size = network.nodes[label].size
        for var, chosen in variables.items():
            local = np.arange(size) if chosen is None else np.asarray(chosen)
            if label in source_slices:
                record_sources[label] = local
                continue
            first = pop_slices[label][0]
            if var == "spikes":
                record_spikes[first + local] = True
                continue
            if var not in state_codes:
                raise ConfigError(f"{var!r} of {label!r} cannot be recorded here; "
                                  f"recordable: spikes, {', '.join(state_codes)}")
            trace_code.append(np.full(local.size, state_codes[var]))
            trace_neuron.append(first + local)
            trace_columns[(label, var)] = (column, column + local.size)
            column += local.size

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return RecordingPlan(record_spikes, record_sources, cat(trace_code), cat(trace_neuron),
                         trace_columns)


def spike_records(
    plan: RecordingPlan,
    pop_slices: dict[str, tuple[int, int]],
    source_slices: dict[str, tuple[int, int]],
    dt: float,
    trials: int,
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]],
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]],
) -> dict[str, SpikeRecord]:
    """Spike records per node from per-trial (step, global index) chunks, sorted by
    (trial, time, id); a spike emitted in step j is stamped (j + 1) dt."""
    wanted: list[tuple[str, tuple[int, int], Any, np.ndarray | None]] = [
        (lbl, sl, neuron_chunks, None)
        for lbl, sl in pop_slices.items()
        if plan.record_spikes[sl[0] : sl[1]].any()
    ]
    wanted += [(lbl, source_slices[lbl], source_chunks, ids)
               for lbl, ids in plan.record_sources.items()]
    records: dict[str, SpikeRecord] = {}
    for label, (first, end), chunks, chosen in wanted:
        times, ids, trial_ids = [], [], []
        for b in range(trials):
            k = np.concatenate([s for s, _ in chunks[b]])
            i = np.concatenate([i for _, i in chunks[b]])
            sel = (i >= first) & (i < end)
            if chosen is not None:
                sel &= np.isin(i - first, chosen)
            k, i = k[sel], i[sel] - first
            order = np.lexsort((i, k))
            times.append((k[order] + 1) * dt)
            ids.append(i[order])
            trial_ids.append(np.full(order.size, b))
        records[label] = SpikeRecord(
            np.concatenate(times).astype(np.float64),
            np.concatenate(ids).astype(np.int64),
            np.concatenate(trial_ids).astype(np.int64),
        )
    return records


def source_spikes(
    plan: SourcePlan, rngs: list[np.random.Generator], j0: int, j1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Source emissions in steps [j0, j1) per trial, as CSR over (trial, step).

    Returns ``ptr`` of shape (trials, j1 - j0 + 1) (absolute offsets into ``ids``) and
    ``ids`` (source indices, by trial, then step, then index). Poisson draws
    (:func:`~neurotwin.engines.poisson.draw_poisson`) consume each trial's stream step by
    step, so the result does not depend on the chunking; they cost time in proportion to
    the spikes, not to sources x steps.
    """
    n = j1 - j0
    lo, hi = np.searchsorted(plan.array_emit_step, [j0, j1])
    arr_k = plan.array_emit_step[lo:hi] - j0
    arr_id = plan.array_source[lo:hi]
    ptrs, ids = [], []
    total = 0
    for rng in rngs:
        k_all, id_all = draw_poisson(plan.poisson, rng, j0, j1)  # sorted by (step, index)
        if arr_k.size:
            k_all = np.concatenate([arr_k, k_all])
            id_all = np.concatenate([arr_id, id_all])
            order = np.lexsort((id_all, k_all))
            k_all, id_all = k_all[order], id_all[order]
        ptrs.append(total + np.searchsorted(k_all, np.arange(n + 1)))
        ids.append(id_all)
        total += id_all.size
    return np.stack(ptrs).astype(np.int64), np.concatenate(ids).astype(np.int64)


def trial_rngs(seed: int, trials: int) -> list[np.random.Generator]:
    """One random generator per trial: PCG64 seeded by ``(seed, trial)``, so a trial's
    draws do not depend on how many trials run together."""
    check_int("seed", seed, low=0)
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, b])))
            for b in range(trials)]
