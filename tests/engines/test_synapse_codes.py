"""The numba kernel's packed synapses (engines/synapse_codes.py): the fields survive
packing, and delivery adds exactly what numpy's add.at adds (same order, same bits)."""

import numpy as np
import pytest

from neurotwin.engines import synapse_codes
from neurotwin.engines.synapse_codes import MAX_TABLE, deliver_row, pack_synapses
from neurotwin.errors import CapacityError


def unpack(codes):
    c = codes.code.astype(np.uint64)
    target = c & np.uint64(codes.target_mask)
    delay = (c >> np.uint64(codes.delay_shift)) & np.uint64(codes.delay_mask)
    if codes.tabled:
        weight = codes.weights[(c >> np.uint64(codes.weight_shift)).astype(np.int64)]
    else:
        weight = codes.weights
    return target.astype(np.int64), delay.astype(np.int64), weight


@pytest.mark.parametrize(
    ("n_targets", "n_slots", "n_weights", "width", "tabled"),
    [
        (512_000, 2, 2, np.uint32, True),  # bench cuba at 256k neurons
        (2**26, 200, 2, np.uint64, True),  # 26 + 8 + 1 bits: one word of 64
        (1000, 20, 10**6, np.uint32, False),  # too many weights for a table
        (2**31, 2**12, 100, np.uint64, True),
    ],
)
def test_fields_survive_packing(n_targets, n_slots, n_weights, width, tabled, monkeypatch):
    monkeypatch.setattr(synapse_codes, "PACK_BLOCK", 1000)  # several blocks, a partial last
    rng = np.random.default_rng(0)
    m = 6000
    target = rng.integers(0, n_targets, m)
    target[:2] = [0, n_targets - 1]
    delay = rng.integers(1, n_slots, m) if n_slots > 2 else np.ones(m, np.int64)
    values = rng.uniform(0.0, 1.0, n_weights)
    weight = values[rng.integers(0, n_weights, m)]
    codes = pack_synapses(target, delay, weight, n_targets, n_slots, np.float64)
    assert codes.code.dtype == width and codes.tabled == tabled
    assert codes.tabled == (np.unique(weight).size <= MAX_TABLE)
    t, d, w = unpack(codes)
    np.testing.assert_array_equal(t, target)
    np.testing.assert_array_equal(d, delay)
    assert w.tobytes() == weight.tobytes()  # the very same float64 values


@pytest.mark.parametrize("n_weights", [3, MAX_TABLE + 1])
def test_delivery_matches_add_at(n_weights):
    """Rows with repeated targets: the sums are added in synapse order, as add.at does."""
    rng = np.random.default_rng(1)
    n_targets, n_slots, trials, m = 50, 7, 2, 20_000
    target = rng.integers(0, n_targets, m)
    delay = rng.integers(1, n_slots, m)
    weight = rng.uniform(0.0, 1.0, n_weights)[rng.integers(0, n_weights, m)]
    codes = pack_synapses(target, delay, weight, n_targets, n_slots, np.float64)
    buf = np.zeros((n_slots, trials, n_targets))
    expected = buf.copy()
    slot, b, lo, hi = 5, 1, 100, 19_000
    deliver_row(buf, b, slot, lo, hi, codes.code, codes.weights, codes.tabled,
                codes.target_mask, codes.delay_shift, codes.delay_mask, codes.weight_shift)
    np.add.at(expected[:, b, :], ((slot + delay[lo:hi]) % n_slots, target[lo:hi]),
              weight[lo:hi])
    assert buf.tobytes() == expected.tobytes()


def test_too_wide_is_refused():
    with pytest.raises(CapacityError, match="bits of a synapse word: needed 67, available 64"):
        pack_synapses(np.zeros(1, np.int64), np.ones(1, np.int64), np.ones(1), 2**62, 2**4,
                      np.float64)
