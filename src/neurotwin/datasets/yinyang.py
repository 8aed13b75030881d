r"""The Yin-Yang data set of Kriener, Göltz & Petrovici (2021), generated bit for bit.

Reference: L. Kriener, J. Göltz, M. A. Petrovici, "The Yin-Yang dataset",
arXiv:2102.08211; generator ``YinYangDataset`` in ``dataset.py`` of
github.com/lkriener/yin_yang_data_set (commit 121a380; older commits seed numpy's global
generator instead, which yields the same stream). The same seed gives the identical
float64 arrays, because the draws below are the reference's, in its order.

*Geometry.* Points (x, y) lie in the disc of radius ``r_big`` centred at (r_big, r_big).
With the distances to the centres of the two dots::

    d_left  = |(x, y) - (0.5 r_big, r_big)|,    d_right = |(x, y) - (1.5 r_big, r_big)|

a point is class 2 ("dot") if d_left < r_small or d_right < r_small; otherwise class 1
if any of

    d_right <= r_small,   r_small < d_left <= r_big / 2,   (y > r_big and d_right > r_big / 2)

holds (the upper half outside the right half-size disc, plus the left half-size disc),
and class 0 else. The reference names the classes ``("yin", "yang", "dot")`` for labels
0, 1, 2 (:data:`CLASS_NAMES`).

*Sampling.* ``numpy.random.RandomState(seed)``; per sample: ``goal = randint(3)``; then
repeat ``x, y = rand(2) * 2.0 * r_big`` until the point lies in the big disc
(distance to its centre <= r_big) and its class equals ``goal``. Each sample is stored as
(x, y, 1 - x, 1 - y) with its class. Squares are taken with ``**`` on float64 scalars,
as in the reference: C ``pow(v, 2)`` can differ from ``v * v`` in the last bit, which
would move points lying within rounding of a class boundary.

*Published splits* (reference README): train 5000 samples, seed 42; validation 1000,
seed 41; test 1000, seed 40 (:func:`yinyang_splits`).
"""

from __future__ import annotations

import operator

import numpy as np
from numpy.typing import ArrayLike

from neurotwin.datasets.splits import Samples, Splits
from neurotwin.errors import ConfigError, check_positive

__all__ = [
    "CLASS_NAMES",
    "R_BIG",
    "R_SMALL",
    "TEST_SEED",
    "TEST_SIZE",
    "TRAIN_SEED",
    "TRAIN_SIZE",
    "VALIDATION_SEED",
    "VALIDATION_SIZE",
    "yinyang_class",
    "yinyang_samples",
    "yinyang_splits",
]

R_SMALL = 0.1
"""Radius of the two dots (reference default)."""
R_BIG = 0.5
"""Radius of the whole sign (reference default); points lie in [0, 2 r_big]^2."""
CLASS_NAMES = ("yin", "yang", "dot")
"""Names of labels 0, 1, 2, as in the reference."""

TRAIN_SIZE, TRAIN_SEED = 5000, 42
VALIDATION_SIZE, VALIDATION_SEED = 1000, 41
TEST_SIZE, TEST_SEED = 1000, 40

_MAX_SEED = 2**32 - 1  # RandomState accepts seeds in [0, 2**32 - 1]


def _inside(x: float, y: float, r_big: float) -> bool:
    return bool(np.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) <= r_big)


def _label(x: float, y: float, r_small: float, r_big: float) -> int:
    d_right = np.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = np.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    upper = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    return int(upper)


def _check_radii(r_small: float, r_big: float) -> None:
    check_positive("r_small", r_small)
    check_positive("r_big", r_big)
    # With r_small >= r_big / 2 class 0 or 1 has no area and rejection sampling never ends.
    if not r_small < 0.5 * r_big:
        raise ConfigError(
            f"r_small must be < r_big / 2 = {0.5 * r_big!r} so that every class has area, "
            f"got {r_small!r}"
        )


def _check_count(name: str, value: int, high: int | None = None) -> int:
    try:
        count = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if count < 0 or (high is not None and count > high):
        limit = f"[0, {high}]" if high is not None else ">= 0"
        raise ConfigError(f"{name} must be in {limit}, got {count!r}")
    return count


def yinyang_class(
    x: ArrayLike, y: ArrayLike, *, r_small: float = R_SMALL, r_big: float = R_BIG
) -> np.ndarray:
    """Class of points in the Yin-Yang plane: 0, 1, 2, or -1 outside the sign.

    Evaluates the reference's scalar arithmetic point by point (exact, about a microsecond
    per point).

    Parameters
    ----------
    x, y
        Coordinates, broadcastable arrays in the units of ``r_big``.
    r_small, r_big
        Radii of the dots and of the sign.

    Returns
    -------
    numpy.ndarray
        int64 labels of the broadcast shape of ``x`` and ``y``.
    """
    _check_radii(r_small, r_big)
    xs, ys = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    out = np.empty(xs.shape, np.int64)
    for index in np.ndindex(xs.shape):
        # float64 scalars, so that every operation is the reference's
        px, py = np.float64(xs[index]), np.float64(ys[index])
        out[index] = _label(px, py, r_small, r_big) if _inside(px, py, r_big) else -1
    return out


def yinyang_samples(
    size: int, seed: int, *, r_small: float = R_SMALL, r_big: float = R_BIG
) -> Samples:
    """Generate ``size`` Yin-Yang samples exactly as the reference does with ``seed``.

    Parameters
    ----------
    size
        Number of samples (>= 0).
    seed
        Seed of ``numpy.random.RandomState``, in [0, 2**32 - 1].
    r_small, r_big
        Radii of the dots and of the sign; need 0 < r_small < r_big / 2.

    Returns
    -------
    Samples
        ``inputs`` float64 of shape (size, 4) holding (x, y, 1 - x, 1 - y), ``labels``
        int64 of shape (size,) in {0, 1, 2}.
    """
    size = _check_count("size", size)
    seed = _check_count("seed", seed, _MAX_SEED)
    _check_radii(r_small, r_big)
    rng = np.random.RandomState(seed)
    inputs = np.empty((size, 4), np.float64)
    labels = np.empty(size, np.int64)
    for k in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if not _inside(x, y, r_big):
                continue
            label = _label(x, y, r_small, r_big)
            if label == goal:
                break
        inputs[k] = (x, y, 1.0 - x, 1.0 - y)
        labels[k] = label
    return Samples(inputs, labels)


def yinyang_splits(
    *,
    train_size: int = TRAIN_SIZE,
    validation_size: int = VALIDATION_SIZE,
    test_size: int = TEST_SIZE,
) -> Splits:
    """The published splits: train (seed 42), validation (seed 41), test (seed 40).

    Parameters
    ----------
    train_size, validation_size, test_size
        Number of samples per split; the defaults (5000, 1000, 1000) are the published
        sizes. A smaller size gives a prefix of the published split, a larger one the
        published split followed by the next samples of its generator stream (the same
        seed).

    Returns
    -------
    Splits
        With ``train``, ``validation`` and ``test`` as from :func:`yinyang_samples`.
    """
    return Splits(
        train=yinyang_samples(train_size, TRAIN_SEED),
        validation=yinyang_samples(validation_size, VALIDATION_SEED),
        test=yinyang_samples(test_size, TEST_SEED),
    )

