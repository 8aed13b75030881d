"""Spike trains of renewal processes, drawn from an explicit generator, for
:class:`~neurotwin.network.SpikeSourceArray`.

* :func:`gamma_trains`: inter-spike intervals Gamma(shape alpha, rate beta), mean
  alpha / beta, coefficient of variation 1 / sqrt(alpha) (PyNN's ``SpikeSourceGamma``);
* :func:`poisson_refractory_trains`: intervals tau_refrac + Exponential, mean 1 / rate,
  CV 1 - rate tau_refrac (PyNN's ``SpikeSourcePoissonRefractory``, NEST's
  ``ppd_sup_generator`` without its superposition).

Each source is an ordinary renewal process: its first spike falls one interval after
``start``. Intervals are drawn one source after the other from the generator in blocks,
so a longer ``stop`` extends the same trains (a prefix never changes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from neurotwin.errors import ConfigError, as_numbers, check_finite

__all__ = ["gamma_trains", "poisson_refractory_trains"]

_BLOCK = 256
"""Intervals drawn per call of the generator."""


def _per_source(name: str, value: ArrayLike, size: int) -> np.ndarray:
    arr = as_numbers(name, value)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != size):
        raise ConfigError(f"{name} must be a scalar or of shape ({size},), got {arr.shape}")
    check_finite(name, arr)
    return np.broadcast_to(arr, (size,)).astype(np.float64)


def _trains(draw: Callable[[int, np.random.Generator], np.ndarray | None], size: int,
            start: ArrayLike, stop: ArrayLike,
            rngs: list[np.random.Generator]) -> list[np.ndarray]:
    first = _per_source("start", start, size)
    last = _per_source("stop", stop, size)
    if np.any(first < 0) or np.any(last < first):
        raise ConfigError(f"need 0 <= start <= stop (ms), got start {first}, stop {last}")
    out = []
    for k in range(size):
        parts, t = [], first[k]
        while True:
            isi = draw(k, rngs[k])
            if isi is None:
                break
            times = t + np.cumsum(isi)
            parts.append(times[times < last[k]])
            if times[-1] >= last[k]:
                break
            t = times[-1]
        out.append(np.concatenate(parts) if parts else np.zeros(0))
    return out


def gamma_trains(alpha: ArrayLike, beta: ArrayLike, start: ArrayLike, stop: ArrayLike,
                 rng: np.random.Generator, size: int) -> list[np.ndarray]:
    """``size`` gamma renewal trains in [start, stop) ms.

    Parameters
    ----------
    alpha
        Shape (> 0), scalar or (size,).
    beta
        Rate parameter, Hz (>= 0; 0: no spikes), scalar or (size,).
    start, stop
        Active interval, ms, scalars or (size,).
    rng
        Generator; each source draws from its own stream spawned from its seed.
    """
    a, b = _per_source("alpha", alpha, size), _per_source("beta", beta, size)
    if np.any(a <= 0) or np.any(b < 0):
        raise ConfigError(f"alpha must be > 0 and beta >= 0 Hz, got {a}, {b}")

    def draw(k: int, gen: np.random.Generator) -> np.ndarray | None:
        return None if b[k] == 0 else gen.gamma(a[k], 1e3 / b[k], _BLOCK)

    return _trains(draw, size, start, stop, rng.spawn(size))


def poisson_refractory_trains(rate: ArrayLike, tau_refrac: ArrayLike, start: ArrayLike,
                              stop: ArrayLike, rng: np.random.Generator, size: int
                              ) -> list[np.ndarray]:
    """``size`` Poisson trains with dead time in [start, stop) ms.

    Parameters
    ----------
    rate
        Mean rate, Hz (>= 0, and below 1 / tau_refrac), scalar or (size,).
    tau_refrac
        Dead time after each spike, ms (>= 0), scalar or (size,).
    start, stop, rng
        As :func:`gamma_trains`.
    """
    r, dead = _per_source("rate", rate, size), _per_source("tau_refrac", tau_refrac, size)
    if np.any(r < 0) or np.any(dead < 0) or np.any(r * dead >= 1e3):
        raise ConfigError(f"need rate >= 0 Hz, tau_refrac >= 0 ms and rate * tau_refrac < 1, "
                          f"got rate {r} Hz, tau_refrac {dead} ms")

    def draw(k: int, gen: np.random.Generator) -> np.ndarray | None:
        if r[k] == 0:
            return None
        return dead[k] + gen.exponential(1e3 / r[k] - dead[k], _BLOCK)

    return _trains(draw, size, start, stop, rng.spawn(size))
