"""A small training loop: epochs of shuffled mini-batches, Adam with an exponential
learning-rate decay per epoch, a checkpoint after every epoch, exact resume, NaN guard.

The loop knows nothing about spikes. An experiment supplies

* ``batch_step(indices) -> (loss, n_correct)``: the loss of the training samples at
  ``indices`` (a differentiable scalar tensor) and how many of them the model classified
  correctly before the update (for the running training accuracy);
* ``evaluate() -> dict``: metrics after each epoch (validation and test accuracy ...);
* optionally ``after_step() -> dict``: work after each optimiser step (weight bumping),
  returning counts that are summed over the epoch.

Resuming is exact: with the same configuration a run of 2 epochs and a run of 1 epoch
resumed for a second give identical weights, because the checkpoint holds the model,
Adam's moments, the schedule and the state of the shuffling generator
(numpy PCG64 seeded with ``seed``).

*Model selection* (``select="validation_accuracy"``): after each epoch, if the named metric
of ``evaluate`` beats every earlier epoch's, the model's weights are saved to ``best.pt``;
:attr:`FitResult.best_epoch` names that epoch and
:func:`~neurotwin.train.checkpoint.load_best` reads it back. Resume keeps it.

If the loss, a gradient or a parameter becomes NaN or infinite, the loop stops with a
:class:`~neurotwin.errors.ConfigError` naming the epoch and batch; the checkpoint of the
last completed epoch is left as it was.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotwin.errors import ConfigError, check_positive
from neurotwin.train.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    load_checkpoint,
    save_best,
    save_checkpoint,
)

__all__ = ["BatchStep", "FitResult", "LoopConfig", "fit"]

BatchStep = Callable[[np.ndarray], tuple[torch.Tensor, int]]
"""``batch_step(indices) -> (loss, n_correct)`` for the training samples at ``indices``."""


def _check_count(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class LoopConfig:
    """How to train.

    Parameters
    ----------
    epochs
        Number of passes over the training set (>= 0).
    batch_size
        Samples per optimiser step (>= 1); the last batch of an epoch may be smaller.
    learning_rate
        Adam's step size at epoch 0 (> 0), in units of the parameters.
    lr_decay
        Factor applied to the learning rate after every epoch, in (0, 1].
    seed
        Seed of the shuffling generator (>= 0).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    lr_decay: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_count("epochs", self.epochs, low=0)
        _check_count("batch_size", self.batch_size)
        _check_count("seed", self.seed, low=0)
        check_positive("learning_rate", self.learning_rate)
        check_positive("lr_decay", self.lr_decay)
        if self.lr_decay > 1.0:
            raise ConfigError(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}")


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` did.

    Parameters
    ----------
    history
        One dict of metrics per completed epoch (all epochs, also those of a resumed run):
        ``epoch`` (1-based), ``loss`` (mean training loss), ``train_accuracy`` (running,
        before each update), ``learning_rate``, ``train_time_s``, ``eval_time_s``, the
        sums of ``after_step``'s counts and ``evaluate``'s metrics.
    resumed_from
        Completed epochs found in the checkpoint (0 for a fresh run).
    checkpoint
        Path of the checkpoint file.
    best_epoch
        With ``select``: the epoch (1-based) whose weights are in ``best.pt``, the first
        with the largest value of the metric; None without selection or epochs.
    """

    history: list[dict[str, Any]]
    resumed_from: int
    checkpoint: Path
    best_epoch: int | None = None


def _normalised(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as it reads back from JSON (tuples become lists), for comparisons."""
    return dict(json.loads(json.dumps(data)))


def _check_fingerprint(path: Path, stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differ:
        detail = ", ".join(
            f"{k}: checkpoint {stored.get(k)!r}, now {wanted.get(k)!r}" for k in differ
        )
        raise ConfigError(
            f"cannot resume from {path}: it was trained with another configuration "
            f"({detail}); use another output folder or resume=false"
        )


def _all_finite(tensors: Any) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if t is not None)


def fit(
    model: nn.Module,
    n_train: int,
    batch_step: BatchStep,
    evaluate: Callable[[], Mapping[str, Any]],
    config: LoopConfig,
    out_dir: Path,
    *,
    resume: bool = False,
    after_step: Callable[[], Mapping[str, float]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    fingerprint: Mapping[str, Any] | None = None,
    select: str | None = None,
) -> FitResult:
    """Train ``model`` with Adam; checkpoint into ``out_dir`` after every epoch.

    Parameters
    ----------
    model
        Its parameters are optimised; its ``state_dict`` is checkpointed.
    n_train
        Number of training samples; ``batch_step`` gets indices in [0, n_train).
    batch_step, evaluate, after_step
        See the module docstring.
    config
        Epochs, batch size, learning rate and its decay, shuffling seed.
    out_dir
        Folder of ``checkpoint.pt`` and ``history.json`` (created if missing).
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (a fresh start otherwise).
    progress
        Called as ``progress(done_batches, total_batches)`` over all epochs.
    fingerprint
        JSON-able description of everything else that defines the run (model, data ...);
        stored in the checkpoint and compared on resume, together with the batch size,
        learning rate, decay and seed (not ``epochs``: a resumed run may train longer).
    select
        Name of a metric of ``evaluate`` to maximise: the weights of the best epoch are
        kept in ``out_dir/best.pt`` (module docstring); None: no selection.

    Returns
    -------
    FitResult

    Raises
    ------
    ConfigError
        On a non-finite loss, gradient or parameter (the last good checkpoint is kept), or
        when resuming from a checkpoint made with another configuration or already past
        ``config.epochs``, or when ``evaluate`` does not return the ``select`` metric.
    """
    _check_count("n_train", n_train)
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT_NAME
    loop = {k: v for k, v in asdict(config).items() if k != "epochs"}
    wanted = _normalised({"loop": loop, **(fingerprint or {})})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, Any]] = []
    start = 0
    found = load_checkpoint(out_dir) if resume else None
    if found is not None:
        _check_fingerprint(path, found.fingerprint, wanted)
        if found.epoch > config.epochs:
            raise ConfigError(
                f"cannot resume from {path}: it holds {found.epoch} epochs, more than "
                f"epochs = {config.epochs}"
            )
        model.load_state_dict(found.model)
        optimizer.load_state_dict(found.optimizer)
        scheduler.load_state_dict(found.scheduler)
        rng.bit_generator.state = found.rng
        history, start = list(found.history), found.epoch

    n_batches = math.ceil(n_train / config.batch_size)
    total = config.epochs * n_batches
    if progress is not None:
        progress(start * n_batches, total)

    def diverged(what: str, epoch: int, batch: int) -> ConfigError:
        kept = (
            f"the last good checkpoint {path} (epoch {len(history)}) is kept"
            if path.is_file() and history
            else "no checkpoint had been written yet"
        )
        return ConfigError(
            f"training diverged: {what} at epoch {epoch + 1}, batch {batch + 1} of "
            f"{n_batches} (learning_rate {scheduler.get_last_lr()[0]:.3g}); {kept}; "
            f"lower learning_rate or check the initial weights"
        )

    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        order = rng.permutation(n_train)
        lr = float(scheduler.get_last_lr()[0])
        loss_sum, correct, counts = 0.0, 0, dict[str, float]()
        for batch in range(n_batches):
            indices = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss, n_correct = batch_step(indices)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise diverged(f"the loss is {value}", epoch, batch)
            loss.backward()
            if not _all_finite(p.grad for p in params):
                raise diverged("a gradient is not finite", epoch, batch)
            optimizer.step()
            if not _all_finite(params):
                raise diverged("a parameter is not finite after the update", epoch, batch)
            for key, count in (after_step() if after_step is not None else {}).items():
                counts[key] = counts.get(key, 0.0) + count
            loss_sum += value * len(indices)
            correct += int(n_correct)
            if progress is not None:
                progress(epoch * n_batches + batch + 1, total)
        scheduler.step()
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": loss_sum / n_train,
            "train_accuracy": correct / n_train,
            "learning_rate": lr,
            "train_time_s": time.perf_counter() - began,
            **counts,
        }
        began = time.perf_counter()
        record.update(evaluate())
        record["eval_time_s"] = time.perf_counter() - began
        if select is not None:
            if select not in record:
                raise ConfigError(
                    f"select = {select!r} is not a metric of evaluate(); it returns "
                    f"{sorted(k for k in record if k not in ('epoch',))}"
                )
            if _best_epoch(history, select) is None or float(record[select]) > max(
                float(r[select]) for r in history
            ):
                save_best(out_dir, epoch + 1, model.state_dict())
        history.append(record)
        save_checkpoint(
            out_dir,
            Checkpoint(
                epoch=epoch + 1,
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                rng=dict(rng.bit_generator.state),
                history=history,
                fingerprint=wanted,
            ),
        )
    best = None if select is None else _best_epoch(history, select)
    return FitResult(history=history, resumed_from=start, checkpoint=path, best_epoch=best)


def _best_epoch(history: list[dict[str, Any]], metric: str) -> int | None:
    """The first epoch (1-based) with the largest ``metric``; None for an empty history."""
    if not history:
        return None
    values = [float(r[metric]) for r in history]
    return int(np.argmax(values)) + 1
