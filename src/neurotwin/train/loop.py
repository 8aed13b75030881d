"""A small training loop: epochs of shuffled mini-batches, Adam with an exponential or
cosine learning-rate schedule over the epochs, optional weight averaging, a checkpoint
after every epoch, exact resume, NaN guard.

The loop knows nothing about spikes. An experiment supplies

* ``batch_step(indices) -> (loss, n_correct)``: the loss of the training samples at
  ``indices`` (a differentiable scalar tensor) and how many of them the model classified
  correctly before the update (for the running training accuracy);
* ``evaluate() -> dict``: metrics after each epoch (validation and test accuracy ...);
* optionally ``after_step() -> dict``: work after each optimiser step (weight bumping),
  returning counts that are summed over the epoch;
* optionally ``on_epoch(epoch, learning_rate)``: called before each trained epoch (0-based,
  also after a resume) with its learning rate, for work that follows the schedule.

*Weight averaging* (``LoopConfig.ema_decay = d``): after every optimiser step (and
``after_step``) an exponential moving average of the trainable parameters is updated,
``a <- d a + (1 - d) p``, starting from the initial parameters (Polyak averaging; it
smooths the step-to-step noise of the last epochs, about ``1 / (1 - d)`` steps long).
``evaluate`` and model selection see the averaged parameters, training continues from the
raw ones, and after :func:`fit` the model holds the average.

Resuming is exact: with the same configuration a run of 2 epochs and a run of 1 epoch
resumed for a second give identical weights, because the checkpoint holds the model,
the average, Adam's moments, the schedule and the state of the shuffling generator
(numpy PCG64 seeded with ``seed``).

*Model selection* (``select="validation_accuracy"``): after each epoch, if the named metric
of ``evaluate`` beats every earlier epoch's, the evaluated weights are saved to ``best.pt``;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from neurotwin.errors import ConfigError, DataError, check_int, check_positive
from neurotwin.train.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    load_checkpoint,
    save_best,
    save_checkpoint,
)

__all__ = ["SCHEDULES", "BatchStep", "FitResult", "LoopConfig", "fit"]

SCHEDULES = ("exponential", "cosine")
"""Learning-rate schedules of :class:`LoopConfig`."""

BatchStep = Callable[[np.ndarray], tuple[torch.Tensor, int]]
"""``batch_step(indices) -> (loss, n_correct)`` for the training samples at ``indices``."""


def _check_count(name: str, value: Any, low: int = 1) -> None:
    check_int(name, value, low=low)


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
        Factor applied to the learning rate after every epoch, in (0, 1] (exponential
        schedule only).
    lr_schedule
        ``"exponential"``: ``learning_rate lr_decay^e`` in epoch e (0-based);
        ``"cosine"``: ``learning_rate (1 + cos(pi e / epochs)) / 2``, annealed to near zero
        over ``epochs`` (SGDR without restarts, Loshchilov & Hutter 2017), so a run resumes
        only with the same ``epochs``.
    seed
        Seed of the shuffling generator (>= 0).
    ema_decay
        Factor per optimiser step of the exponential moving average of the parameters, in
        (0, 1) (module docstring); None: no averaging.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    lr_decay: float = 1.0
    seed: int = 0
    ema_decay: float | None = None
    lr_schedule: Literal["exponential", "cosine"] = "exponential"

    def __post_init__(self) -> None:
        _check_count("epochs", self.epochs, low=0)
        _check_count("batch_size", self.batch_size)
        _check_count("seed", self.seed, low=0)
        check_positive("learning_rate", self.learning_rate)
        check_positive("lr_decay", self.lr_decay)
        if self.lr_decay > 1.0:
            raise ConfigError(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ConfigError(
                f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}"
            )
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must lie in (0, 1) or be None, got {self.ema_decay!r}")


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


@torch.no_grad()
def _copy_into(targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor]) -> None:
    for target, source in zip(targets, sources, strict=True):
        target.copy_(source)


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
    on_epoch: Callable[[int, float], None] | None = None,
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
    batch_step, evaluate, after_step, on_epoch
        See the module docstring.
    config
        Epochs, batch size, learning rate and its decay, shuffling seed, weight averaging.
    out_dir
        Folder of ``checkpoint.pt`` and ``history.json`` (created if missing).
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (a fresh start otherwise).
    progress
        Called as ``progress(done_batches, total_batches)`` over all epochs.
    fingerprint
        JSON-able description of everything else that defines the run (model, data ...);
        stored in the checkpoint and compared on resume, together with the batch size,
        learning rate, schedule, averaging and seed (not ``epochs``, with which a resumed
        run may train longer, except under the cosine schedule, which ``epochs`` sets).
    select
        Name of a metric of ``evaluate`` to maximise: the weights of the best epoch are
        kept in ``out_dir/best.pt`` (module docstring); None: no selection.

    After the call the model holds the parameters of the last epoch, averaged with
    ``config.ema_decay``.

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
    cosine = config.lr_schedule == "cosine"
    loop = {k: v for k, v in asdict(config).items() if k != "epochs" or cosine}
    wanted = _normalised({"loop": loop, **(fingerprint or {})})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if cosine:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(config.epochs, 1)
        )
    else:
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    rng = np.random.default_rng(config.seed)
    ema = config.ema_decay
    average = None if ema is None else [p.detach().clone() for p in params]
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
        if average is not None and found.average is None:
            raise DataError(f"{path}: the checkpoint holds no weight average")
        try:
            model.load_state_dict(found.model)
            if average is not None and found.average is not None:
                _copy_into(average, found.average)
            optimizer.load_state_dict(found.optimizer)
            scheduler.load_state_dict(found.scheduler)
            rng.bit_generator.state = found.rng
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as err:
            raise DataError(
                f"{path}: the checkpoint does not fit this model and optimiser (changed "
                f"after writing?): {str(err).splitlines()[0]}"
            ) from None
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
        if on_epoch is not None:
            on_epoch(epoch, lr)
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
            if average is not None and ema is not None:
                with torch.no_grad():
                    for a, p in zip(average, params, strict=True):
                        a.lerp_(p, 1.0 - ema)
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
        raw = None if average is None else [p.detach().clone() for p in params]
        if average is not None:
            _copy_into(params, average)  # evaluate and select the averaged weights
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
        if raw is not None:
            _copy_into(params, raw)  # training continues from the raw weights
        history.append(record)
        save_checkpoint(
            out_dir,
            Checkpoint(
                epoch=epoch + 1,
                model=model.state_dict(),
                average=None if average is None else [a.clone() for a in average],
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                rng=dict(rng.bit_generator.state),
                history=history,
                fingerprint=wanted,
            ),
        )
    if average is not None:
        _copy_into(params, average)
    best = None if select is None else _best_epoch(history, select)
    return FitResult(history=history, resumed_from=start, checkpoint=path, best_epoch=best)


def _best_epoch(history: list[dict[str, Any]], metric: str) -> int | None:
    """The first epoch (1-based) with the largest ``metric``; None for an empty history."""
    if not history:
        return None
    values = [float(r[metric]) for r in history]
    return int(np.argmax(values)) + 1
