"""The ``cuba`` experiment: metrics consistent with the spikes, reproducible, and the
traces of selected neurons equal to a full recording."""

import json

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.experiments import run_experiment
from neurotwin.experiments.cuba import CubaConfig, build_network

TINY = {"n_neurons": 200, "duration": 100.0}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cuba")
    return out, run_experiment("cuba", TINY, seed=1, out_dir=out)


def test_metrics_json_is_what_run_experiment_returns(tiny_run):
    out, record = tiny_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == {k: v for k, v in record.items() if k != "out_dir"}
    assert record["config"] == {**CubaConfig().__dict__, **TINY}


def test_rates_agree_with_spike_counts(tiny_run):
    _, record = tiny_run
    m = record["metrics"]
    counts, rates = m["spike_count"], m["rate_hz"]
    assert counts["all"] == counts["exc"] + counts["inh"]
    assert counts["all"] > 0
    assert rates["exc"] == pytest.approx(counts["exc"] / (160 * 0.1))
    assert rates["inh"] == pytest.approx(counts["inh"] / (40 * 0.1))
    assert rates["all"] == pytest.approx(counts["all"] / (200 * 0.1))


def test_same_seed_same_result_other_seed_differs(tiny_run, tmp_path):
    _, record = tiny_run
    again = run_experiment("cuba", TINY, seed=1, out_dir=tmp_path / "a")
    other = run_experiment("cuba", TINY, seed=2, out_dir=tmp_path / "b")
    assert again["metrics"]["spike_count"] == record["metrics"]["spike_count"]
    assert other["metrics"]["spike_count"] != record["metrics"]["spike_count"]


def test_selected_neuron_traces_equal_a_full_recording():
    config = CubaConfig(n_neurons=100, duration=50.0)
    full = build_network(config, seed=4)
    chosen = build_network(config, seed=4)
    neurons = {"exc": [0, 5, 3], "inh": [2]}
    for label, index in neurons.items():
        full.record(label, "v")
        chosen.record(label, "v", neurons=index)
    a = nt.simulate(full, config.duration, seed=4)
    b = nt.simulate(chosen, config.duration, seed=4)
    for label, index in neurons.items():
        assert b.trace(label, "v").shape == (500, len(index))
        np.testing.assert_array_equal(b.trace(label, "v").numpy(),
                                      a.trace(label, "v").numpy()[:, index])
        np.testing.assert_array_equal(a.spikes(label)[0], b.spikes(label)[0])
