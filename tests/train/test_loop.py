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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"lr_decay": 1.5}, "lr_decay"),
        ({"seed": True}, "seed"),
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
