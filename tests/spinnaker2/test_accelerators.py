"""The PE accelerators: MAC-array numerics and cycle counts against hand calculations."""

import numpy as np
import pytest

from neurotwin.spinnaker2 import accelerators as acc
from neurotwin.spinnaker2 import specs


def test_mac_array_numbers():
    assert specs.MAC_ARRAY_ROWS * specs.MAC_ARRAY_COLUMNS == specs.MACS_PER_CYCLE == 64
    assert specs.MAC_ACCUMULATOR_MAX == 2**28 - 1


def test_wrap_accumulator_is_29_bit_twos_complement():
    values = np.array([0, 5, -7, 2**28 - 1, -(2**28), 2**28, -(2**28) - 1, 2**29 + 3])
    expected = np.array([0, 5, -7, 2**28 - 1, -(2**28), -(2**28), 2**28 - 1, 3])
    np.testing.assert_array_equal(acc.wrap_accumulator(values), expected)


def test_mac_matmul_equals_integer_matmul_in_range():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (37, 300), dtype=np.int64)
    w = rng.integers(-128, 128, (300, 21), dtype=np.int64)
    np.testing.assert_array_equal(acc.mac_matmul(x.astype(np.uint8), w.astype(np.int8)), x @ w)


def test_mac_matmul_wraps_out_of_range_sums():
    x = np.full((1, 10_000), 255, dtype=np.uint8)
    w = np.full((10_000, 1), 127, dtype=np.int8)
    true = 10_000 * 255 * 127
    assert acc.mac_matmul(x, w)[0, 0] == (true + 2**28) % 2**29 - 2**28


@pytest.mark.parametrize(("m", "k", "n", "tiles"), [
    (1, 784, 128, 8),       # one sample, 128 outputs: 8 tiles of 1 x 16 (rows idle)
    (676, 9, 8, 86),        # conv 26 x 26 positions, 8 channels -> rows: 2 x 43 tiles
    (4, 10, 16, 1),
    (5, 10, 16, 2),
])
def test_mac_cycles(m, k, n, tiles):
    assert acc.mac_cycles(m, k, n) == (specs.CYCLES_MAC_CALL
                                       + tiles * (k + specs.CYCLES_MAC_TILE_DRAIN))


def test_empty_jobs_and_transfers_cost_nothing():
    assert acc.mac_cycles(0, 5, 5) == 0
    assert acc.dram_transfer_us(0) == 0.0
    assert acc.noc_transfer_cycles(0) == 0


def test_transfers():
    # 6,400 bytes at 6.4 GB/s = 1 µs, plus the latency
    assert acc.dram_transfer_us(6400) == pytest.approx(specs.DRAM_LATENCY_NS * 1e-3 + 1.0)
    assert acc.noc_transfer_cycles(33) == specs.NOC_LATENCY_CYCLES + 3


def test_exp_log_rng_cycles():
    assert acc.exp_cycles(10) == 10 * specs.CYCLES_PER_EXP
    assert acc.log_cycles(3) == 3 * specs.CYCLES_PER_LOG
    assert acc.rng_cycles(7) == 7 * specs.CYCLES_PER_RANDOM_WORD
