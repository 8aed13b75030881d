"""Checks of the network description's scalar parameters, on top of
:mod:`neurotwin.errors`: a parameter that must be one number refuses arrays (and, through
:func:`~neurotwin.errors.as_numbers`, strings, bools and objects)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurotwin.errors import (
    ConfigError,
    as_numbers,
    check_finite,
    check_multiple_of,
    check_positive,
)

__all__ = ["MAX_STEPS", "check_interval", "check_scalar", "check_steps"]

MAX_STEPS = 2**53
"""Most time steps a duration or delay may span: beyond 2**53, float64 holds no
consecutive whole numbers (and int64 step counts are near overflow)."""


def check_scalar(name: str, value: Any, unit: str = "") -> float:
    """``value`` as a float; :class:`ConfigError` unless it is one number (NaN and
    infinity pass: range checks come after)."""
    arr = as_numbers(name, value)
    if arr.ndim != 0:
        in_unit = f" (in {unit})" if unit else ""
        raise ConfigError(f"{name} must be a single number{in_unit}, got an array of shape "
                          f"{arr.shape}")
    return float(arr)


def check_interval(start: Any, stop: Any) -> None:
    """Check an active interval [start, stop) in ms: start finite and >= 0, stop a
    number >= start (``math.inf``: for ever)."""
    check_scalar("start", start, "ms")
    check_positive("start", start, "ms", allow_zero=True)
    end = check_scalar("stop", stop, "ms")
    if math.isnan(end) or end < start:
        raise ConfigError(f"stop must be >= start ({start} ms), got {stop!r}")


def check_steps(name: str, value: Any, dt: float) -> np.ndarray:
    """``value`` (ms, scalar or array) in whole time steps of ``dt`` ms, as int64;
    :class:`ConfigError` unless every value is a multiple of dt spanning at most
    :data:`MAX_STEPS` steps (:func:`~neurotwin.errors.check_multiple_of` plus that bound)."""
    check_finite(name, value)
    ratio = np.abs(as_numbers(name, value)) / dt
    if ratio.size and ratio.max() > MAX_STEPS:
        worst = as_numbers(name, value).ravel()[int(np.argmax(ratio))].item()
        raise ConfigError(
            f"{name} must span at most 2**53 time steps of dt = {dt} ms, got {worst!r} ms"
        )
    return check_multiple_of(name, value, dt)
