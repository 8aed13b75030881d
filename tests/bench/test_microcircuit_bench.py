"""``bench microcircuit``: the peers' flat network is the microcircuit neurotwin runs
(background and per-population DC included), Brian2 builds it, a small run is complete."""

import numpy as np
import pytest

from neurotwin.bench import BENCHMARKS, peers_brian2
from neurotwin.bench.flat import flatten
from neurotwin.bench.microcircuit import SCHEMA, flatten_microcircuit, network_from_dict
from neurotwin.bench.report import check_schema
from neurotwin.errors import ConfigError
from neurotwin.experiments.microcircuit_model import POPULATIONS, scaled_params

CONFIG = {"scale": 0.01, "background": "poisson"}


@pytest.fixture(scope="module")
def net():
    return network_from_dict(CONFIG, 2)


def test_flat_microcircuit_keeps_synapses_dc_and_background(net):
    params = scaled_params(0.01)
    flat = flatten_microcircuit(net)
    assert flat.n_neurons == params.n_neurons
    assert flat.n_synapses == params.n_synapses
    # per-neuron DC: population i's compensation current on each of its neurons
    starts = np.cumsum([0, *params.neurons[:-1]])
    assert flat.i_offset is not None and flat.model.i_offset == 0.0
    assert np.allclose(flat.i_offset[starts], params.dc_na)
    assert len(flat.background) == 8
    for i, (first, size, inputs, rate, weight, steps) in enumerate(flat.background):
        assert (first, size) == (starts[i], params.neurons[i])
        assert inputs == params.k_ext[i] and rate == 8.0
        assert weight == pytest.approx(params.weight_ext_na) and steps == 15
    assert flat.fingerprint() == flatten_microcircuit(network_from_dict(CONFIG, 2)).fingerprint()


def test_models_differing_beyond_i_offset_are_still_refused(net):
    import dataclasses

    import neurotwin as nt

    other = nt.Network(dt=0.1)
    other.add(nt.Population(2, nt.LIF(i_offset=0.1)))
    other.add(nt.Population(2, dataclasses.replace(nt.LIF(i_offset=0.2), tau_mem=5.0)))
    with pytest.raises(nt.ConfigError, match="one parameter set"):
        flatten(other)


def test_brian2_gets_dc_per_neuron_and_the_background(net):
    b2 = pytest.importorskip("brian2")
    b2.prefs.codegen.target = "numpy"
    flat = flatten_microcircuit(net)
    bnet = peers_brian2.build_network(flat.spec(), flat.arrays())
    np.testing.assert_allclose(bnet["neurons"].i_offset[:] / b2.nA, flat.i_offset)
    inputs = [obj for obj in bnet.objects if isinstance(obj, b2.PoissonInput)]
    assert sorted(p.N for p in inputs) == sorted(scaled_params(0.01).k_ext.tolist())


def test_neurotwin_run_writes_a_complete_result(tmp_path):
    run = BENCHMARKS.get("microcircuit")
    out = run(scale=0.01, duration=50.0, tools="neurotwin,nest_2t",
              output=tmp_path / "m.json", show=False)
    check_schema(out, SCHEMA)
    ours = out["tools"]["neurotwin"]
    assert ours["status"] == "ok", ours["reason"]
    assert set(ours["rates_hz"]) == set(POPULATIONS)
    assert ours["peak_rss_mb"] > 0 and ours["simulate_time_s"] > 0
    assert out["tools"]["nest_2t"]["status"] in ("ok", "skipped")
    assert (tmp_path / "m.json").exists()


def test_rules_let_nest_draw_the_published_table(net):
    """peer_synapses="rules": no arrays, the table as rules; NEST's fixed_total_number
    draws exactly the table's synapse numbers per population pair."""
    params = scaled_params(0.01)
    flat = flatten_microcircuit(net, as_rules=True)
    assert flat.synapses["exc"].size == flat.synapses["inh"].size == 0
    assert flat.n_synapses == params.n_synapses
    assert len(flat.rules) == np.count_nonzero(params.synapses)
    assert flat.fingerprint() != flatten_microcircuit(net).fingerprint()
    nest = pytest.importorskip("nest")
    from neurotwin.bench import peers_nest

    neurons, _ = peers_nest.build_network(flat.spec(), flat.arrays())
    conns = nest.GetConnections(source=neurons, target=neurons)
    first = neurons[0].global_id
    pop_of = np.repeat(np.arange(8), params.neurons)
    pre = pop_of[np.asarray(conns.get("source")) - first]
    post = pop_of[np.asarray(conns.get("target")) - first]
    counts = np.zeros((8, 8), int)
    np.add.at(counts, (post, pre), 1)
    np.testing.assert_array_equal(counts, params.synapses)
    weight = np.asarray(conns.get("weight"))
    assert np.all((weight > 0) == (pre % 2 == 0))  # excitatory sources: positive
    assert np.min(np.asarray(conns.get("delay"))) >= 0.1


def test_rules_skip_the_peers_that_need_arrays(tmp_path):
    run = BENCHMARKS.get("microcircuit")
    out = run(scale=0.01, duration=50.0, tools="neurotwin,brian2_cpp_standalone",
              output=None, show=False, peer_synapses="rules")
    assert out["peer_synapses"] == "rules"
    assert out["tools"]["neurotwin"]["status"] == "ok", out["tools"]["neurotwin"]["reason"]
    brian2 = out["tools"]["brian2_cpp_standalone"]
    assert brian2["status"] == "skipped" and "arrays" in brian2["reason"]
    with pytest.raises(ConfigError, match="peer_synapses"):
        run(scale=0.01, tools="neurotwin", output=None, show=False, peer_synapses="both")


def test_nest_rules_use_one_synapse_model_per_source_population(net):
    """NEST holds at most 2**27 - 2 connections per thread and synapse model: the rules
    go through one static_synapse copy per presynaptic population, each with exactly
    the synapses the table gives that population (on both threads together), none
    through static_synapse itself; at full size the largest copy then needs 47 M per
    thread where one model would need 149 M."""
    nest = pytest.importorskip("nest")
    from neurotwin.bench import peers_nest

    params = scaled_params(0.01)
    flat = flatten_microcircuit(net, as_rules=True)
    neurons, _ = peers_nest.build_network(flat.spec(), flat.arrays(), threads=2)
    first = neurons[0].global_id
    pop_of = np.repeat(np.arange(8), params.neurons)
    for j, label in enumerate(POPULATIONS):
        model = f"static_synapse_from_{label}"
        conns = nest.GetConnections(neurons, neurons, synapse_model=model)
        assert len(conns) == params.synapses[:, j].sum()
        sources = pop_of[np.asarray(conns.get("source")) - first]
        assert np.all(sources == j)
        assert set(np.asarray(conns.get("target_thread")).tolist()) == {0, 1}
    assert len(nest.GetConnections(neurons, neurons, synapse_model="static_synapse")) == 0
    full = scaled_params(1.0).synapses
    assert full.sum() / 2 > peers_nest.MAX_CONNECTIONS_PER_MODEL
    assert full.sum(axis=0).max() / 2 < 0.4 * peers_nest.MAX_CONNECTIONS_PER_MODEL
