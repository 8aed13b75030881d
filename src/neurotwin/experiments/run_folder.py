"""The configuration and selected weights of a trained experiment's run folder.

A run folder holds ``checkpoint.pt`` (the last epoch's state and its ``fingerprint``: the
training configuration, as :func:`~neurotwin.train.fit` stores it) and, where an epoch was
selected on validation, ``best.pt`` (that epoch's weights). The twin experiments
(``yinyang-twins``, ``mnist-latency-twins``) start from one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from neurotwin.errors import ConfigError, DataError
from neurotwin.train import load_best
from neurotwin.train.checkpoint import load_checkpoint

__all__ = ["load_run"]

C = TypeVar("C")
M = TypeVar("M", bound=nn.Module)

FIT_KEYS = ("seed", "loop")
"""Fingerprint entries that ``train.fit`` and the experiments add beside the config's."""


def load_run(folder: Path, experiment: str, config_type: type[C],
             build: Callable[[C], M], required: str = "n_hidden") -> tuple[C, M]:
    """The configuration and selected weights (``best.pt`` if there is one, else the last
    epoch's) of a run folder of ``experiment``.

    Parameters
    ----------
    folder
        The run's folder.
    experiment
        Its experiment's name (for the messages).
    config_type
        The experiment's config dataclass, rebuilt from the stored fingerprint.
    build
        Makes the experiment's model from a config (weights then loaded into it).
    required
        A config field every fingerprint of the experiment holds.

    Raises
    ------
    DataError
        No checkpoint in ``folder``, or one made by another experiment (its configuration
        or weights are not those of ``experiment``'s network).
    """
    folder = Path(folder)
    checkpoint = load_checkpoint(folder)
    if checkpoint is None:
        raise DataError(f"{folder}: no {experiment} checkpoint (checkpoint.pt) in this folder")
    known = {f.name for f in fields(config_type)}  # type: ignore[arg-type]
    stored = {k: v for k, v in checkpoint.fingerprint.items() if k not in FIT_KEYS}
    foreign = sorted(set(stored) - known)
    if foreign or required not in stored:
        raise DataError(f"{folder}/checkpoint.pt was not made by the {experiment} experiment: "
                        f"its configuration has fields {foreign or sorted(stored)[:6]} that "
                        f"{config_type.__name__} lacks (or misses {required})")
    given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                             for k, v in stored.items()}
    try:
        config = config_type(**given)
    except (ConfigError, TypeError) as err:
        raise DataError(f"{folder}: the training configuration is not valid: {err}") from None
    model = build(config)
    state = load_best(folder)[1] if (folder / "best.pt").exists() else checkpoint.model
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if want != got:
        raise DataError(f"{folder}: weights {got} are not those of a {experiment} network "
                        f"{want}")
    model.load_state_dict(state)
    return config, model
