r"""The ``bss2`` backend: a network mapped onto one virtual HICANN-X and emulated there.

``map`` is :func:`~neurotwin.bss2.mapping.map_network` (which also resolves the
emulation's tables, :mod:`~neurotwin.bss2.tables`); ``run`` emulates the chip through
the loop of :mod:`~neurotwin.bss2.run_loop` (periodic programs between steps:
``run(..., programs=...)``):

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
  MADC trace, correlation sensors of one projection; :mod:`~neurotwin.bss2.readout`,
  :mod:`~neurotwin.bss2.readings`) in the returned :class:`~neurotwin.bss2.readout.Bss2Result`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from neurotwin.backends.base import BACKENDS, Backend
from neurotwin.bss2 import specs
from neurotwin.bss2.calibration import Calibration
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.cost import estimate_cost
from neurotwin.bss2.mapping import Mapping, map_network, poisson_input_rate
from neurotwin.bss2.readings import (
    cadc_readout,
    correlation_readout,
    madc_readout,
    membrane_requests,
)
from neurotwin.bss2.readout import Bss2Result, Readout, check_readout
from neurotwin.bss2.run_loop import PeriodicProgram, add_early_sources, run_steps, start_state
from neurotwin.engines.plan import STATE_CODES, recording_plan, trial_rngs
from neurotwin.engines.result import SpikeRecord
from neurotwin.engines.synapse_dynamics import refuse_dynamic
from neurotwin.errors import CapacityError, MappingError, check_int
from neurotwin.network import Network

__all__ = ["Bss2Backend", "fpga_timestamps"]


def fpga_timestamps(step_end_us: np.ndarray) -> np.ndarray:
    """Spike times (µs) stamped on the 125 MHz FPGA clock: floor to whole 8 ns ticks."""
    ticks = np.floor(np.asarray(step_end_us) * specs.FPGA_CLOCK_MHZ + 1e-6)
    return ticks / specs.FPGA_CLOCK_MHZ


def _input_rate(mapping: Mapping, duration: float) -> float:
    """Mean input event rate of the routed sources over ``duration``, Hz of model time."""
    routed = mapping.address[mapping.n_neurons:] >= 0
    emit = mapping.sources.array_emit_step
    steps = mapping.network.steps(duration)
    sent = routed[mapping.sources.array_source] & (emit < steps)
    array_events = int(np.count_nonzero(sent))
    rate = poisson_input_rate(mapping.network, mapping.address, mapping.n_neurons)
    return rate + array_events / (duration * 1e-3)


DYNAMIC_SYNAPSES_NEED = {
    "TsodyksMarkram": "the chip's synapse drivers have short-term plasticity circuits, one "
    "setting per driver (a pair of rows, not per synapse), which the twin does not model",
    "PairSTDP": "STDP on BrainScaleS-2 is a PPU program over the correlation sensors "
    "(neurotwin.bss2.ppu.rules.stdp, docs/ppu.md): nearest-neighbour pairs, the sensors' "
    "fixed time constant (specs.CORRELATION_TAU_US), 6-bit weights updated once per "
    "program period; PyNN's SpikePairRule pairs all to all with tau_plus / tau_minus and "
    "updates at every spike, a different rule. Write the PPU program instead",
    "Bernoulli": "the chip's synapses transmit every spike; stochastic transmission would "
    "need a PPU program that redraws the weights between spikes",
}
"""Why the BrainScaleS-2 twin refuses each dynamic synapse type, and what it would need."""

@BACKENDS.register("bss2")
class Bss2Backend(Backend):
    """The BrainScaleS-2 twin (see the module docstring and ``docs/bss2.md``).

    ``map`` options: ``chip`` (default: an ideal chip, serial 0, without fixed-pattern
    deviations; the result's ``meta["ideal_chip"]`` says so), ``calibration``,
    ``weight_scale`` (model nA per weight LSB; one, or by population label),
    ``circuits_per_neuron`` (int or by label),
    ``readout`` (a :class:`~neurotwin.bss2.readout.Readout`: the chip readouts to record).
    """

    name = "bss2"
    map_options = ("chip", "calibration", "weight_scale", "circuits_per_neuron", "readout")

    def map(self, network: Network, chip: Chip | None = None,
            calibration: Calibration | None = None,
            weight_scale: float | dict[str, float] | None = None,
            circuits_per_neuron: int | dict[str, int] | None = None,
            readout: Readout | None = None, **options: Any) -> Mapping:
        """Map ``network`` onto the chip (:func:`~neurotwin.bss2.mapping.map_network`,
        which also resolves the emulation's tables and checks the ``readout`` options)."""
        self.check_options(options)
        refuse_dynamic(network, "The BrainScaleS-2 twin", DYNAMIC_SYNAPSES_NEED, MappingError)
        return map_network(network, chip=chip, calibration=calibration,
                           weight_scale=weight_scale, circuits_per_neuron=circuits_per_neuron,
                           readout=readout)

    def run(self, artefact: Mapping, duration: float, seed: int = 0, trials: int = 1,
            progress: Any = None, programs: tuple[PeriodicProgram, ...] = ()) -> Bss2Result:
        """Emulate ``artefact`` for ``duration`` ms of model time, ``trials`` trials.

        Trial b draws its Poisson input from the stream ``(seed, b)`` (as ``ideal``), its
        membrane noise from ``(seed, b, 1)`` and the readouts' read noise from
        ``(seed, b, 2..4)`` (:mod:`~neurotwin.bss2.readings`). ``programs`` run between
        steps where they are due (:class:`~neurotwin.bss2.run_loop.PeriodicProgram`).
        """
        mapping = artefact
        net = mapping.network
        steps = net.steps(duration)
        check_int("trials", trials, low=1)
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
        tables = mapping.tables
        state = start_state(tables, trials)
        add_early_sources(state, tables, mapping.sources, n)

        slices = {label: (p.first_neuron, p.first_neuron + p.size)
                  for label, p in mapping.populations.items()}
        plan = recording_plan(net, slices, mapping.source_slices, n)
        record_spikes = plan.record_spikes
        # the readouts' membranes, hardware mV at every step, after the recorded traces
        readout = check_readout(mapping.readout, net)  # also when set on a loaded mapping
        requests = membrane_requests(mapping)
        readout_col = plan.trace_code.size
        trace_code = np.concatenate([plan.trace_code, np.full(requests.size, STATE_CODES["v"])])
        trace_idx = np.concatenate([plan.trace_neuron, requests])
        keep_spikes = record_spikes.copy()
        if readout.correlation is not None:
            for label in readout.correlation:
                if label in mapping.populations:
                    keep_spikes[mapping.populations[label].neurons] = True
        keep_sources = bool(plan.record_sources) or (
            readout.correlation is not None and readout.correlation[0] not in mapping.populations)
        traces = np.zeros((trials, steps, trace_code.size))

        spike_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        spike_ids: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_steps: list[list[np.ndarray]] = [[] for _ in range(trials)]
        src_ids_all: list[list[np.ndarray]] = [[] for _ in range(trials)]
        early = mapping.sources.array_source[mapping.sources.array_emit_step < 0]
        for b in range(trials):
            src_steps[b].append(np.full(early.size, -1))
            src_ids_all[b].append(early)
        counts = {"spikes": 0, "input": 0}
        routed = mapping.address[n:] >= 0
        counts["input"] = int(np.count_nonzero(routed[early])) * trials
        recorded = np.nonzero(keep_spikes)[0] if n else np.zeros(0, np.int64)

        def collect(j0: int, j1: int, raster: np.ndarray, src_ptr: np.ndarray,
                    src_ids: np.ndarray) -> None:
            everything = recorded.size == n  # no copy of the raster when all are recorded
            bb, k, i = np.nonzero(raster if everything else raster[:, :, recorded])
            counts["spikes"] += bb.size if everything else int(raster.sum())
            bounds = np.searchsorted(bb, np.arange(trials + 1))
            for b in range(trials):
                sl = slice(bounds[b], bounds[b + 1])
                spike_steps[b].append(k[sl] + j0)
                spike_ids[b].append(recorded[i[sl]])
                emitted = src_ids[src_ptr[b, 0]:src_ptr[b, -1]]
                counts["input"] += int(np.count_nonzero(routed[emitted]))
                if keep_sources:
                    src_steps[b].append(np.repeat(np.arange(j0, j1), np.diff(src_ptr[b])))
                    src_ids_all[b].append(emitted)

        run_steps(state, tables, mapping.member_ptr, steps, mapping.sources, rngs, noise_rngs,
                  (trace_code.astype(np.int64), trace_idx.astype(np.int64), traces),
                  collect, programs=tuple(programs), progress=progress)
        wall = time.perf_counter() - start

        records: dict[str, SpikeRecord] = {}
        for label, pmap in mapping.populations.items():
            if not record_spikes[pmap.neurons].any():
                continue
            chosen = None if record_spikes[pmap.neurons].all() \
                else np.nonzero(record_spikes[pmap.neurons])[0]
            records[label] = _record(spike_steps, spike_ids, pmap.first_neuron,
                                     pmap.first_neuron + pmap.size, dt, chosen)
        for label, chosen in plan.record_sources.items():
            first, end = mapping.source_slices[label]
            records[label] = _record(src_steps, src_ids_all, first, end, dt, chosen)
        out_traces = {}
        for (label, var), (lo, hi) in plan.trace_columns.items():
            pmap = mapping.populations[label]
            block = traces[:, :, lo:hi]
            if var == "v":
                block = pmap.to_model_mv(block)
            else:
                block = block / pmap.current_scale
            out_traces[(label, var)] = torch.from_numpy(np.ascontiguousarray(block))
        cost = estimate_cost(mapping, duration, trials, wall, counts["input"], counts["spikes"])
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
                          meta={"chip_serial": mapping.chip_serial,
                                "ideal_chip": mapping.ideal_chip,
                                "calibration_serial": mapping.calibration_serial,
                                "timestamp_resolution_us": specs.FPGA_TICK_US,
                                "readout": readout},
                          cadc=cadc, cadc_times=cadc_times, madc=madc, madc_times=madc_times,
                          correlation=correlation)


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

