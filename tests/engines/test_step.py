"""The time-stepped engine: semantics against closed forms, the two kernels against each
other, determinism, delays, sources, recording, and bad input."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import neurotwin as nt
from neurotwin.engines.step import compile_network, run_program

DT = 0.1


def random_network(seed: int, adex: bool = False, dyadic: bool = True) -> nt.Network:
    """Recurrent LIF (and AdEx) network with Poisson and array inputs, DC, mixed delays."""
    rng = np.random.default_rng(seed)
    net = nt.Network(dt=DT)
    lif = net.add(
        nt.Population(60, nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0,
                                 v_rest=-65.0, v_reset=-70.0, v_thresh=-55.0,
                                 tau_refrac=2.0), label="lif")
    )  # fmt: skip
    noise = net.add(nt.SpikeSourcePoisson(40, rate=50.0, label="noise"))
    arr = net.add(nt.SpikeSourceArray([[0.0, 3.0], [5.5, 12.3], []], label="arr"))
    scale = 1 / 8 if dyadic else 0.1137
    w_in = (rng.random((40, 60)) < 0.3) * scale * 3
    net.connect(noise, lif, w_in, receptor="exc", delays=rng.integers(1, 6, (40, 60)) * DT)
    net.connect(arr, lif, np.full((3, 60), scale * 8), receptor="exc", delays=0.5)
    w_rec = sp.random(60, 60, density=0.2, random_state=seed, format="csr")
    w_rec.data = np.where(rng.random(w_rec.nnz) < 0.7, 1, -1) * scale * 2
    net.connect(lif, lif, w_rec, receptor=None, delays=1.0)
    net.inject(lif, nt.DCSource(amplitude=0.25, start=10.0, stop=30.0))
    net.record(lif, "spikes", "v", "i_exc", "i_inh")
    net.record(noise, "spikes")
    if adex:
        ad = net.add(nt.Population(20, nt.AdEx(), label="adex"))
        net.connect(noise, ad, (rng.random((40, 20)) < 0.3) * 0.5, receptor="exc")
        net.connect(ad, lif, np.full((20, 60), scale), receptor="exc", delays=0.2)
        net.record(ad, "spikes", "v", "w")
    return net


def same_spikes(a: nt.Result, b: nt.Result, label: str, trial_a: int = 0, trial_b: int = 0):
    ta, ia = a.spikes(label, trial_a)
    tb, ib = b.spikes(label, trial_b)
    return np.array_equal(ta, tb) and np.array_equal(ia, ib)


def test_numba_and_torch_kernels_agree_bitwise():
    net = random_network(1)
    a = nt.simulate(net, 50.0, seed=7, kernel="numba")
    b = nt.simulate(net, 50.0, seed=7, kernel="torch")
    assert a.meta["kernel"] == "numba" and b.meta["kernel"] == "torch"
    assert a.spikes("lif")[0].size > 20
    for label in ("lif", "noise"):
        assert same_spikes(a, b, label)
    for var in ("v", "i_exc", "i_inh"):
        assert torch.equal(a.trace("lif", var), b.trace("lif", var))


def test_kernels_agree_with_adex_population():
    net = random_network(2, adex=True)
    a = nt.simulate(net, 50.0, seed=3, kernel="numba")
    b = nt.simulate(net, 50.0, seed=3, kernel="torch")
    assert a.spikes("adex")[0].size > 0
    # exp() may differ in the last bit between the two math libraries
    assert same_spikes(a, b, "adex") and same_spikes(a, b, "lif")
    torch.testing.assert_close(a.trace("adex", "v"), b.trace("adex", "v"), rtol=1e-9, atol=1e-9)


def test_run_is_deterministic_and_seeded():
    net = random_network(3, dyadic=False)
    a = nt.simulate(net, 40.0, seed=11)
    b = nt.simulate(net, 40.0, seed=11)
    c = nt.simulate(net, 40.0, seed=12)
    assert same_spikes(a, b, "lif") and torch.equal(a.trace("lif", "v"), b.trace("lif", "v"))
    assert not same_spikes(a, c, "noise")


@pytest.mark.parametrize("kernel", ["numba", "torch"])
def test_trial_does_not_depend_on_batch_size(kernel):
    net = random_network(4)
    single = nt.simulate(net, 30.0, seed=5, kernel=kernel)
    batch = nt.simulate(net, 30.0, seed=5, trials=3, kernel=kernel)
    assert batch.n_trials == 3
    assert same_spikes(single, batch, "lif", 0, 0)
    assert not same_spikes(batch, batch, "noise", 0, 1)
    assert batch.trace("lif", "v", trial=2).shape == (300, 60)


def single_input_network(spike_time: float, delay: float, w: float = 0.5):
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([[spike_time]], label="in"))
    model = nt.LIF(tau_mem=10.0, tau_syn_exc=2.0, cm=0.5, v_rest=-65.0, v_thresh=-40.0)
    pop = net.add(nt.Population(1, model, label="n"))
    net.connect(src, pop, np.array([[w]]), receptor="exc", delays=delay)
    net.record(pop, "v", "i_exc")
    return net, model


@pytest.mark.parametrize(("spike_time", "delay"), [(1.0, 0.5), (0.0, 0.1), (0.0, 2.0), (2.3, 3.7)])
def test_psp_arrives_at_spike_time_plus_delay_and_matches_closed_form(spike_time, delay):
    w = 0.5
    net, m = single_input_network(spike_time, delay, w)
    res = nt.simulate(net, 30.0)
    t = res.trace_times()
    arrival = spike_time + delay
    t_rel = t - arrival
    on = t_rel >= -1e-9
    expected_i = np.where(on, w * np.exp(-np.clip(t_rel, 0, None) / m.tau_syn_exc), 0.0)
    np.testing.assert_allclose(res.trace("n", "i_exc").numpy()[:, 0], expected_i, rtol=1e-12,
                               atol=1e-15)
    # v(t) = v_rest + w tau_m tau_s / (cm (tau_s - tau_m)) (e^{-t/tau_s} - e^{-t/tau_m})
    tr = np.clip(t_rel, 0, None)
    amp = w * m.tau_mem * m.tau_syn_exc / (m.cm * (m.tau_syn_exc - m.tau_mem))
    expected_v = m.v_rest + np.where(
        on, amp * (np.exp(-tr / m.tau_syn_exc) - np.exp(-tr / m.tau_mem)), 0.0
    )
    np.testing.assert_allclose(res.trace("n", "v").numpy()[:, 0], expected_v, rtol=0,
                               atol=1e-12)


def test_dc_source_switches_on_and_off_exactly():
    net = nt.Network(dt=DT)
    model = nt.LIF(tau_mem=20.0, cm=1.0, v_rest=-70.0, v_thresh=-10.0)
    pop = net.add(nt.Population(2, model, label="n"))
    net.inject(pop, nt.DCSource(amplitude=np.array([0.5, 1.0]), start=2.0, stop=12.0))
    net.record(pop, "v")
    res = nt.simulate(net, 30.0)
    t = res.trace_times()
    v = res.trace(pop, "v").numpy()
    r = model.tau_mem / model.cm
    for k, amp in enumerate([0.5, 1.0]):
        rise = r * amp * (1 - np.exp(-np.clip(t - 2.0, 0, None) / model.tau_mem))
        at_stop = r * amp * (1 - math.exp(-10.0 / model.tau_mem))
        decay = at_stop * np.exp(-(t - 12.0) / model.tau_mem)
        expected = model.v_rest + np.where(t <= 12.0 + 1e-9, rise, decay)
        np.testing.assert_allclose(v[:, k], expected, rtol=0, atol=1e-11)


def test_refractory_clamp_and_spike_times_under_dc():
    tau_ref = 2.0
    model = nt.LIF(tau_mem=10.0, cm=1.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-60.0,
                   tau_refrac=tau_ref, i_offset=1.0)
    net = nt.Network(dt=DT)
    pop = net.add(nt.Population(1, model, label="n"))
    net.record(pop, "spikes", "v")
    res = nt.simulate(net, 60.0)
    times, _ = res.spikes(pop)
    # crossing time from rest: t* = -tau ln(1 - (v_th - v_rest) / (R I))
    t_star = -10.0 * math.log(1 - 5.0 / 10.0)
    first = math.ceil(t_star / DT - 1e-9) * DT
    assert times[0] == pytest.approx(first, abs=1e-9)
    # after each spike: v_reset held for round(tau_ref/dt) steps, then the same rise
    period = np.diff(times)
    np.testing.assert_allclose(period, period[0], atol=1e-9)
    assert period[0] == pytest.approx(first + tau_ref, abs=1e-9)
    v = res.trace(pop, "v").numpy()[:, 0]
    k = round(times[0] / DT)
    assert np.all(v[k : k + round(tau_ref / DT) + 1] == model.v_reset)
    assert v[k + round(tau_ref / DT) + 1] > model.v_reset


def test_signed_weights_split_by_sign():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.4, (30, 20))
    spikes = [sorted(rng.uniform(0, 40, 5)) for _ in range(30)]

    def build(signed: bool) -> nt.Network:
        net = nt.Network(dt=DT)
        src = net.add(nt.SpikeSourceArray(spikes, label="in"))
        pop = net.add(nt.Population(20, nt.LIF(tau_syn_inh=7.0), label="n"))
        if signed:
            net.connect(src, pop, w, receptor=None)
        else:
            net.connect(src, pop, np.clip(w, 0, None), receptor="exc")
            net.connect(src, pop, np.clip(-w, 0, None), receptor="inh")
        net.record(pop, "v")
        return net

    a = nt.simulate(build(True), 50.0).trace("n", "v")
    b = nt.simulate(build(False), 50.0).trace("n", "v")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert a.min() < -65.0 < a.max()


def test_poisson_rate_and_window():
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourcePoisson(2000, rate=20.0, start=100.0, stop=600.0, label="p"))
    net.record(src, "spikes")
    res = nt.simulate(net, 1000.0, seed=1)
    times, ids = res.spikes(src)
    assert times.min() >= 100.0 and times.max() < 600.0
    expected = 2000 * 20.0 * 0.5
    assert abs(times.size - expected) < 4 * math.sqrt(expected)
    assert np.unique(ids).size > 1900


def test_spike_buffer_grows_when_every_neuron_spikes_every_step():
    net = nt.Network(dt=DT)
    pop = net.add(nt.Population(300, nt.LIF(i_offset=1e4), label="n"))
    net.record(pop, "spikes")
    res = nt.simulate(net, 100.0)
    times, ids = res.spikes(pop)
    assert times.size == 300 * 1000
    np.testing.assert_array_equal(np.bincount(ids), 1000)
    assert np.all(np.diff(times) >= 0)


def test_result_accessors_and_errors():
    net = random_network(5)
    res = nt.simulate(net, 20.0)
    assert res.trace("lif", "v").shape == (200, 60)
    assert res.trace_times()[1] == pytest.approx(DT)
    n_spikes = res.spikes("lif")[0].size
    assert n_spikes > 0  # the rate below is of a network that fires
    assert res.mean_rate("lif") == pytest.approx(n_spikes / (60 * 20.0e-3), rel=1e-12)
    assert res.cost.bio_time_ms == 20.0 and res.cost.hardware_time_us is None
    with pytest.raises(nt.ConfigError, match="not recorded"):
        res.spikes("arr")
    with pytest.raises(nt.ConfigError, match="trial"):
        res.trace("lif", "v", trial=1)
    with pytest.raises(nt.ConfigError, match="'nope' is not in this network"):
        res.trace("nope", "v")


def test_bad_run_arguments():
    net = random_network(6)
    with pytest.raises(nt.ConfigError, match="kernel"):
        compile_network(net, kernel="fortran")
    with pytest.raises(nt.ConfigError, match="dtype"):
        compile_network(net, dtype="float16")
    with pytest.raises(nt.ConfigError, match="multiple of the time step"):
        nt.simulate(net, 10.05)
    with pytest.raises(nt.ConfigError, match="seed"):
        nt.simulate(net, 10.0, seed=-1)
    with pytest.raises(nt.ConfigError, match="trials"):
        run_program(compile_network(net), 10.0, trials=0)
    with pytest.raises(nt.ConfigError, match=r"unknown backend .loihi.; known: .*ideal"):
        nt.simulate(net, 10.0, backend="loihi")
    fast = nt.Network(dt=DT)
    fast.add(nt.SpikeSourcePoisson(3, rate=2e4, label="p"))
    with pytest.raises(nt.ConfigError, match="rate of 'p' must be <= 1/dt"):
        nt.simulate(fast, 10.0)
    with pytest.raises(nt.ConfigError, match="empty"):
        nt.simulate(nt.Network(), 10.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    net = random_network(7)
    a = nt.simulate(net, 30.0, seed=2)
    b = nt.simulate(net, 30.0, seed=2, device="cuda")
    assert b.meta["kernel"] == "torch"
    assert same_spikes(a, b, "lif")


def test_recording_a_selection_of_neurons():
    net = random_network(8)
    full = nt.simulate(net, 30.0, seed=1)
    net.record("lif", "spikes", "v", neurons=[7, 2])
    net.record("noise", "spikes", neurons=[0, 39])
    part = nt.simulate(net, 30.0, seed=1)
    t_full, i_full = full.spikes("lif")
    keep = np.isin(i_full, [7, 2])
    t_part, i_part = part.spikes("lif")
    assert keep.sum() > 0
    np.testing.assert_array_equal(t_part, t_full[keep])
    np.testing.assert_array_equal(i_part, i_full[keep])
    np.testing.assert_array_equal(part.trace("lif", "v").numpy(),
                                  full.trace("lif", "v").numpy()[:, [7, 2]])
    assert set(part.spikes("noise")[1]) <= {0, 39}
    with pytest.raises(nt.ConfigError, match=r"neurons to record must lie in \[0, 59\]"):
        net.record("lif", "v", neurons=[60])
    with pytest.raises(nt.ConfigError, match="integer indices"):
        net.record("lif", "v", neurons=[0.5])


def test_long_refractory_period_beyond_int16_steps():
    # 40 000 steps of refractoriness do not fit the kernel's narrow counter
    model = nt.LIF(tau_refrac=4000.0, i_offset=1e4)
    net = nt.Network(dt=DT)
    pop = net.add(nt.Population(2, model, label="n"))
    net.record(pop, "spikes")
    times, _ = nt.simulate(net, 8100.0).spikes(pop)
    np.testing.assert_allclose(times, [0.1, 0.1, 4000.2, 4000.2, 8000.3, 8000.3])
