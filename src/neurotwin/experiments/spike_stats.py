"""Activity statistics of a population's spikes in a time window: rate, irregularity
(coefficient of variation of the inter-spike intervals) and synchrony (variance over mean
of the population spike count in short bins), the three measures of Potjans & Diesmann
(2014, Fig. 6) and van Albada et al. (2018, Front. Neurosci. 12:291).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from neurotwin.errors import ConfigError

__all__ = ["ActivityStats", "activity_stats"]

SYNCHRONY_BIN_MS = 3.0
"""Bin of the population spike count for the synchrony, ms (van Albada et al. 2018)."""
SYNCHRONY_NEURONS = 1000
"""Neurons (the first of the population) whose spikes enter the synchrony."""
MIN_SPIKES_CV = 3
"""Spikes a neuron needs in the window (two intervals) to enter the CV of ISIs."""


class ActivityStats(NamedTuple):
    """Statistics of one population in one window."""

    rate_hz: float
    """Mean rate over all neurons, Hz."""
    cv_isi: float
    """Mean over neurons with >= :data:`MIN_SPIKES_CV` spikes of std(ISI) / mean(ISI);
    NaN when no neuron has that many."""
    cv_neurons: int
    """Neurons that entered ``cv_isi``."""
    synchrony: float
    """Var / mean of the spike count of the first :data:`SYNCHRONY_NEURONS` neurons in
    bins of :data:`SYNCHRONY_BIN_MS`; 1 for independent Poisson trains; NaN without spikes."""


def activity_stats(times: np.ndarray, ids: np.ndarray, n_neurons: int, t_start: float,
                   t_stop: float) -> ActivityStats:
    """Rate, irregularity and synchrony of spikes in [t_start, t_stop).

    Parameters
    ----------
    times, ids
        Spike times (ms) and neuron indices within the population (0..n_neurons-1),
        shape (K,), in any order.
    n_neurons
        Size of the population.
    t_start, t_stop
        The window, ms (t_stop - t_start >= one synchrony bin).
    """
    if not t_stop - t_start >= SYNCHRONY_BIN_MS:
        raise ConfigError(f"the window [{t_start}, {t_stop}) ms must be at least "
                          f"{SYNCHRONY_BIN_MS} ms long")
    times = np.asarray(times, np.float64)
    ids = np.asarray(ids, np.int64)
    keep = (times >= t_start) & (times < t_stop)
    times, ids = times[keep], ids[keep]
    rate = times.size / (n_neurons * (t_stop - t_start) * 1e-3)
    order = np.lexsort((times, ids))
    times, ids = times[order], ids[order]
    counts = np.bincount(ids, minlength=n_neurons)
    starts = np.concatenate([[0], np.cumsum(counts)])
    cvs = []
    for k in np.flatnonzero(counts >= MIN_SPIKES_CV):
        isi = np.diff(times[starts[k]:starts[k + 1]])
        cvs.append(isi.std() / isi.mean())
    cv = float(np.mean(cvs)) if cvs else float("nan")
    chosen = times[ids < SYNCHRONY_NEURONS]
    edges = np.arange(t_start, t_stop + 1e-9, SYNCHRONY_BIN_MS)
    hist, _ = np.histogram(chosen, bins=edges)
    sync = float(hist.var() / hist.mean()) if hist.sum() else float("nan")
    return ActivityStats(float(rate), cv, len(cvs), sync)
