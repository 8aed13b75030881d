"""Summaries over repeated runs (seeds): mean and standard deviation, and a progress
callback that maps one run's progress onto the whole series."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["mean_std", "progress_part"]


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "per_seed"}`` of per-seed results; ``std`` is the sample standard
    deviation (n - 1 in the denominator), 0 for a single value; both NaN where a value is
    NaN (a figure not measured, e.g. a deployment check of 0 samples)."""
    vals = [float(v) for v in values]
    if any(math.isnan(v) for v in vals):
        return {"mean": math.nan, "std": math.nan, "per_seed": vals}
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": std, "per_seed": vals}


def progress_part(
    progress: Callable[[int, int], None] | None, index: int, count: int
) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` for run ``index`` of ``count`` equal runs that reports
    ``(index * total + done, count * total)`` to ``progress`` (None stays None)."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        progress(index * total + done, count * total)

    return report
