r"""The ``bss2`` backend: a network mapped onto one virtual HICANN-X and emulated there.

``map`` is :func:`~neurotwin.bss2.mapping.map_network`; ``run`` emulates the chip:

* every used circuit with its *actual* analog parameters (what the mapped CapMem codes
  give on this chip, :meth:`Chip.circuit_parameters`, deviations included), stepped as
  :func:`~neurotwin.bss2.neuron.emulate` steps (``lif_step``, or ``adex_step``'s
  arithmetic where the exponential term or adaptation is on, in hardware units; temporal
  membrane noise, membrane clamped to the rails, comparator on the noisy membrane,
  refractory clamp of ``counter / 10 MHz``), closed-loop over the recurrent synapses and
  batched over trials;
* logical neurons of several circuits as one membrane
  (:func:`~neurotwin.bss2.neuron.merge_compartments`: capacitances and leaks add) driven
  by every member's own synaptic currents, each decaying with the member's tau_syn;
* injected currents as the anchor's offset current, its code rewritten at the step
  boundaries where the ``ideal`` engine switches the current
  (:func:`~neurotwin.bss2.mapping.offset_schedule`);
* synaptic input by label matching: an event of a presynaptic unit reaches the drivers
  of its routes, and every synapse in the drivers' rows whose label equals the unit's
  address adds ``weight [LSB] * g_syn(circuit, row mode) * driver factor`` nA to the
  circuit's exc or inh input, after the synapse's delay;
* input events played back on the time grid (spike sources as in the ``ideal`` engine,
  with the same Poisson streams), at most ``specs.INPUT_EVENT_RATE_MAX_HZ`` per second of
  hardware time on average (CapacityError "input bandwidth" above);
* spike timestamps on the FPGA clock: a spike in the step ending at ``t`` µs is stamped
  ``floor(t / 8 ns) * 8 ns``, so reported times are at most 8 ns (0.008 ms of model time)
  earlier than the ``ideal`` backend's step ends;
* hardware time in, model time out: times are reported in ms of model time (numerically
  equal to µs of hardware time); traces "v" in model mV through the population's inverse
  voltage map, "i_exc"/"i_inh" in model nA (hardware nA divided by the current scale);
* the chip's readouts asked for with the ``readout`` option (CADC membrane samples, one
  MADC trace, correlation sensors of one projection; :mod:`~neurotwin.bss2.readout`) in
  the returned :class:`~neurotwin.bss2.readout.Bss2Result`.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np
import torch

from neurotwin.backends.base import BACKENDS, Backend
from neurotwin.bss2 import specs
from neurotwin.bss2.calibration import Calibration
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.config import NeuronConfig
from neurotwin.bss2.cost import estimate_cost
from neurotwin.bss2.mapping import Mapping, map_network, offset_schedule, poisson_input_rate
from neurotwin.bss2.neuron import merge_compartments
from neurotwin.bss2.readout import (
    Bss2Result,
    Readout,
    cadc_readout,
    check_readout,
    correlation_readout,
    madc_readout,
    membrane_requests,
)
from neurotwin.dynamics.lif import LIF, lif_constants
from neurotwin.engines.result import SpikeRecord

# the source playback of the ideal engine, so that both backends see the same Poisson spikes
from neurotwin.engines.plan import CHUNK_STEPS, source_spikes, trial_rngs
from neurotwin.errors import CapacityError, ConfigError
from neurotwin.network import Network

__all__ = ["Bss2Backend", "SynapseTable", "synapse_table"]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2, "w": 3}


@dataclass(frozen=True)
class SynapseTable:
    """The chip's synapses as seen from the events: CSR over presynaptic unit."""

    indptr: np.ndarray
    """(n_pre + 1,) offsets."""
    target: np.ndarray
    """circuit + receptor * n_neurons (receptor 0 exc, 1 inh)."""
    current: np.ndarray
    """Current jump of one event, hardware nA."""
    delay_steps: np.ndarray
    """Delay in time steps (>= 1)."""


def used_neurons(mapping: Mapping) -> NeuronConfig:
    """The settings of the circuits in use (``mapping.circuits``, in that order)."""
    full = mapping.config.neurons
    idx = mapping.circuits
    return NeuronConfig(
        circuits=idx, capmem=full.capmem[:, idx],
        membrane_capacitance=full.membrane_capacitance[idx],
        refractory_counter=full.refractory_counter[idx],
        enable_threshold=full.enable_threshold[idx],
        enable_exponential=full.enable_exponential[idx],
        enable_adaptation=full.enable_adaptation[idx],
    )


def synapse_table(mapping: Mapping, gain_exc: np.ndarray, gain_inh: np.ndarray) -> SynapseTable:
    """Resolve routes, labels and row modes into per-event current jumps.

    Parameters
    ----------
    mapping
        The mapped network.
    gain_exc, gain_inh
        Actual synaptic current per weight LSB of every used circuit, nA, (n_circuits,)
        in the order of ``mapping.circuits``.
    """
    nc = mapping.n_circuits
    n_pre = mapping.address.size
    compact = np.full(specs.N_NEURONS, -1, np.int64)
    compact[mapping.circuits] = np.arange(nc)
    weights = np.asarray(mapping.config.weights, dtype=np.int64)
    labels = np.asarray(mapping.config.addresses)
    modes = np.asarray(mapping.config.row_modes)
    gains = np.stack([gain_exc, gain_inh])
    driver_gain = mapping.chip.fixed_pattern.syn_gain_driver
    pres, targets, currents, delays = [], [], [], []
    for unit, h, d in mapping.routes:
        for row in (2 * d, 2 * d + 1):
            mode = specs.ROW_MODES[modes[h, row]]
            if mode == "disabled":
                continue
            cols = np.nonzero((labels[h, row] == mapping.address[unit]) & (weights[h, row] > 0))[0]
            circuit = compact[h * specs.SYNRAM_COLUMNS + cols]
            keep = circuit >= 0
            cols, circuit = cols[keep], circuit[keep]
            receptor = 0 if mode == "excitatory" else 1
            pres.append(np.full(cols.size, unit))
            targets.append(circuit + receptor * nc)
            currents.append(weights[h, row, cols] * gains[receptor, circuit] * driver_gain[h, d])
            delays.append(mapping.delay_steps[h, row, cols])
    if not pres:
        empty = np.zeros(0, np.int64)
        return SynapseTable(np.zeros(n_pre + 1, np.int64), empty, np.zeros(0), empty)
    pre = np.concatenate(pres)
    order = np.argsort(pre, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_pre))])
    return SynapseTable(indptr.astype(np.int64), np.concatenate(targets)[order].astype(np.int64),
                        np.concatenate(currents)[order],
                        np.concatenate(delays)[order].astype(np.int64))


NEURON_ROWS = ("v_rest", "v_reset", "v_thresh", "i_offset", "p_vv", "p_vi", "noise",
               "g_l_delta_t", "v_exp", "delta_t", "p_ww", "a_us", "b")
"""Rows of the kernel's per-neuron constants ``c``."""
CIRCUIT_ROWS = ("p_ve", "p_vn", "p_ee", "p_nn")
"""Rows of the kernel's per-circuit constants ``cs`` (synaptic inputs)."""


@dataclass(frozen=True)
class KernelConstants:
    """Everything the kernel needs about the mapped neurons, in hardware units."""

    c: np.ndarray
    """(13, n) per logical neuron, rows :data:`NEURON_ROWS`."""
    cs: np.ndarray
    """(4, n_circuits) per circuit, rows :data:`CIRCUIT_ROWS`."""
    adex: np.ndarray
    """(n,) bool: step with adex_step's arithmetic."""
    refrac_steps: np.ndarray
    """(n,) int64."""
    gain_exc: np.ndarray
    gain_inh: np.ndarray
    """(n_circuits,) actual synaptic current per weight LSB, nA."""


def kernel_constants(mapping: Mapping, dt: float) -> KernelConstants:
    """Step constants of the mapped neurons on the mapping's chip for a step of ``dt`` µs."""
    n = mapping.n_neurons
    if not n:
        return KernelConstants(np.zeros((len(NEURON_ROWS), 0)), np.zeros((4, 0)),
                               np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0),
                               np.zeros(0))
    circuit = mapping.chip.circuit_parameters(used_neurons(mapping))
    params = merge_compartments(circuit, mapping.member_ptr)
    adex = (params.delta_t > 0) | (params.a != 0) | (params.b != 0)
    const = params.step_constants(dt)
    rows = {name: getattr(const, name).numpy() for name in NEURON_ROWS[:6]}
    rows["noise"] = params.noise_mv * np.sqrt(1.0 - rows["p_vv"] ** 2) / rows["p_vi"]
    for name in NEURON_ROWS[7:]:
        rows[name] = np.zeros(n)
    if adex.any():
        adex_c = params.adex_constants(dt)
        for name in NEURON_ROWS[7:]:
            rows[name] = np.where(adex, getattr(adex_c, name).numpy(), 0.0)
    neuron = np.repeat(np.arange(n), np.diff(mapping.member_ptr))
    # each member's synaptic current onto the merged membrane (tau_mem, C of the neuron)
    cs = np.array([
        [getattr(lif_constants(LIF(tau_mem=float(params.tau_mem[i]), tau_syn_exc=float(te),
                                   tau_syn_inh=float(ti), cm=float(params.c_mem[i])), dt),
                 name) for name in CIRCUIT_ROWS]
        for i, te, ti in zip(neuron, circuit.tau_syn_exc, circuit.tau_syn_inh, strict=True)
    ]).T
    return KernelConstants(np.stack([rows[name] for name in NEURON_ROWS]), cs, adex,
                           const.refrac_steps.numpy().astype(np.int64),
                           circuit.syn_gain_exc, circuit.syn_gain_inh)


@numba.njit(cache=True, parallel=True, nogil=True)
def _chunk(j0, j1, v, w, ie, ii, rf, ioff, buf, c, cs, adex, refrac_steps, member_ptr, noise,
           indptr, target, current, delay_steps, src_ptr, src_ids, dc_ptr, dc_neuron,
           dc_value, raster, trace_code, trace_idx, traces,
           rail_low, rail_high):  # pragma: no cover - compiled; tested through run
    """Advance every trial over steps [j0, j1): one step per logical neuron (lif_step's or
    adex_step's arithmetic), rails, synapses.

    ``c`` rows as :data:`NEURON_ROWS` (neurons), ``cs`` as :data:`CIRCUIT_ROWS` (circuits;
    neuron i owns ``member_ptr[i]:member_ptr[i + 1]``). ``v, w, rf, ioff`` are
    (trials, n), ``ie, ii`` (trials, n_circuits). ``noise`` is (trials, j1 - j0, n) or
    (trials, 0, n) when off. ``dc_*``: offset-current changes (CSR over the chunk's steps).
    """
    n_trials, n = v.shape
    nc = ie.shape[1]
    n_slots = buf.shape[0]
    noisy = noise.shape[1] > 0
    for b in numba.prange(n_trials):
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
            for i in range(n):
                i_ext = ioff[b, i] + (c[6, i] * noise[b, k, i] if noisy else 0.0)
                vi = v[b, i]
                wi = 0.0
                if adex[i]:
                    i_ext = i_ext + (c[7, i] * np.exp((vi - c[8, i]) / c[9, i]) - w[b, i])
                    wi = w[b, i] * c[10, i] + c[11, i] * (vi - c[0, i]) * (1.0 - c[10, i])
                m0, m1 = member_ptr[i], member_ptr[i + 1]
                if rf[b, i] <= 0:
                    vi = c[0, i] + (vi - c[0, i]) * c[4, i] + i_ext * c[5, i]
                    for q in range(m0, m1):  # in lif_step's order: + i_exc p_ve - i_inh p_vn
                        vi = vi + ie[b, q] * cs[0, q]
                        vi = vi - ii[b, q] * cs[1, q]
                else:
                    rf[b, i] -= 1
                for q in range(m0, m1):
                    ie[b, q] = ie[b, q] * cs[2, q] + buf[slot, b, q]
                    ii[b, q] = ii[b, q] * cs[3, q] + buf[slot, b, nc + q]
                    buf[slot, b, q] = 0.0
                    buf[slot, b, nc + q] = 0.0
                spike = vi >= c[2, i]
                if spike:
                    vi = c[1, i]
                    rf[b, i] = refrac_steps[i]
                    wi = wi + c[12, i]
                v[b, i] = min(max(vi, rail_low), rail_high)
                w[b, i] = wi
                raster[b, k, i] = spike
            for i in range(n):
                if raster[b, k, i]:
                    for q in range(indptr[i], indptr[i + 1]):
                        buf[(j + delay_steps[q]) % n_slots, b, target[q]] += current[q]
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                row = n + src_ids[e]
                for q in range(indptr[row], indptr[row + 1]):
                    buf[(j + delay_steps[q]) % n_slots, b, target[q]] += current[q]


def fpga_timestamps(step_end_us: np.ndarray) -> np.ndarray:
    """Spike times (µs) stamped on the 125 MHz FPGA clock: floor to whole 8 ns ticks."""
    ticks = np.floor(np.asarray(step_end_us) * specs.FPGA_CLOCK_MHZ + 1e-6)
    return ticks / specs.FPGA_CLOCK_MHZ


def _input_rate(mapping: Mapping, duration: float) -> float:
    """Mean input event rate of the routed sources over ``duration``, Hz of model time."""
    prog = mapping.program
    routed = mapping.address[mapping.n_neurons:] >= 0
    emit = prog.sources.array_emit_step
    steps = mapping.network.steps(duration)
    sent = routed[prog.sources.array_source] & (emit < steps)
    array_events = int(np.count_nonzero(sent))
    rate = poisson_input_rate(mapping.network, mapping.address, mapping.n_neurons)
    return rate + array_events / (duration * 1e-3)


@BACKENDS.register("bss2")
class Bss2Backend(Backend):
    """The BrainScaleS-2 twin (see the module docstring and ``docs/bss2.md``).

    ``map`` options: ``chip`` (default: an ideal chip, serial 0), ``calibration``,
    ``weight_scale`` (model nA per weight LSB), ``circuits_per_neuron`` (int or by label),
    ``readout`` (a :class:`~neurotwin.bss2.readout.Readout`: the chip readouts to record).
    """

    name = "bss2"

    def map(self, network: Network, chip: Chip | None = None,
            calibration: Calibration | None = None, weight_scale: float | None = None,
            circuits_per_neuron: int | dict[str, int] | None = None,
            readout: Readout | None = None, **options: Any) -> Mapping:
        """Map ``network`` onto the chip (:func:`~neurotwin.bss2.mapping.map_network`)
        and attach the ``readout`` options (ConfigError naming an unknown population,
        neuron index or projection)."""
        if options:
            raise ConfigError(f"unknown bss2 map options {sorted(options)}; known: chip, "
                              f"calibration, weight_scale, circuits_per_neuron, readout")
        if readout is not None:
            check_readout(readout, network)
        mapping = map_network(network, chip=chip, calibration=calibration,
                              weight_scale=weight_scale,
                              circuits_per_neuron=circuits_per_neuron)
        return mapping if readout is None else replace(mapping, readout=readout)

    def run(self, artefact: Mapping, duration: float, seed: int = 0, trials: int = 1,
            progress: Any = None) -> Bss2Result:
        """Emulate ``artefact`` for ``duration`` ms of model time, ``trials`` trials.

        Trial b draws its Poisson input from the stream ``(seed, b)`` (as ``ideal``), its
        membrane noise from ``(seed, b, 1)`` and the readouts' read noise from
        ``(seed, b, 2..4)`` (:mod:`~neurotwin.bss2.readout`).
        """
        mapping = artefact
        net = mapping.network
        steps = net.steps(duration)
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"trials must be a positive integer, got {trials!r}")
        rate = _input_rate(mapping, duration)
        limit = specs.INPUT_EVENT_RATE_MAX_HZ / specs.ACCELERATION
        if rate > limit:
            raise CapacityError("input bandwidth", rate, limit,
                                "input events per second of model time, on average")
        rngs = trial_rngs(seed, trials)
        noise_rngs = [np.random.default_rng([seed, b, 1]) for b in range(trials)]
        start = time.perf_counter()
        n = mapping.n_neurons
        dt = mapping.dt
        prog = mapping.program
        nc = mapping.n_circuits
        kc = kernel_constants(mapping, dt)
        table = synapse_table(mapping, kc.gain_exc, kc.gain_inh)
        noisy = bool(np.any(kc.c[6] > 0))
        dc_step, dc_neuron, dc_code = offset_schedule(mapping)
        anchors = mapping.circuits[mapping.member_ptr[:-1]]
        dc_value = (mapping.chip.offset_current(dc_code, anchors[dc_neuron])
                    if dc_code.size else np.zeros(0))

        v0, w0 = np.zeros(n), np.zeros(n)
        ie0, ii0 = np.zeros(nc), np.zeros(nc)
        for pop in net.populations:
            pmap = mapping.populations[str(pop.label)]
            sl = pmap.neurons
            first_member = mapping.member_ptr[:-1][sl]
            init = pop.initial_values()
            v0[sl] = pmap.to_hardware_mv(init["v"])
            ie0[first_member] = init["i_exc"] * pmap.current_scale
            ii0[first_member] = init["i_inh"] * pmap.current_scale
            if "w" in init:
                w0[sl] = init["w"] * pmap.current_scale
        v = np.repeat(v0[None], trials, axis=0)
        w = np.repeat(w0[None], trials, axis=0)
        ie = np.repeat(ie0[None], trials, axis=0)
        ii = np.repeat(ii0[None], trials, axis=0)
        rf = np.zeros((trials, n), np.int64)
        ioff = np.repeat(kc.c[3][None], trials, axis=0)
        n_slots = int(table.delay_steps.max()) + 1 if table.delay_steps.size else 2
        buf = np.zeros((n_slots, trials, 2 * nc))
        for src in prog.sources.array_source[prog.sources.array_emit_step < 0]:
            lo, hi = table.indptr[n + src], table.indptr[n + src + 1]
            slots = (table.delay_steps[lo:hi] - 1) % n_slots
            for b in range(trials):
                np.add.at(buf[:, b, :], (slots, table.target[lo:hi]), table.current[lo:hi])
        state = _KernelState(v, w, ie, ii, rf, ioff, buf, kc, mapping.member_ptr,
                             dc_step, dc_neuron, dc_value)

        trace_code: list[int] = []
        trace_idx: list[int] = []
        columns: dict[tuple[str, str], tuple[int, int]] = {}
        record_spikes = np.zeros(n, bool)
        for label, variables in net.recordings.items():
            if label not in mapping.populations:
                continue
            pmap = mapping.populations[label]
            for var, chosen in variables.items():
                local = np.arange(pmap.size) if chosen is None else chosen
                if var == "spikes":
                    record_spikes[pmap.first_neuron + local] = True
                    continue
                start_col = len(trace_code)
                trace_code += [STATE_CODES[var]] * local.size
                trace_idx += list(pmap.first_neuron + local)
                columns[(label, var)] = (start_col, len(trace_code))
        # the readouts' membranes, hardware mV at every step, after the recorded traces
        readout = check_readout(mapping.readout, net)  # also when set on a loaded mapping
        requests = membrane_requests(mapping)
        readout_col = len(trace_code)
        trace_code += [STATE_CODES["v"]] * requests.size
        trace_idx += list(requests)
        keep_spikes = record_spikes.copy()
        if readout.correlation is not None:
            for label in readout.correlation:
                if label in mapping.populations:
                    keep_spikes[mapping.populations[label].neurons] = True
        keep_sources = bool(prog.recording.record_sources) or (
            readout.correlation is not None and readout.correlation[0] not in mapping.populations)
        code_arr = np.asarray(trace_code, np.int64)
        idx_arr = np.asarray(trace_idx, np.int64)
        traces = np.zeros((trials, steps, code_arr.size))

        spike_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        spike_ids: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_ids_all: list[list[np.ndarray]] = [[] for _ in range(trials)]
        early = prog.sources.array_source[prog.sources.array_emit_step < 0]
        for b in range(trials):
            src_steps[b].append(np.full(early.size, -1))
            src_ids_all[b].append(early)
        n_spikes = 0
        routed = mapping.address[n:] >= 0
        input_events = int(np.count_nonzero(routed[early])) * trials
        recorded = np.nonzero(keep_spikes)[0] if n else np.zeros(0, np.int64)
        # one buffer for all chunks, filled in place: the trials' streams in parallel
        # threads (numpy's generators release the GIL), no per-chunk stacking copy
        noise_buf = np.empty((trials, min(CHUNK_STEPS, steps) if noisy else 0, n))
        with ThreadPoolExecutor(max_workers=min(trials, os.cpu_count() or 1)) as pool:
            for j0 in range(0, steps, CHUNK_STEPS):
                j1 = min(j0 + CHUNK_STEPS, steps)
                src_ptr, src_ids = source_spikes(prog.sources, rngs, j0, j1)
                noise = noise_buf
                if noisy:
                    m = j1 - j0
                    list(pool.map(lambda b, m=m: noise_rngs[b].standard_normal(
                        out=noise_buf[b, :m]), range(trials)))
                    # a shorter last chunk: copied to keep the kernel's contiguous signature
                    noise = noise_buf if m == noise_buf.shape[1] \
                        else np.ascontiguousarray(noise_buf[:, :m])
                raster = _run_chunk_impl(j0, j1, state, noise, table, src_ptr, src_ids,
                                         code_arr, idx_arr, traces)
                input_events += int(np.count_nonzero(routed[src_ids]))
                everything = recorded.size == n  # no copy of the raster when all are recorded
                bb, k, i = np.nonzero(raster if everything else raster[:, :, recorded])
                n_spikes += bb.size if everything else int(raster.sum())
                bounds = np.searchsorted(bb, np.arange(trials + 1))
                for b in range(trials):
                    sl = slice(bounds[b], bounds[b + 1])
                    spike_steps[b].append(k[sl] + j0)
                    spike_ids[b].append(recorded[i[sl]])
                    if keep_sources:
                        ks = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                        src_steps[b].append(ks)
                        src_ids_all[b].append(src_ids[src_ptr[b, 0]:src_ptr[b, -1]])
                if progress is not None:
                    progress(j1, steps)
        wall = time.perf_counter() - start

        records: dict[str, SpikeRecord] = {}
        for label, pmap in mapping.populations.items():
            if not record_spikes[pmap.neurons].any():
                continue
            chosen = None if record_spikes[pmap.neurons].all() \
                else np.nonzero(record_spikes[pmap.neurons])[0]
            records[label] = _record(spike_steps, spike_ids, pmap.first_neuron,
                                     pmap.first_neuron + pmap.size, dt, chosen)
        for label, chosen in prog.recording.record_sources.items():
            first, end = prog.source_slices[label]
            records[label] = _record(src_steps, src_ids_all, first, end, dt, chosen)
        out_traces = {}
        for (label, var), (lo, hi) in columns.items():
            pmap = mapping.populations[label]
            block = traces[:, :, lo:hi]
            if var == "v":
                block = pmap.to_model_mv(block)
            else:
                block = block / pmap.current_scale
            out_traces[(label, var)] = torch.from_numpy(np.ascontiguousarray(block))
        cost = estimate_cost(mapping, duration, trials, wall, input_events, n_spikes)
        # the membranes at k * dt for k = 0 .. steps (the final state closes the run)
        v_read = np.concatenate([traces[:, :, readout_col:readout_col + requests.size],
                                 state.v[:, None, requests]], axis=1)
        n_cadc = v_read.shape[2] - (readout.madc is not None)
        cadc, cadc_times = cadc_readout(mapping, v_read[:, :, :n_cadc], seed) \
            if n_cadc else ({}, np.zeros(0))
        madc, madc_times = madc_readout(mapping, v_read[:, :, -1], seed) \
            if readout.madc is not None else (None, None)
        correlation = None
        if readout.correlation is not None:
            joined = [[np.concatenate(x[b]) for b in range(trials)]
                      for x in (spike_steps, spike_ids, src_steps, src_ids_all)]
            correlation = correlation_readout(
                mapping, steps * dt, list(zip(joined[0], joined[1], strict=True)),
                list(zip(joined[2], joined[3], strict=True)), seed)
        return Bss2Result(network=net, duration=float(duration), n_trials=trials,
                          spike_records=records, traces=out_traces, cost=cost,
                          meta={"chip_serial": mapping.chip.serial,
                                "calibration_serial": mapping.calibration_serial,
                                "timestamp_resolution_us": specs.FPGA_TICK_US,
                                "readout": readout},
                          cadc=cadc, cadc_times=cadc_times, madc=madc, madc_times=madc_times,
                          correlation=correlation)


@dataclass(frozen=True, eq=False)
class _KernelState:
    """The kernel's arrays of one run (mutated in place, chunk after chunk)."""

    v: np.ndarray
    w: np.ndarray
    ie: np.ndarray
    ii: np.ndarray
    rf: np.ndarray
    ioff: np.ndarray
    buf: np.ndarray
    constants: KernelConstants
    member_ptr: np.ndarray
    dc_step: np.ndarray
    dc_neuron: np.ndarray
    dc_value: np.ndarray


def _run_chunk_impl(j0: int, j1: int, st: _KernelState, noise: np.ndarray, table: SynapseTable,
                    src_ptr: np.ndarray, src_ids: np.ndarray, code_arr: np.ndarray,
                    idx_arr: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """Run the kernel over steps [j0, j1); return the spike raster (trials, j1 - j0, n)."""
    raster = np.zeros((st.v.shape[0], j1 - j0, st.v.shape[1]), np.bool_)
    lo, hi = np.searchsorted(st.dc_step, [j0, j1])
    dc_ptr = (lo + np.searchsorted(st.dc_step[lo:hi], np.arange(j0, j1 + 1))).astype(np.int64)
    kc = st.constants
    _chunk(j0, j1, st.v, st.w, st.ie, st.ii, st.rf, st.ioff, st.buf, kc.c, kc.cs, kc.adex,
           kc.refrac_steps, st.member_ptr, noise, table.indptr, table.target, table.current,
           table.delay_steps, src_ptr, src_ids, dc_ptr, st.dc_neuron, st.dc_value, raster,
           code_arr, idx_arr, traces, specs.MEMBRANE_RAIL_LOW_MV, specs.MEMBRANE_RAIL_HIGH_MV)
    return raster


def _record(steps: list[list[np.ndarray]], ids: list[list[np.ndarray]], first: int, end: int,
            dt: float, chosen: np.ndarray | None) -> SpikeRecord:
    """Spikes of units [first, end) over all trials, stamped on the FPGA clock."""
    times, local, trial_ids = [], [], []
    for b in range(len(steps)):
        k = np.concatenate(steps[b]) if steps[b] else np.zeros(0, np.int64)
        i = np.concatenate(ids[b]) if ids[b] else np.zeros(0, np.int64)
        sel = (i >= first) & (i < end)
        if chosen is not None:
            sel &= np.isin(i - first, chosen)
        order = np.lexsort((i[sel], k[sel]))
        times.append(fpga_timestamps((k[sel][order] + 1) * dt))
        local.append(i[sel][order] - first)
        trial_ids.append(np.full(int(sel.sum()), b))
    return SpikeRecord(np.concatenate(times), np.concatenate(local).astype(np.int64),
                       np.concatenate(trial_ids).astype(np.int64))

