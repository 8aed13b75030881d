"""Running the mapper's compiled kernels on several cores: split a range of work items
into contiguous parts of about equal weight and run one part per thread.

The kernels are ``numba.njit(nogil=True)``, so Python threads run them in parallel; each
part returns its own arrays and the caller merges them in part order, so results do not
depend on the number of threads. The number of threads is numba's
(``NUMBA_NUM_THREADS``, default: the CPU count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import TypeVar

import numba
import numpy as np

__all__ = ["MIN_PART_WORK", "run_parts", "split"]

MIN_PART_WORK = 1 << 19
"""Least work (synapses) worth a thread of its own: below it, thread start-up and merging
cost more than they save."""

T = TypeVar("T")


def split(cum: np.ndarray, parts: int | None = None) -> np.ndarray:
    """Boundaries ``b`` (int64, ``b[0] = 0``, ``b[-1] = n``) cutting items ``0..n-1`` with
    cumulative work ``cum`` ((n + 1,), non-decreasing) into at most ``parts`` contiguous
    parts of about equal work, none below :data:`MIN_PART_WORK` unless it is the only one.
    """
    n = cum.size - 1
    total = int(cum[-1] - cum[0])
    if total < 2 * MIN_PART_WORK or parts == 1:  # one part: no numpy calls
        return np.array([0, n], np.int64)
    k = numba.get_num_threads() if parts is None else parts
    k = max(1, min(k, total // MIN_PART_WORK, n))
    targets = cum[0] + (np.arange(1, k) * total) // k
    inner = np.searchsorted(cum, targets, side="left")
    return np.unique(np.concatenate([[0], inner, [n]])).astype(np.int64)


def run_parts(work: Callable[[int, int], T], bounds: np.ndarray) -> list[T]:
    """``[work(bounds[k], bounds[k + 1]) for k]``, in parallel threads when there are
    several parts, results in part order."""
    pairs: Sequence[tuple[int, int]] = [(int(a), int(b)) for a, b in pairwise(bounds)]
    if len(pairs) == 1:
        return [work(*pairs[0])]
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        return list(pool.map(lambda ab: work(*ab), pairs))
