"""The smartwatch activity data shipped with seglearn, cut into windows.

``seglearn.datasets.load_watch()`` (seglearn 1.2.5, in its package data, so offline):
140 recordings of 6-axis inertial data (accelerometer x, y, z; gyroscope x, y, z) from a
smartwatch at 50 Hz, during 7 shoulder exercises (PEN, ABD, FEL, IR, ER, TRAP, ROW),
20 recordings each, 947 to 2618 samples long (Burns et al. 2018, "Shoulder physiotherapy
exercise recognition: machine learning the inertial signals from a smartwatch"). It is
chosen over sktime/aeon's BasicMotions (80 recordings of 100 samples, 4 classes) for its
size, and because seglearn is small and needs only numpy, scipy and scikit-learn, which
neurotwin's dev environment has anyway.

Recordings are split into train and test whole (no window of a test recording is seen in
training), stratified by class with a fixed seed, then cut into windows. For choosing a
recipe, :func:`watch_validation_windows` holds out a share of the *training* recordings
in the same way (by recording, stratified by class) and never touches the test ones.
"""

from __future__ import annotations

import numpy as np

from neurotwin.errors import ConfigError, DataError, check_int

__all__ = ["CLASSES", "watch_validation_windows", "watch_windows"]

CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
"""Exercise names, by label."""
SAMPLE_RATE_HZ = 50.0
"""Sampling rate of the recordings (Burns et al. 2018)."""


def _windows(series: list[np.ndarray], labels: np.ndarray, length: int, hop: int
             ) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for s, y in zip(series, labels, strict=True):
        for start in range(0, len(s) - length + 1, hop):
            xs.append(s[start:start + length].T)
            ys.append(y)
    return np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64)


def _held_out(labels: np.ndarray, candidates: np.ndarray, fraction: float,
              rng: np.random.Generator) -> np.ndarray:
    """Mask of the recordings held out: ``round(fraction * n)`` of the ``n`` candidate
    recordings of every class, drawn by ``rng``."""
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels[candidates]):
        members = rng.permutation(np.flatnonzero(candidates & (labels == c)))
        held[members[:round(fraction * len(members))]] = True
    return held


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must lie in (0, 1), got {value!r}")


def _recordings() -> tuple[list[np.ndarray], np.ndarray]:
    try:
        from seglearn.datasets import load_watch
    except ImportError as err:
        raise DataError(f"the watch data needs seglearn ({err}); pip install seglearn") from err
    data = load_watch()
    return list(data["X"]), np.asarray(data["y"], dtype=np.int64)


def _pick(series: list[np.ndarray], labels: np.ndarray, mask: np.ndarray, length: int,
          hop: int) -> tuple[np.ndarray, np.ndarray]:
    return _windows([s for s, m in zip(series, mask, strict=True) if m], labels[mask],
                    length, hop)


def watch_windows(length: int = 128, hop: int = 64, test_fraction: float = 0.3,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Windows of the watch data: ``(x_train, y_train, x_test, y_test)``.

    Parameters
    ----------
    length, hop
        Window length and step, samples (128 samples = 2.56 s).
    test_fraction
        Share of each class's recordings held out for testing.
    seed
        Seed of the split.

    Returns
    -------
    tuple
        Inputs of shape (n, 6, length) (raw sensor units) and labels 0..6.

    Raises
    ------
    DataError
        When seglearn is not installed (``pip install seglearn``, in the ``data`` extra).
    """
    check_int("length", length, 1)
    check_int("hop", hop, 1)
    _check_fraction("test_fraction", test_fraction)
    series, labels = _recordings()
    test = _held_out(labels, np.ones(len(labels), dtype=bool), test_fraction,
                     np.random.default_rng(seed))
    train = _pick(series, labels, ~test, length, hop)
    held = _pick(series, labels, test, length, hop)
    return train[0], train[1], held[0], held[1]


def watch_validation_windows(length: int = 128, hop: int = 64, test_fraction: float = 0.3,
                             validation_fraction: float = 0.2, seed: int = 0,
                             validation_seed: int = 0
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training windows split again by recording: ``(x_fit, y_fit, x_val, y_val)``.

    The test recordings are those of :func:`watch_windows` with the same
    ``test_fraction`` and ``seed``; they are left out entirely. Of the remaining
    (training) recordings of every class, ``round(validation_fraction * n)`` are held out
    for validation (drawn with ``validation_seed``), the rest are for fitting.

    Raises
    ------
    ConfigError
        When a fraction lies outside (0, 1).
    DataError
        When seglearn is not installed.
    """
    check_int("length", length, 1)
    check_int("hop", hop, 1)
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("validation_fraction", validation_fraction)
    series, labels = _recordings()
    test = _held_out(labels, np.ones(len(labels), dtype=bool), test_fraction,
                     np.random.default_rng(seed))
    validation = _held_out(labels, ~test, validation_fraction,
                           np.random.default_rng(validation_seed))
    fit = _pick(series, labels, ~test & ~validation, length, hop)
    held = _pick(series, labels, validation, length, hop)
    return fit[0], fit[1], held[0], held[1]
