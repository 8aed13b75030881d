"""Checks of the network description's scalar parameters, on top of
:mod:`neurotwin.errors`: a parameter that must be one number refuses arrays (and, through
:func:`~neurotwin.errors.as_numbers`, strings, bools and objects)."""

from __future__ import annotations

import math
from typing import Any

from neurotwin.errors import ConfigError, as_numbers, check_positive

__all__ = ["check_interval", "check_scalar"]


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
