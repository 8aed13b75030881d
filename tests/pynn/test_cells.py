"""The cell types neurotwin runs (and refuses), their parameters and initial values."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

import neurotwin.pynn as sim


def test_parameters_translate_both_ways(ideal):
    cells = sim.Population(2, sim.IF_curr_exp(tau_m=12.0, cm=0.3, tau_syn_E=2.0,
                                              tau_syn_I=[3.0, 4.0]))
    assert cells.get("tau_m") == 12.0 and cells.get("cm") == 0.3
    np.testing.assert_array_equal(cells.get("tau_syn_I"), [3.0, 4.0])
    cells[1:2].set(tau_m=30.0)
    np.testing.assert_array_equal(cells.get("tau_m"), [12.0, 30.0])


def test_initialize_sets_the_first_sample(ideal):
    cells = sim.Population(3, sim.IF_curr_exp(v_thresh=0.0))
    cells.initialize(v=np.array([-70.0, -60.0, -55.0]), isyn_exc=0.5)
    cells.record(["v", "isyn_exc"])
    sim.run(1.0)
    seg = cells.get_data().segments[0]
    np.testing.assert_array_equal(seg.filter(name="v")[0].magnitude[0], [-70.0, -60.0, -55.0])
    i_exc = seg.filter(name="isyn_exc")[0].magnitude[:, 0]
    np.testing.assert_allclose(i_exc, 0.5 * np.exp(-np.arange(11) * 0.1 / 5.0), atol=1e-12)


def test_if_cond_exp_without_synapses_is_the_lif(ideal):
    cell = sim.Population(1, sim.IF_cond_exp(tau_m=10.0, cm=0.2, i_offset=0.1, v_thresh=-40.0))
    cell.record(["v", "gsyn_exc"])
    sim.run(50.0)
    seg = cell.get_data().segments[0]
    v = seg.filter(name="v")[0]
    t = v.times.rescale("ms").magnitude
    np.testing.assert_allclose(v.magnitude[:, 0], -65.0 + 0.1 * 50.0 * -np.expm1(-t / 10.0),
                               atol=1e-9)
    assert np.all(seg.filter(name="gsyn_exc")[0].magnitude == 0.0)


def test_if_curr_alpha_psp_is_the_closed_form(ideal):
    """One spike of weight w (nA) arriving at t0 = 1.1 ms (emitted at 1.0 ms, delay
    0.1 ms) into IF_curr_alpha: isyn(t) = w (s/tau_s) e^(1 - s/tau_s), s = t - t0, and
    v - v_rest = (w e / (tau_s cm)) e^(-s/tau_m) (1 - e^(-b s)(1 + b s)) / b²,
    b = 1/tau_s - 1/tau_m (the membrane's response to the alpha current, integrated by
    hand)."""
    w, tau_s, tau_m, cm = 0.8, 2.0, 10.0, 0.5
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    cell = sim.Population(1, sim.IF_curr_alpha(tau_m=tau_m, cm=cm, tau_syn_E=tau_s))
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=w, delay=0.1))
    cell.record(["v", "isyn_exc"])
    sim.run(40.0)
    seg = cell.get_data().segments[0]
    v = seg.filter(name="v")[0]
    t = v.times.rescale("ms").magnitude
    s = np.clip(t - 1.1, 0.0, None)
    b = 1.0 / tau_s - 1.0 / tau_m
    psp = w * math.e / (tau_s * cm) * np.exp(-s / tau_m) * (1 - np.exp(-b * s) * (1 + b * s)) / b**2
    np.testing.assert_allclose(v.magnitude[:, 0], -65.0 + psp, atol=1e-10)
    isyn = seg.filter(name="isyn_exc")[0].magnitude[:, 0]
    np.testing.assert_allclose(isyn, w * s / tau_s * np.exp(1 - s / tau_s), atol=1e-12)
    assert isyn.max() == pytest.approx(w, rel=1e-3)  # the peak is the weight


@pytest.mark.parametrize(("cell_type", "alpha"), [("IF_cond_exp", False),
                                                  ("IF_cond_alpha", True),
                                                  ("EIF_cond_exp_isfa_ista", False),
                                                  ("EIF_cond_alpha_isfa_ista", True)])
def test_conductance_cells_record_gsyn_in_us(ideal, cell_type, alpha):
    """Weights are peak conductances in µS: gsyn_exc(t) = w e^(-s/tau) or
    w (s/tau) e^(1 - s/tau); an excitatory input depolarises, an inhibitory one (reversal
    below rest) hyperpolarises."""
    w, tau = 0.004, 3.0
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(2, getattr(sim, cell_type)(tau_syn_E=tau, tau_syn_I=tau))
    conn = sim.FromListConnector([(0, 0)])
    sim.Projection(src, cells, conn, sim.StaticSynapse(weight=w, delay=0.1))
    sim.Projection(src, cells, sim.FromListConnector([(0, 1)]),
                   sim.StaticSynapse(weight=w, delay=0.1), receptor_type="inhibitory")
    cells.record(["v", "gsyn_exc", "gsyn_inh"])
    sim.run(20.0)
    seg = cells.get_data().segments[0]
    g_exc = seg.filter(name="gsyn_exc")[0]
    t = g_exc.times.rescale("ms").magnitude
    s = np.clip(t - 1.1, 0.0, None)
    arrived = t > 1.1 - 1e-9  # the sample at 1.1 ms is taken after the input's step
    shape = s / tau * np.exp(1 - s / tau) if alpha else np.where(arrived, np.exp(-s / tau), 0)
    assert str(g_exc.units.dimensionality) == "uS"
    np.testing.assert_allclose(g_exc.magnitude[:, 0], w * shape, atol=1e-12)
    np.testing.assert_allclose(seg.filter(name="gsyn_inh")[0].magnitude[:, 1], w * shape,
                               atol=1e-12)
    v = seg.filter(name="v")[0].magnitude
    rest = v[0, 0]
    assert v[:, 0].max() > rest + 0.01 and v[:, 1].min() < rest - 0.01


def test_eif_settles_at_the_adex_fixed_point(ideal):
    """AdEx steady state below rheobase: 0 = -gL (v - EL) + gL dT exp((v - VT)/dT)
    - a (v - EL) + I, solved independently (a in nS, so 1e-3 of it in µS)."""
    p = dict(cm=0.281, tau_m=9.3667, v_rest=-70.6, v_thresh=-50.4, delta_T=2.0, a=4.0,
             b=0.0805, tau_w=144.0, i_offset=0.2)
    cell = sim.Population(1, sim.EIF_cond_exp_isfa_ista(**p))
    cell.record(["v", "w", "spikes"])
    sim.run(2000.0)
    seg = cell.get_data().segments[0]
    g_l, a_us = p["cm"] / p["tau_m"], p["a"] * 1e-3

    def current(v):
        return (-g_l * (v - p["v_rest"])
                + g_l * p["delta_T"] * math.exp((v - p["v_thresh"]) / p["delta_T"])
                - a_us * (v - p["v_rest"]) + p["i_offset"])

    v_star = brentq(current, -75.0, -55.0)
    assert len(seg.spiketrains[0]) == 0
    assert seg.filter(name="v")[0].magnitude[-1, 0] == pytest.approx(v_star, abs=1e-3)
    w_end = seg.filter(name="w")[0].magnitude[-1, 0]
    assert w_end == pytest.approx(a_us * (v_star - p["v_rest"]), rel=1e-3)


def test_regular_firing_count_matches_the_grid_analytic(ideal):
    """Constant drive: the crossing time T solves EL + IR (1 - exp(-T/tau)) = theta; each
    spike is reported at the end of its step and v restarts from reset there, so the
    spikes lie at multiples of ceil(T/dt) dt."""
    tau, cm, drive, theta = 20.0, 1.0, 1.0, -50.0
    cells = sim.Population(1, sim.IF_curr_exp(tau_m=tau, cm=cm, i_offset=drive,
                                              v_thresh=theta, tau_refrac=0.0))
    cells.record("spikes")
    sim.run(200.0)
    big_t = -tau * math.log(1 - (theta + 65.0) / (drive * tau / cm))
    period = math.ceil(big_t / 0.1 - 1e-9) * 0.1
    train = cells.get_data().segments[0].spiketrains[0].magnitude
    np.testing.assert_allclose(train, period * np.arange(1, train.size + 1), atol=1e-9)
    assert train.size == int(200.0 / period + 1e-9)
    assert cells.get_spike_counts() == {int(cells[0]): train.size}
    assert cells.mean_spike_count() == train.size


def test_spike_source_array_emits_its_times(ideal):
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0, 5.5], [2.3]]))
    src.record("spikes")
    sim.run(10.0)
    trains = src.get_data().segments[0].spiketrains
    np.testing.assert_allclose(trains[0].magnitude, [1.0, 5.5])
    np.testing.assert_allclose(trains[1].magnitude, [2.3])


def test_poisson_rate_and_window():
    sim.setup(timestep=1.0, seed=7)
    src = sim.Population(400, sim.SpikeSourcePoisson(rate=20.0, start=100.0, duration=500.0))
    src.record("spikes")
    sim.run(1000.0)
    trains = src.get_data().segments[0].spiketrains
    times = np.concatenate([t.magnitude for t in trains])
    assert times.min() >= 100.0 and times.max() < 600.0 + 1e-9
    expected = 400 * 20.0 * 0.5  # spikes: sources x rate x active seconds
    assert abs(times.size - expected) < 5 * math.sqrt(expected)
    sim.end()


@pytest.mark.parametrize("name", ["HH_cond_exp", "Izhikevich", "StochasticTsodyksMarkramSynapse",
                                  "SpikeSourceInhGamma", "GutigWeightDependence",
                                  "Vogels2011Rule"])
def test_types_neurotwin_cannot_run_are_refused(ideal, name):
    with pytest.raises(NotImplementedError, match=r"not supported by neurotwin\.pynn"):
        getattr(sim, name)()
    assert name not in sim.list_standard_models()
