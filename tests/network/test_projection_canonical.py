"""Sparse weights given in non-canonical CSR order keep their per-synapse delays."""

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt


def test_unsorted_columns_keep_their_delays():
    w = sp.csr_array((np.array([1.0, 2.0, 4.0]), np.array([2, 0, 1]), np.array([0, 2, 3])),
                     shape=(2, 3))
    syn = nt.Projection("a", "b", w, delays=np.array([3.0, 1.0, 2.0])).synapses()
    pairs = {(p, q): (wt, d) for p, q, wt, d in zip(*syn, strict=True)}
    assert pairs == {(0, 2): (1.0, 3.0), (0, 0): (2.0, 1.0), (1, 1): (4.0, 2.0)}


def test_duplicates_with_per_synapse_delays_are_refused():
    w = sp.csr_array((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 2])), shape=(1, 2))
    with pytest.raises(nt.ConfigError, match="duplicate entries"):
        nt.Projection("a", "b", w, delays=np.array([1.0, 2.0]))
    summed = nt.Projection("a", "b", w, delays=1.0).synapses()
    np.testing.assert_array_equal(summed.weight, [3.0])
