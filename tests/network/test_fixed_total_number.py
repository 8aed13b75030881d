"""fixed_total_number: NEST's rule with multapses, checked against its analytic statistics."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.errors import ConfigError
from neurotwin.network import fixed_total_number


def _counts(layers):
    """(n_pre, n_post) synapse count per pair, summed over the layers."""
    return sum(m.toarray() != 0 for m in layers).astype(int)


def test_exact_total_and_layers_hold_each_pair_once():
    layers = fixed_total_number(40, 30, 5000, 0.25, np.random.default_rng(0))
    assert sum(m.nnz for m in layers) == 5000
    assert len(layers) > 1  # 5000 draws over 1200 pairs: multapses are certain
    for m in layers:
        assert isinstance(m, sp.csr_array) and m.shape == (40, 30)
        assert m.has_canonical_format and np.all(m.data == 0.25)
    # a pair is in layer k only if it is in every layer before it
    for before, after in itertools.pairwise(layers):
        assert np.all((after.toarray() != 0) <= (before.toarray() != 0))


def test_pair_statistics_match_the_analytic_ones():
    n_pre, n_post, n_total = 200, 150, 12_000
    counts = _counts(fixed_total_number(n_pre, n_post, n_total, 1.0,
                                        np.random.default_rng(1)))
    pairs = n_pre * n_post
    # connected at least once: 1 - (1 - 1/M)^N, the formula behind PD14's synapse numbers
    p_conn = 1 - (1 - 1 / pairs) ** n_total
    frac = (counts > 0).mean()
    assert abs(frac - p_conn) < 4 * np.sqrt(p_conn * (1 - p_conn) / pairs)
    # in-degree ~ Binomial(N, 1/n_post): mean exact, variance within sampling error
    indeg = counts.sum(axis=0)
    assert indeg.sum() == n_total
    var = n_total * (1 / n_post) * (1 - 1 / n_post)
    assert abs(indeg.var() / var - 1) < 4 * np.sqrt(2 / n_post)
    # multiplicity of a pair ~ Poisson-like Binomial(N, 1/M): P(count >= 2)
    p2 = 1 - (1 - 1 / pairs) ** n_total - n_total / pairs * (1 - 1 / pairs) ** (n_total - 1)
    assert abs((counts >= 2).mean() - p2) < 4 * np.sqrt(p2 / pairs)


def test_without_self_no_diagonal():
    counts = _counts(fixed_total_number(20, 20, 2000, 1.0, np.random.default_rng(2),
                                        allow_self=False))
    assert counts.sum() == 2000
    assert np.all(np.diag(counts) == 0)


def test_empty_and_reproducible():
    layers = fixed_total_number(5, 7, 0, 1.0, np.random.default_rng(0))
    assert len(layers) == 1 and layers[0].nnz == 0 and layers[0].shape == (5, 7)
    a = fixed_total_number(50, 60, 900, 1.0, np.random.default_rng(3))
    b = fixed_total_number(50, 60, 900, 1.0, np.random.default_rng(3))
    assert all(np.array_equal(x.indices, y.indices) and np.array_equal(x.indptr, y.indptr)
               for x, y in zip(a, b, strict=True))


def test_layers_connect_as_projections_with_per_synapse_delays():
    net = nt.Network(dt=0.1)
    pop = net.add(nt.Population(30, nt.LIF()))
    for m in fixed_total_number(30, 30, 2000, 0.1, np.random.default_rng(4)):
        delays = np.full(m.nnz, 0.2)
        net.connect(pop, pop, m, receptor="exc", delays=delays)
    assert sum(p.n_synapses for p in net.projections) == 2000


@pytest.mark.parametrize(
    ("args", "message"),
    [((5, 5, -1, 1.0), "n_total"), ((0, 5, 3, 1.0), "candidate pair"),
     ((1, 1, 2, 1.0), "candidate pair"), ((5, 5, 3, float("nan")), "weight")],
)
def test_bad_inputs(args, message):
    allow_self = args[:2] != (1, 1)
    with pytest.raises(ConfigError, match=message):
        fixed_total_number(*args, np.random.default_rng(0), allow_self=allow_self)
