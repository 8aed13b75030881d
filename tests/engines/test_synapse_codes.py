"""The numba kernel's packed synapses (engines/synapse_codes.py): the fields survive
packing, the word is the narrowest that holds them, and delivery adds exactly what numpy's
add.at adds (same order, same bits)."""

import numpy as np
import pytest

from neurotwin.engines.synapse_codes import MAX_TABLE, code_layout, deliver_row
from neurotwin.errors import CapacityError


def pack(target, delay, weight, n_targets, n_slots):
    """Pack as engines.synapse_build does: a table of the distinct weights where it fits."""
    table = np.unique(weight)
    tabled = table.size <= MAX_TABLE
    layout = code_layout(n_targets, n_slots, table.size if tabled else None)
    code = layout.encode(target, delay, np.searchsorted(table, weight) if tabled else None)
    return layout.codes(code, table if tabled else weight, tabled)


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
def test_fields_survive_packing(n_targets, n_slots, n_weights, width, tabled):
    rng = np.random.default_rng(0)
    m = 6000
    target = rng.integers(0, n_targets, m)
    target[:2] = [0, n_targets - 1]
    delay = rng.integers(1, n_slots, m) if n_slots > 2 else np.ones(m, np.int64)
    values = rng.uniform(0.0, 1.0, n_weights)
    weight = values[rng.integers(0, n_weights, m)]
    codes = pack(target, delay, weight, n_targets, n_slots)
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
    codes = pack(target, delay, weight, n_targets, n_slots)
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
        code_layout(2**62, 2**4, 2)


@pytest.mark.parametrize(("n_targets", "n_slots", "n_table", "width"), [
    (2**16, 2**8, 2**8, np.uint32),  # 16 + 8 + 8 = 32 bits: still one uint32
    (2**16, 2**8, 2**8 + 1, np.uint64),  # one more bit of index
    (2**24, 2**8, None, np.uint32),  # no table: no index field
    (2**24 + 1, 2**8, None, np.uint64),
])
def test_narrowest_word(n_targets, n_slots, n_table, width):
    assert code_layout(n_targets, n_slots, n_table).width is width
