"""Dynamic synapses on the time-stepped engine: NEST 3 (in a child process,
tests/engines/nest_synapses.py) and closed forms as the references."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.errors import ConfigError
from neurotwin.network import Bernoulli, PairSTDP, TsodyksMarkram

DT = 0.1
NEST_SCRIPT = Path(__file__).with_name("nest_synapses.py")


def nest(cases: list[dict]) -> list:
    """Results of NEST for ``cases`` (see nest_synapses.py); skip without NEST."""
    pytest.importorskip("nest")
    out = subprocess.run([sys.executable, str(NEST_SCRIPT)], input=json.dumps(cases),
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def tm_amplitudes(times: np.ndarray, tau_psc: float, **params: float) -> np.ndarray:
    """PSC amplitudes (nA, weight 1) of a TsodyksMarkram synapse, read off the jumps of
    the target's synaptic current."""
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([times]))
    pop = net.add(nt.Population(1, nt.LIF(tau_syn_exc=tau_psc, v_thresh=1e9)))
    net.connect(src, pop, np.ones((1, 1)), synapse=TsodyksMarkram(**params))
    net.record(pop, "i_exc")
    duration = float(np.round(times.max() + 5.0, 1))
    i = nt.simulate(net, duration, backend="ideal").trace(pop, "i_exc")[:, 0].numpy()
    jump = i[1:] - i[:-1] * np.exp(-DT / tau_psc)
    return jump[jump > 1e-12]


TM_CASES = [  # U, tau_rec, tau_facil, tau_psc: depressing, facilitating, mixed
    (0.5, 100.0, 0.0, 3.0), (0.04, 100.0, 1000.0, 5.0), (0.3, 20.0, 50.0, 2.0)]


def test_tsodyks_markram_matches_nest():
    rng = np.random.default_rng(1)
    times = np.round(np.cumsum(rng.exponential(15.0, 40)) + 1.0, 1)
    golden = nest([{"kind": "tsodyks", "times": times.tolist(), "U": u, "tau_rec": r,
                    "tau_fac": f, "tau_psc": p} for u, r, f, p in TM_CASES])
    for (u, r, f, p), expected in zip(TM_CASES, golden, strict=True):
        ours = tm_amplitudes(times, p, U=u, tau_rec=r, tau_facil=f)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


def test_tsodyks_markram_steady_state_of_a_regular_train():
    # closed form for tau_facil = 0 in the limit tau_psc -> 0 (the model's error is of
    # order tau_psc / tau_rec): U (1 - E) / (1 - (1 - U) E), E = exp(-period / tau_rec)
    period, u, tau_rec = 20.0, 0.5, 100.0
    amps = tm_amplitudes(np.arange(1.0, 1000.0, period), 1e-6, U=u, tau_rec=tau_rec)
    e = np.exp(-period / tau_rec)
    assert amps[0] == pytest.approx(u, rel=1e-12)
    assert amps[-1] == pytest.approx(u * (1 - e) / (1 - (1 - u) * e), rel=1e-7)


def test_tsodyks_markram_with_tau_psc_equal_to_tau_rec_takes_the_limit():
    # NEST's formula divides by tau_psc - tau_rec (NaN there); the limit is the mean of
    # the two sides
    times = np.array([1.0, 6.0, 9.0, 30.0])
    at = tm_amplitudes(times, 5.0, U=0.3, tau_rec=5.0, tau_facil=0.0)
    below = tm_amplitudes(times, 5.0, U=0.3, tau_rec=5.0 - 1e-5, tau_facil=0.0)
    above = tm_amplitudes(times, 5.0, U=0.3, tau_rec=5.0 + 1e-5, tau_facil=0.0)
    assert np.all(np.isfinite(at))
    np.testing.assert_allclose(at, (below + above) / 2, rtol=1e-8)


def stdp_run(pre: np.ndarray, drive: np.ndarray, rule: PairSTDP, w0: float, delay: float
             ) -> tuple[float, np.ndarray]:
    """Final weight of one STDP synapse and its target's spike times; the target fires
    on the ``drive`` spikes (a strong static input)."""
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([pre]))
    drv = net.add(nt.SpikeSourceArray([drive]))
    pop = net.add(nt.Population(1, nt.LIF(tau_refrac=5.0, tau_syn_exc=0.5, tau_syn_inh=0.5)))
    net.connect(drv, pop, np.full((1, 1), 200.0))
    net.connect(src, pop, np.full((1, 1), w0), synapse=rule, delays=delay)
    net.record(pop, "spikes")
    res = nt.simulate(net, float(np.round(pre.max() + 10.0, 1)), backend="ideal")
    return float(res.meta["final_weights"][1][0, 0]), res.spikes(pop)[0]


@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_pair_stdp_final_weight_matches_nest(dependence):
    rng = np.random.default_rng(3)
    pre = np.unique(np.round(np.cumsum(rng.exponential(8.0, 80)) + 1.0, 1))
    drive = np.unique(np.round(np.cumsum(rng.exponential(6.0, 80)) + 1.0, 1))
    # a last presynaptic spike after every postsynaptic one: NEST applies potentiation
    # at the next presynaptic spike, neurotwin when the postsynaptic spike arrives
    pre = np.append(pre, np.round(max(pre.max(), drive.max()) + 30.0, 1))
    rule = PairSTDP(tau_plus=16.8, tau_minus=14.2, A_plus=0.05, A_minus=0.03, w_min=0.0,
                    w_max=2.0, weight_dependence=dependence)
    mu = 1.0 if dependence == "multiplicative" else 0.0
    cases, ours = [], []
    for delay in (0.1, 1.5):
        w, post = stdp_run(pre, drive, rule, 0.8, delay)
        assert post.size > 30
        ours.append(w)
        cases.append({"kind": "stdp", "pre": pre.tolist(), "post": np.round(post, 1).tolist(),
                      "delay": delay, "weight": 0.8, "Wmax": 2.0, "lambda": 0.05,
                      "alpha": 0.03 / 0.05, "mu_plus": mu, "mu_minus": mu,
                      "tau_plus": 16.8, "tau_minus": 14.2})
    np.testing.assert_allclose(ours, nest(cases), rtol=1e-12)
    assert all(0.8 < w < 2.0 for w in ours)  # learned, and inside the bounds (no clipping)


def test_pair_stdp_single_pairs_follow_the_exponential_window():
    # one pre and one post spike: w changes by w_max A exp(-|dt| / tau) (additive)
    rule = PairSTDP(tau_plus=20.0, tau_minus=10.0, A_plus=0.1, A_minus=0.05, w_min=0.0,
                    w_max=1.0)
    for lag in (3.0, -3.0, 7.0, -7.0):  # post minus pre, at the synapse
        post_time = 50.0 + lag  # the drive fires the target on the step after its arrival
        w, post = stdp_run(np.array([50.0]), np.array([post_time - 0.1]), rule, 0.5, 0.1)
        seen = post[0] + 0.1 - 50.0  # the postsynaptic spike reaches the synapse d later
        expected = 0.5 + (0.1 * np.exp(-seen / 20.0) if seen > 0
                          else -0.05 * np.exp(seen / 10.0))
        assert w == pytest.approx(expected, rel=1e-12)


def test_pair_stdp_clips_at_the_bounds():
    rule = PairSTDP(A_plus=5.0, A_minus=5.0, w_min=0.2, w_max=0.7)
    w_up, _ = stdp_run(np.array([10.0]), np.array([12.0]), rule, 0.5, 0.1)
    w_down, _ = stdp_run(np.array([20.0]), np.array([12.0]), rule, 0.5, 0.1)
    assert (w_up, w_down) == (0.7, 0.2)


def bernoulli_counts(p: np.ndarray, seed: int, trials: int = 1) -> np.ndarray:
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([np.arange(1.0, 2001.0, 2.0)]))
    pop = net.add(nt.Population(p.size, nt.LIF(tau_syn_exc=0.01, v_thresh=1e9)))
    net.connect(src, pop, np.ones((1, p.size)), synapse=Bernoulli(p=p))
    net.record(pop, "i_exc")
    res = nt.simulate(net, 2002.0, backend="ideal", seed=seed, trials=trials)
    i = np.stack([res.trace(pop, "i_exc", trial=b).numpy() for b in range(trials)])
    return (i > 0.5).sum(axis=1)


def test_bernoulli_transmits_a_fraction_p_reproducibly():
    p = np.array([0.0, 0.25, 0.5, 1.0])
    counts = bernoulli_counts(p, seed=4)[0]
    n = 1000
    assert counts[0] == 0 and counts[3] == n
    sigma = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts[1:3] - n * p[1:3]) < 4 * sigma[1:3])
    np.testing.assert_array_equal(bernoulli_counts(p, seed=4)[0], counts)
    assert not np.array_equal(bernoulli_counts(p, seed=5)[0], counts)
    # a trial's draws do not depend on how many trials run with it
    np.testing.assert_array_equal(bernoulli_counts(p, seed=4, trials=3)[0], counts)


def test_static_synapses_are_unchanged_by_a_dynamic_projection():
    def run(with_dynamic: bool) -> np.ndarray:
        net = nt.Network(dt=DT)
        src = net.add(nt.SpikeSourcePoisson(20, 80.0))
        pop = net.add(nt.Population(10, nt.LIF()))
        net.connect(src, pop, np.full((20, 10), 0.5))
        if with_dynamic:  # zero weights: a dynamic projection that transmits nothing
            weights = sp.csr_array(np.ones((20, 10)))
            weights.data[:] = 0.0
            net.connect(src, pop, weights, receptor="inh", synapse=Bernoulli(p=0.5))
        net.record(pop, "spikes")
        return nt.simulate(net, 200.0, backend="ideal", seed=1).spikes(pop)[0]

    np.testing.assert_array_equal(run(True), run(False))


def test_dynamic_synapses_are_refused_where_they_cannot_run():
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([[1.0]]))
    pop = net.add(nt.Population(2, nt.LIF()))
    with pytest.raises(ConfigError, match="receptor 'exc' or 'inh'"):
        net.connect(src, pop, np.ones((1, 2)), receptor=None, synapse=Bernoulli())
    with pytest.raises(ConfigError, match="3 values but the projection has 2 synapses"):
        net.connect(src, pop, np.ones((1, 2)), synapse=TsodyksMarkram(U=[0.1, 0.2, 0.3]))
    with pytest.raises(ConfigError, match="synapse must be None"):
        net.connect(src, pop, np.ones((1, 2)), synapse="stdp")
    net.connect(src, pop, np.ones((1, 2)), synapse=TsodyksMarkram())
    with pytest.raises(ConfigError, match="numba kernel only"):
        nt.simulate(net, 5.0, backend="ideal", kernel="torch")


def test_dynamic_delays_longer_than_every_static_delay_size_the_ring_buffer():
    # a network whose only projection is dynamic, with a delay of 30 steps: the ring
    # buffer must hold it (it was sized from the static synapses alone and overflowed)
    times = np.array([1.0, 6.0, 11.0])
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([times]))
    pop = net.add(nt.Population(1, nt.LIF(tau_syn_exc=3.0, v_thresh=1e9)))
    net.connect(src, pop, np.ones((1, 1)), delays=3.0,
                synapse=TsodyksMarkram(U=0.5, tau_rec=100.0, tau_facil=0.0))
    net.record(pop, "i_exc")
    i = nt.simulate(net, 20.0, backend="ideal").trace(pop, "i_exc")[:, 0].numpy()
    jump = i[1:] - i[:-1] * np.exp(-DT / 3.0)
    arrivals = np.flatnonzero(jump > 1e-12)
    # each spike at t reaches the target 3 ms later (the step that ends at t + 3 ms)
    np.testing.assert_allclose((arrivals + 1) * DT, times + 3.0, atol=1e-9)
    np.testing.assert_allclose(jump[arrivals], tm_amplitudes(times, 3.0, U=0.5, tau_rec=100.0,
                                                             tau_facil=0.0), rtol=1e-12)
