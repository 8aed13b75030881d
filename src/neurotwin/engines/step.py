"""The time-stepped engine: a network on a grid of dt, batched over trials.

One semantics, two kernels.

* The semantics is that of :func:`neurotwin.dynamics.lif.lif_step` and
  :func:`neurotwin.dynamics.adex.adex_step`: in every step each neuron is propagated
  exactly from its state at the start of the step, its synaptic currents decay and
  receive the input that arrives in the step, and the threshold is tested; a spike is
  stamped at the end of the step. A spike emitted in step k through a synapse of delay
  d steps (d >= 1) is added to the target's current at the end of step k + d, so its
  effect on v starts in step k + d + 1 (NEST's convention: a delay of one dt is the
  shortest). A source spike at time t is rounded to the grid and arrives at t + delay.
  Delays use a ring buffer of max_delay + 1 slots per receptor.
* ``kernel="numba"``: the whole loop (steps x trials x neurons x synapses) compiled for
  the CPU, event-driven in the synapses (only rows of neurons that spiked are touched),
  trials in parallel. The default on CPU.
* ``kernel="torch"``: one torch call per operation and step, calling the dynamics' step
  functions directly; runs on any torch device (CUDA). The models with alpha-shaped or
  conductance-based synapses (:mod:`neurotwin.dynamics.alpha`,
  :mod:`neurotwin.dynamics.conductance`) run on both, compiled for numba in
  :mod:`neurotwin.engines.synaptic_update` (:func:`~neurotwin.engines.segments.shaped_step`
  for torch). Synaptic input is a dense matrix product per well-filled delay, and
  event rows (the spiking units' synapses gathered and scattered) for the rest
  (:mod:`neurotwin.engines.synapse_matrices`).

Both kernels draw Poisson spikes from the same streams (numpy PCG64 seeded by
``(seed, trial)``, so a trial's spikes do not depend on how many trials run together or
on the chunking) and give the same spikes for the same seed; on CPU a run is bitwise
deterministic. Sums of synaptic input may be added in a different order by the two
kernels, so they agree bit for bit where those sums are exact (e.g. weights that are
multiples of a power of two) and otherwise to rounding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch

from neurotwin.dynamics.adex import AdExConstants, AdExState, adex_step
from neurotwin.dynamics.lif import LIFConstants, LIFState, lif_step
from neurotwin.engines.plan import (
    STATE_CODES,
    RecordingPlan,
    SourcePlan,
    chunk_steps,
    dc_events,
    recording_plan,
    source_plan,
    source_spikes,
    spike_records,
    trial_rngs,
)
from neurotwin.engines.result import Cost, Result
from neurotwin.engines.segments import (
    ADEX_CONSTANT_NAMES,
    CONSTANT_NAMES,
    LIF_CONSTANT_NAMES,
    kind_of,
    model_constants,
    segment_table,
    shaped_step,
    update_segments,
)
from neurotwin.engines.synapse_build import (
    TABLE_BYTES,
    SynapseTable,
    build_synapse_table,
    estimate_table_bytes,
    initial_buffer,
    unpack_rows,
)
from neurotwin.engines.synapse_codes import deliver_row
from neurotwin.engines.synapse_dynamics import (
    DynamicSynapses,
    compile_dynamic,
    dynamic_early,
    dynamic_post,
    dynamic_pre,
    dynamic_state,
)
from neurotwin.engines.synapse_matrices import deliver_rows, torch_synapses
from neurotwin.errors import ConfigError, check_device, check_int, check_memory
from neurotwin.network import Network

__all__ = [
    "StepProgram",
    "assemble_result",
    "check_run_memory",
    "compile_network",
    "run_program",
]

KERNELS = ("auto", "numba", "torch")
DTYPES = {"float64": torch.float64, "float32": torch.float32}




@dataclass(frozen=True, eq=False)
class StepProgram:
    """A network compiled for the time-stepped engine (the ``ideal`` backend's artefact).

    Neurons of all populations share one index space (populations ordered by kind: LIF,
    AdEx, then the alpha-shaped and conductance-based models of ``segments.KINDS``),
    spike sources another; presynaptic indices are neurons then sources. Synapses are
    stored as CSR over presynaptic index, each row sorted by target;
    ``target = post + receptor * n_neurons`` with receptor 0 = exc, 1 = inh, packed with
    the delay into one word each (:mod:`.synapse_build`).
    """

    network: Network
    dt: float
    """Time step, ms."""
    kernel: str
    """"numba" or "torch"."""
    dtype: torch.dtype
    device: torch.device
    pop_slices: dict[str, tuple[int, int]]
    """Population label -> (first, end) neuron index."""
    source_slices: dict[str, tuple[int, int]]
    """Source label -> (first, end) source index."""
    n_lif: int
    """LIF neurons (they come first)."""
    kinds: dict[str, int]
    """Population label -> segment kind (:data:`~neurotwin.engines.segments.KINDS`)."""
    n_neurons: int
    n_sources: int
    constants: dict[str, np.ndarray]
    """Per-neuron step constants (LIF names, then AdEx extras, zero for LIF), (n_neurons,)."""
    initial: np.ndarray
    """Initial state, (6, n_neurons), rows ``STATE_CODES``: v (mV); i_exc, i_inh (nA) or
    g_exc, g_inh (µS); w (nA); the rise terms di_exc, di_inh (nA/ms) or dg_exc, dg_inh
    (µS/ms) of alpha synapses."""
    table: SynapseTable | None
    """The static synapses, packed (:mod:`.synapse_build`); None when compiled without
    them (the parent of a sharded run: each rank builds its own)."""
    target: np.ndarray | None
    """Torch kernel only: per synapse (CSR order) target, int64."""
    weight: np.ndarray | None
    """Torch kernel only: per synapse weight magnitude, nA."""
    delay_steps: np.ndarray | None
    """Torch kernel only: per synapse delay, steps, int64."""
    sources: SourcePlan
    """Spike-source emissions on the grid."""
    dc_step: np.ndarray
    """Steps at which an injected current changes, sorted."""
    dc_neuron: np.ndarray
    dc_value: np.ndarray
    """New total injected current of the neuron from that step on, nA."""
    recording: RecordingPlan
    """What the run records."""
    dynamic: DynamicSynapses | None
    """The synapses of projections with a synapse type (numba kernel only), else None."""

    @property
    def synapses(self) -> SynapseTable:
        """The synapse table; ConfigError for a program compiled without it."""
        if self.table is None:
            raise ConfigError("this program was compiled without synapses (synapses=False): "
                              "each rank of a sharded run builds its own")
        return self.table

    @property
    def indptr(self) -> np.ndarray:
        """(n_neurons + n_sources + 1,) row offsets of the synapse table."""
        return self.synapses.indptr

    @property
    def n_slots(self) -> int:
        """Ring buffer length: the longest delay in steps (static and dynamic synapses)
        + 1."""
        return self.synapses.n_slots


def compile_network(
    network: Network,
    dtype: str = "float64",
    device: str | torch.device = "cpu",
    kernel: str = "auto",
    synapses: bool = True,
) -> StepProgram:
    """Compile ``network`` into flat arrays for the time-stepped engine.

    Parameters
    ----------
    network
        The network; it is not modified.
    dtype
        Floating-point type of the state: "float64" (default) or "float32".
    device
        Torch device of the state (the torch kernel runs there).
    kernel
        "auto" (numba on CPU, torch elsewhere), "numba" (CPU only) or "torch".
    synapses
        Build the synapse table (False: everything else only, for the parent of a
        sharded run, whose ranks build theirs).

    Raises
    ------
    CapacityError
        If the synapse table (:func:`~.synapse_build.estimate_table_bytes`) does not fit
        this machine's memory.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    dev = check_device(device)
    if kernel == "auto":
        kernel = "numba" if dev.type == "cpu" else "torch"
    if kernel == "numba" and dev.type != "cpu":
        raise ConfigError(f"kernel 'numba' runs on the CPU only, got device {dev}")
    if not network.populations and not network.sources:
        raise ConfigError("the network is empty; add() populations or sources first")

    dt = network.dt
    pops = sorted(network.populations, key=lambda p: kind_of(p.model))
    pop_slices: dict[str, tuple[int, int]] = {}
    offset = 0
    for pop in pops:
        pop_slices[str(pop.label)] = (offset, offset + pop.size)
        offset += pop.size
    n_neurons = offset
    n_lif = sum(p.size for p in pops if kind_of(p.model) == 0)
    sources, source_slices = source_plan(network, dt)
    n_sources = sum(src.size for src in network.sources)

    constants = {name: np.zeros(n_neurons) for name in CONSTANT_NAMES}
    initial = np.zeros((6, n_neurons))
    for pop in pops:
        first, end = pop_slices[str(pop.label)]
        for name, value in model_constants(pop.model, dt).items():
            constants[name][first:end] = value
        for name, values in pop.initial_values().items():
            initial[STATE_CODES[name], first:end] = values
    constants["refrac_steps"] = constants["refrac_steps"].astype(np.int64)

    # static synapses: CSR over presynaptic index (neurons, then sources), built in two
    # passes over the projections (engines/synapse_build.py: no synapse-sized temporaries)
    float_type = np.float64 if dtype == "float64" else np.float32
    table = None
    if synapses:
        check_memory(
            f"the synapse table of {sum(p.n_synapses for p in network.projections)} synapses "
            f"(about {TABLE_BYTES + np.dtype(float_type).itemsize} bytes each, and one "
            "projection's or rule block's draw)",
            estimate_table_bytes(network, 1, np.dtype(float_type).itemsize),
        )
        table = build_synapse_table(network, pop_slices, source_slices, n_neurons, n_sources,
                                    float_type)
    target = weight = delay_steps = None
    if table is not None and kernel == "torch":
        target, delay_steps, weight = unpack_rows(table, 0, table.codes.code.size)
    dynamic = compile_dynamic(network, pop_slices, source_slices, n_neurons,
                              n_neurons + n_sources)
    if dynamic is not None and kernel != "numba":
        raise ConfigError("dynamic synapses (a projection's synapse type) run on the numba "
                          f"kernel only (device 'cpu'), got kernel {kernel!r}")

    dc_step, dc_neuron, dc_value = dc_events(network, pop_slices, n_neurons)

    recording = recording_plan(network, pop_slices, source_slices, n_neurons)
    return StepProgram(
        network=network,
        dt=dt,
        kernel=kernel,
        dtype=DTYPES[dtype],
        device=dev,
        pop_slices=pop_slices,
        source_slices=source_slices,
        n_lif=n_lif,
        kinds={str(p.label): kind_of(p.model) for p in pops},
        n_neurons=n_neurons,
        n_sources=n_sources,
        constants=constants,
        initial=initial,
        table=table,
        target=target,
        weight=weight,
        delay_steps=delay_steps,
        sources=sources,
        dc_step=dc_step,
        dc_neuron=dc_neuron,
        dc_value=dc_value,
        recording=recording,
        dynamic=dynamic,
    )


# ---------------------------------------------------------------------------------------
# source spikes, shared by both kernels


def _initial_buffer(prog: StepProgram, trials: int) -> np.ndarray:
    """Ring buffer (slots, trials, 2 * n_neurons) holding spikes of sources at t = 0,
    which are emitted before the first step."""
    early = prog.sources.array_source[prog.sources.array_emit_step < 0]
    return initial_buffer(prog.synapses, prog.n_neurons + early, 2 * prog.n_neurons, trials)


def _dc_chunk(prog: StepProgram, j0: int, j1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Injected-current events in steps [j0, j1): ptr (j1-j0+1,), neuron, value."""
    lo, hi = np.searchsorted(prog.dc_step, [j0, j1])
    ptr = lo + np.searchsorted(prog.dc_step[lo:hi], np.arange(j0, j1 + 1))
    return ptr.astype(np.int64), prog.dc_neuron, prog.dc_value


# ---------------------------------------------------------------------------------------
# numba kernel


@numba.njit(cache=True, nogil=True)
def _numba_chunk(
    b0, b1, j0, j1, reached, state, refrac, i_ext, buf, slots4, flags,
    segments, kinds, c, n_refrac,
    indptr, code, weights, tabled, target_mask, delay_shift, delay_mask, weight_shift,
    src_ptr, src_ids, dc_ptr, dc_neuron, dc_value,
    record, spike_step, spike_id, spike_count, n_record,
    trace_code, trace_neuron, traces, rails, dyn,
):  # pragma: no cover - compiled; tested through run_program
    """Advance trials b0..b1-1, each from its ``reached`` step to ``j1``.

    Serial on purpose (numba's ``parallel=True`` costs a third of the run time for one
    trial); trials run in parallel through threads of :func:`_numba_advance` instead,
    since the kernel releases the GIL. Neurons come in segments (populations) of shared
    constants: ``c[:, s]`` holds segment s's constants in the order of
    ``segments.SEGMENT_CONSTANTS``, ``kinds[s]`` its kind.
    """
    n = state.shape[2]
    n_slots = buf.shape[0]
    cap = spike_step.shape[1]
    for b in range(b0, b1):
        v = state[0, b]
        ie = state[1, b]
        ii = state[2, b]
        w = state[3, b]
        de = state[4, b]
        dn = state[5, b]
        rf = refrac[b]
        fl = flags[b]
        fl_words = fl.view(np.uint64)
        ix = None if i_ext is None else i_ext[b]
        for j in range(reached[b], j1):
            if spike_count[b] + n_record > cap:
                break
            k = j - j0
            if ix is not None:
                for e in range(dc_ptr[k], dc_ptr[k + 1]):
                    ix[dc_neuron[e]] = dc_value[e]
            for r in range(trace_code.shape[0]):
                traces[b, j, r] = state[trace_code[r], b, trace_neuron[r]]
            slot = j % n_slots
            update_segments(v, ie, ii, w, de, dn, rf, fl, ix, slots4[slot, b, 0],
                            slots4[slot, b, 1], segments, kinds, c, n_refrac, rails)
            if dyn is not None:
                dynamic_post(dyn, b, j, fl)
            for word in range(fl_words.shape[0]):  # 8 flags at a time: spikes are rare
                if fl_words[word] == 0:
                    continue
                for i in range(8 * word, 8 * word + 8):
                    if not fl[i]:
                        continue
                    deliver_row(buf, b, slot, indptr[i], indptr[i + 1], code, weights,
                                tabled, target_mask, delay_shift, delay_mask, weight_shift)
                    if dyn is not None:
                        dynamic_pre(dyn, buf, b, j, slot, i)
                    if record[i]:
                        cnt = spike_count[b]
                        spike_step[b, cnt] = j
                        spike_id[b, cnt] = i
                        spike_count[b] = cnt + 1
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                row = n + src_ids[e]
                deliver_row(buf, b, slot, indptr[row], indptr[row + 1], code, weights,
                            tabled, target_mask, delay_shift, delay_mask, weight_shift)
                if dyn is not None:
                    dynamic_pre(dyn, buf, b, j, slot, row)
            reached[b] = j + 1


ChunkSpikes = list[tuple[np.ndarray, np.ndarray]]
"""Per trial: (steps, neuron indices) of the recorded neurons' spikes in one chunk."""
Advance = Callable[[int, int, np.ndarray, np.ndarray], ChunkSpikes]
"""Kernel call: advance every trial over steps [j0, j1) given that chunk's source CSR."""


def _numba_advance(prog: StepProgram, steps: int, trials: int, dyn: Any) -> tuple[Advance, Any]:
    """State and chunk function of the numba kernel; returns (advance, traces array)."""
    dtype = np.float64 if prog.dtype == torch.float64 else np.float32
    segments, kinds, c, n_refrac = segment_table(
        prog.pop_slices, prog.n_neurons, prog.kinds, prog.constants, dtype
    )
    counter = n_refrac.dtype
    state = np.repeat(prog.initial[:, None, :], trials, axis=1).astype(dtype)
    refrac = np.zeros((trials, prog.n_neurons), counter)
    # no injected current: the neuron loop streams one array less (compiled out)
    i_ext = np.zeros((trials, prog.n_neurons), dtype) if prog.dc_step.size else None
    buf = _initial_buffer(prog, trials).astype(dtype)
    if dyn is not None:
        early = prog.sources.array_source[prog.sources.array_emit_step < 0]
        dynamic_early(dyn, buf, prog.n_neurons + early)
    slots4 = buf.reshape(prog.n_slots, trials, 2, prog.n_neurons)  # same memory, per receptor
    syn = prog.synapses.codes
    # spike flags, padded to whole 64-bit words (padding never set)
    flags = np.zeros((trials, -(-prog.n_neurons // 8) * 8), np.uint8)
    n_record = int(prog.recording.record_spikes.sum())
    cap = max(4096, 4 * n_record)
    spike_step = np.zeros((trials, cap), np.int64)
    spike_id = np.zeros((trials, cap), np.int64)
    spike_count = np.zeros(trials, np.int64)
    traces = np.zeros((trials, steps, prog.recording.trace_code.size), dtype)
    reached = np.zeros(trials, np.int64)
    rails = np.array([-np.inf, np.inf], dtype)  # no rails: the membrane is unbounded

    n_threads = min(trials, numba.get_num_threads())
    bounds = np.linspace(0, trials, n_threads + 1).astype(np.int64)

    def advance(j0: int, j1: int, src_ptr: np.ndarray, src_ids: np.ndarray) -> ChunkSpikes:
        dc_ptr, dc_neuron, dc_value = _dc_chunk(prog, j0, j1)
        out: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]

        def run(b0: int, b1: int) -> None:
            _numba_chunk(
                b0, b1, j0, j1, reached, state, refrac, i_ext, buf, slots4, flags,
                segments, kinds, c, n_refrac,
                prog.indptr, syn.code, syn.weights, syn.tabled, syn.target_mask,
                syn.delay_shift, syn.delay_mask, syn.weight_shift,
                src_ptr, src_ids, dc_ptr, dc_neuron, dc_value,
                prog.recording.record_spikes, spike_step, spike_id, spike_count, n_record,
                prog.recording.trace_code, prog.recording.trace_neuron, traces, rails, dyn,
            )  # fmt: skip

        while reached.min() < j1:  # a trial stops early when its spike buffer is full
            if n_threads == 1:
                run(0, trials)
            else:
                with ThreadPoolExecutor(n_threads) as pool:
                    list(pool.map(run, bounds[:-1], bounds[1:]))
            for b in range(trials):
                count = spike_count[b]
                out[b].append((spike_step[b, :count].copy(), spike_id[b, :count].copy()))
            spike_count[:] = 0
        return [
            (np.concatenate([s for s, _ in parts]), np.concatenate([i for _, i in parts]))
            for parts in out
        ]

    return advance, traces


# ---------------------------------------------------------------------------------------
# torch kernel


def _torch_advance(prog: StepProgram, steps: int, trials: int, dyn: Any) -> tuple[Advance, Any]:
    """State and chunk function of the torch kernel; returns (advance, traces tensor)."""
    dev, dt_ = prog.device, prog.dtype
    n, n_lif = prog.n_neurons, prog.n_lif
    spans: dict[int, tuple[int, int]] = {}  # kind -> its neurons (contiguous: sorted by kind)
    for label, (first, end) in prog.pop_slices.items():
        lo, hi = spans.get(prog.kinds[label], (first, end))
        spans[prog.kinds[label]] = (min(lo, first), max(hi, end))
    lif_sl, adex_sl = slice(0, n_lif), slice(*spans.get(1, (n_lif, n_lif)))

    def const(name: str, sl: slice) -> torch.Tensor:
        dtype = torch.int64 if name == "refrac_steps" else dt_
        return torch.as_tensor(prog.constants[name][sl], dtype=dtype, device=dev)

    lif_c = LIFConstants(*(const(name, lif_sl) for name in LIF_CONSTANT_NAMES))
    adex_c = AdExConstants(
        LIFConstants(*(const(name, adex_sl) for name in LIF_CONSTANT_NAMES)),
        *(const(name, adex_sl) for name in ADEX_CONSTANT_NAMES),
    )
    shaped = [(kind, slice(lo, hi), {name: const(name, slice(lo, hi)) for name in CONSTANT_NAMES})
              for kind, (lo, hi) in sorted(spans.items()) if kind > 1]
    state = torch.as_tensor(prog.initial, dtype=dt_, device=dev)[:, None, :].repeat(1, trials, 1)
    refrac = torch.zeros((trials, n), dtype=torch.int64, device=dev)
    i_ext = torch.zeros((trials, n), dtype=dt_, device=dev)
    buf = torch.as_tensor(_initial_buffer(prog, trials), dtype=dt_, device=dev)
    assert prog.delay_steps is not None and prog.target is not None and prog.weight is not None
    mats, events = torch_synapses(prog.indptr, prog.target, prog.weight, prog.delay_steps,
                                  2 * n, dt_, dev)
    rec = torch.as_tensor(np.nonzero(prog.recording.record_spikes)[0], device=dev)
    rec_np = rec.cpu().numpy()
    trace_code = torch.as_tensor(prog.recording.trace_code, device=dev)
    trace_neuron = torch.as_tensor(prog.recording.trace_neuron, device=dev)
    traces = torch.zeros((trials, steps, prog.recording.trace_code.size), dtype=dt_, device=dev)

    def step(j: int, src: torch.Tensor) -> torch.Tensor:
        traces[:, j, :] = state[trace_code, :, trace_neuron].T
        slot = j % prog.n_slots
        inp = buf[slot].clone()
        buf[slot].zero_()
        spikes = torch.empty((trials, n), dtype=torch.bool, device=dev)
        z, s = lif_step(
            LIFState(state[0, :, lif_sl], state[1, :, lif_sl], state[2, :, lif_sl],
                     refrac[:, lif_sl]),
            inp[:, lif_sl], inp[:, n:n + n_lif], i_ext[:, lif_sl], lif_c,
        )  # fmt: skip
        spikes[:, lif_sl] = z
        state[0, :, lif_sl], state[1, :, lif_sl], state[2, :, lif_sl] = s.v, s.i_exc, s.i_inh
        refrac[:, lif_sl] = s.refrac
        if adex_sl.stop > adex_sl.start:
            za, sa = adex_step(
                AdExState(state[0, :, adex_sl], state[1, :, adex_sl], state[2, :, adex_sl],
                          state[3, :, adex_sl], refrac[:, adex_sl]),
                inp[:, adex_sl], inp[:, n + adex_sl.start:n + adex_sl.stop], i_ext[:, adex_sl],
                adex_c,
            )  # fmt: skip
            spikes[:, adex_sl] = za
            state[0, :, adex_sl], state[1, :, adex_sl] = sa.v, sa.i_exc
            state[2, :, adex_sl], state[3, :, adex_sl] = sa.i_inh, sa.w
            refrac[:, adex_sl] = sa.refrac
        for kind, sl, kc in shaped:
            spikes[:, sl] = shaped_step(kind, state[:, :, sl], refrac[:, sl], inp[:, sl],
                                        inp[:, n + sl.start:n + sl.stop], i_ext[:, sl], kc)
        fired = torch.cat([spikes, src], dim=1)
        if mats:
            pre = fired.to(dt_)
            for d, mat in mats:
                buf[(j + d) % prog.n_slots] += pre @ mat
        if events is not None:
            deliver_rows(events, buf, j, fired)
        return spikes[:, rec]

    def advance(j0: int, j1: int, src_ptr: np.ndarray, src_ids: np.ndarray) -> ChunkSpikes:
        src = np.zeros((j1 - j0, trials, prog.n_sources), bool)
        for b in range(trials):
            k = np.repeat(np.arange(j1 - j0), np.diff(src_ptr[b]))
            src[k, b, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]] = True
        src_t = torch.as_tensor(src, device=dev)
        dc_ptr, dc_neuron, dc_value = _dc_chunk(prog, j0, j1)
        raster = torch.zeros((j1 - j0, trials, rec.numel()), dtype=torch.bool, device=dev)
        for j in range(j0, j1):
            lo, hi = dc_ptr[j - j0], dc_ptr[j - j0 + 1]
            if hi > lo:
                idx = torch.as_tensor(dc_neuron[lo:hi], device=dev)
                i_ext[:, idx] = torch.as_tensor(dc_value[lo:hi], dtype=dt_, device=dev)
            raster[j - j0] = step(j, src_t[j - j0])
        k_idx, b_idx, r_idx = (t.cpu().numpy() for t in torch.nonzero(raster, as_tuple=True))
        return [(k_idx[b_idx == b] + j0, rec_np[r_idx[b_idx == b]]) for b in range(trials)]

    return advance, traces


# ---------------------------------------------------------------------------------------


def check_run_memory(prog: StepProgram, steps: int, trials: int) -> None:
    """Refuse a run whose arrays this machine cannot hold, before allocating them: the
    ring buffer of synaptic input (one slot per step of the longest delay, two receptors
    per neuron), the recorded traces (every step) and the state, per trial.

    Raises
    ------
    CapacityError
        Naming the need (and which array dominates) and the machine's memory.
    """
    itemsize = 4 if prog.dtype == torch.float32 else 8
    ring = prog.n_slots * trials * 2 * prog.n_neurons * itemsize
    traces = trials * steps * prog.recording.trace_code.size * itemsize
    state = trials * prog.n_neurons * 6 * itemsize
    check_memory(
        f"a run of {steps} steps x {trials} trial(s): ring buffer of {prog.n_slots} delay "
        f"slots {ring / 2**30:.3g} GiB (longest delay / dt), traces {traces / 2**30:.3g} GiB "
        f"(steps x recorded variables)",
        ring + traces + state,
    )


def run_program(
    prog: StepProgram,
    duration: float,
    seed: int = 0,
    trials: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run a compiled network for ``duration`` ms.

    Parameters
    ----------
    prog
        From :func:`compile_network`.
    duration
        Model time, ms; a multiple of dt.
    seed
        Seed of the Poisson sources (trial b uses the stream ``(seed, b)``).
    trials
        Independent trials, run as one batch (in parallel on CPU).
    progress
        Optional callback ``progress(done_steps, total_steps)`` after each chunk.
    """
    steps = prog.network.steps(duration)
    check_int("trials", trials, low=1)
    check_run_memory(prog, steps, trials)
    rngs = trial_rngs(seed, trials)
    start, cpu_start = time.perf_counter(), time.process_time()
    make = _numba_advance if prog.kernel == "numba" else _torch_advance
    dyn = None if prog.dynamic is None else dynamic_state(prog.dynamic, trials, seed, prog.dt)
    advance, traces = make(prog, steps, trials, dyn)
    early = prog.sources.array_source[prog.sources.array_emit_step < 0]
    neuron_spikes: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.full(early.size, -1), early)] for _ in range(trials)
    ]
    chunk = chunk_steps(prog.sources, trials)
    for j0 in range(0, steps, chunk):
        j1 = min(j0 + chunk, steps)
        src_ptr, src_ids = source_spikes(prog.sources, rngs, j0, j1)
        for b, spikes in enumerate(advance(j0, j1, src_ptr, src_ids)):
            neuron_spikes[b].append(spikes)
            if prog.recording.record_sources:
                k = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                source_chunks[b].append((k, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]))
        if progress is not None:
            progress(j1, steps)
    wall = time.perf_counter() - start
    cpu: dict[str, Any] = {"cpu_time_s": time.process_time() - cpu_start}  # all threads
    if prog.dynamic is not None and dyn is not None:  # projection -> (trials, S) weights
        cpu["final_weights"] = prog.dynamic.final_weights(dyn)
    return assemble_result(prog, duration, neuron_spikes, source_chunks, traces, wall, cpu)


def assemble_result(
    prog: StepProgram,
    duration: float,
    neuron_spikes: list[list[tuple[np.ndarray, np.ndarray]]],
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]],
    traces: np.ndarray | torch.Tensor,
    wall: float,
    meta: dict[str, Any],
) -> Result:
    """The :class:`Result` of a run of ``prog``: per trial (step, global index) chunks of
    neuron and source spikes, traces (trials, steps, columns), the wall time (s) and
    ``meta`` beyond the kernel, dtype and device."""
    traces_t = traces if isinstance(traces, torch.Tensor) else torch.from_numpy(traces)
    return Result(
        network=prog.network,
        duration=float(duration),
        n_trials=len(neuron_spikes),
        spike_records=spike_records(
            prog.recording, prog.pop_slices, prog.source_slices, prog.dt, len(neuron_spikes),
            neuron_spikes, source_chunks,
        ),
        traces={
            key: traces_t[:, :, lo:hi]
            for key, (lo, hi) in prog.recording.trace_columns.items()
        },
        cost=Cost(bio_time_ms=float(duration), wall_time_s=wall),
        meta={"kernel": prog.kernel, "dtype": str(prog.dtype), "device": str(prog.device),
              **meta},
    )
