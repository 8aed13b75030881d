"""The unit mapping (PyNN's ms, mV, nA, nF onto neurotwin's) against closed forms of one
IF_curr_exp neuron: a DC step, one input spike's PSP, and the time that PSP crosses the
threshold."""

import math

import numpy as np
from scipy.optimize import brentq

TAU_M, TAU_S, CM, V_REST = 20.0, 5.0, 0.5, -65.0


def _cell(sim, **extra):
    params = dict(tau_m=TAU_M, tau_syn_E=TAU_S, cm=CM, v_rest=V_REST, v_reset=V_REST,
                  v_thresh=-40.0, tau_refrac=0.0)
    params.update(extra)
    return sim.Population(1, sim.IF_curr_exp(**params))


def test_dc_step_follows_the_closed_form(ideal):
    sim = ideal
    cell = _cell(sim)
    amplitude, start = 0.4, 10.0  # nA, ms: 0.4 nA * 40 MΩ = 16 mV < 25 mV to threshold
    cell.inject(sim.DCSource(amplitude=amplitude, start=start, stop=1e12))
    cell.record("v")
    sim.run(100.0)
    v = cell.get_data().segments[0].filter(name="v")[0]
    t = v.times.rescale("ms").magnitude
    resistance = TAU_M / CM  # MΩ = mV / nA
    expected = V_REST + amplitude * resistance * -np.expm1(-np.clip(t - start, 0, None) / TAU_M)
    np.testing.assert_allclose(v.magnitude[:, 0], expected, rtol=0, atol=1e-9)
    assert t[-1] == 100.0 and t.size == 1001


def _psp(t, w):
    """Membrane response (mV above rest) to a current jump of w nA at t = 0."""
    t = np.clip(t, 0, None)
    return w / CM * TAU_M * TAU_S / (TAU_M - TAU_S) * (np.exp(-t / TAU_M) - np.exp(-t / TAU_S))


def test_one_input_spike_gives_the_analytic_psp(ideal):
    sim = ideal
    cell = _cell(sim)
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    w, delay = 0.8, 1.5
    sim.Projection(source, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=w, delay=delay))
    cell.record(["v", "isyn_exc"])
    sim.run(60.0)
    seg = cell.get_data().segments[0]
    v = seg.filter(name="v")[0]
    t = v.times.rescale("ms").magnitude
    arrival = 5.0 + delay  # the current jumps at spike time + delay, as in NEST
    np.testing.assert_allclose(v.magnitude[:, 0], V_REST + _psp(t - arrival, w), atol=1e-9)
    i_exc = seg.filter(name="isyn_exc")[0].magnitude[:, 0]
    expected = np.where(t >= arrival - 1e-9, w * np.exp(-(t - arrival) / TAU_S), 0.0)
    np.testing.assert_allclose(i_exc, expected, atol=1e-12)


def test_spike_time_of_a_psp_crossing_threshold(ideal):
    sim = ideal
    w = 3.0  # peak PSP about 28 mV
    peak_t = math.log(TAU_M / TAU_S) * TAU_M * TAU_S / (TAU_M - TAU_S)
    threshold = V_REST + 0.8 * _psp(peak_t, w)
    cell = _cell(sim, v_thresh=threshold)
    source = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]))
    sim.Projection(source, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=w, delay=1.0))
    cell.record("spikes")
    sim.run(40.0)
    crossing = brentq(lambda s: V_REST + _psp(s, w) - threshold, 1e-6, peak_t)
    (train,) = cell.get_data().segments[0].spiketrains
    # a crossing inside a step is reported at the step's end (NEST's grid convention)
    expected = 3.0 + math.ceil(crossing / 0.1 - 1e-9) * 0.1
    np.testing.assert_allclose(train.magnitude, [expected], atol=1e-9)


def test_heterogeneous_offsets_reach_their_own_steady_state(ideal):
    sim = ideal
    offsets = np.array([0.1, 0.2, 0.3])  # nA
    cells = sim.Population(3, sim.IF_curr_exp(tau_m=TAU_M, cm=CM, v_rest=V_REST,
                                              v_thresh=-40.0, i_offset=offsets))
    cells.record("v")
    sim.run(400.0)
    v_end = cells.get_data().segments[0].filter(name="v")[0].magnitude[-1]
    expected = V_REST + offsets * TAU_M / CM * -math.expm1(-400.0 / TAU_M)
    np.testing.assert_allclose(v_end, expected, atol=1e-9)
