"""The BrainScaleS-2 emulation loop: the chip stepped in chunks, with periodic programs
between them.

Each step runs every logical neuron through the shared compiled update
(:func:`~neurotwin.engines.neuron_update.lif_update`, with the chip's numerics: per-neuron
constants, multi-circuit neurons, temporal membrane noise, membrane rails) and then
delivers the spikes through the mapping's :class:`~neurotwin.bss2.tables.SynapseTable`.

The loop advances in blocks of :data:`~neurotwin.engines.plan.CHUNK_STEPS` steps (the
source spikes and the noise are drawn per block, as the ``ideal`` engine draws them, so
that they do not depend on the programs) and splits a block wherever a
:class:`PeriodicProgram` is due. A program runs *between* steps: a call at step ``s``
sees the state after ``s`` steps (at ``s * dt``) and what it writes is what step ``s``
starts from; the BrainScaleS-2 plasticity processors plug in here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numba
import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.tables import EmulationTables, KernelConstants, SynapseTable
from neurotwin.dynamics.adex import AdExConstants
from neurotwin.dynamics.lif import LIFConstants
from neurotwin.engines.neuron_update import Adaptation, Noise, SynapticInput, lif_update
from neurotwin.engines.plan import CHUNK_STEPS, SourcePlan, source_spikes
from neurotwin.errors import ConfigError, check_int

__all__ = ["EmulationState", "PeriodicProgram", "run_steps"]


@dataclass(eq=False)
class EmulationState:
    """The chip's state during a run, in hardware units; a program may read and write it.

    Per trial b: ``v[b]`` (n,) membranes, mV; ``w[b]`` (n,) adaptation currents, nA;
    ``i_exc[b]``, ``i_inh[b]`` (n_circuits,) synaptic currents, nA; ``refractory[b]``
    (n,) steps left; ``offset[b]`` (n,) offset currents, nA. ``pending`` (slots, trials,
    2 n_circuits) holds synaptic input already on its way (exc, then inh). ``weight``
    (S,) is the 6-bit weight of each entry of the mapping's synapse table (LSB; a copy,
    the mapping is not changed) and ``current`` its current jump, recomputed from
    ``weight`` after every program call (unless the program keeps it in step itself).
    ``synapses`` is the table the events go through (at first the mapping's); a program
    that rewrites labels replaces it, with ``weight`` and ``current`` to match (the
    arrays are otherwise written in place). ``constants`` are the neurons' step
    constants (at first the mapping's; a program that writes CapMem cells replaces
    them).
    """

    v: np.ndarray
    w: np.ndarray
    i_exc: np.ndarray
    i_inh: np.ndarray
    refractory: np.ndarray
    offset: np.ndarray
    pending: np.ndarray
    weight: np.ndarray
    current: np.ndarray
    synapses: SynapseTable
    constants: KernelConstants


ProgramCall = Callable[[int, EmulationState], None]
"""``call(step, state)``: runs between steps ``step - 1`` and ``step``, in place on ``state``."""


ChunkDone = Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None]
"""``done(j0, j1, raster, src_ptr, src_ids)`` after steps [j0, j1): the spike raster
(trials, j1 - j0, n) and the sources' emissions (CSR over (trial, step))."""


@dataclass(frozen=True)
class PeriodicProgram:
    """A program called at fixed steps of a run: ``start``, ``start + period``, ...

    Parameters
    ----------
    call
        ``call(step, state)`` with the :class:`EmulationState` after ``step`` steps; it
        may write any of the state's arrays in place (weights included).
    start
        First call, in steps (>= 0; 0 is before the first step).
    period
        Steps between calls (>= 1).
    count
        Number of calls, or None for every due step before the end of the run.
    observe
        Optional ``observe(j0, j1, raster, src_ptr, src_ids)`` after every advance of
        the run (as the run's own ``done``): what the chip's sensors and spike counters
        see between calls.
    keeps_currents
        True: the call itself keeps ``state.current`` in step with ``state.weight`` (the
        loop then does not recompute every current after it).
    single_trial
        True: the program keeps one copy of what it reads and writes (a PPU program: one
        synapse array, one set of sensors), so a run of more than one trial is refused
        before its first step.
    """

    call: ProgramCall
    start: int = 0
    period: int = 1
    count: int | None = None
    observe: ChunkDone | None = None
    keeps_currents: bool = False
    single_trial: bool = False

    def __post_init__(self) -> None:
        check_int("start", self.start, low=0)
        check_int("period", self.period, low=1)
        if self.count is not None:
            check_int("count", self.count, low=0)
        if not callable(self.call):
            raise ConfigError(f"a program's call must be callable, got {self.call!r}")

    def steps(self, total: int) -> np.ndarray:
        """The steps (< ``total``) at which the program is called, ascending."""
        due = np.arange(self.start, total, self.period, dtype=np.int64)
        return due if self.count is None else due[: self.count]


def start_state(tables: EmulationTables, trials: int) -> EmulationState:
    """The state at t = 0 of ``trials`` trials (the initial values, pending input of the
    sources played before the run)."""
    init, kc, table = tables.initial, tables.constants, tables.synapses
    n, nc = init.v.size, init.i_exc.size
    n_slots = int(table.delay_steps.max()) + 1 if table.delay_steps.size else 2
    pending = np.zeros((n_slots, trials, 2 * nc))
    return EmulationState(
        v=np.repeat(init.v[None], trials, axis=0),
        w=np.repeat(init.w[None], trials, axis=0),
        i_exc=np.repeat(init.i_exc[None], trials, axis=0),
        i_inh=np.repeat(init.i_inh[None], trials, axis=0),
        refractory=np.zeros((trials, n), np.int64),
        offset=np.repeat(kc.c[3][None], trials, axis=0),
        pending=pending, weight=table.weight.copy(), current=table.current.copy(),
        synapses=table, constants=kc,
    )


def add_early_sources(state: EmulationState, tables: EmulationTables, sources: SourcePlan,
                      n_neurons: int) -> None:
    """Queue the events of sources emitted before the first step (spikes at t = 0)."""
    table = tables.synapses
    n_slots, trials = state.pending.shape[:2]
    for src in sources.array_source[sources.array_emit_step < 0]:
        lo, hi = table.indptr[n_neurons + src], table.indptr[n_neurons + src + 1]
        slots = (table.delay_steps[lo:hi] - 1) % n_slots
        for b in range(trials):
            np.add.at(state.pending[:, b, :], (slots, table.target[lo:hi]), state.current[lo:hi])


@numba.njit(cache=True, parallel=True, nogil=True)
def _chunk(j0, j1, v, w, ie, ii, rf, ioff, buf, c, cs, adex, refrac_steps, member_ptr, noise,
           indptr, target, current, delay_steps, src_ptr, src_ids, dc_ptr, dc_neuron,
           dc_value, raster, trace_code, trace_idx, traces,
           rail_low, rail_high):  # pragma: no cover - compiled; tested through run
    """Advance every trial over steps [j0, j1): one step per logical neuron
    (:func:`~neurotwin.engines.neuron_update.lif_update`), then the synapses.

    ``c`` rows as :data:`~neurotwin.bss2.tables.NEURON_ROWS` (neurons), ``cs`` as
    :data:`~neurotwin.bss2.tables.CIRCUIT_ROWS` (circuits; neuron i owns
    ``member_ptr[i]:member_ptr[i + 1]``). ``v, w, rf, ioff`` are (trials, n), ``ie, ii``
    (trials, n_circuits). ``noise`` is (trials, j1 - j0, n) or (trials, 0, n) when off.
    ``src_ptr`` is (trials, j1 - j0 + 1). ``dc_*``: offset-current changes (CSR over the
    chunk's steps).
    """
    n_trials, n = v.shape
    nc = ie.shape[1]
    n_slots = buf.shape[0]
    noisy = noise.shape[1] > 0
    for b in numba.prange(n_trials):
        lif_c = LIFConstants(c[0], c[1], c[2], ioff[b], c[4], c[5], cs[0], cs[1], cs[2],
                             cs[3], refrac_steps)
        adaptation = Adaptation(adex, w[b], AdExConstants(lif_c, c[7], c[8], c[9], c[10],
                                                          c[11], c[12]))
        for j in range(j0, j1):
            k = j - j0
            for e in range(dc_ptr[k], dc_ptr[k + 1]):
                ioff[b, dc_neuron[e]] = dc_value[e]
            for r in range(trace_code.shape[0]):
                i = trace_idx[r]
                code = trace_code[r]
                if code == 0:
                    traces[b, j, r] = v[b, i]
                elif code == 3:
                    traces[b, j, r] = w[b, i]
                else:
                    total = 0.0
                    for q in range(member_ptr[i], member_ptr[i + 1]):
                        total += ie[b, q] if code == 1 else ii[b, q]
                    traces[b, j, r] = total
            slot = j % n_slots
            syn = SynapticInput(buf[slot, b, :nc], buf[slot, b, nc:], None, None, None)
            if noisy:
                lif_update(v[b], ie[b], ii[b], rf[b], raster[b, k], lif_c, syn, None,
                           Noise(c[6], noise[b, k]), member_ptr, adaptation, rail_low,
                           rail_high)
            else:
                lif_update(v[b], ie[b], ii[b], rf[b], raster[b, k], lif_c, syn, None, None,
                           member_ptr, adaptation, rail_low, rail_high)
            for i in range(n):
                if raster[b, k, i]:
                    for q in range(indptr[i], indptr[i + 1]):
                        buf[(j + delay_steps[q]) % n_slots, b, target[q]] += current[q]
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                row = n + src_ids[e]
                for q in range(indptr[row], indptr[row + 1]):
                    buf[(j + delay_steps[q]) % n_slots, b, target[q]] += current[q]


def _advance(j0: int, j1: int, st: EmulationState, tables: EmulationTables,
             noise: np.ndarray, src_ptr: np.ndarray, src_ids: np.ndarray,
             traces: tuple[np.ndarray, np.ndarray, np.ndarray], member_ptr: np.ndarray
             ) -> np.ndarray:
    """Run the kernel over steps [j0, j1); return the spike raster (trials, j1 - j0, n)."""
    raster = np.zeros((st.v.shape[0], j1 - j0, st.v.shape[1]), np.bool_)
    steps = tables.offset_step
    lo, hi = np.searchsorted(steps, [j0, j1])
    dc_ptr = (lo + np.searchsorted(steps[lo:hi], np.arange(j0, j1 + 1))).astype(np.int64)
    kc: KernelConstants = st.constants
    table = st.synapses
    code, idx, values = traces
    _chunk(j0, j1, st.v, st.w, st.i_exc, st.i_inh, st.refractory, st.offset, st.pending,
           kc.c, kc.cs, kc.adex, kc.refrac_steps, member_ptr, noise, table.indptr,
           table.target, st.current, table.delay_steps, src_ptr, src_ids, dc_ptr,
           tables.offset_neuron, tables.offset_current, raster, code, idx, values,
           specs.MEMBRANE_RAIL_LOW_MV, specs.MEMBRANE_RAIL_HIGH_MV)
    return raster


def run_steps(state: EmulationState, tables: EmulationTables, member_ptr: np.ndarray,
              steps: int, sources: SourcePlan, rngs: list[np.random.Generator],
              noise_rngs: list[np.random.Generator],
              traces: tuple[np.ndarray, np.ndarray, np.ndarray], done: ChunkDone,
              programs: tuple[PeriodicProgram, ...] = (),
              progress: Callable[[int, int], None] | None = None) -> None:
    """Advance ``state`` by ``steps`` steps, calling ``programs`` where they are due.

    Parameters
    ----------
    state
        From :func:`start_state` (and :func:`add_early_sources`); advanced in place.
    tables, member_ptr
        The mapping's tables and neuron -> circuits offsets.
    sources, rngs
        Spike-source playback and one Poisson stream per trial (as the ``ideal`` engine).
    noise_rngs
        One membrane-noise stream per trial (standard normal draws, step by step).
    traces
        (state codes (r,), neuron indices (r,), output (trials, steps, r)): the columns
        recorded at the start of every step.
    done
        Called after every advance with its raster and source emissions.
    programs
        :class:`PeriodicProgram` s; at a step where several are due they run in order.
    progress
        Optional ``progress(done_steps, total_steps)`` after each block.
    """
    trials, n = state.v.shape
    if trials != 1 and any(p.single_trial for p in programs):
        raise ConfigError(f"a run with plasticity programs has one trial (the PPUs keep one "
                          f"copy of the weights and sensors), got trials={trials}; run the "
                          f"trials one after the other")
    noisy = bool(np.any(tables.constants.c[6] > 0))
    # (step, order, program): at a step where several are due they run in the given order
    calls = sorted(((int(s), i, p) for i, p in enumerate(programs) for s in p.steps(steps)),
                   key=lambda call: call[:2])
    due = np.array(sorted({s for s, _, _ in calls}), np.int64)
    observers = [p.observe for p in programs if p.observe is not None]
    # one buffer for all blocks, filled in place: the trials' streams in parallel
    # threads (numpy's generators release the GIL), no per-block stacking copy
    noise_buf = np.empty((trials, min(CHUNK_STEPS, steps) if noisy else 0, n))
    next_call = 0
    with ThreadPoolExecutor(max_workers=min(trials, os.cpu_count() or 1)) as pool:
        for j0 in range(0, steps, CHUNK_STEPS):
            j1 = min(j0 + CHUNK_STEPS, steps)
            src_ptr, src_ids = source_spikes(sources, rngs, j0, j1)
            if noisy:
                m = j1 - j0
                list(pool.map(lambda b, m=m: noise_rngs[b].standard_normal(
                    out=noise_buf[b, :m]), range(trials)))
            cuts = [j0, *due[(due >= j0) & (due < j1)].tolist(), j1]
            for a, z in pairwise(cuts):
                while next_call < len(calls) and calls[next_call][0] == a:
                    program = calls[next_call][2]
                    program.call(a, state)
                    if not program.keeps_currents:
                        state.synapses.currents(state.weight, out=state.current)
                    next_call += 1
                if z == a:
                    continue
                # the kernel wants contiguous arrays: slices of the block are copied
                whole = (a, z) == (j0, j0 + noise_buf.shape[1])
                noise = noise_buf if whole or not noisy \
                    else np.ascontiguousarray(noise_buf[:, a - j0:z - j0])
                ptr = np.ascontiguousarray(src_ptr[:, a - j0:z - j0 + 1])
                raster = _advance(a, z, state, tables, noise, ptr, src_ids, traces, member_ptr)
                done(a, z, raster, ptr, src_ids)
                for p in observers:
                    p(a, z, raster, ptr, src_ids)
            if progress is not None:
                progress(j1, steps)
