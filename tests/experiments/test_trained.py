"""A trained experiment's checkpoint as a compare task (experiments/trained.py) and
``neurotwin compare <checkpoint>``: the rebuilt task predicts what the experiment's own
evaluation predicts; files from elsewhere are refused naming what is wrong."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from neurotwin.cli import main
from neurotwin.datasets import yinyang_splits
from neurotwin.errors import ConfigError, DataError
from neurotwin.experiments import yinyang
from neurotwin.experiments.deployment import predict
from neurotwin.experiments.trained import load_trained
from neurotwin.train.checkpoint import Checkpoint, save_best, save_checkpoint

CONFIG = yinyang.YinYangConfig(n_hidden=30, test_size=40, hidden_weight_mean=2.0)


def write_run(folder: Path, config: yinyang.YinYangConfig = CONFIG, seed: int = 3,
              model: dict | None = None) -> Path:
    """A run folder as ``train.fit`` leaves it: checkpoint.pt (with the fingerprint) and
    best.pt; the weights are the experiment's initial ones."""
    state = yinyang.YinYangNet(config, seed).state_dict() if model is None else model
    fingerprint = {k: v for k, v in asdict(config).items() if k not in yinyang.NOT_TRAINING}
    save_checkpoint(folder, Checkpoint(
        epoch=2, model=state, optimizer={}, scheduler={}, rng={},
        fingerprint={"loop": {"epochs": 2}, "seed": seed, **fingerprint},
    ))
    return save_best(folder, 1, state)


def test_the_task_predicts_what_the_experiments_evaluation_predicts(tmp_path) -> None:
    best = write_run(tmp_path)
    task = load_trained(best, samples=25)
    model = yinyang.YinYangNet(CONFIG, 3)
    test = yinyang_splits(test_size=25).test
    batch = yinyang.encode(test.inputs, CONFIG)
    expected = predict(yinyang.first_times(model, batch, CONFIG))
    np.testing.assert_array_equal(task.event_classes, expected)
    np.testing.assert_array_equal(task.labels, test.labels)
    assert task.name == "yinyang seed 3, epoch 1"
    assert task.t_max == CONFIG.t_max and task.dt == CONFIG.deploy_dt
    assert [w.shape for w in task.weights] == [(5, 30), (30, 3)]
    assert load_trained(tmp_path, samples=25).name == task.name  # the folder: its best.pt
    assert load_trained(tmp_path / "checkpoint.pt", samples=5).name == "yinyang seed 3, epoch 2"


def test_command_on_a_checkpoint_writes_accuracy_per_backend(tmp_path, capsys) -> None:
    best = write_run(tmp_path / "run")
    out = tmp_path / "out"
    assert main(["compare", str(best), "--backends", "ideal,spinnaker2", "--samples", "10",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "yinyang seed 3, epoch 1: 10 test samples" in printed
    data = json.loads((out / "compare.json").read_text())
    ideal = data["backends"]["ideal"]
    assert ideal["event_agreement"] == 1.0
    assert ideal["accuracy"] == data["event_accuracy"]
    assert data["backends"]["spinnaker2"]["energy_j"] > 0
    assert (out / "compare.png").stat().st_size > 0


def test_command_refuses_nir_options_for_a_checkpoint(tmp_path, capsys) -> None:
    best = write_run(tmp_path)
    assert main(["compare", str(best), "--duration", "30", "--out", str(tmp_path / "o")]) == 2
    assert "--duration applies to a NIR file" in capsys.readouterr().err


def test_corrupt_and_foreign_files_are_data_errors(tmp_path) -> None:
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"not a torch file" * 8)
    with pytest.raises(DataError, match=r"truncated or not a file written by torch\.save"):
        load_trained(bad)
    torch.save({"weights": [1, 2]}, bad)
    with pytest.raises(DataError, match="not a neurotwin checkpoint or best-model file"):
        load_trained(bad)


def test_a_checkpoint_of_an_unknown_experiment_names_its_entries(tmp_path) -> None:
    best = write_run(tmp_path, model={"conv.weight": torch.ones(2, 2)})
    with pytest.raises(DataError, match=r"the model's entries \['conv.weight'\] are those of "
                                        r"no experiment compare knows \(yinyang: "
                                        r"\['hidden.weight', 'output.weight'\]\)"):
        load_trained(best)


def test_an_mnist_latency_checkpoint_is_refused_saying_why(tmp_path) -> None:
    best = write_run(tmp_path, model={"hidden.weight": torch.ones(784, 4),
                                      "readout.weight": torch.ones(4, 10)})
    with pytest.raises(ConfigError, match=r"is a mnist-latency checkpoint; .*leaky integrator"):
        load_trained(best)


def test_best_without_its_checkpoint_and_bad_configurations(tmp_path) -> None:
    best = write_run(tmp_path)
    (tmp_path / "checkpoint.pt").unlink()
    with pytest.raises(DataError, match=r"no checkpoint\.pt beside it"):
        load_trained(best)
    best = write_run(tmp_path / "other", config=yinyang.YinYangConfig(n_hidden=20))
    other = yinyang.YinYangNet(CONFIG, 0).state_dict()  # 30 hidden neurons
    torch.save({"format": 1, "epoch": 1, "model": other}, best)
    with pytest.raises(DataError, match=r"weights of shapes \[\(5, 30\), \(30, 3\)\], the "
                                        r"configuration says \[\(5, 20\), \(20, 3\)\]"):
        load_trained(best)
    nan = {k: v.clone() for k, v in other.items()}
    nan["output.weight"][0, 0] = float("nan")
    best = write_run(tmp_path / "nan", model=nan)
    with pytest.raises(DataError, match="holds NaN or infinity"):
        load_trained(best)
