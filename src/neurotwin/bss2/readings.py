"""The chip's readouts computed from a ``bss2`` run: CADC membrane samples, the MADC
trace of one neuron and the correlation sensors of one projection, as asked for by the
mapping's :class:`~neurotwin.bss2.readout.Readout` (see :mod:`~neurotwin.bss2.readout`
for what each one models and its read-noise streams).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurotwin.bss2 import adc, specs
from neurotwin.bss2.correlation import cadc_correlation, sensor_traces
from neurotwin.bss2.mapping import Mapping
from neurotwin.bss2.neuron import Emulation
from neurotwin.bss2.readout import CorrelationReadout, projection_index
from neurotwin.errors import ConfigError

__all__ = ["cadc_readout", "correlation_readout", "madc_readout", "membrane_requests"]

CADC_STREAM, MADC_STREAM, CORRELATION_STREAM = 2, 3, 4
"""Last entry of the read-noise seeds ``(seed, trial, stream)``."""


def membrane_requests(mapping: Mapping) -> np.ndarray:
    """Logical neurons whose hardware membrane the readouts need at every step: the CADC
    populations' neurons in label order, then the MADC neuron, (m,) int64."""
    readout = mapping.readout
    parts = [np.arange(mapping.populations[label].size) + mapping.populations[label].first_neuron
             for label in readout.cadc_labels(mapping.network)]
    if readout.madc is not None:
        label, index = readout.madc
        parts.append(np.array([mapping.populations[label].first_neuron + int(index)]))
    return np.concatenate([*parts, np.zeros(0, np.int64)]).astype(np.int64)


def _emulation(v_hw: np.ndarray, dt: float) -> Emulation:
    """A recorded membrane (steps + 1, n), mV, as an Emulation for the adc functions."""
    steps = v_hw.shape[0] - 1
    return Emulation(dt=dt, spikes=np.broadcast_to(False, (steps, v_hw.shape[1])), v=v_hw,
                     i_exc=None, i_inh=None, w=None)


def cadc_readout(mapping: Mapping, v_hw: np.ndarray, seed: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """CADC membrane reads of the readout's populations.

    Parameters
    ----------
    v_hw
        Hardware membranes of :func:`membrane_requests`, mV, (trials, steps + 1, m).

    Returns
    -------
    reads, times
        Label -> int64 (trials, samples, size); sample times, µs, (samples,).
    """
    reads: dict[str, list[np.ndarray]] = {}
    dt = mapping.dt
    times = np.zeros(0)
    for b in range(v_hw.shape[0]):
        rng = np.random.default_rng([seed, b, CADC_STREAM])
        col = 0
        for label in mapping.readout.cadc_labels(mapping.network):
            pmap = mapping.populations[label]
            emu = _emulation(v_hw[b, :, col:col + pmap.size], dt)
            col += pmap.size
            reads.setdefault(label, []).append(adc.cadc_membrane(
                mapping.chip, emu, pmap.anchors, rng, mapping.config.cadc_offset))
        duration = (v_hw.shape[1] - 1) * dt
        times = adc.cadc_sample_steps(duration, dt) * dt
    return {label: np.stack(r) for label, r in reads.items()}, times


def madc_readout(mapping: Mapping, v_hw: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MADC trace of the readout's neuron from its hardware membrane ``v_hw`` (mV,
    (trials, steps + 1)), linearly interpolated onto the MADC grid.

    Returns
    -------
    samples, times
        int64 (trials, samples); sample times, µs, (samples,).
    """
    dt = mapping.dt
    period = specs.MADC_SAMPLE_PERIOD_US
    step_times = np.arange(v_hw.shape[1]) * dt
    grid = np.arange(0.0, step_times[-1] + 1e-12, period)
    samples, times = [], np.zeros(0)
    for b in range(v_hw.shape[0]):
        rng = np.random.default_rng([seed, b, MADC_STREAM])
        fine = np.interp(grid, step_times, v_hw[b])[:, None]
        times, read = adc.madc_trace(mapping.chip, _emulation(fine, period), 0, rng)
        samples.append(read)
    return np.stack(samples), times


def _unit_times(steps: np.ndarray, ids: np.ndarray, first: int, size: int, dt: float
                ) -> list[np.ndarray]:
    """Start times ``k * dt`` (µs) of the steps in which units [first, first + size)
    spiked, sorted, one array per unit."""
    sel = (ids >= first) & (ids < first + size)
    local, k = ids[sel] - first, steps[sel]
    order = np.lexsort((k, local))
    bounds = np.searchsorted(local[order], np.arange(size + 1))
    return [k[order][bounds[u]:bounds[u + 1]] * dt for u in range(size)]


def _padded(trains: list[np.ndarray], which: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Spike trains ``trains[which[s]] + shift[s]`` (µs) as an ``+inf``-padded (S, K)
    matrix (K >= 1, so that a synapse without spikes has a column of padding)."""
    width = max([1] + [trains[u].size for u in np.unique(which)])
    out = np.full((which.size, width), np.inf)
    for s, u in enumerate(which):
        out[s, :trains[u].size] = trains[u] + shift[s]
    return out


def correlation_readout(mapping: Mapping, duration_us: float, neuron_spikes: list[Any],
                        source_spikes: list[Any], seed: int) -> CorrelationReadout:
    """Correlation sensor reads of the readout's projection.

    Parameters
    ----------
    duration_us
        Length of the run, µs (hardware).
    neuron_spikes, source_spikes
        Per trial, (steps, ids) of every spike of the mapped neurons (global neuron
        index) / of the spike sources (global source index); a spike in step k (-1:
        before the run) ends at ``(k + 1) * dt``.
    """
    assert mapping.readout.correlation is not None
    net = mapping.network
    p = projection_index(net, *mapping.readout.correlation)
    proj = net.projections[p]
    syn = proj.synapses()
    placement = mapping.placements[p] if p < len(mapping.placements) else None
    if placement is None or placement.shape[0] != syn.pre.size:
        raise ConfigError("this mapping holds no synapse placement (a mapping saved by an "
                          "older neurotwin); map the network again to read correlations")
    dt = mapping.dt
    delay = mapping.delay_steps[placement[:, 0], placement[:, 1], placement[:, 2]]
    post_pmap = mapping.populations[proj.post]
    pre_from_neurons = proj.pre in mapping.populations
    if pre_from_neurons:
        pre_pmap = mapping.populations[proj.pre]
        pre_first, pre_end = pre_pmap.first_neuron, pre_pmap.first_neuron + pre_pmap.size
    else:
        pre_first, pre_end = mapping.source_slices[proj.pre]
    n_syn = syn.pre.size
    reads = np.zeros((4, len(neuron_spikes), n_syn), np.int64)
    for b, (n_steps, n_ids) in enumerate(neuron_spikes):
        rng = np.random.default_rng([seed, b, CORRELATION_STREAM])
        pre_steps, pre_ids = (n_steps, n_ids) if pre_from_neurons else source_spikes[b]
        pre_trains = _unit_times(pre_steps, pre_ids, pre_first, pre_end - pre_first, dt)
        post_trains = _unit_times(n_steps, n_ids, post_pmap.first_neuron, post_pmap.size, dt)
        pre = _padded(pre_trains, syn.pre, (1 + delay) * dt)
        post = _padded(post_trains, syn.post, np.full(n_syn, dt))
        for h in np.unique(placement[:, 0]):
            sel = placement[:, 0] == h
            rows, cols = placement[sel, 1], placement[sel, 2]
            traces = sensor_traces(mapping.chip, int(h), rows, cols, pre[sel], post[sel],
                                   [0.0, duration_us])
            causal, acausal = cadc_correlation(mapping.chip, traces, int(h), cols, rng,
                                               mapping.config.cadc_offset)
            reads[:, b, sel] = [causal[:, 1], acausal[:, 1], causal[:, 0], acausal[:, 0]]
    return CorrelationReadout(pre=syn.pre, post=syn.post, placement=placement,
                              time_us=float(duration_us), causal=reads[0], acausal=reads[1],
                              causal_baseline=reads[2], acausal_baseline=reads[3])

