"""The flat arrays handed to the peers are exactly neurotwin's network."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bench.flat import flatten
from neurotwin.experiments.cuba import CubaConfig, build_network

CONFIG = CubaConfig(n_neurons=50, p_connect=0.2, duration=100.0)


def test_flat_cuba_has_every_synapse_and_initial_potential():
    net = build_network(CONFIG, seed=3)
    flat = flatten(net)
    assert flat.n_neurons == 50
    assert flat.n_synapses == sum(p.synapses().pre.size for p in net.projections)
    expected_v0 = np.concatenate([p.initial_values()["v"] for p in net.populations])
    np.testing.assert_array_equal(flat.v0, expected_v0)
    n_exc = CONFIG.n_exc
    exc, inh = flat.synapses["exc"], flat.synapses["inh"]
    assert exc.pre.max() < n_exc <= inh.pre.min()
    np.testing.assert_allclose(exc.weight, CONFIG.w_exc)
    np.testing.assert_allclose(inh.weight, CONFIG.w_inh)
    assert set(exc.delay_steps) == {1} and set(inh.delay_steps) == {1}
    assert flat.populations == (("exc", 0, n_exc), ("inh", n_exc, 50 - n_exc))


def test_fingerprint_identifies_the_network():
    a = flatten(build_network(CONFIG, seed=3)).fingerprint()
    assert a == flatten(build_network(CONFIG, seed=3)).fingerprint()
    assert a != flatten(build_network(CONFIG, seed=4)).fingerprint()


def test_signed_projection_is_split_by_sign():
    net = nt.Network(dt=0.1)
    pop = net.add(nt.Population(3, nt.LIF(), label="p"))
    w = np.array([[0.0, 0.5, -0.25], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    net.connect(pop, pop, w, receptor=None, delays=0.3)
    flat = flatten(net)
    np.testing.assert_array_equal(flat.synapses["exc"].pre, [0])
    np.testing.assert_array_equal(flat.synapses["exc"].post, [1])
    np.testing.assert_array_equal(flat.synapses["inh"].weight, [0.25, 1.0])
    np.testing.assert_array_equal(flat.synapses["inh"].delay_steps, [3, 3])


def test_networks_with_sources_are_refused():
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0]]))
    pop = net.add(nt.Population(1, nt.LIF()))
    net.connect(src, pop, np.ones((1, 1)))
    with pytest.raises(nt.ConfigError, match="spike source"):
        flatten(net)


def test_populations_with_different_parameters_are_refused():
    net = nt.Network(dt=0.1)
    net.add(nt.Population(1, nt.LIF(tau_mem=10.0)))
    net.add(nt.Population(1, nt.LIF(tau_mem=20.0)))
    with pytest.raises(nt.ConfigError, match="one parameter set"):
        flatten(net)
