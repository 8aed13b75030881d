"""fixed_fan_in draws distinct sources for every target, in both of its regimes."""

import numpy as np
import pytest

from neurotwin.network import fixed_fan_in


@pytest.mark.parametrize(
    ("n_pre", "n_post", "k", "allow_self"),
    [(1000, 300, 10, True), (1000, 300, 10, False), (30, 50, 20, True), (30, 50, 29, False),
     (5, 4, 5, True)],
)
def test_distinct_sources_and_no_self(n_pre, n_post, k, allow_self):
    dense = fixed_fan_in(n_pre, n_post, k, 0.5, np.random.default_rng(0), allow_self).toarray()
    assert dense.shape == (n_pre, n_post)
    assert np.all((dense > 0).sum(axis=0) == k)  # k distinct sources, no summed repeats
    assert set(np.unique(dense)) <= {0.0, 0.5}
    if not allow_self:
        n = min(n_pre, n_post)
        assert np.all(dense[np.arange(n), np.arange(n)] == 0)


def test_sources_are_used_uniformly():
    counts = (fixed_fan_in(200, 5000, 10, 1.0, np.random.default_rng(1)).toarray() > 0).sum(1)
    expected = 5000 * 10 / 200
    assert abs(counts.mean() - expected) < 1e-9
    assert counts.std() < 2 * np.sqrt(expected)  # binomial-like spread, no favoured source
