"""Spike agreement between two runs: the coincidence factor and firing rates.

The coincidence factor of Kistler, Gerstner & van Hemmen (1997, Neural Comput. 9:1015),
in the form of Jolivet et al. (2008, J. Neurosci. Methods 169:417), compares a spike
train with a reference train of the same neuron over a run of length T:

    Gamma = (N_coinc - <N_coinc>) / (1/2 (N_ref + N_cmp)) * 1 / (1 - 2 nu Delta)

- ``N_ref``, ``N_cmp``: spikes in the reference and the compared train;
- ``N_coinc``: pairs of one reference and one compared spike at most ``Delta`` ms apart,
  each spike in at most one pair;
- ``nu = N_cmp / T``: the compared train's rate (1/ms), and ``<N_coinc> = 2 nu Delta
  N_ref``: the coincidences a Poisson train of that rate would make by chance;
- ``1 - 2 nu Delta`` scales Gamma to 1 for identical trains.

Gamma is 1 for identical trains, about 0 for trains no closer than chance, and negative
for trains that avoid each other. It is undefined (NaN here) when ``2 nu Delta >= 1``:
the window is then too wide for the rate to tell a coincidence from chance.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from neurotwin.errors import check_positive

__all__ = ["coincidence_factor", "coincidences", "population_coincidence"]


def coincidences(reference: np.ndarray, compared: np.ndarray, window_ms: float) -> int:
    """Number of pairs (reference spike, compared spike) at most ``window_ms`` apart, each
    spike in at most one pair.

    Pairing in time order, earliest first, gives the largest such number for points on a
    line, so a spike a little late never steals the partner of the next one.

    Parameters
    ----------
    reference, compared
        Spike times, ms, sorted ascending, shapes (N_ref,) and (N_cmp,).
    window_ms
        Largest distance of a coincidence, ms.
    """
    i = j = found = 0
    while i < reference.size and j < compared.size:
        gap = compared[j] - reference[i]
        if abs(gap) <= window_ms:
            found += 1
            i += 1
            j += 1
        elif gap < 0:
            j += 1
        else:
            i += 1
    return found


def coincidence_factor(
    reference: np.ndarray, compared: np.ndarray, window_ms: float, duration_ms: float
) -> float:
    """Kistler's coincidence factor Gamma of ``compared`` against ``reference`` (module
    docstring), dimensionless.

    Parameters
    ----------
    reference, compared
        Spike times of one neuron, ms, sorted ascending, shapes (N_ref,) and (N_cmp,).
    window_ms
        Coincidence window Delta, ms (a spike counts within +-Delta).
    duration_ms
        Length T of the run both trains come from, ms.

    Returns
    -------
    float
        Gamma; 1.0 when both trains are empty (nothing to disagree on), NaN when
        ``2 nu Delta >= 1``.
    """
    check_positive("window_ms", window_ms, "ms")
    check_positive("duration_ms", duration_ms, "ms")
    n_ref, n_cmp = reference.size, compared.size
    if n_ref == 0 and n_cmp == 0:
        return 1.0
    n_coinc = coincidences(reference, compared, window_ms)
    if n_coinc == n_ref == n_cmp:
        # Every spike paired: the formula is exactly 1; computing it would round.
        return 1.0
    chance = 2.0 * (n_cmp / duration_ms) * window_ms
    if chance >= 1.0:
        return math.nan
    return (n_coinc - chance * n_ref) / (0.5 * (n_ref + n_cmp) * (1.0 - chance))


def _by_neuron(times: np.ndarray, ids: np.ndarray, size: int) -> list[np.ndarray]:
    """Spike times per neuron, each sorted ascending."""
    order = np.lexsort((times, ids))
    bounds = np.searchsorted(ids[order], np.arange(size + 1))
    return [times[order][a:b] for a, b in pairwise(bounds)]


def population_coincidence(
    reference: tuple[np.ndarray, np.ndarray],
    compared: tuple[np.ndarray, np.ndarray],
    size: int,
    window_ms: float,
    duration_ms: float,
) -> float | None:
    """Mean coincidence factor over the neurons of a population that spike in either run.

    Neurons silent in both runs are left out (each would count as a perfect 1 and hide
    disagreement elsewhere); so are neurons whose Gamma is undefined (NaN).

    Parameters
    ----------
    reference, compared
        (spike times in ms, neuron ids) of the population in each run, shapes (K,), (K,).
    size
        Number of neurons in the population.
    window_ms, duration_ms
        As in :func:`coincidence_factor`, ms.

    Returns
    -------
    float or None
        The mean Gamma; 1.0 when no neuron spikes in either run; None when every active
        neuron's Gamma is undefined.
    """
    ref = _by_neuron(*reference, size)
    cmp = _by_neuron(*compared, size)
    gammas = [
        coincidence_factor(r, c, window_ms, duration_ms)
        for r, c in zip(ref, cmp, strict=True)
        if r.size or c.size
    ]
    if not gammas:
        return 1.0
    defined = [g for g in gammas if not math.isnan(g)]
    return float(np.mean(defined)) if defined else None
