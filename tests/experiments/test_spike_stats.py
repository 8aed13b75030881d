"""activity_stats against analytic values: Poisson trains, regular trains, lock-step."""

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments.spike_stats import activity_stats


def _poisson(n, rate_hz, t_ms, rng):
    times, ids = [], []
    for k in range(n):
        count = rng.poisson(rate_hz * t_ms * 1e-3)
        times.append(np.sort(rng.uniform(0, t_ms, count)))
        ids.append(np.full(count, k))
    return np.concatenate(times), np.concatenate(ids)


def test_poisson_trains_have_cv_and_synchrony_one():
    times, ids = _poisson(500, 20.0, 10_000.0, np.random.default_rng(0))
    s = activity_stats(times, ids, 500, 0.0, 10_000.0)
    assert s.rate_hz == pytest.approx(20.0, rel=0.01)
    assert s.cv_isi == pytest.approx(1.0, abs=0.02)  # exponential ISIs
    # independent trains: the bin count is Poisson, variance = mean
    assert s.synchrony == pytest.approx(1.0, abs=0.1)
    assert s.cv_neurons == 500


def test_regular_lockstep_trains():
    # every neuron fires at 10, 20, ... ms: CV 0; all spikes in the same bins
    t = np.arange(10.0, 1000.0, 10.0)
    n = 50
    times, ids = np.tile(t, n), np.repeat(np.arange(n), t.size)
    s = activity_stats(times, ids, n, 0.0, 999.0)
    assert s.cv_isi == pytest.approx(0.0, abs=1e-12)
    # 333 bins of 3 ms, 99 of them with n spikes: var/mean = n (1 - q), q = 99/333
    q = t.size / 333
    assert s.synchrony == pytest.approx(n * (1 - q), rel=1e-9)


def test_window_and_silence():
    s = activity_stats(np.array([1.0, 50.0]), np.array([0, 1]), 4, 10.0, 30.0)
    assert s.rate_hz == 0.0 and np.isnan(s.cv_isi) and np.isnan(s.synchrony)
    with pytest.raises(ConfigError, match="window"):
        activity_stats(np.zeros(0), np.zeros(0, int), 1, 0.0, 1.0)
