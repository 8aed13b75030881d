"""A trained experiment's checkpoint as a :class:`~neurotwin.compare.ClassifierTask`, for
``neurotwin compare results/yinyang/seed0/best.pt`` (``docs/compare.md``).

A run's folder holds ``best.pt`` (the selected epoch's weights) and ``checkpoint.pt`` (the
last epoch's state and ``fingerprint``, the training configuration);
:mod:`neurotwin.train.checkpoint` writes both. The experiment is recognised by the
model's entries, and its configuration is rebuilt from the fingerprint, so the test
samples are encoded and the neuron set up exactly as in training.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurotwin.compare.classifier import ClassifierTask
from neurotwin.datasets import yinyang_splits
from neurotwin.errors import ConfigError, DataError, check_int
from neurotwin.experiments import yinyang
from neurotwin.experiments.deployment import forward_layers, predict
from neurotwin.spikes import first_spike_times
from neurotwin.train.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    FORMAT_VERSION,
    load_checkpoint,
    read_torch_file,
)

__all__ = ["KNOWN", "load_trained"]

KNOWN = {
    "yinyang": ("hidden.weight", "output.weight"),
}
"""Experiments ``compare`` can run from a checkpoint -> the model entries that identify
them (feed-forward LIF stacks with a time-to-first-spike readout, layers in order)."""

OTHERS = {
    "mnist-latency": ("hidden.weight", "readout.weight"),
}
"""Experiments recognised but not runnable here, with their model entries."""


FIT_KEYS = frozenset({"seed", "loop"})
"""Fingerprint entries that ``train.fit`` and the experiment add beside the config's."""


def _state(path: Path) -> tuple[dict[str, Any], int | None, dict[str, Any] | None]:
    """(model entries, epoch, fingerprint) of ``best.pt`` or ``checkpoint.pt`` at ``path``;
    the fingerprint from ``checkpoint.pt`` beside a ``best.pt``."""
    if path.is_dir():
        path = path / BEST_NAME
    data = read_torch_file(path, "trained model")
    if (not isinstance(data, dict) or data.get("format") != FORMAT_VERSION
            or not isinstance(data.get("model"), dict)):
        raise DataError(f"{path}: not a neurotwin checkpoint or best-model file of format "
                        f"{FORMAT_VERSION}")
    if "fingerprint" in data:  # checkpoint.pt: the last epoch, its own configuration
        if not isinstance(data["fingerprint"], dict):
            raise DataError(f"{path}: the checkpoint's fingerprint is not a dict")
        return data["model"], data.get("epoch"), data["fingerprint"]
    beside = load_checkpoint(path.parent)
    return data["model"], data.get("epoch"), None if beside is None else beside.fingerprint


def _experiment(path: Path, model: dict[str, Any]) -> str:
    keys = tuple(sorted(model))
    for name, entries in KNOWN.items():
        if keys == tuple(sorted(entries)):
            return name
    for name, entries in OTHERS.items():
        if keys == tuple(sorted(entries)):
            raise ConfigError(
                f"{path} is a {name} checkpoint; compare runs trained networks with a "
                f"time-to-first-spike readout ({', '.join(KNOWN)}), and {name}'s readout is "
                "a leaky integrator (its class is the largest membrane maximum)"
            )
    raise DataError(
        f"{path}: the model's entries {list(keys)} are those of no experiment compare knows "
        f"({'; '.join(f'{k}: {list(v)}' for k, v in KNOWN.items())})"
    )


def _yinyang(path: Path, model: dict[str, Any], fingerprint: dict[str, Any],
             epoch: int | None, samples: int) -> ClassifierTask:
    known = {f.name for f in fields(yinyang.YinYangConfig)}
    given = {k: v for k, v in fingerprint.items() if k not in FIT_KEYS}
    unknown = sorted(set(given) - known)
    if unknown:
        raise DataError(f"{path}: the training configuration has fields yinyang does not "
                        f"know: {unknown}")
    try:
        config = yinyang.YinYangConfig(**given)
    except (ConfigError, TypeError) as err:
        raise DataError(f"{path}: the training configuration is not valid: {err}") from None
    weights = tuple(model[k].detach().to(torch.float64).numpy() for k in KNOWN["yinyang"])
    expected = ((yinyang.N_INPUTS, config.n_hidden), (config.n_hidden, yinyang.N_CLASSES))
    if tuple(w.shape for w in weights) != expected:
        raise DataError(f"{path}: weights of shapes {[w.shape for w in weights]}, the "
                        f"configuration says {list(expected)}")
    test = yinyang_splits(train_size=1, validation_size=1,
                          test_size=min(samples, config.test_size)).test
    batch = yinyang.encode(test.inputs, config)
    out = forward_layers(weights, config.neuron(), batch, config.t_max, config.xtol)[-1]
    seed = fingerprint.get("seed", "?")
    return ClassifierTask(
        name=f"yinyang seed {seed}, epoch {epoch if epoch is not None else '?'}",
        weights=weights, neuron=config.neuron().to_lif(), samples=batch,
        labels=np.asarray(test.labels, dtype=np.int64), t_max=config.t_max,
        dt=config.deploy_dt,
        event_classes=predict(first_spike_times(out, yinyang.N_CLASSES)),
    )


def load_trained(path: str | Path, samples: int = 100) -> ClassifierTask:
    """The trained network in ``path`` with its first ``samples`` test samples.

    Parameters
    ----------
    path
        ``best.pt`` (the selected epoch; its configuration is read from ``checkpoint.pt``
        beside it), ``checkpoint.pt`` (the last epoch), or a run's folder (its
        ``best.pt``).
    samples
        Test samples (a prefix of the experiment's test split, at most its size).

    Raises
    ------
    DataError
        A missing, truncated or tampered file; a model whose entries match no known
        experiment; a ``best.pt`` without ``checkpoint.pt`` beside it (the configuration
        lives there); weights that do not fit the configuration.
    ConfigError
        A checkpoint of an experiment compare does not run (mnist-latency), or a bad
        ``samples``.
    """
    samples = check_int("samples", samples, low=1)
    path = Path(path)
    model, epoch, fingerprint = _state(path)
    name = _experiment(path, model)
    if fingerprint is None:
        raise DataError(f"{path}: no {CHECKPOINT_NAME} beside it; the training configuration "
                        "(neuron, input encoding, t_max) is stored there")
    for key, value in model.items():
        if not isinstance(value, torch.Tensor) or not bool(torch.isfinite(value).all()):
            raise DataError(f"{path}: model entry {key!r} is not a finite tensor")
    return LOADERS[name](path, model, fingerprint, epoch, samples)


LOADERS = {"yinyang": _yinyang}
"""Experiment -> the function that rebuilds its task (one per entry of :data:`KNOWN`)."""
