r"""Latency (time-to-first-spike) encoding of features in [0, 1] into spike batches.

Each feature x of a sample becomes exactly one spike of its own source, linearly in x::

    t = t_early + x (t_late - t_early)          (default: larger value, later spike)
    t = t_early + (1 - x) (t_late - t_early)    (larger_earlier=True)

all times in ms. Optionally one extra *bias* source, index ``n_features``, fires at
``bias_time`` in every sample.

This is the Yin-Yang input of the EventProp and first-spike-time papers (Wunderlich &
Pehle 2021, Fig. 3D: the mirrored coordinates encoded as latencies plus a fixed spike at
t_bias; Göltz et al. 2021): jaxsnn's Yin-Yang example uses t = x t_late with the bias at
0 ms appended as the last input, and a C++ EventProp reimplementation uses
t = t_min + x (t_max - t_min) with the bias last. For images, where a bright pixel should
fire first, pass ``larger_earlier=True``.

A batch is a :class:`neurotwin.spikes.SpikeBatch` (the padded format of
:mod:`neurotwin.spikes`). :func:`to_source_times` turns a batch into the per-source
spike-time lists of a :class:`neurotwin.SpikeSourceArray`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from neurotwin.errors import ConfigError, check_finite, check_in_range, check_positive
from neurotwin.spikes import SpikeBatch

__all__ = ["latency_encode", "to_source_times"]


def latency_encode(
    x: ArrayLike,
    t_early: float,
    t_late: float,
    *,
    larger_earlier: bool = False,
    bias_time: float | None = None,
) -> SpikeBatch:
    """Encode each feature as one spike whose latency is linear in its value.

    Parameters
    ----------
    x
        Features in [0, 1], shape (B, n_features).
    t_early, t_late
        Spike times in ms of the values 0 and 1 (swapped with ``larger_earlier``);
        need 0 <= t_early < t_late.
    larger_earlier
        If True, value 1 fires at ``t_early`` and value 0 at ``t_late``.
    bias_time
        If given, an extra source with index ``n_features`` fires at this time (ms, >= 0)
        in every sample.

    Returns
    -------
    SpikeBatch
        ``n_sources = n_features (+ 1 with a bias)``; every row holds one spike per
        source, sorted by time, ties by source index (no padding).
    """
    values = np.asarray(x, np.float64)
    if values.ndim != 2:
        raise ConfigError(f"x must have shape (B, n_features), got shape {values.shape}")
    check_in_range("x", values, 0.0, 1.0)
    check_positive("t_early", t_early, "ms", allow_zero=True)
    check_finite("t_late", t_late)
    if not t_late > t_early:
        raise ConfigError(f"t_late must be > t_early = {t_early!r} ms, got {t_late!r}")
    level = 1.0 - values if larger_earlier else values
    times = t_early + level * (t_late - t_early)
    if bias_time is not None:
        check_positive("bias_time", bias_time, "ms", allow_zero=True)
        times = np.concatenate([times, np.full((times.shape[0], 1), float(bias_time))], axis=1)
    order = np.argsort(times, axis=1, kind="stable")
    return SpikeBatch(
        np.take_along_axis(times, order, axis=1), order.astype(np.int64), times.shape[1]
    )


def to_source_times(batch: SpikeBatch, *, period: float | None = None) -> list[np.ndarray]:
    """Spike times per source, for ``neurotwin.SpikeSourceArray(...)``.

    With one sample the times are its own; with several, sample b is shifted by
    ``b * period`` so that the samples follow each other in one run.

    Parameters
    ----------
    batch
        The spike patterns.
    period
        Time per sample in ms; required when the batch has more than one sample, and
        must exceed every spike time in the batch.

    Returns
    -------
    list of numpy.ndarray
        ``batch.n_sources`` ascending float64 arrays of spike times in ms (empty for a
        source that never fires).
    """
    n_samples = len(batch)
    real = ~np.isposinf(batch.times)
    if n_samples > 1 or period is not None:
        if period is None:
            raise ConfigError(
                f"period is required to lay out {n_samples} samples one after the other"
            )
        check_positive("period", period, "ms")
        latest = batch.times[real].max(initial=0.0)
        if not latest < period:
            raise ConfigError(
                f"period must exceed the latest spike time {latest!r} ms, got {period!r} ms"
            )
        offsets = np.arange(n_samples, dtype=np.float64)[:, None] * float(period)
    else:
        offsets = np.zeros((n_samples, 1))
    shifted = (batch.times + offsets)[real]
    sources = batch.ids[real]
    order = np.lexsort((shifted, sources))
    shifted, sources = shifted[order], sources[order]
    bounds = np.searchsorted(sources, np.arange(batch.n_sources + 1))
    return [shifted[bounds[k] : bounds[k + 1]] for k in range(batch.n_sources)]

