"""The hybrid MNIST experiment on a tiny config: the twin's readout spikes equal the plain
reference on every test image, so the hybrid accuracies are equal too."""

import json

import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.s2_hybrid import S2HybridConfig

TINY = {"epochs": 1, "train_limit": 600, "calibration": 100, "test_per_class": 3,
        "hidden": 16, "ticks": 8}


def test_registered_on_spinnaker2():
    assert EXPERIMENTS.get("s2-hybrid").runs_on == "spinnaker2"


def test_tiny_run_equals_the_reference_and_writes_its_plots(tmp_path):
    run_experiment("s2-hybrid", TINY, seed=0, out_dir=tmp_path)
    m = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    for name in ("raster.png", "pe_cycles.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert m["spikes_equal_reference"] and m["samples_equal"] == m["n_test"] == 30
    assert m["features_equal_torch_int8"] and m["v_last_equal"]
    acc = m["accuracy"]
    assert acc["hybrid_twin"] == acc["hybrid_reference"]
    assert acc["float"] > 0.2  # trained a little: above chance (0.1)
    cost = m["per_inference"]
    assert cost["packets_sent"] > 0 and cost["router_entries"] >= 1
    assert cost["latency_us"] == pytest.approx(cost["dnn_us"] + cost["snn_us"])
    assert m["assumptions"]


def test_config_is_checked():
    with pytest.raises(ConfigError, match="front_end"):
        S2HybridConfig(front_end="rnn")
    with pytest.raises(ConfigError, match="DVFS"):
        S2HybridConfig(clock_mhz=200.0)
    with pytest.raises(ConfigError, match="ticks"):
        S2HybridConfig(ticks=0)
