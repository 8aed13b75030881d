"""Compact storage of connector output: one stored weight, int32 indices, no per-synapse
copies when connecting; per-synapse weights behave as before."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.network import fixed_fan_in, fixed_probability
from neurotwin.network.projection import constant_value


def reference_fixed_fan_in(n_pre, n_post, fan_in, weight, rng, allow_self=True):
    """The previous implementation (full redraw passes, scipy transpose): the output must
    not have changed for a given generator state."""
    own = np.arange(n_post)[:, None]
    if fan_in > 0.25 * n_pre:
        keys = rng.random((n_post, n_pre))
        if not allow_self:
            rows = np.arange(min(n_post, n_pre))
            keys[rows, rows] = 2.0
        pre = np.argsort(keys, axis=1)[:, :fan_in].astype(np.int32)
    else:
        pre = rng.integers(0, n_pre, (n_post, fan_in), dtype=np.int32)
        while True:
            pre.sort(axis=1)
            bad = np.zeros(pre.shape, bool)
            bad[:, 1:] = pre[:, 1:] == pre[:, :-1]
            if not allow_self:
                bad |= pre == own
            n_bad = int(bad.sum())
            if n_bad == 0:
                break
            pre[bad] = rng.integers(0, n_pre, n_bad, dtype=np.int32)
    indptr = np.arange(n_post + 1, dtype=np.int64) * fan_in
    by_post = sp.csr_array((np.full(pre.size, float(weight)), pre.ravel(), indptr),
                           shape=(n_post, n_pre))
    return sp.csr_array(by_post.T)


@pytest.mark.parametrize(("n_pre", "n_post", "k", "allow_self"), [
    (1000, 300, 10, True), (1000, 300, 10, False), (30, 50, 20, True), (200, 200, 150, False),
    (3000, 2000, 50, False), (5, 4, 5, True),
])  # fmt: skip
def test_fixed_fan_in_is_unchanged_and_compact(n_pre, n_post, k, allow_self):
    got = fixed_fan_in(n_pre, n_post, k, 0.5, np.random.default_rng(3), allow_self)
    want = reference_fixed_fan_in(n_pre, n_post, k, 0.5, np.random.default_rng(3), allow_self)
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.toarray(), want.toarray())
    assert got.indices.dtype == np.int32 and got.indptr.dtype == np.int32
    assert got.data.strides == (0,) and not got.data.flags.writeable  # stored once
    assert got.has_canonical_format


def test_fixed_probability_stores_its_weight_once():
    w = fixed_probability(50, 40, 0.3, 0.25, np.random.default_rng(7))
    assert w.data.strides == (0,) and constant_value(w.data) == 0.25
    np.testing.assert_array_equal(w.toarray()[w.toarray() != 0], 0.25)


def test_connecting_a_compact_projection_copies_nothing_per_synapse():
    w = fixed_fan_in(2000, 2000, 500, 0.1, np.random.default_rng(0))  # 1M synapses
    net = nt.Network(dt=1.0)
    pop = net.add(nt.Population(2000, nt.LIF(), label="pop"))
    tracemalloc.start()
    proj = net.connect(pop, pop, w, receptor="exc", delays=2.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # a per-synapse int64 or float64 copy alone would be 8 MB
    csr = proj.csr()
    assert csr.weight.ndim == 0 and float(csr.weight) == 0.1
    assert csr.delay.ndim == 0 and float(csr.delay) == 2.0
    assert np.shares_memory(csr.post, w.indices)
    assert proj.n_synapses == 1_000_000


def test_synapses_of_a_compact_projection_are_full_writable_arrays():
    w = fixed_fan_in(30, 20, 5, 0.7, np.random.default_rng(4))
    proj = nt.Projection("a", "b", w)
    syn = proj.synapses()
    assert syn.weight.shape == (100,) and syn.weight.flags.writeable
    np.testing.assert_array_equal(syn.weight, 0.7)
    dense = np.zeros((30, 20))
    dense[syn.pre, syn.post] = syn.weight
    np.testing.assert_array_equal(dense, w.toarray())


def test_compact_weights_are_still_checked():
    w = fixed_fan_in(30, 20, 5, 0.7, np.random.default_rng(4))
    neg = sp.csr_array((np.broadcast_to(-1.0, (w.nnz,)), w.indices, w.indptr), shape=w.shape)
    with pytest.raises(nt.ConfigError, match=r">= 0 nA"):
        nt.Projection("a", "b", neg, receptor="exc")
    bad = sp.csr_array((np.broadcast_to(np.nan, (w.nnz,)), w.indices, w.indptr), shape=w.shape)
    with pytest.raises(nt.ConfigError, match="finite"):
        nt.Projection("a", "b", bad)
    net = nt.Network(dt=1.0)
    pop = net.add(nt.Population(30, nt.LIF(), label="a"))
    with pytest.raises(nt.ConfigError, match="multiple of the time step"):
        net.connect(pop, pop, fixed_fan_in(30, 30, 5, 0.7, np.random.default_rng(4)),
                    delays=1.5)


@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_csr_of_per_synapse_weights_matches_synapses(form):
    rng = np.random.default_rng(5)
    dense = rng.uniform(-1, 1, (12, 9)) * (rng.random((12, 9)) < 0.4)
    weights = dense if form == "dense" else sp.csr_array(dense)
    delays = rng.integers(1, 4, dense.shape).astype(float)
    d = delays if form == "dense" else delays[dense != 0]
    proj = nt.Projection("a", "b", weights, receptor=None, delays=d)
    csr, syn = proj.csr(), proj.synapses()
    pre = np.repeat(np.arange(12), np.diff(csr.indptr))
    assert np.array_equal(pre, syn.pre) and np.array_equal(csr.post, syn.post)
    assert np.array_equal(csr.weight, syn.weight) and np.array_equal(csr.delay, syn.delay)
    assert csr.weight.ndim == 1 and constant_value(csr.weight) is None
