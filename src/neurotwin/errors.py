"""The one exception hierarchy of neurotwin, and the checks that raise it at the boundary.

Every error says what was wrong (the parameter and its value) and what is allowed
(the limit or the valid choices). Inside the package, code trusts its own types; these
checks run where user input enters (dataclass ``__post_init__``, ``Network.connect``,
file readers, backends' ``map``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "MAX_STEPS",
    "CapacityError",
    "ConfigError",
    "DataError",
    "DistributedError",
    "MappingError",
    "NeurotwinError",
    "as_numbers",
    "check_device",
    "check_finite",
    "check_in_range",
    "check_int",
    "check_memory",
    "check_multiple_of",
    "check_positive",
    "check_scalar",
    "machine_memory",
    "unknown_name",
]

MAX_STEPS = 2**53
"""Most time steps a duration or delay may span: beyond 2**53, float64 holds no
consecutive whole numbers (and int64 step counts are near overflow)."""


class NeurotwinError(Exception):
    """Base class of every error neurotwin raises on purpose."""


class ConfigError(NeurotwinError, ValueError):
    """Bad parameters: wrong shape, NaN or infinite value, out of range, unknown name."""


class CapacityError(NeurotwinError):
    """The network does not fit the hardware.

    Parameters
    ----------
    resource
        What ran out (``"neurons"``, ``"synapse rows"``, ``"routing entries"`` ...).
    needed, available
        How much the network needs and how much the hardware has, in the resource's unit.
    detail
        Optional extra context, e.g. which population caused it.
    """

    def __init__(self, resource: str, needed: float, available: float, detail: str = "") -> None:
        self.resource = resource
        self.needed = needed
        self.available = available
        self.detail = detail
        message = f"not enough {resource}: needed {needed}, available {available}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class MappingError(NeurotwinError):
    """The network cannot be expressed on the target at all (not a matter of size)."""


class DataError(NeurotwinError, ValueError):
    """A file or data set is corrupt, of the wrong kind, or from another device."""


class DistributedError(NeurotwinError):
    """A sharded run failed across processes: a rank died, stalled past the time-out of a
    collective, or could not join the process group."""


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}"


def as_numbers(name: str, value: Any) -> np.ndarray:
    """``value`` (scalar or array) as a float array; :class:`ConfigError` unless it holds
    numbers (a string such as ``"20"``, a bool or an object array is refused, not parsed)."""
    if isinstance(value, str | bytes) or isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as err:  # ragged nesting
        raise ConfigError(f"{name} must be a number or an array of numbers: {err}") from None
    if arr.dtype.kind not in "iuf":
        raise ConfigError(
            f"{name} must be a number or an array of numbers, got {_describe_kind(arr)}"
        )
    return arr.astype(float, copy=False)


def _describe_kind(arr: np.ndarray) -> str:
    kinds = {"b": "booleans", "U": "strings", "S": "bytes", "O": "Python objects",
             "c": "complex numbers", "M": "dates", "m": "time deltas"}
    what = kinds.get(arr.dtype.kind, f"dtype {arr.dtype}")
    return what if arr.ndim else f"{arr.item()!r} ({what})"


def _integer_kind(low: int | None, high: int | None) -> str:
    if high is None:
        return "an integer" if low is None else f"an integer >= {low}"
    return f"an integer <= {high}" if low is None else f"an integer in [{low}, {high}]"


def check_int(
    name: str, value: Any, low: int | None = None, high: int | None = None, unit: str = ""
) -> int:
    """``value`` as a Python int; :class:`ConfigError` unless it is an integer (not a bool,
    not a float such as 3.0) within [low, high] (either bound may be None)."""
    kind = _integer_kind(low, high) + (f" ({unit})" if unit else "")
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise ConfigError(f"{name} must be {kind}, got {out}")
    return out


def check_finite(name: str, value: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` (scalar or array) holds numbers without
    NaN or infinity."""
    arr = as_numbers(name, value)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0].item()
        raise ConfigError(f"{name} must be finite, got {bad!r} in {_describe(value)}")


def check_positive(name: str, value: Any, unit: str = "", allow_zero: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is finite and > 0 (>= 0 with allow_zero)."""
    check_finite(name, value)
    arr = as_numbers(name, value)
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        limit = ">= 0" if allow_zero else "> 0"
        worst = arr[bad].ravel()[0].item()
        raise ConfigError(f"{name} must be {limit} {unit}".rstrip() + f", got {worst!r}")


def check_in_range(
    name: str, value: Any, low: float, high: float, unit: str = ""
) -> None:
    """Raise :class:`ConfigError` unless every element of ``value`` lies in [low, high]."""
    check_finite(name, value)
    arr = as_numbers(name, value)
    bad = (arr < low) | (arr > high)
    if np.any(bad):
        worst = arr[bad].ravel()[0].item()
        raise ConfigError(
            f"{name} must lie in [{low}, {high}] {unit}".rstrip() + f", got {worst!r}"
        )


def check_scalar(name: str, value: Any, unit: str = "") -> float:
    """``value`` as a float; :class:`ConfigError` unless it is one number (NaN and
    infinity pass: range checks come after)."""
    arr = as_numbers(name, value)
    if arr.ndim != 0:
        in_unit = f" (in {unit})" if unit else ""
        raise ConfigError(f"{name} must be a single number{in_unit}, got an array of shape "
                          f"{arr.shape}")
    return float(arr)


def check_multiple_of(name: str, value: Any, step: float, unit: str = "ms") -> np.ndarray:
    """Return ``value / step`` as int64; raise unless every value is a multiple of ``step``
    spanning at most :data:`MAX_STEPS` steps.

    A relative tolerance of 1e-6 of a step absorbs decimal round-off (0.3 / 0.1).
    """
    check_finite(name, value)
    values = as_numbers(name, value)
    with np.errstate(over="ignore"):  # a ratio past float range is inf: refused just below
        ratio = values / step
    if ratio.size and np.abs(ratio).max() > MAX_STEPS:
        worst = values.ravel()[int(np.argmax(np.abs(ratio)))].item()
        raise ConfigError(
            f"{name} must span at most 2**53 time steps of dt = {step} {unit}, got "
            f"{worst!r} {unit}"
        )
    steps = np.rint(ratio)
    off = np.abs(ratio - steps) > 1e-6 * np.maximum(1.0, np.abs(ratio))
    if np.any(off):
        bad = values[off].ravel()[0].item()
        raise ConfigError(
            f"{name} must be a multiple of the time step dt = {step} {unit}, got {bad!r} {unit}"
        )
    return steps.astype(np.int64)


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes; None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def check_memory(what: str, n_bytes: float) -> None:
    """Raise :class:`CapacityError` if ``n_bytes`` exceed this machine's physical memory.

    Call it with an estimate (a lower bound is enough) before allocating ``what``, so that
    the user gets the need and the limit instead of a ``MemoryError`` (or minutes of
    swapping) halfway through.

    Parameters
    ----------
    what
        What needs the memory, for the message (e.g. ``"population 'exc' of 10**10 LIF
        neurons"``).
    n_bytes
        The estimate, bytes.
    """
    available = machine_memory()
    if available is not None and n_bytes > available:
        # beyond 1e300 a Python int has no float value to divide
        gib = n_bytes / 2**30 if n_bytes < 1e300 else math.inf
        raise CapacityError(
            "memory (bytes)",
            int(n_bytes),
            available,
            f"{what}: at least {gib:.3g} GiB, this machine has {available / 2**30:.3g} GiB "
            "of memory",
        )


def unknown_name(kind: str, name: str, known: Iterable[str]) -> ConfigError:
    """Build the error for an unknown registry name, listing the known ones."""
    choices = ", ".join(sorted(known)) or "(none registered)"
    return ConfigError(f"unknown {kind} {name!r}; known: {choices}")


def check_device(device: Any) -> torch.device:
    """The torch device named by ``device`` ("cpu", "cuda", "cuda:1", a ``torch.device``),
    checked to exist on this machine.

    Raises
    ------
    ConfigError
        ``device`` names no torch device, or a CUDA device that this machine lacks (no CUDA
        build or driver, or an index past ``torch.cuda.device_count()``).
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"device {device!r} is not a torch device: {err}") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"device {device!r} needs CUDA, but torch sees no CUDA device on this "
                f"machine; use device 'cpu'"
            )
        if dev.index is not None and dev.index >= count:
            raise ConfigError(
                f"device {device!r}: this machine has {count} CUDA device(s), "
                f"cuda:0 ... cuda:{count - 1}"
            )
    elif dev.type != "cpu":
        raise ConfigError(f"device {device!r}: neurotwin runs on 'cpu' or 'cuda', got {dev.type!r}")
    return dev
