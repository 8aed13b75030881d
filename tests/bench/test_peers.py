"""The Brian2 and NEST builders get neurotwin's network and run it to the same spikes.

Golden values come from the peers (independent tools): on a small CUBA network every
tool uses exact propagators and the same step semantics, so spike counts agree exactly.
"""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bench import peers_brian2, peers_nest
from neurotwin.bench.flat import flatten
from neurotwin.experiments.cuba import CubaConfig, build_network

CONFIG = CubaConfig(n_neurons=50, p_connect=0.2, duration=100.0)


@pytest.fixture(scope="module")
def flat():
    return flatten(build_network(CONFIG, seed=1))


@pytest.fixture(scope="module")
def neurotwin_spikes():
    res = nt.simulate(build_network(CONFIG, seed=1), CONFIG.duration, seed=0)
    return {label: int(res.spikes(label)[0].size) for label in ("exc", "inh")}


def test_brian2_network_is_neurotwins(flat):
    b2 = pytest.importorskip("brian2")
    b2.prefs.codegen.target = "numpy"
    net = peers_brian2.build_network(flat.spec(), flat.arrays())
    assert len(net["neurons"]) == 50
    assert len(net["syn_exc"]) == flat.synapses["exc"].size
    assert len(net["syn_inh"]) == flat.synapses["inh"].size
    np.testing.assert_allclose(net["neurons"].v[:] / b2.mV, flat.v0)
    np.testing.assert_array_equal(net["syn_exc"].i[:], flat.synapses["exc"].pre)
    np.testing.assert_array_equal(net["syn_inh"].j[:], flat.synapses["inh"].post)


def test_brian2_runtime_spikes_match_neurotwin(flat, neurotwin_spikes):
    pytest.importorskip("brian2")
    out = peers_brian2.run_runtime(flat.spec(), flat.arrays(), CONFIG.duration, target="numpy")
    assert sum(out["spikes"].values()) > 0
    assert out["spikes"] == neurotwin_spikes
    assert out["simulate_time_s"] > 0 and out["build_time_s"] > 0


def test_nest_network_is_neurotwins(flat):
    pytest.importorskip("nest")
    neurons, _ = peers_nest.build_network(flat.spec(), flat.arrays(), threads=1)
    import nest

    assert len(neurons) == 50
    conns = nest.GetConnections(neurons, neurons)
    assert len(conns) == flat.n_synapses
    np.testing.assert_allclose(neurons.get("V_m"), flat.v0)
    weights = np.asarray(conns.get("weight"))
    assert np.sum(weights > 0) == flat.synapses["exc"].size
    np.testing.assert_allclose(np.sort(weights)[0], -1000 * CONFIG.w_inh)
    assert neurons[0].get("C_m") == 1000 * CONFIG.cm
    # one copy of static_synapse per receptor (NEST's per-model connection limit)
    for receptor in ("exc", "inh"):
        by_model = nest.GetConnections(neurons, neurons,
                                       synapse_model=f"static_synapse_{receptor}")
        assert len(by_model) == flat.synapses[receptor].size
        assert np.all((np.asarray(by_model.get("weight")) > 0) == (receptor == "exc"))


def test_nest_spikes_match_neurotwin(flat, neurotwin_spikes):
    pytest.importorskip("nest")
    out = peers_nest.run_nest(flat.spec(), flat.arrays(), CONFIG.duration, threads=1)
    assert sum(out["spikes"].values()) > 0
    assert out["spikes"] == neurotwin_spikes
    assert 0 < out["simulate_cpu_s"] <= out["simulate_time_s"] * 1.05 + 0.01  # 1 thread


def test_nest_refuses_initial_synaptic_currents(flat):
    pytest.importorskip("nest")
    arrays = dict(flat.arrays(), i_exc0=np.full(50, 0.1))
    with pytest.raises(ValueError, match="nonzero synaptic currents"):
        peers_nest.build_network(flat.spec(), arrays)


def test_nest_refuses_a_synapse_model_over_its_connection_limit(flat, monkeypatch):
    pytest.importorskip("nest")
    size = flat.synapses["exc"].size
    monkeypatch.setattr(peers_nest, "MAX_CONNECTIONS_PER_MODEL", size // 2)
    with pytest.raises(ValueError, match=f"static_synapse_exc would carry {size} .* 2 thread"):
        peers_nest.build_network(flat.spec(), flat.arrays(), threads=2)
    monkeypatch.setattr(peers_nest, "MAX_CONNECTIONS_PER_MODEL", size)
    neurons, _ = peers_nest.build_network(flat.spec(), flat.arrays(), threads=1)
    assert len(neurons) == 50


def test_time_ratios_compare_cpu_only_where_both_report_it():
    from neurotwin.bench.report import peers_that_ran, time_ratios

    ours = {"status": "ok", "simulate_time_s": 2.0, "simulate_cpu_s": 1.0}
    brian = {"status": "ok", "simulate_time_s": 4.0, "simulate_cpu_s": 4.0}
    nest = {"status": "ok", "simulate_time_s": 8.0, "simulate_cpu_s": None}
    tools = {"neurotwin": ours, "brian": brian, "nest": nest, "gone": {"status": "skipped"}}
    assert peers_that_ran(tools) == ["brian", "nest"]
    assert peers_that_ran({**tools, "neurotwin": {"status": "failed"}}) == []
    assert time_ratios(ours, brian) == {"simulate_time_ratio": 0.5, "simulate_cpu_ratio": 0.25}
    assert time_ratios(ours, nest) == {"simulate_time_ratio": 0.25, "simulate_cpu_ratio": None}
