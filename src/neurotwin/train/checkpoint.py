"""Checkpoints of a training run: one file, ``checkpoint.pt``, replaced atomically.

A checkpoint holds everything needed to continue a run exactly where it stopped: the model
and optimiser state, the weight average (if any), the learning-rate schedule, the state of
the shuffling generator, the number of completed epochs and the metrics of every epoch so
far. It is written to a
temporary file in the same folder and then renamed over the old one (``os.replace`` is
atomic on POSIX and Windows), so a crash while writing leaves the previous checkpoint intact.
The metrics history is also written as ``history.json`` for reading without torch.

With model selection (``fit(..., select=metric)``) the weights of the epoch with the best
value of the metric so far are kept apart in ``best.pt`` (:func:`save_best`,
:func:`load_best`), written the same way.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from neurotwin.errors import DataError

__all__ = [
    "BEST_NAME",
    "CHECKPOINT_NAME",
    "FORMAT_VERSION",
    "HISTORY_NAME",
    "Checkpoint",
    "load_best",
    "load_checkpoint",
    "read_torch_file",
    "save_best",
    "save_checkpoint",
    "write_json_atomic",
]

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of the checkpoint inside a run's output folder."""
BEST_NAME = "best.pt"
"""File of the selected model's weights (:func:`save_best`)."""
HISTORY_NAME = "history.json"
"""File name of the per-epoch metrics inside a run's output folder."""
FORMAT_VERSION = 1
"""Layout version stored in every checkpoint; a different one is refused on load."""


@dataclass
class Checkpoint:
    """The state of a training run after ``epoch`` completed epochs.

    Parameters
    ----------
    epoch
        Number of completed epochs (>= 0).
    model
        ``model.state_dict()``.
    optimizer
        ``optimizer.state_dict()``.
    scheduler
        ``scheduler.state_dict()`` of the learning-rate schedule.
    rng
        ``numpy.random.Generator.bit_generator.state`` of the shuffling generator.
    average
        The exponential moving average of the trainable parameters (in the order of
        ``model.parameters()``), None without weight averaging.
    history
        One dict of metrics per completed epoch.
    fingerprint
        What the run was configured with (JSON-able); a resumed run must match it.
    """

    epoch: int
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    average: list[Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: dict[str, Any] = field(default_factory=dict)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(out_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write ``out_dir/checkpoint.pt`` (atomically) and ``out_dir/history.json``; return the
    checkpoint's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CHECKPOINT_NAME
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT_VERSION, **checkpoint.__dict__}, tmp)
    os.replace(tmp, path)
    write_json_atomic(out_dir / HISTORY_NAME, checkpoint.history)
    return path


def read_torch_file(path: Path, what: str) -> Any:
    """The content of a file written by :func:`torch.save`, loaded with ``weights_only``
    (tensors and plain containers only: no code runs).

    Raises
    ------
    DataError
        If the file is missing, truncated, not a torch file, or holds other Python objects
        (a file tampered with, or not written by neurotwin).
    """
    try:
        size = path.stat().st_size
    except OSError as err:
        raise DataError(f"{path}: cannot read the {what}: {err.strerror}") from None
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path}: cannot read the {what}: the file ({size} bytes) is truncated or not a "
            f"file written by torch.save"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"{path}: refused to read the {what}: it holds Python objects that a neurotwin "
            f"file never contains (only tensors, numbers, strings and containers are "
            f"loaded); it was changed after writing or comes from another program"
        ) from None
    except Exception as err:  # torch raises many types for a damaged zip member
        raise DataError(f"{path}: cannot read the {what}: the file is damaged ({err})") from None


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "rng": dict,
    "average": (list, type(None)), "history": list, "fingerprint": dict,
}


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    """Every field present with its type, the epoch >= 0 and the weights finite: a file that
    loads but was edited is refused here, not deep inside ``load_state_dict``."""
    names = {f.name for f in fields(Checkpoint)}
    missing, extra = sorted(names - set(data)), sorted(set(data) - names)
    if missing or extra:
        raise DataError(f"{path}: checkpoint fields do not match: missing {missing}, "
                        f"unexpected {extra}")
    for name, kind in _FIELD_TYPES.items():
        value = data[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise DataError(f"{path}: checkpoint field {name!r} has the wrong type "
                            f"({type(value).__name__})")
    if data["epoch"] < 0:
        raise DataError(f"{path}: checkpoint epoch must be >= 0, got {data['epoch']}")
    for key, value in data["model"].items():
        if not isinstance(value, torch.Tensor):
            raise DataError(f"{path}: model entry {key!r} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise DataError(f"{path}: model entry {key!r} holds NaN or infinity")
    if not all(isinstance(h, dict) for h in data["history"]):
        raise DataError(f"{path}: checkpoint history must be a list of per-epoch dicts")


def load_checkpoint(out_dir: Path) -> Checkpoint | None:
    """The checkpoint in ``out_dir``, or None if there is none.

    Raises
    ------
    DataError
        If the file cannot be read as a checkpoint of this format (truncated, tampered
        with, fields of the wrong type, non-finite weights).
    """
    path = out_dir / CHECKPOINT_NAME
    if not path.is_file():
        return None
    data = read_torch_file(path, "checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DataError(
            f"{path}: not a neurotwin checkpoint of format {FORMAT_VERSION} (found {found!r})"
        )
    data.pop("format")
    _check_fields(path, data)
    return Checkpoint(**data)


def save_best(out_dir: Path, epoch: int, model_state: dict[str, Any]) -> Path:
    """Write the weights of the selected epoch (1-based) to ``out_dir/best.pt`` atomically;
    return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT_VERSION, "epoch": int(epoch), "model": model_state}, tmp)
    os.replace(tmp, path)
    return path


def load_best(out_dir: Path) -> tuple[int, dict[str, Any]]:
    """(epoch, model state) from ``out_dir/best.pt``.

    Raises
    ------
    DataError
        If the file is missing or not a best-model file of this format.
    """
    path = out_dir / BEST_NAME
    if not path.is_file():
        raise DataError(f"{path}: no selected model was saved (fit without select?)")
    data = read_torch_file(path, "selected model")
    if (not isinstance(data, dict) or data.get("format") != FORMAT_VERSION
            or not isinstance(data.get("model"), dict)
            or isinstance(data.get("epoch"), bool) or not isinstance(data.get("epoch"), int)):
        raise DataError(f"{path}: not a neurotwin best-model file of format {FORMAT_VERSION}")
    return int(data["epoch"]), data["model"]
