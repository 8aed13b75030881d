"""The ``yinyang`` experiment: config checks, a tiny run with its files, exact resume, the
NaN guard, multi-seed summaries, and the deployment check on a hand-built network."""

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.datasets import yinyang_samples, yinyang_splits
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.eventprop import WeightBump, silent_label_pull
from neurotwin.experiments import deployment, run_experiment
from neurotwin.experiments import yinyang as yy
from neurotwin.spikes import SpikeBatch, first_spike_times
from neurotwin.train import load_best, load_checkpoint

TINY = {
    "train_size": 64, "validation_size": 16, "test_size": 24, "n_hidden": 30,
    "epochs": 2, "decision_grid": 6, "deploy_chunk": 10, "restarts": 1,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("yinyang")
    return out, run_experiment("yinyang", TINY, seed=1, out_dir=out)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"n_hidden": 0}, "n_hidden"),
        ({"tau_syn": -1.0}, "tau_syn"),
        ({"t_late": 0.0}, "t_late"),
        ({"lr_decay": 2.0}, "lr_decay"),
        ({"weight_bump": 0.0}, "weight_bump"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"seeds": [1, -2]}, "seed"),
        ({"t_max": 30.005}, "multiple of the time step"),
        ({"resume": "yes"}, "resume"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"bump_follows_lr": 1}, "bump_follows_lr"),
        ({"fresh_samples": 0}, "fresh_samples"),
        ({"holdout_size": -1}, "holdout_size"),
        ({"device": "tpu"}, "not a torch device"),
        ({"device": "cuda:7"}, "CUDA device"),
    ],
)
def test_config_checks(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_experiment("yinyang", {**TINY, **override}, out_dir=tmp_path)


def test_defaults_are_the_paper_setup():
    c = yy.YinYangConfig()
    assert (c.n_hidden, c.tau_mem, c.tau_syn, c.v_thresh, c.t_max) == (200, 20.0, 5.0, 1.0, 30.0)
    assert (c.tau_0, c.tau_1, c.alpha, c.learning_rate, c.batch_size) == (0.5, 6.4, 3e-3, 5e-3, 32)
    assert c.cm == c.tau_mem  # weights in nA are the paper's W
    assert yy.YinYangConfig(seeds=[3, 4]).seeds == (3, 4)


def test_tiny_run_writes_checkpoint_metrics_and_plots(tiny_run):
    out, record = tiny_run
    m = record["metrics"]
    for name in ("metrics.json", "checkpoint.pt", "history.json", "learning_curves.png",
                 "raster.png", "decision_map.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text())["metrics"] == m
    seed = m["per_seed"]["1"]
    assert m["seeds"] == [1] and seed["epochs"] == 2 and len(seed["epoch_time_s"]) == 2
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
        assert 0.0 <= m[key]["mean"] <= 1.0 and m[key]["std"] == 0.0
    assert seed["deployment"]["n_samples"] == 24
    assert m["deployment_agreement"]["mean"] >= 0.9
    history = json.loads((out / "history.json").read_text())
    # reported: the epoch of best validation accuracy (first on ties), and the last epoch
    best = max(range(len(history)), key=lambda k: (history[k]["validation_accuracy"], -k))
    assert seed["selected_epoch"] == best + 1
    assert history[best]["test_accuracy"] == m["test_accuracy"]["mean"]
    assert history[-1]["test_accuracy"] == m["last_epoch_test_accuracy"]["mean"]
    assert (out / "best.pt").stat().st_size > 0


def test_resume_continues_identically(tmp_path):
    # exponential schedule: a finished shorter run may be extended; under the default
    # cosine schedule epochs fix the schedule (the resume of an interrupted run is tested
    # in test_weight_average_is_what_is_reported_and_resumes_exactly)
    config = {**TINY, "lr_schedule": "exponential", "deploy_samples": 2}
    record = run_experiment("yinyang", config, seed=1, out_dir=tmp_path / "a")
    run_experiment("yinyang", {**config, "epochs": 1}, seed=1, out_dir=tmp_path / "b")
    again = run_experiment("yinyang", {**config, "resume": True}, seed=1, out_dir=tmp_path / "b")
    assert again["metrics"]["per_seed"]["1"]["resumed_from_epoch"] == 1
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert a.epoch == b.epoch == 2
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0)
    assert again["metrics"]["test_accuracy"] == record["metrics"]["test_accuracy"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_trains_as_the_cpu_and_resumes_across_devices(tmp_path):
    config = {**TINY, "lr_schedule": "exponential", "deploy_samples": 4}
    cpu = run_experiment("yinyang", config, seed=1, out_dir=tmp_path / "cpu")
    gpu = run_experiment("yinyang", {**config, "device": "cuda"}, seed=1,
                         out_dir=tmp_path / "gpu")
    run_experiment("yinyang", {**config, "epochs": 1, "device": "cuda"}, seed=1,
                   out_dir=tmp_path / "mixed")
    mixed = run_experiment("yinyang", {**config, "resume": True}, seed=1,
                           out_dir=tmp_path / "mixed")  # epoch 2 on the CPU
    assert mixed["metrics"]["per_seed"]["1"]["resumed_from_epoch"] == 1
    reference = json.loads((tmp_path / "cpu" / "history.json").read_text())
    for run in ("gpu", "mixed"):
        history = json.loads((tmp_path / run / "history.json").read_text())
        for a, b in zip(history, reference, strict=True):
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-6), run
            for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
                assert a[key] == b[key], (run, key)
        weights = load_checkpoint(tmp_path / run).model
        for key, value in load_checkpoint(tmp_path / "cpu").model.items():
            torch.testing.assert_close(weights[key], value, rtol=1e-6, atol=1e-9)
    assert gpu["metrics"]["test_accuracy"] == cpu["metrics"]["test_accuracy"]
    deploy, reference_deploy = (r["metrics"]["per_seed"]["1"]["deployment"] for r in (gpu, cpu))
    for key in ("agreement", "n_samples", "ties"):
        assert deploy[key] == reference_deploy[key], key


def test_holdout_scores_the_selected_and_the_last_weights(tmp_path):
    config = {**TINY, "epochs": 3, "holdout_size": 40, "deploy_samples": 2}
    m = run_experiment("yinyang", config, seed=1, out_dir=tmp_path)["metrics"]
    held = yinyang_samples(40, yy.HOLDOUT_SEED)
    assert yy.HOLDOUT_SEED not in (40, 41, 42)
    cfg = yy.YinYangConfig(**config)
    batch = yy.encode(held.inputs, cfg)
    model = yy.YinYangNet(cfg, seed=1)
    selected, state = load_best(tmp_path)
    assert selected == m["per_seed"]["1"]["selected_epoch"]
    model.load_state_dict(state)
    assert m["holdout_accuracy"]["mean"] == yy.accuracy(model, batch, held.labels, cfg)
    model.load_state_dict(load_checkpoint(tmp_path).model)
    last = yy.accuracy(model, batch, held.labels, cfg)
    assert m["last_epoch_holdout_accuracy"]["mean"] == last
    assert "holdout_accuracy" not in run_experiment(
        "yinyang", {**config, "holdout_size": 0, "resume": True}, seed=1, out_dir=tmp_path
    )["metrics"]


def test_cosine_resume_refuses_other_epochs(tiny_run):
    out, _ = tiny_run
    with pytest.raises(ConfigError, match="epochs"):
        run_experiment("yinyang", {**TINY, "epochs": 3, "resume": True}, seed=1, out_dir=out)


def test_resume_refuses_a_different_network(tiny_run):
    out, _ = tiny_run
    with pytest.raises(ConfigError, match="n_hidden"):
        run_experiment("yinyang", {**TINY, "n_hidden": 31, "resume": True}, seed=1,
                       out_dir=out)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(monkeypatch, tmp_path):
    real = yy.ttfs_loss
    calls = {"n": 0}

    def poisoned(first, labels, config):
        calls["n"] += 1
        loss = real(first, labels, config)
        return loss * torch.nan if calls["n"] > 2 else loss  # 2 batches per epoch

    monkeypatch.setattr(yy, "ttfs_loss", poisoned)
    with pytest.raises(ConfigError, match=r"training diverged: the loss is nan at epoch 2"):
        run_experiment("yinyang", {**TINY, "epochs": 3}, seed=1, out_dir=tmp_path)
    kept = load_checkpoint(tmp_path)
    assert kept is not None and kept.epoch == 1
    assert all(torch.isfinite(v).all() for v in kept.model.values())


def test_several_seeds_report_mean_and_std(tmp_path):
    record = run_experiment("yinyang", {**TINY, "epochs": 1, "seeds": [0, 2],
                                        "deploy_samples": 4}, out_dir=tmp_path)
    m = record["metrics"]
    assert m["seeds"] == [0, 2]
    acc = m["test_accuracy"]["per_seed"]
    assert m["test_accuracy"]["mean"] == pytest.approx(np.mean(acc))
    assert m["test_accuracy"]["std"] == pytest.approx(np.std(acc, ddof=1))
    for s in (0, 2):
        assert (tmp_path / f"seed{s}" / "checkpoint.pt").is_file()


def test_deployment_check_agrees_on_hand_built_network():
    # 2 inputs -> 2 hidden (one relay each) -> 2 outputs; the earlier input wins, and an
    # input 0.1 ms before the end cannot make anything fire
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=1.0)
    relay = np.array([[3.0, 0.0], [0.0, 3.0]])
    inf = np.inf
    batch = SpikeBatch(
        times=np.array([[1.0, 5.0], [2.0, 4.5], [3.0, inf], [19.9, inf]]),
        ids=np.array([[0, 1], [1, 0], [1, -1], [0, -1]]),
        n_sources=2,
    )
    check = deployment.deployment_check([relay, relay], p, batch, t_max=20.0, dt=0.01, chunk=3)
    assert check.event_classes.tolist() == [0, 1, 1, -1]  # worked out by hand
    assert check.stepped_classes.tolist() == [0, 1, 1, -1]
    assert check.agreement == 1.0 and check.ties == 0 and check.n_samples == 4
    # two layers: one delay step each plus the grid stamping of each spike
    assert 0.0 < check.shift_ms <= 4 * 0.01 + 1e-9


def test_deployment_check_reports_disagreement_under_coarse_steps():
    # a one-layer network whose two outputs fire 0.02 ms apart: dt = 0.5 ms cannot tell
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=1.0)
    w = np.array([[2.0, 0.0], [0.0, 2.0]])
    batch = SpikeBatch(np.array([[1.02, 1.04]]), np.array([[1, 0]]), n_sources=2)
    fine = deployment.deployment_check([w], p, batch, t_max=20.0, dt=0.001)
    coarse = deployment.deployment_check([w], p, batch, t_max=20.0, dt=0.5)
    assert fine.event_classes.tolist() == [1] and fine.agreement == 1.0
    assert coarse.ties == 1 and coarse.stepped_classes.tolist() == [0]
    assert coarse.agreement == 0.0


@pytest.mark.parametrize("follows", [True, False])
def test_weight_bump_follows_the_learning_rate(follows, monkeypatch, tmp_path):
    deltas = []
    real = yy.WeightBump

    def recording(delta):
        deltas.append(delta)
        return real(delta)

    monkeypatch.setattr(yy, "WeightBump", recording)
    config = {**TINY, "epochs": 3, "lr_schedule": "exponential", "lr_decay": 0.5,
              "bump_follows_lr": follows, "deploy_samples": 2}
    run_experiment("yinyang", config, seed=1, out_dir=tmp_path)
    bump = yy.YinYangConfig().weight_bump
    if follows:  # the initial bump, then one per epoch: bump * lr / learning_rate
        assert deltas == pytest.approx([bump, bump, bump / 2, bump / 4], rel=1e-12)
    else:
        assert deltas == [bump]


def test_weight_average_is_what_is_reported_and_resumes_exactly(monkeypatch, tmp_path):
    config = {**TINY, "ema_decay": 0.8, "select_best": False, "deploy_samples": 2}
    record = run_experiment("yinyang", config, seed=1, out_dir=tmp_path / "a")
    checkpoint = load_checkpoint(tmp_path / "a")
    assert checkpoint.average is not None
    model = yy.YinYangNet(yy.YinYangConfig(**TINY), seed=1)
    assert not torch.equal(checkpoint.average[0], checkpoint.model["hidden.weight"])
    with torch.no_grad():
        for p, a in zip(model.parameters(), checkpoint.average, strict=True):
            p.copy_(a)
    splits = yinyang_splits(train_size=64, validation_size=16, test_size=24)
    test = yy.encode(splits.test.inputs, yy.YinYangConfig(**TINY))
    expected = yy.accuracy(model, test, splits.test.labels, yy.YinYangConfig(**TINY))
    assert record["metrics"]["test_accuracy"]["mean"] == expected

    # interrupt the same run (the cosine schedule is fixed by epochs) in its second epoch
    real, calls = yy.ttfs_loss, {"n": 0}

    def interrupted(first, labels, cfg):
        calls["n"] += 1
        if calls["n"] > 3:  # 2 batches per epoch
            raise KeyboardInterrupt
        return real(first, labels, cfg)

    monkeypatch.setattr(yy, "ttfs_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("yinyang", config, seed=1, out_dir=tmp_path / "b")
    monkeypatch.setattr(yy, "ttfs_loss", real)
    again = run_experiment("yinyang", {**config, "resume": True}, seed=1, out_dir=tmp_path / "b")
    assert again["metrics"]["per_seed"]["1"]["resumed_from_epoch"] == 1
    resumed = load_checkpoint(tmp_path / "b")
    for a, b in zip(checkpoint.average, resumed.average, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_fresh_samples_draw_a_new_training_set_every_epoch_and_resume_exactly(
    monkeypatch, tmp_path
):
    """GeNN's protocol: epoch e of seed s trains on yinyang_samples(n, FRESH_SEED + 1000 s +
    e); validation and test stay the published ones; an interrupted run resumes with the
    same draws and ends with the same weights."""
    drawn = []
    real = yy.yinyang_samples

    def recording(size, seed, **kwargs):
        drawn.append((size, seed))
        return real(size, seed, **kwargs)

    monkeypatch.setattr(yy, "yinyang_samples", recording)
    config = {**TINY, "epochs": 3, "fresh_samples": 48, "deploy_samples": 2}
    record = run_experiment("yinyang", config, seed=2, out_dir=tmp_path / "a")
    base = yy.FRESH_SEED + 2000
    assert drawn == [(48, base), (48, base + 1), (48, base + 2)]
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    assert len(history) == 3
    # a different protocol is a different run: the published split trains otherwise
    published = run_experiment("yinyang", {**config, "fresh_samples": None}, seed=2,
                               out_dir=tmp_path / "p")
    a, p = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "p")
    assert not torch.equal(a.model["hidden.weight"], p.model["hidden.weight"])
    assert published["metrics"]["per_seed"]["2"]["epochs"] == 3

    drawn.clear()
    real_loss, calls = yy.ttfs_loss, {"n": 0}

    def interrupted(first, labels, cfg):
        calls["n"] += 1
        if calls["n"] > 3:  # 2 batches per epoch: stop in the second epoch
            raise KeyboardInterrupt
        return real_loss(first, labels, cfg)

    monkeypatch.setattr(yy, "ttfs_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("yinyang", config, seed=2, out_dir=tmp_path / "b")
    monkeypatch.setattr(yy, "ttfs_loss", real_loss)
    drawn.clear()
    again = run_experiment("yinyang", {**config, "resume": True}, seed=2, out_dir=tmp_path / "b")
    assert again["metrics"]["per_seed"]["2"]["resumed_from_epoch"] == 1
    assert drawn[-2:] == [(48, base + 1), (48, base + 2)]
    b = load_checkpoint(tmp_path / "b")
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0)
    assert again["metrics"]["test_accuracy"] == record["metrics"]["test_accuracy"]


RECIPE = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_training_recipe_is_the_experiment(tmp_path, monkeypatch):
    """docs/training.md, run as written, builds the experiment's network with its defaults
    (same parameters, initial weights, neuron, schedule) and trains exactly as
    ``neurotwin run yinyang`` with the same sizes: the same history and weights, bitwise."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    recipe: dict[str, Any] = {"__name__": "__recipe__"}
    try:
        for code in re.findall(r"^```python\n(.*?)^```", RECIPE.read_text(), re.M | re.S):
            exec(compile(code, str(RECIPE), "exec"), recipe)
    finally:
        torch.set_num_threads(threads)
    c = yy.YinYangConfig()
    for seed in (0, 3):
        mine, theirs = recipe["build_model"](seed), yy.YinYangNet(c, seed)
        assert list(mine.state_dict()) == list(theirs.state_dict())
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values(),
                                strict=True):
            assert torch.equal(a, b), name
        for layer in ("hidden", "output"):
            a, b = mine[layer], getattr(theirs, layer)
            assert (a.params, a.t_max, a.max_spikes, a.xtol, a.min_slope, a.delay) == (
                b.params, b.t_max, b.max_spikes, b.xtol, b.min_slope, b.delay)
    assert recipe["p"] == c.neuron() and recipe["T_MAX"] == c.t_max
    loop = recipe["loop"]
    assert (loop.batch_size, loop.learning_rate, loop.lr_schedule, loop.ema_decay) == (
        c.batch_size, c.learning_rate, c.lr_schedule, c.ema_decay)
    assert c.lr_schedule == "cosine"  # lr_decay, which the recipe leaves out, is then unused
    # the recipe's sizes, through the experiment
    sizes = {"train_size": recipe["TRAIN_SIZE"], "validation_size": recipe["EVAL_SIZE"],
             "test_size": recipe["EVAL_SIZE"], "epochs": recipe["EPOCHS"]}
    out = tmp_path / "experiment"
    metrics = run_experiment("yinyang", {**sizes, "decision_grid": 2, "deploy_samples": 2,
                                         "restarts": 1},
                             seed=recipe["SEED"], out_dir=out)["metrics"]
    ours = json.loads((tmp_path / recipe["OUT"] / "history.json").read_text())
    theirs_h = json.loads((out / "history.json").read_text())
    timing = {"train_time_s", "eval_time_s"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in ours] == [
        {k: v for k, v in r.items() if k not in timing} for r in theirs_h]
    a, b = load_checkpoint(tmp_path / recipe["OUT"]), load_checkpoint(out)
    for key, value in a.model.items():
        assert torch.equal(b.model[key], value), key
    assert load_best(tmp_path / recipe["OUT"])[0] == metrics["per_seed"]["0"]["selected_epoch"]
    # what the tiny run does not reach (no neuron falls silent there): the V_max pull and
    # the size of the bump
    model = recipe["model"]
    with torch.no_grad():
        model["output"].weight.mul_(0.2)
    hidden = model["hidden"](recipe["train"].take(range(16)).to_torch())
    first = first_spike_times(model["output"](hidden), 3)
    labels = recipe["train_labels"][:16]
    pull = silent_label_pull(hidden, model["output"].weight, c.neuron(), c.t_max, first, labels)
    assert pull > 0
    assert torch.equal(recipe["loss_of"](hidden, first, labels),
                       yy.ttfs_loss(first, labels, c) + c.silent_pull * pull)
    for lr in (c.learning_rate, 1e-3):
        recipe["on_epoch"](0, lr)
        assert recipe["bump"] == WeightBump(c.weight_bump * lr / c.learning_rate)


def test_gain_jitter_scales_each_row_and_column_by_its_own_factor():
    config = yy.YinYangConfig(n_hidden=8)
    model = yy.YinYangNet(config, 2)
    splits = yinyang_splits(train_size=1, validation_size=1, test_size=12)
    spikes = yy.encode(splits.test.inputs, config).to_torch("cpu")
    spread = 0.3
    hidden, out, w_out = yy.jittered_forward(model, spikes, spread,
                                             torch.Generator().manual_seed(5))
    # the same draws written out plainly: hidden rows, hidden columns, output rows, columns
    g = torch.Generator().manual_seed(5)
    scaled = []
    for w in (model.hidden.weight.detach(), model.output.weight.detach()):
        rows = torch.randn(w.shape[0], 1, generator=g, dtype=w.dtype)
        cols = torch.randn(1, w.shape[1], generator=g, dtype=w.dtype)
        scaled.append(w * np.exp(spread * rows.numpy()) * np.exp(spread * cols.numpy()))
    batch = yy.encode(splits.test.inputs, config)
    plain = deployment.forward_layers(scaled, config.neuron(), batch, config.t_max, 1e-10)
    np.testing.assert_allclose(w_out.detach().numpy(), scaled[1].numpy(), rtol=1e-12)
    for mine, reference in zip((hidden, out), plain, strict=True):
        np.testing.assert_allclose(first_spike_times(mine, 8).detach().numpy(),
                                   first_spike_times(reference, 8).numpy(), rtol=0, atol=1e-9)
    jittered = first_spike_times(hidden, 8).detach()
    unjittered = first_spike_times(model(spikes)[0], 8).detach()
    fired = torch.isfinite(jittered) & torch.isfinite(unjittered)
    assert fired.sum() > 10 and (jittered[fired] - unjittered[fired]).abs().max() > 1e-3
    # the gradient reaches the unscaled weights through the factors
    times = first_spike_times(hidden, 8)
    times[torch.isfinite(times)].sum().backward()
    assert model.hidden.weight.grad is not None and model.hidden.weight.grad.abs().sum() > 0


def test_gain_jitter_zero_trains_as_before_and_negative_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="gain_jitter"):
        yy.YinYangConfig(gain_jitter=-0.1)
    plain = run_experiment("yinyang", {**TINY, "epochs": 1}, seed=3, out_dir=tmp_path / "a")
    zero = run_experiment("yinyang", {**TINY, "epochs": 1, "gain_jitter": 0.0}, seed=3,
                          out_dir=tmp_path / "b")
    run_experiment("yinyang", {**TINY, "epochs": 1, "gain_jitter": 0.2}, seed=3,
                   out_dir=tmp_path / "c")
    key = "last_epoch_test_accuracy"
    assert zero["metrics"][key] == plain["metrics"][key]
    a = load_checkpoint(tmp_path / "a").model["hidden.weight"]
    assert torch.equal(a, load_checkpoint(tmp_path / "b").model["hidden.weight"])
    assert not torch.equal(a, load_checkpoint(tmp_path / "c").model["hidden.weight"])
