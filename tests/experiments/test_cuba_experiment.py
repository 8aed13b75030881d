"""The ``cuba`` experiment: metrics consistent with the spikes, reproducible, and the
replayed membrane traces equal to a direct recording."""

import json

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.experiments import run_experiment
from neurotwin.experiments.cuba import CubaConfig, build_network, replay_traces

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
    assert m["traces_replay_exact"] is True


def test_same_seed_same_result_other_seed_differs(tiny_run, tmp_path):
    _, record = tiny_run
    again = run_experiment("cuba", TINY, seed=1, out_dir=tmp_path / "a")
    other = run_experiment("cuba", TINY, seed=2, out_dir=tmp_path / "b")
    assert again["metrics"]["spike_count"] == record["metrics"]["spike_count"]
    assert other["metrics"]["spike_count"] != record["metrics"]["spike_count"]


def test_replayed_traces_equal_a_direct_recording():
    config = CubaConfig(n_neurons=100, duration=50.0)
    net = build_network(config, seed=4)
    for label in ("exc", "inh"):
        net.record(label, "v")
    result = nt.simulate(net, config.duration, seed=4)
    neurons = {"exc": (0, 5), "inh": (2,)}
    v, exact = replay_traces(net, result, neurons, "ideal", seed=4)
    direct = np.concatenate(
        [result.trace(label, "v").numpy()[:, list(index)] for label, index in neurons.items()],
        axis=1,
    )
    assert exact
    np.testing.assert_allclose(v, direct, rtol=0, atol=1e-9)
