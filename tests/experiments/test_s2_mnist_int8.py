"""The int8 MNIST experiment on a tiny config: the twin equals torch's int8 model on every
test image, so the accuracies are equal too."""

import json

import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.s2_mnist_int8 import S2MnistInt8Config

TINY = {"epochs": 2, "train_limit": 1000, "calibration": 100, "test_per_class": 20,
        "hidden": 16, "channels": [4, 8]}


def test_registered_on_the_mac_array():
    assert EXPERIMENTS.get("s2-mnist-int8").runs_on == "spinnaker2 (MAC array)"


def test_tiny_run_is_bit_exact_and_writes_its_plot(tmp_path):
    run_experiment("s2-mnist-int8", TINY, seed=0, out_dir=tmp_path)
    m = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert (tmp_path / "pe_cycles.png").stat().st_size > 1000
    for name in ("mlp", "cnn"):
        model = m["models"][name]
        assert model["codes_equal_torch_int8"] and model["images_equal"] == 200
        assert model["accuracy"]["twin"] == model["accuracy"]["torch_int8"]
        assert model["accuracy"]["float"] > 0.2  # trained a little: above chance (0.1)
        fast, slow = model["per_inference"]["300"], model["per_inference"]["150"]
        assert slow["latency_us"] > fast["latency_us"]
        assert slow["energy_pe_j"] < fast["energy_pe_j"]
    assert m["assumptions"]


def test_config_is_checked():
    with pytest.raises(ConfigError, match="DVFS"):
        S2MnistInt8Config(clocks_mhz=(200.0,))
    with pytest.raises(ConfigError, match="epochs"):
        S2MnistInt8Config(epochs=0)
