"""PyNN's dynamic synapse types and random sources on neurotwin: parameters per
connection, runs against closed forms and plainly written references."""

import numpy as np
import pytest
from pyNN import errors
from scipy import stats

import neurotwin.pynn as sim
from neurotwin.errors import MappingError

TAU_SYN = 2.0


def tm_reference(times, U, tau_rec, tau_facil, tau_psc):
    """NEST's tsodyks_synapse update, written plainly: the amplitude (weight 1) per spike."""
    u, x, y, last, out = 0.0, 1.0, 0.0, 0.0, []
    for t in times:
        h = t - last
        p_uu = np.exp(-h / tau_facil) if tau_facil else 0.0
        p_yy, p_zz = np.exp(-h / tau_psc), np.exp(-h / tau_rec)
        p_xy = ((p_zz - 1) * tau_rec - (p_yy - 1) * tau_psc) / (tau_psc - tau_rec)
        z = 1 - x - y
        u, x, y = u * p_uu, x + p_xy * y + (1 - p_zz) * z, y * p_yy
        u += U * (1 - u)
        out.append(u * x)
        x, y, last = x - u * x, y + u * x, t
    return np.array(out)


def isyn_jumps(pop):
    i = pop.get_data().segments[0].filter(name="isyn_exc")[0].magnitude
    jump = i[1:] - i[:-1] * np.exp(-0.1 / TAU_SYN)
    return [jump[:, k][jump[:, k] > 1e-12] for k in range(i.shape[1])]


def test_tsodyks_markram_parameters_per_connection_shape_the_psc(ideal):
    times = np.array([5.0, 15.0, 20.0, 60.0, 61.0, 200.0])
    src = ideal.Population(1, ideal.SpikeSourceArray(spike_times=times))
    cells = ideal.Population(2, ideal.IF_curr_exp(tau_syn_E=TAU_SYN, v_thresh=1e6))
    prj = ideal.Projection(src, cells, ideal.AllToAllConnector(),
                           ideal.TsodyksMarkramSynapse(weight=2.0, U=0.5, tau_rec=50.0))
    prj.set(U=np.array([[0.2, 0.6]]), tau_facil=np.array([[100.0, 0.0]]))
    assert prj.get(["U", "tau_facil"], format="list") == [(0, 0, 0.2, 100.0),
                                                         (0, 1, 0.6, 0.0)]
    cells.record("isyn_exc")
    ideal.run(250.0)
    for k, (u, facil) in enumerate([(0.2, 100.0), (0.6, 0.0)]):
        expected = 2.0 * tm_reference(times, u, 50.0, facil, TAU_SYN)
        np.testing.assert_allclose(isyn_jumps(cells)[k], expected, rtol=1e-10)


def test_stdp_learns_the_pair_window_and_get_reads_the_learned_weights(ideal):
    # pre at 20 ms, post driven to fire later (potentiation) or earlier (depression)
    pre = ideal.Population(2, ideal.SpikeSourceArray(spike_times=[[20.0], [20.0]]))
    drive = ideal.Population(2, ideal.SpikeSourceArray(spike_times=[[24.9], [14.9]]))
    cells = ideal.Population(2, ideal.IF_curr_exp(tau_syn_E=0.5, tau_refrac=5.0))
    ideal.Projection(drive, cells, ideal.OneToOneConnector(),
                     ideal.StaticSynapse(weight=200.0, delay=0.1))
    rule = ideal.STDPMechanism(
        timing_dependence=ideal.SpikePairRule(tau_plus=20.0, tau_minus=10.0, A_plus=0.1,
                                              A_minus=0.05),
        weight_dependence=ideal.AdditiveWeightDependence(w_min=0.0, w_max=1.0),
        weight=0.5, delay=0.1)
    prj = ideal.Projection(pre, cells, ideal.OneToOneConnector(), rule)
    assert prj.get(["A_plus", "tau_minus", "w_max"], format="list")[0][2:] == (0.1, 10.0, 1.0)
    cells.record("spikes")
    ideal.run(60.0)
    post = [float(st[0]) for st in cells.get_data().segments[0].spiketrains]
    seen = [t + 0.1 - 20.0 for t in post]  # the post spike reaches the synapse one delay later
    assert seen[0] > 0 > seen[1]
    expected = [0.5 + 0.1 * np.exp(-seen[0] / 20.0), 0.5 - 0.05 * np.exp(seen[1] / 10.0)]
    np.testing.assert_allclose(prj.get("weight", format="list", with_address=False),
                               expected, rtol=1e-12)
    ideal.reset()
    assert prj.get("weight", format="list", with_address=False) == [0.5, 0.5]


def test_simple_stochastic_synapse_transmits_with_probability_p(ideal):
    n = 400
    src = ideal.Population(1, ideal.SpikeSourceArray(spike_times=np.arange(1.0, 2 * n, 2.0)))
    cells = ideal.Population(3, ideal.IF_curr_exp(tau_syn_E=TAU_SYN, v_thresh=1e6))
    ideal.Projection(src, cells, ideal.AllToAllConnector(),
                     ideal.SimpleStochasticSynapse(weight=1.0, p=np.array([[0.0, 0.5, 1.0]])))
    cells.record("isyn_exc")
    ideal.run(2.0 * n + 1)
    counts = [k.size for k in isyn_jumps(cells)]
    assert counts[0] == 0 and counts[2] == n
    assert abs(counts[1] - n / 2) < 4 * np.sqrt(n / 4)


def test_dynamic_synapse_arguments_pynn_refuses(ideal):
    cells = ideal.Population(2, ideal.IF_curr_exp())
    with pytest.raises(errors.InvalidParameterValueError, match=r"U must be > 0\.0"):
        ideal.Projection(cells, cells, ideal.AllToAllConnector(),
                         ideal.TsodyksMarkramSynapse(U=1.5))
    prj = ideal.Projection(cells, cells, ideal.AllToAllConnector(),
                           ideal.SimpleStochasticSynapse(p=0.5))
    with pytest.raises(errors.InvalidParameterValueError, match="p must be"):
        prj.set(p=2.0)
    assert set(prj.get("p", format="list", with_address=False)) == {0.5}
    pair = ideal.SpikePairRule()
    with pytest.raises(NotImplementedError, match="dendritic_delay_fraction = 1"):
        ideal.STDPMechanism(pair, ideal.AdditiveWeightDependence(),
                            dendritic_delay_fraction=0.5)
    with pytest.raises(NotImplementedError, match="SpikePairRule with"):
        ideal.STDPMechanism(pair, None)


@pytest.mark.parametrize("backend", ["bss2", "spinnaker2"])
def test_twins_refuse_dynamic_synapses(backend):
    sim.setup(timestep=1.0 if backend == "spinnaker2" else 0.1, backend=backend)
    try:
        src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
        cells = sim.Population(1, sim.IF_curr_exp())
        sim.Projection(src, cells, sim.AllToAllConnector(),
                       sim.TsodyksMarkramSynapse(weight=0.5, delay=1.0))
        with pytest.raises(MappingError, match="static synapses only"):
            sim.run(10.0)
    finally:
        sim.end()


def test_gamma_and_dead_time_sources_have_their_isi_distributions(ideal):
    gamma = ideal.Population(2, ideal.SpikeSourceGamma(alpha=[2, 5], beta=[100.0, 400.0]))
    dead = ideal.Population(1, ideal.SpikeSourcePoissonRefractory(rate=80.0, tau_refrac=4.0))
    gamma.record("spikes")
    dead.record("spikes")
    ideal.run(20000.0)
    trains = gamma.get_data().segments[0].spiketrains
    for st, alpha, beta in zip(trains, [2, 5], [100.0, 400.0], strict=True):
        isi = np.diff(st.magnitude)
        assert stats.kstest(isi, "gamma", args=(alpha, 0, 1e3 / beta)).statistic < 0.05
    isi = np.diff(dead.get_data().segments[0].spiketrains[0].magnitude) - 4.0
    assert stats.kstest(isi, "expon", args=(0, 1e3 / 80.0 - 4.0)).statistic < 0.05


def test_random_sources_follow_the_seed_and_extend_across_runs():
    def spikes(seed, *durations):
        sim.setup(timestep=0.1, seed=seed)
        src = sim.Population(1, sim.SpikeSourceGamma(alpha=3, beta=200.0))
        src.record("spikes")
        out = []
        for t in durations:
            sim.run_until(t)
            out.append(src.get_data().segments[0].spiketrains[0].magnitude.copy())
        sim.end()
        return out

    short, long = spikes(1, 500.0, 3000.0)
    assert long.size > short.size
    np.testing.assert_array_equal(long[: short.size], short)
    assert not np.array_equal(spikes(2, 500.0)[0], short)
    np.testing.assert_array_equal(spikes(1, 500.0)[0], short)


def test_additive_stdp_favours_the_faster_inputs(ideal):
    # PyNN's scenario 3 on current-based cells (weights scaled by a 60 mV driving force):
    # inputs at 40 Hz end with larger weights than inputs at 5 Hz
    pre = ideal.Population(100, ideal.SpikeSourcePoisson(duration=10000.0))
    pre[:50].set(rate=5.0)
    pre[50:].set(rate=40.0)
    post = ideal.Population(10, ideal.IF_curr_exp(tau_m=20.0, cm=1.0, v_rest=-70.0,
                                                  v_thresh=-54.0, v_reset=-60.0,
                                                  tau_syn_E=5.0))
    w_max = 0.05 * (1.0 / 20.0) * 60.0
    rule = ideal.STDPMechanism(
        ideal.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.01),
        ideal.AdditiveWeightDependence(w_min=0.0, w_max=w_max))
    prj = ideal.Projection(pre, post, ideal.AllToAllConnector(), rule,
                           receptor_type="excitatory")
    prj.set(weight=ideal.RandomDistribution("uniform", low=0.0, high=w_max,
                                            rng=ideal.NumpyRNG(seed=1)))
    initial = prj.get("weight", format="array")
    ideal.run(10000.0)
    final = prj.get("weight", format="array")
    assert np.all((final >= 0.0) & (final <= w_max)) and not np.array_equal(final, initial)
    assert stats.ttest_ind(final[:50].ravel(), final[50:].ravel()).pvalue < 0.01
    assert final[:50].mean() < final[50:].mean()
