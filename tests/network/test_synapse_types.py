"""Dynamic synapse types on projections: validation, and refusal where they cannot run."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.errors import ConfigError, MappingError
from neurotwin.network import Bernoulli, PairSTDP, TsodyksMarkram
from neurotwin.network.nir import to_nir
from neurotwin.network.renewal import gamma_trains, poisson_refractory_trains


@pytest.mark.parametrize(("make", "message"), [
    (lambda: TsodyksMarkram(U=0.0), r"U must be > 0.0 and <= 1.0"),
    (lambda: TsodyksMarkram(U=1.5), r"U must be > 0.0 and <= 1.0"),
    (lambda: TsodyksMarkram(tau_rec=0.0), r"tau_rec must be > 0.0 ms"),
    (lambda: TsodyksMarkram(tau_facil=-1.0), r"tau_facil must be >= 0.0 ms"),
    (lambda: TsodyksMarkram(U=np.nan), r"U"),
    (lambda: TsodyksMarkram(U=np.ones((2, 2))), r"1-D"),
    (lambda: PairSTDP(tau_minus=[10.0, 20.0]), r"tau_minus must be one value"),
    (lambda: PairSTDP(A_plus=-0.1), r"A_plus must be >= 0.0"),
    (lambda: PairSTDP(w_min=0.5, w_max=0.2), r"w_min must be <= w_max"),
    (lambda: PairSTDP(weight_dependence="gutig"), r"'additive' or 'multiplicative'"),
    (lambda: Bernoulli(p=-0.1), r"p must be >= 0.0 and <= 1.0"),
])
def test_bad_parameters_are_refused(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def dynamic_network(synapse):
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourceArray([[1.0]]))
    pop = net.add(nt.Population(2, nt.LIF()))
    net.connect(src, pop, np.full((1, 2), 0.1), synapse=synapse)
    return net


@pytest.mark.parametrize("synapse", [TsodyksMarkram(), PairSTDP(), Bernoulli()])
@pytest.mark.parametrize(("backend", "what"), [("bss2", "BrainScaleS-2"),
                                               ("spinnaker2", "SpiNNaker2")])
def test_twins_refuse_dynamic_synapses_saying_what_the_chip_needs(synapse, backend, what):
    with pytest.raises(MappingError, match=f"The {what} twin runs static synapses only.*"
                                           f"{type(synapse).__name__}"):
        nt.simulate(dynamic_network(synapse), 5.0, backend=backend)


def test_nir_and_sharded_runs_refuse_dynamic_synapses():
    net = dynamic_network(PairSTDP())
    with pytest.raises(ConfigError, match="NIR's Linear nodes are static"):
        to_nir(net)
    with pytest.raises(ConfigError, match="a run over 2 ranks runs static synapses only"):
        nt.simulate(net, 5.0, backend="ideal", ranks=2)


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 50.0), (4.0, 200.0), (0.5, 20.0)])
def test_gamma_trains_have_the_gamma_mean_and_cv(alpha, beta):
    isi = np.diff(gamma_trains(alpha, beta, 0.0, 2e5, np.random.default_rng(1), 1)[0])
    n = isi.size
    assert isi.mean() == pytest.approx(1e3 * alpha / beta, rel=6 / np.sqrt(n * alpha))
    assert isi.std() / isi.mean() == pytest.approx(1 / np.sqrt(alpha), rel=0.05)


@pytest.mark.parametrize(("rate", "dead"), [(100.0, 0.0), (100.0, 5.0), (50.0, 15.0)])
def test_poisson_refractory_trains_have_mean_one_over_rate_and_dead_time(rate, dead):
    isi = np.diff(poisson_refractory_trains(rate, dead, 0.0, 2e5, np.random.default_rng(2),
                                            1)[0])
    assert isi.min() >= dead
    assert isi.mean() == pytest.approx(1e3 / rate, rel=0.03)
    # CV of dead time + exponential: (mean - dead) / mean
    assert isi.std() / isi.mean() == pytest.approx(1 - rate * dead / 1e3, rel=0.05)


def test_renewal_trains_extend_with_a_longer_stop_and_respect_start():
    short = gamma_trains(3.0, 100.0, 50.0, 500.0, np.random.default_rng(7), 2)
    long = gamma_trains(3.0, 100.0, 50.0, 5000.0, np.random.default_rng(7), 2)
    for a, b in zip(short, long, strict=True):
        assert a.min() >= 50.0 and a.max() < 500.0
        np.testing.assert_array_equal(b[: a.size], a)
    with pytest.raises(ConfigError, match="rate \\* tau_refrac < 1"):
        poisson_refractory_trains(100.0, 10.0, 0.0, 10.0, np.random.default_rng(0), 1)
