"""One conformance suite, run over every registered backend: the contract of
``map``/``run``/``simulate`` and of the Result they return."""

import copy

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.backends import BACKENDS, get_backend


def small_network() -> nt.Network:
    rng = np.random.default_rng(0)
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0, 4.0, 9.0], [2.0, 6.0]], label="in"))
    noise = net.add(nt.SpikeSourcePoisson(8, rate=40.0, label="noise"))
    pop = net.add(nt.Population(16, nt.LIF(v_thresh=-58.0, tau_refrac=1.0), label="pop"))
    net.connect(src, pop, np.full((2, 16), 0.8), receptor="exc", delays=1.0)
    # weights at least one LSB of the bss2 mapping (0.8 / 63): none vanishes there
    net.connect(noise, pop, rng.uniform(0.013, 0.6, (8, 16)), receptor="exc")
    # recurrent: the default delay (on BrainScaleS-2 the only one an on-chip synapse has)
    net.connect(pop, pop, -rng.uniform(0.013, 0.2, (16, 16)), receptor=None)
    net.record(pop, "spikes", "v")
    net.record(src, "spikes")
    return net


@pytest.fixture(params=BACKENDS.names())
def backend(request) -> nt.Backend:
    return get_backend(request.param)


def test_simulate_returns_complete_result(backend):
    net = small_network()
    res = nt.simulate(net, 20.0, backend=backend, seed=1)
    assert isinstance(res, nt.Result)
    assert res.duration == 20.0 and res.n_trials == 1
    times, ids = res.spikes("pop")
    assert times.size > 0 and times.shape == ids.shape
    assert np.all(np.diff(times) >= 0)
    assert np.all((ids >= 0) & (ids < 16))
    assert np.all((times > 0) & (times <= 20.0))
    src_times, src_ids = res.spikes("in")
    np.testing.assert_allclose(src_times, [1.0, 2.0, 4.0, 6.0, 9.0])
    np.testing.assert_array_equal(src_ids, [0, 1, 0, 1, 0])
    assert tuple(res.trace("pop", "v").shape) == (200, 16)
    assert res.cost.bio_time_ms == 20.0
    assert res.cost.wall_time_s > 0 and res.cost.build_time_s > 0


def test_map_does_not_mutate_network_and_artefact_reruns(backend):
    net = small_network()
    before = copy.deepcopy(net)
    artefact = backend.map(net)
    a = backend.run(artefact, 20.0, seed=3)
    b = backend.run(artefact, 20.0, seed=3)
    assert list(net.nodes) == list(before.nodes)
    assert len(net.projections) == len(before.projections)
    for p, q in zip(net.projections, before.projections, strict=True):
        np.testing.assert_array_equal(p.weights, q.weights)
    for x, y in zip(a.spikes("pop"), b.spikes("pop"), strict=True):
        np.testing.assert_array_equal(x, y)


def test_trials_are_batched(backend):
    res = nt.simulate(small_network(), 20.0, backend=backend, seed=4, trials=2)
    assert res.n_trials == 2
    assert res.trace("pop", "v", trial=1).shape[0] == 200
    assert not np.array_equal(res.spikes("pop", 0)[0], res.spikes("pop", 1)[0])


def test_bad_duration_and_trials(backend):
    with pytest.raises(nt.ConfigError, match="duration"):
        nt.simulate(small_network(), -1.0, backend=backend)
    with pytest.raises(nt.ConfigError, match="trials"):
        nt.simulate(small_network(), 10.0, backend=backend, trials=0)


@pytest.mark.parametrize("duration", ["10", [10.0], None, float("nan")])
def test_duration_must_be_a_number_on_every_backend(backend, duration):
    with pytest.raises(nt.ConfigError, match="duration"):
        nt.simulate(small_network(), duration, backend=backend)


def test_unknown_option_is_the_same_error_on_every_backend(backend):
    with pytest.raises(nt.ConfigError) as err:
        nt.simulate(small_network(), 10.0, backend=backend, bogus=1, other=2)
    name = backend.name
    assert str(err.value).startswith(f"unknown options 'bogus', 'other' for backend {name!r}")
    assert f"known: {', '.join(backend.map_options)}" in str(err.value)
    with pytest.raises(nt.ConfigError, match="unknown option 'bogus'"):
        backend.map(small_network(), bogus=1)


def test_every_declared_option_is_taken_by_map(backend):
    """map_options names only what map accepts (its parameters, or those it passes on)."""
    import inspect

    params = inspect.signature(backend.map).parameters
    passed_on = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for option in backend.map_options:
        assert option in params or passed_on, option


def test_seed_is_checked_on_every_backend(backend):
    with pytest.raises(nt.ConfigError, match="seed"):
        nt.simulate(small_network(), 10.0, backend=backend, seed=-1)
