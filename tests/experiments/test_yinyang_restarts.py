"""``yinyang``'s restarts: restart 0 is the single run, the best on validation is kept,
each restart resumes on its own, bad counts are refused."""

import json
import shutil

import numpy as np
import pytest
import torch

from neurotwin.errors import ConfigError
from neurotwin.experiments import run_experiment
from neurotwin.experiments import yinyang as yy
from neurotwin.train import load_best, load_checkpoint

TINY = {
    "train_size": 64, "validation_size": 16, "test_size": 24, "n_hidden": 30,
    "epochs": 2, "decision_grid": 6, "deploy_chunk": 10, "deploy_samples": 4, "restarts": 1,
}


def _same_weights(a, b):
    assert a.keys() == b.keys()
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=0)


@pytest.fixture(scope="module")
def single_and_two(tmp_path_factory):
    out = tmp_path_factory.mktemp("restarts")
    one = run_experiment("yinyang", {**TINY, "holdout_size": 30}, seed=1, out_dir=out / "k1")
    two = run_experiment("yinyang", {**TINY, "holdout_size": 30, "restarts": 2}, seed=1,
                         out_dir=out / "k2")
    return out, one["metrics"], two["metrics"]


def test_restart_zero_is_the_single_run_bit_for_bit(single_and_two):
    out, one, two = single_and_two
    _same_weights(load_checkpoint(out / "k1").model, load_checkpoint(out / "k2").model)
    _same_weights(load_best(out / "k1")[1], load_best(out / "k2")[1])
    drop = ("train_time_s", "eval_time_s")
    history = [json.loads((out / d / "history.json").read_text()) for d in ("k1", "k2")]
    assert [{k: v for k, v in r.items() if k not in drop} for r in history[0]] == [
        {k: v for k, v in r.items() if k not in drop} for r in history[1]]
    single, first = one["per_seed"]["1"], two["per_seed"]["1"]["restarts"][0]
    for key in ("selected_epoch", "validation_accuracy", "test_accuracy", "holdout_accuracy",
                "last_epoch_test_accuracy", "last_epoch_holdout_accuracy", "train_accuracy"):
        assert first[key] == single[key], key
    assert first["training_seed"] == 1
    # restart 1 is another network: other initial weights, other training
    other = load_checkpoint(out / "k2/restart1").model
    first = load_checkpoint(out / "k1").model
    assert not torch.equal(other["hidden.weight"], first["hidden.weight"])


def test_the_kept_restart_is_the_best_on_validation_and_is_what_is_reported(single_and_two):
    out, _, two = single_and_two
    seed = two["per_seed"]["1"]
    scores = [r["validation_accuracy"] for r in seed["restarts"]]
    assert seed["kept_restart"] == int(np.argmax(scores))
    kept = seed["restarts"][seed["kept_restart"]]
    assert seed["selected_epoch"] == kept["selected_epoch"]
    for key in ("validation_accuracy", "test_accuracy", "holdout_accuracy"):
        assert seed[key] == kept[key] == two[key]["per_seed"][0], key
    folder = out / "k2" / (f"restart{seed['kept_restart']}" if seed["kept_restart"] else "")
    history = json.loads((folder / "history.json").read_text())
    assert history[kept["selected_epoch"] - 1]["test_accuracy"] == kept["test_accuracy"]
    assert len(seed["epoch_time_s"]) == 2 * TINY["epochs"]
    for name in ("raster.png", "decision_map.png"):
        assert (out / "k2" / name).stat().st_size > 0


@pytest.mark.parametrize(("scores", "kept"), [((0.5, 0.7, 0.6), 1), ((0.6, 0.7, 0.7), 1),
                                              ((0.8, 0.8, 0.8), 0), ((0.1, 0.2, 0.9), 2)])
def test_selection_takes_the_highest_validation_and_the_lower_restart_on_ties(
    scores, kept, monkeypatch, tmp_path
):
    # each fake restart is a network whose output weights hold its index, so the deployed
    # network tells which one was kept
    seen: list[int] = []
    real_check = yy.deployment_check

    def fake_network(config, seed, splits, out_dir, progress, name):
        r = len(seen)
        seen.append(seed)
        model = yy.YinYangNet(config, seed)
        with torch.no_grad():
            model.output.weight.fill_(float(r))
        return model, {"validation_accuracy": scores[r], "test_accuracy": 0.1 * r,
                       "last_epoch_test_accuracy": 0.1 * r, "train_accuracy": 0.1 * r,
                       "selected_epoch": r + 1, "epoch_time_s": [1.0]}

    deployed: list[float] = []

    def spy(weights, *args, **kwargs):
        deployed.append(float(weights[1][0, 0].detach()))
        return real_check(weights, *args, **kwargs)

    monkeypatch.setattr(yy, "_train_network", fake_network)
    monkeypatch.setattr(yy, "deployment_check", spy)
    m = run_experiment("yinyang", {**TINY, "restarts": 3}, seed=5, out_dir=tmp_path)["metrics"]
    seed = m["per_seed"]["5"]
    assert seen == [5, yy.restart_seed(5, 1), yy.restart_seed(5, 2)]
    assert seed["kept_restart"] == kept and deployed == [float(kept)]
    assert seed["test_accuracy"] == pytest.approx(0.1 * kept)
    assert seed["selected_epoch"] == kept + 1


def test_restart_seeds_are_their_own_streams():
    assert yy.restart_seed(7, 0) == 7
    derived = {yy.restart_seed(s, r) for s in range(50) for r in range(1, 4)}
    assert len(derived) == 150  # distinct over seeds and restarts
    assert min(derived) >= yy.RESTART_SEED_BASE  # never a run seed below 2^32
    assert yy.restart_seed(7, 1) == yy.restart_seed(7, 1)  # reproducible


def test_an_interrupted_run_resumes_each_restart_and_loses_nothing(monkeypatch, tmp_path):
    config = {**TINY, "restarts": 2, "epochs": 3}
    whole = run_experiment("yinyang", config, seed=2, out_dir=tmp_path / "whole")["metrics"]
    real, calls = yy.ttfs_loss, {"n": 0}

    def interrupted(first, labels, cfg):
        calls["n"] += 1  # 2 batches per epoch: restart 0 takes calls 1-6
        if calls["n"] == 9:  # restart 1, epoch 2
            raise KeyboardInterrupt
        return real(first, labels, cfg)

    monkeypatch.setattr(yy, "ttfs_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("yinyang", config, seed=2, out_dir=tmp_path / "cut")
    monkeypatch.setattr(yy, "ttfs_loss", real)
    assert load_checkpoint(tmp_path / "cut/restart1").epoch == 1
    again = run_experiment("yinyang", {**config, "resume": True}, seed=2,
                           out_dir=tmp_path / "cut")["metrics"]
    restarts = again["per_seed"]["2"]["restarts"]
    assert [r["resumed_from_epoch"] for r in restarts] == [3, 1]
    for r in range(2):
        folder = f"restart{r}" if r else ""
        _same_weights(load_checkpoint(tmp_path / "whole" / folder).model,
                      load_checkpoint(tmp_path / "cut" / folder).model)
    for key in ("test_accuracy", "validation_accuracy"):
        assert again[key] == whole[key]
    assert again["per_seed"]["2"]["kept_restart"] == whole["per_seed"]["2"]["kept_restart"]


@pytest.mark.parametrize(
    ("override", "message"),
    [({"restarts": 0}, "restarts must be"), ({"restarts": -1}, "restarts must be"),
     ({"restarts": 2.0}, "restarts.* must be"), ({"restarts": True}, "restarts.* must be"),
     ({"restarts": 2, "validation_size": 0}, "validation_size must be >= 1")],
)
def test_bad_restart_counts_are_refused(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_experiment("yinyang", {**TINY, **override}, out_dir=tmp_path)


def test_a_finished_single_run_resumed_with_more_restarts_trains_only_the_new(
    single_and_two, tmp_path
):
    out, _, two = single_and_two
    shutil.copytree(out / "k1", tmp_path / "grow")
    grown = run_experiment("yinyang", {**TINY, "holdout_size": 30, "restarts": 2,
                                       "resume": True}, seed=1, out_dir=tmp_path / "grow")
    restarts = grown["metrics"]["per_seed"]["1"]["restarts"]
    assert [r["resumed_from_epoch"] for r in restarts] == [TINY["epochs"], 0]
    _same_weights(load_checkpoint(out / "k2/restart1").model,
                  load_checkpoint(tmp_path / "grow/restart1").model)
    assert grown["metrics"]["test_accuracy"] == two["test_accuracy"]
