"""The training loop: checkpoints, exact resume, NaN guard, configuration checks."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.errors import ConfigError, DataError
from neurotwin.train import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    LoopConfig,
    fit,
    learning_curves,
    load_checkpoint,
    mean_std,
    progress_part,
)

N = 40
X = torch.as_tensor(np.random.default_rng(0).normal(size=(N, 3)))
Y = (X[:, 0] > 0).long()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2).double()


def _train(model, out, epochs, *, resume=False, poison_epoch=None, seen=None):
    calls = {"n": 0}

    def batch_step(indices):
        calls["n"] += 1
        if seen is not None:
            seen.append(indices.copy())
        logits = model(X[indices])
        loss = nn.functional.cross_entropy(logits, Y[indices])
        if poison_epoch is not None and calls["n"] > poison_epoch * 4:
            loss = loss * torch.nan
        return loss, int((logits.argmax(1) == Y[indices]).sum())

    def evaluate():
        with torch.no_grad():
            return {"test_accuracy": float((model(X).argmax(1) == Y).double().mean())}

    config = LoopConfig(epochs=epochs, batch_size=10, learning_rate=0.05, lr_decay=0.9, seed=3)
    return fit(model, N, batch_step, evaluate, config, out, resume=resume,
               fingerprint={"model": "linear"})


def test_writes_checkpoint_and_history(tmp_path):
    result = _train(_model(), tmp_path, 2)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    assert not list(tmp_path.glob("*.tmp"))
    on_disk = json.loads((tmp_path / HISTORY_NAME).read_text())
    assert on_disk == result.history
    record = result.history[1]
    assert record["learning_rate"] == pytest.approx(0.05 * 0.9)
    assert 0.0 <= record["train_accuracy"] <= 1.0
    assert record["train_time_s"] > 0 and record["eval_time_s"] >= 0
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint is not None and checkpoint.epoch == 2


def test_resume_continues_identically(tmp_path):
    straight = _model()
    _train(straight, tmp_path / "a", 3)
    part = _model()
    _train(part, tmp_path / "b", 1)
    resumed = _model()  # fresh weights: everything must come from the checkpoint
    result = _train(resumed, tmp_path / "b", 3, resume=True)
    assert result.resumed_from == 1
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    full = json.loads((tmp_path / "a" / HISTORY_NAME).read_text())
    again = json.loads((tmp_path / "b" / HISTORY_NAME).read_text())
    for x, y in zip(full, again, strict=True):
        assert x["loss"] == y["loss"] and x["test_accuracy"] == y["test_accuracy"]


def test_resume_without_checkpoint_starts_fresh_and_done_run_trains_nothing(tmp_path):
    assert _train(_model(), tmp_path, 1, resume=True).resumed_from == 0
    seen = []
    result = _train(_model(), tmp_path, 1, resume=True, seen=seen)
    assert result.resumed_from == 1 and not seen


def test_resume_refuses_other_configuration_and_fewer_epochs(tmp_path):
    _train(_model(), tmp_path, 2)
    model = _model()
    config = LoopConfig(epochs=3, batch_size=10, learning_rate=0.01, lr_decay=0.9, seed=3)
    with pytest.raises(ConfigError, match="learning_rate"):
        fit(model, N, lambda i: (model(X[i]).sum(), 0), dict, config, tmp_path, resume=True,
            fingerprint={"model": "linear"})
    with pytest.raises(ConfigError, match="holds 2 epochs"):
        _train(_model(), tmp_path, 1, resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    _train(_model(), tmp_path / "ref", 1)
    good = load_checkpoint(tmp_path / "ref")
    with pytest.raises(ConfigError, match=r"diverged: the loss is nan at epoch 2, batch 1.*"
                       r"checkpoint .* \(epoch 1\) is kept"):
        _train(_model(), tmp_path / "run", 3, poison_epoch=1)
    kept = load_checkpoint(tmp_path / "run")
    assert kept is not None and kept.epoch == 1
    for key, value in good.model.items():
        torch.testing.assert_close(kept.model[key], value, rtol=0, atol=0)


def test_nan_in_first_epoch_says_no_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint had been written yet"):
        _train(_model(), tmp_path, 2, poison_epoch=0)
    assert not (tmp_path / CHECKPOINT_NAME).exists()


def test_damaged_checkpoint_is_a_data_error(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint_says_truncated(tmp_path):
    _train(_model(), tmp_path, 1)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"truncated or not a file written by torch.save") as err:
        load_checkpoint(tmp_path)
    assert "Errno" not in str(err.value)


class _Payload:
    """An object that ``weights_only`` loading must refuse."""


def test_checkpoint_with_python_objects_is_refused_without_torch_hints(tmp_path):
    torch.save({"format": 1, "epoch": _Payload()}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(DataError, match="refused to read the checkpoint") as err:
        load_checkpoint(tmp_path)
    assert "weights_only" not in str(err.value)


def _tamper(tmp_path, **changes):
    path = tmp_path / CHECKPOINT_NAME
    data = torch.load(path, weights_only=True)
    data.update(changes)
    torch.save(data, path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"epoch": "1"}, "'epoch' has the wrong type"),
        ({"epoch": -1}, "epoch must be >= 0"),
        ({"history": {"a": 1}}, "'history' has the wrong type"),
        ({"history": [1, 2]}, "list of per-epoch dicts"),
        ({"model": {"weight": torch.full((2, 3), torch.nan), "bias": torch.zeros(2)}},
         "'weight' holds NaN"),
        ({"model": {"weight": [1.0]}}, "'weight' is not a tensor"),
        ({"extra": 1}, "unexpected \\['extra'\\]"),
    ],
)
def test_loadable_but_tampered_checkpoint_is_a_data_error(tmp_path, changes, match):
    _train(_model(), tmp_path, 1)
    _tamper(tmp_path, **changes)
    with pytest.raises(DataError, match=match):
        load_checkpoint(tmp_path)


def test_resume_from_a_checkpoint_of_another_shape_is_a_data_error(tmp_path):
    _train(_model(), tmp_path, 1)
    _tamper(tmp_path, model={"weight": torch.zeros(5, 3, dtype=torch.float64),
                             "bias": torch.zeros(5, dtype=torch.float64)})
    with pytest.raises(DataError, match="does not fit this model and optimiser"):
        _train(_model(), tmp_path, 2, resume=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"lr_decay": 1.5}, "lr_decay"),
        ({"seed": True}, "seed"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_decay": 0.0}, "ema_decay"),
    ],
)
def test_loop_config_checks(kwargs, message):
    base = {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3}
    with pytest.raises(ConfigError, match=message):
        LoopConfig(**{**base, **kwargs})


def test_progress_reaches_total(tmp_path):
    calls = []

    def batch_step(indices):
        return model(X[indices]).sum() * 0.0, 0

    model = _model()
    config = LoopConfig(epochs=2, batch_size=15, learning_rate=1e-3)
    fit(model, N, batch_step, dict, config, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)
    part = []
    report = progress_part(lambda d, t: part.append((d, t)), 1, 3)
    report(2, 6)
    assert part == [(8, 18)]


def test_mean_std_and_learning_curves(tmp_path):
    summary = mean_std([0.9, 1.0])
    assert summary["mean"] == pytest.approx(0.95)
    assert summary["std"] == pytest.approx(np.std([0.9, 1.0], ddof=1))
    assert mean_std([0.5])["std"] == 0.0
    unmeasured = mean_std([0.9, float("nan"), 1.0])  # statistics.stdev raised on NaN
    assert np.isnan(unmeasured["mean"]) and np.isnan(unmeasured["std"])
    assert unmeasured["per_seed"][0] == 0.9
    history = [{"epoch": 1, "loss": 1.0, "train_accuracy": 0.5},
               {"epoch": 2, "loss": 0.5, "train_accuracy": 0.7, "test_accuracy": 0.6}]
    fig = learning_curves(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert len(fig.axes[1].lines) == 2


def test_select_keeps_the_weights_of_the_best_epoch(tmp_path):
    """The metric is a scripted sequence, so the best epoch is known without the model."""
    from neurotwin.train import load_best

    model = _model()
    scores = iter([0.5, 0.8, 0.7, 0.8, 0.6])
    snapshots = []

    def batch_step(indices):
        logits = model(X[indices])
        return nn.functional.cross_entropy(logits, Y[indices]), 0

    def evaluate():
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"validation_accuracy": next(scores)}

    config = LoopConfig(epochs=5, batch_size=10, learning_rate=0.05, seed=1)
    result = fit(model, N, batch_step, evaluate, config, tmp_path, select="validation_accuracy")
    assert result.best_epoch == 2  # the first of the two 0.8 epochs
    epoch, state = load_best(tmp_path)
    assert epoch == 2
    for key, value in state.items():
        assert torch.equal(value, snapshots[1][key])
        assert not torch.equal(value, snapshots[-1][key])


def test_select_names_a_missing_metric(tmp_path):
    from neurotwin.train import load_best

    with pytest.raises(DataError, match="no selected model"):
        load_best(tmp_path)
    model = _model()

    def batch_step(indices):
        return nn.functional.cross_entropy(model(X[indices]), Y[indices]), 0

    config = LoopConfig(epochs=1, batch_size=10, learning_rate=0.05)
    with pytest.raises(ConfigError, match="select = 'val' is not a metric"):
        fit(model, N, batch_step, lambda: {"test_accuracy": 1.0}, config, tmp_path,
            select="val")


def _scripted_fit(out, epochs, *, ema_decay, resume=False, evaluated=None):
    """A fit whose parameters are set to the step number after every step (after_step), so
    the moving average has a closed form; the model starts at 0."""
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    step = {"n": 0}

    def batch_step(indices):
        return model.weight.sum() * 0.0, 0

    def after_step():
        step["n"] += 1
        with torch.no_grad():
            model.weight.fill_(float(step["n"]))
        return {}

    def evaluate():
        if evaluated is not None:
            evaluated.append(model.weight.item())
        return {"validation_accuracy": 0.0}

    config = LoopConfig(epochs=epochs, batch_size=10, learning_rate=0.1, ema_decay=ema_decay)
    if resume:  # the scripted values continue from the checkpoint's step count
        step["n"] = len(json.loads((out / HISTORY_NAME).read_text())) * N // 10
    fit(model, N, batch_step, evaluate, config, out, resume=resume, after_step=after_step,
        select="validation_accuracy")
    return model


def _ema_of_steps(n, d):
    """d^n a_0 + (1 - d) sum_k d^(n - k) k for parameters 1, 2, ..., n after steps, a_0 = 0."""
    return (1 - d) * sum(d ** (n - k) * k for k in range(1, n + 1))


def test_ema_is_the_analytic_moving_average_and_is_what_evaluate_sees(tmp_path):
    d, seen = 0.7, []
    model = _scripted_fit(tmp_path, 2, ema_decay=d, evaluated=seen)
    steps_per_epoch = N // 10
    expected = [_ema_of_steps(steps_per_epoch * (e + 1), d) for e in range(2)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert model.weight.item() == pytest.approx(expected[-1], rel=1e-12)  # the average
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint is not None and checkpoint.average is not None
    assert float(checkpoint.model["weight"]) == 2 * steps_per_epoch  # raw weights go on
    assert float(checkpoint.average[0]) == pytest.approx(expected[-1], rel=1e-12)
    from neurotwin.train import load_best

    _, best = load_best(tmp_path)  # selection saw (and kept) the averaged weights
    assert float(best["weight"]) == pytest.approx(expected[0], rel=1e-12)


def test_without_ema_evaluate_sees_the_raw_weights(tmp_path):
    seen = []
    _scripted_fit(tmp_path, 2, ema_decay=None, evaluated=seen)
    assert seen == [N // 10, 2 * N // 10]
    assert load_checkpoint(tmp_path).average is None


def test_resume_restores_the_average_exactly(tmp_path):
    straight = _scripted_fit(tmp_path / "a", 3, ema_decay=0.9)
    _scripted_fit(tmp_path / "b", 1, ema_decay=0.9)
    resumed = _scripted_fit(tmp_path / "b", 3, ema_decay=0.9, resume=True)
    assert torch.equal(straight.weight, resumed.weight)
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert torch.equal(a.average[0], b.average[0])
    with pytest.raises(ConfigError, match="ema_decay"):
        _scripted_fit(tmp_path / "b", 3, ema_decay=0.8, resume=True)


def test_ema_resume_is_exact_with_real_gradients(tmp_path):
    def run(out, epochs, resume=False):
        model = _model()

        def batch_step(indices):
            return nn.functional.cross_entropy(model(X[indices]), Y[indices]), 0

        config = LoopConfig(epochs=epochs, batch_size=10, learning_rate=0.05, ema_decay=0.9)
        fit(model, N, batch_step, dict, config, out, resume=resume)
        return model

    straight = run(tmp_path / "a", 3)
    run(tmp_path / "b", 1)
    resumed = run(tmp_path / "b", 3, resume=True)
    for x, y in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    raw = load_checkpoint(tmp_path / "a").model
    assert not torch.equal(raw["weight"], straight.weight.detach())  # average != raw


def test_on_epoch_gets_each_trained_epoch_and_its_learning_rate(tmp_path):
    def run(epochs, resume):
        model, calls = _model(), []

        def batch_step(indices):
            return nn.functional.cross_entropy(model(X[indices]), Y[indices]), 0

        config = LoopConfig(epochs=epochs, batch_size=10, learning_rate=0.05, lr_decay=0.5)
        fit(model, N, batch_step, dict, config, tmp_path, resume=resume,
            on_epoch=lambda epoch, lr: calls.append((epoch, lr)))
        return calls

    assert run(2, False) == [(0, 0.05), (1, pytest.approx(0.025))]
    assert run(3, True) == [(2, pytest.approx(0.0125))]  # only the epoch trained after resume


def _cosine_fit(out, epochs, resume=False):
    model = _model()

    def batch_step(indices):
        return nn.functional.cross_entropy(model(X[indices]), Y[indices]), 0

    config = LoopConfig(epochs=epochs, batch_size=10, learning_rate=0.05, lr_schedule="cosine")
    return model, fit(model, N, batch_step, dict, config, out, resume=resume)


def test_cosine_schedule_follows_the_formula_and_fixes_the_epochs(tmp_path):
    _, result = _cosine_fit(tmp_path, 4)
    expected = [0.05 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    assert [r["learning_rate"] for r in result.history] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ConfigError, match="epochs"):  # 6 epochs is another schedule
        _cosine_fit(tmp_path, 6, resume=True)


def test_cosine_resume_after_an_interruption_is_exact(tmp_path, monkeypatch):
    straight, _ = _cosine_fit(tmp_path / "a", 3)
    calls = {"n": 0}
    real = torch.optim.Adam.step

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 4:  # 4 batches per epoch: stop in the second epoch
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _cosine_fit(tmp_path / "b", 3)
    monkeypatch.setattr(torch.optim.Adam, "step", real)
    resumed, result = _cosine_fit(tmp_path / "b", 3, resume=True)
    assert result.resumed_from == 1
    for x, y in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
