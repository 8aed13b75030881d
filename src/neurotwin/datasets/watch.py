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
training), stratified by class with a fixed seed, then cut into windows.
"""

from __future__ import annotations

import numpy as np

from neurotwin.errors import ConfigError, DataError, check_int

__all__ = ["CLASSES", "watch_windows"]

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
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    try:
        from seglearn.datasets import load_watch
    except ImportError as err:
        raise DataError(f"the watch data needs seglearn ({err}); pip install seglearn") from err
    data = load_watch()
    labels = np.asarray(data["y"], dtype=np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[:round(test_fraction * len(members))]] = True
    series = list(data["X"])
    train = _windows([s for s, t in zip(series, test, strict=True) if not t], labels[~test],
                     length, hop)
    held = _windows([s for s, t in zip(series, test, strict=True) if t], labels[test],
                    length, hop)
    return train[0], train[1], held[0], held[1]
