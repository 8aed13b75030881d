r"""The ``bss2`` backend: a network mapped onto one virtual HICANN-X and emulated there.

``map`` is :func:`~neurotwin.bss2.mapping.map_network`; ``run`` emulates the chip:

* every used circuit with its *actual* analog parameters (what the mapped CapMem codes
  give on this chip, :meth:`Chip.circuit_parameters`, deviations included), stepped as
  :func:`~neurotwin.bss2.neuron.emulate` steps (``lif_step`` in hardware units, temporal
  membrane noise, membrane clamped to the rails, comparator on the noisy membrane,
  refractory clamp of ``counter / 10 MHz``), closed-loop over the recurrent synapses and
  batched over trials;
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
  voltage map, "i_exc"/"i_inh" in model nA (hardware nA divided by the current scale).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from neurotwin.bss2.mapping import Mapping, map_network, poisson_input_rate
from neurotwin.engines.result import Result, SpikeRecord

# the source playback of the ideal engine, so that both backends see the same Poisson spikes
from neurotwin.engines.step import CHUNK_STEPS, source_spikes, trial_rngs
from neurotwin.errors import CapacityError, ConfigError
from neurotwin.network import Network

__all__ = ["Bss2Backend", "SynapseTable", "synapse_table"]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2}


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
    """The settings of the circuits in use (0 .. n_neurons - 1)."""
    full = mapping.config.neurons
    n = mapping.n_neurons
    return NeuronConfig(
        circuits=np.arange(n), capmem=full.capmem[:, :n],
        membrane_capacitance=full.membrane_capacitance[:n],
        refractory_counter=full.refractory_counter[:n],
        enable_threshold=full.enable_threshold[:n],
        enable_exponential=full.enable_exponential[:n],
        enable_adaptation=full.enable_adaptation[:n],
    )


def synapse_table(mapping: Mapping, gain_exc: np.ndarray, gain_inh: np.ndarray) -> SynapseTable:
    """Resolve routes, labels and row modes into per-event current jumps.

    Parameters
    ----------
    mapping
        The mapped network.
    gain_exc, gain_inh
        Actual synaptic current per weight LSB of every used circuit, nA, (n_neurons,).
    """
    n = mapping.n_neurons
    n_pre = mapping.address.size
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
            circuit = h * specs.SYNRAM_COLUMNS + cols
            keep = circuit < n
            cols, circuit = cols[keep], circuit[keep]
            receptor = 0 if mode == "excitatory" else 1
            pres.append(np.full(cols.size, unit))
            targets.append(circuit + receptor * n)
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


@numba.njit(cache=True, parallel=True, nogil=True)
def _chunk(j0, j1, v, ie, ii, rf, buf, c, refrac_steps, noise, indptr, target, current,
           delay_steps, src_ptr, src_ids, raster, trace_code, trace_idx, traces,
           rail_low, rail_high):  # pragma: no cover - compiled; tested through run
    """Advance every trial over steps [j0, j1): lif_step per circuit, rails, synapses.

    ``c`` rows: v_rest, v_reset, v_thresh, i_offset, p_vv, p_vi, p_ve, p_vn, p_ee, p_nn,
    noise current scale. ``noise`` is (trials, j1 - j0, n) or (trials, 0, n) when off.
    """
    n_trials, n = v.shape
    n_slots = buf.shape[0]
    noisy = noise.shape[1] > 0
    for b in numba.prange(n_trials):
        for j in range(j0, j1):
            k = j - j0
            for r in range(trace_code.shape[0]):
                i = trace_idx[r]
                code = trace_code[r]
                traces[b, j, r] = v[b, i] if code == 0 else (ie[b, i] if code == 1 else ii[b, i])
            slot = j % n_slots
            for i in range(n):
                i_ext = c[3, i] + (c[10, i] * noise[b, k, i] if noisy else 0.0)
                vi = v[b, i]
                if rf[b, i] <= 0:
                    vi = (c[0, i] + (vi - c[0, i]) * c[4, i] + i_ext * c[5, i]
                          + ie[b, i] * c[6, i] - ii[b, i] * c[7, i])
                else:
                    rf[b, i] -= 1
                ie[b, i] = ie[b, i] * c[8, i] + buf[slot, b, i]
                ii[b, i] = ii[b, i] * c[9, i] + buf[slot, b, n + i]
                buf[slot, b, i] = 0.0
                buf[slot, b, n + i] = 0.0
                spike = vi >= c[2, i]
                if spike:
                    vi = c[1, i]
                    rf[b, i] = refrac_steps[i]
                v[b, i] = min(max(vi, rail_low), rail_high)
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
    emit = prog.array_emit_step
    steps = mapping.network.steps(duration)
    sent = routed[prog.array_source] & (emit < steps)
    array_events = int(np.count_nonzero(sent))
    rate = poisson_input_rate(mapping.network, mapping.address, mapping.n_neurons)
    return rate + array_events / (duration * 1e-3)


@BACKENDS.register("bss2")
class Bss2Backend(Backend):
    """The BrainScaleS-2 twin (see the module docstring and ``docs/bss2.md``).

    ``map`` options: ``chip`` (default: an ideal chip, serial 0), ``calibration``,
    ``weight_scale`` (model nA per weight LSB).
    """

    name = "bss2"

    def map(self, network: Network, chip: Chip | None = None,
            calibration: Calibration | None = None, weight_scale: float | None = None,
            **options: Any) -> Mapping:
        """Map ``network`` onto the chip (:func:`~neurotwin.bss2.mapping.map_network`)."""
        if options:
            raise ConfigError(f"unknown bss2 map options {sorted(options)}; known: chip, "
                              f"calibration, weight_scale")
        return map_network(network, chip=chip, calibration=calibration,
                           weight_scale=weight_scale)

    def run(self, artefact: Mapping, duration: float, seed: int = 0, trials: int = 1,
            progress: Any = None) -> Result:
        """Emulate ``artefact`` for ``duration`` ms of model time, ``trials`` trials.

        Trial b draws its Poisson input from the stream ``(seed, b)`` (as ``ideal``) and
        its membrane noise from ``(seed, b, 1)``.
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
        if n:
            params = mapping.chip.circuit_parameters(used_neurons(mapping))
            const = params.step_constants(dt)
            names = ("v_rest", "v_reset", "v_thresh", "i_offset", "p_vv", "p_vi", "p_ve",
                     "p_vn", "p_ee", "p_nn")
            rows = [getattr(const, name).numpy() for name in names]
            rows.append(params.noise_mv * np.sqrt(1.0 - rows[4] ** 2) / rows[5])
            c = np.stack(rows)
            refrac_steps = const.refrac_steps.numpy().astype(np.int64)
            table = synapse_table(mapping, params.syn_gain_exc, params.syn_gain_inh)
        else:
            c = np.zeros((11, 0))
            refrac_steps = np.zeros(0, np.int64)
            table = synapse_table(mapping, np.zeros(0), np.zeros(0))
        noisy = bool(np.any(c[10] > 0))

        v0, ie0, ii0 = np.zeros(n), np.zeros(n), np.zeros(n)
        current_scale = np.ones(n)
        for pop in net.populations:
            pmap = mapping.populations[str(pop.label)]
            sl = slice(pmap.first_circuit, pmap.first_circuit + pmap.size)
            init = pop.initial_values()
            v0[sl] = pmap.to_hardware_mv(init["v"])
            ie0[sl] = init["i_exc"] * pmap.current_scale
            ii0[sl] = init["i_inh"] * pmap.current_scale
            current_scale[sl] = pmap.current_scale
        v = np.repeat(v0[None], trials, axis=0)
        ie = np.repeat(ie0[None], trials, axis=0)
        ii = np.repeat(ii0[None], trials, axis=0)
        rf = np.zeros((trials, n), np.int64)
        n_slots = int(table.delay_steps.max()) + 1 if table.delay_steps.size else 2
        buf = np.zeros((n_slots, trials, 2 * n))
        for src in prog.array_source[prog.array_emit_step < 0]:
            lo, hi = table.indptr[n + src], table.indptr[n + src + 1]
            slots = (table.delay_steps[lo:hi] - 1) % n_slots
            for b in range(trials):
                np.add.at(buf[:, b, :], (slots, table.target[lo:hi]), table.current[lo:hi])

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
                    record_spikes[pmap.first_circuit + local] = True
                    continue
                start_col = len(trace_code)
                trace_code += [STATE_CODES[var]] * local.size
                trace_idx += list(pmap.first_circuit + local)
                columns[(label, var)] = (start_col, len(trace_code))
        code_arr = np.asarray(trace_code, np.int64)
        idx_arr = np.asarray(trace_idx, np.int64)
        traces = np.zeros((trials, steps, code_arr.size))

        spike_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        spike_ids: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_ids_all: list[list[np.ndarray]] = [[] for _ in range(trials)]
        early = prog.array_source[prog.array_emit_step < 0]
        for b in range(trials):
            src_steps[b].append(np.full(early.size, -1))
            src_ids_all[b].append(early)
        n_spikes = 0
        routed = mapping.address[n:] >= 0
        input_events = int(np.count_nonzero(routed[early])) * trials
        recorded = np.nonzero(record_spikes)[0] if n else np.zeros(0, np.int64)
        # one buffer for all chunks, filled in place: the trials' streams in parallel
        # threads (numpy's generators release the GIL), no per-chunk stacking copy
        noise_buf = np.empty((trials, min(CHUNK_STEPS, steps) if noisy else 0, n))
        with ThreadPoolExecutor(max_workers=min(trials, os.cpu_count() or 1)) as pool:
            for j0 in range(0, steps, CHUNK_STEPS):
                j1 = min(j0 + CHUNK_STEPS, steps)
                src_ptr, src_ids = source_spikes(prog, rngs, j0, j1)
                noise = noise_buf
                if noisy:
                    m = j1 - j0
                    list(pool.map(lambda b, m=m: noise_rngs[b].standard_normal(
                        out=noise_buf[b, :m]), range(trials)))
                    # a shorter last chunk: copied to keep the kernel's contiguous signature
                    noise = noise_buf if m == noise_buf.shape[1] \
                        else np.ascontiguousarray(noise_buf[:, :m])
                raster = _run_chunk_impl(j0, j1, v, ie, ii, rf, buf, c, refrac_steps, noise,
                                         table, src_ptr, src_ids, code_arr, idx_arr, traces)
                input_events += int(np.count_nonzero(routed[src_ids]))
                everything = recorded.size == n  # no copy of the raster when all are recorded
                bb, k, i = np.nonzero(raster if everything else raster[:, :, recorded])
                n_spikes += bb.size if everything else int(raster.sum())
                bounds = np.searchsorted(bb, np.arange(trials + 1))
                for b in range(trials):
                    sl = slice(bounds[b], bounds[b + 1])
                    spike_steps[b].append(k[sl] + j0)
                    spike_ids[b].append(recorded[i[sl]])
                    if prog.record_sources:
                        ks = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                        src_steps[b].append(ks)
                        src_ids_all[b].append(src_ids[src_ptr[b, 0]:src_ptr[b, -1]])
                if progress is not None:
                    progress(j1, steps)
        wall = time.perf_counter() - start

        records: dict[str, SpikeRecord] = {}
        for label, pmap in mapping.populations.items():
            if not record_spikes[pmap.first_circuit:pmap.first_circuit + pmap.size].any():
                continue
            records[label] = _record(spike_steps, spike_ids, pmap.first_circuit,
                                     pmap.first_circuit + pmap.size, dt, None)
        for label, chosen in prog.record_sources.items():
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
        return Result(network=net, duration=float(duration), n_trials=trials,
                      spike_records=records, traces=out_traces, cost=cost,
                      meta={"chip_serial": mapping.chip.serial,
                            "calibration_serial": mapping.calibration_serial,
                            "timestamp_resolution_us": specs.FPGA_TICK_US})


def _run_chunk_impl(j0: int, j1: int, v: np.ndarray, ie: np.ndarray, ii: np.ndarray,
                    rf: np.ndarray, buf: np.ndarray, c: np.ndarray, refrac_steps: np.ndarray,
                    noise: np.ndarray, table: SynapseTable, src_ptr: np.ndarray,
                    src_ids: np.ndarray, code_arr: np.ndarray, idx_arr: np.ndarray,
                    traces: np.ndarray) -> np.ndarray:
    """Run the kernel over steps [j0, j1); return the spike raster (trials, j1 - j0, n)."""
    raster = np.zeros((v.shape[0], j1 - j0, v.shape[1]), np.bool_)
    _chunk(j0, j1, v, ie, ii, rf, buf, c, refrac_steps, noise, table.indptr, table.target,
           table.current, table.delay_steps, src_ptr, src_ids, raster, code_arr, idx_arr,
           traces, specs.MEMBRANE_RAIL_LOW_MV, specs.MEMBRANE_RAIL_HIGH_MV)
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

