"""The vector unit's numerics, bit for bit, against the rules written out plainly:

    saturate(x, bits) = min(max(x, -2**(bits-1)), 2**(bits-1) - 1)
    add_fs = saturate(a + b)      sub_fs = saturate(a - b)
    mul_fs = saturate(floor(a * b / 2**(bits-1)))      (truncation, libnux' right shift)
    shift n >= 0: (a * 2**n) wrapped to the lane;  n < 0: floor(a / 2**-n)
"""

import itertools

import numpy as np
import pytest

from neurotwin.bss2.ppu import ProgramError, vector


def saturate(x: int, bits: int) -> int:
    return min(max(x, -(2 ** (bits - 1))), 2 ** (bits - 1) - 1)


def wrap(x: int, bits: int) -> int:
    x %= 2**bits
    return x - 2**bits if x >= 2 ** (bits - 1) else x


ALL8 = np.array(list(itertools.product(range(-128, 128), repeat=2)))


@pytest.mark.parametrize(("op", "rule"), [
    (vector.add_fs, lambda a, b: saturate(a + b, 8)),
    (vector.sub_fs, lambda a, b: saturate(a - b, 8)),
    (vector.mul_fs, lambda a, b: saturate((a * b) // 128, 8)),
    (vector.add_m, lambda a, b: wrap(a + b, 8)),
])
def test_every_pair_of_8_bit_lanes(op, rule):
    got = op(ALL8[:, 0], ALL8[:, 1], bits=8)
    want = np.array([rule(int(a), int(b)) for a, b in ALL8])
    np.testing.assert_array_equal(got, want)


def test_16_bit_lanes_at_their_edges():
    edge = np.array([-32768, -32767, -16384, -1, 0, 1, 16384, 32767])
    a, b = np.meshgrid(edge, edge)
    a, b = a.ravel(), b.ravel()
    np.testing.assert_array_equal(
        vector.mul_fs(a, b, bits=16),
        [saturate((int(x) * int(y)) // 32768, 16) for x, y in zip(a, b, strict=True)])
    np.testing.assert_array_equal(
        vector.add_fs(a, b, bits=16),
        [saturate(int(x) + int(y), 16) for x, y in zip(a, b, strict=True)])


def test_hand_values():
    assert vector.mul_fs([64], [64])[0] == 32          # 0.5 * 0.5 = 0.25
    assert vector.mul_fs([-128], [-128])[0] == 127     # -1 * -1 saturates
    assert vector.mul_fs([-1], [1])[0] == -1           # floor(-1/128)
    assert vector.add_fs([100], [100])[0] == 127
    assert vector.sub_fs([-100], [100])[0] == -128
    assert vector.shift([-3], -1)[0] == -2             # arithmetic: floor(-1.5)
    assert vector.shift([64], 1)[0] == -128            # modulo left shift
    # libnux' right shift by n is a multiply by 1 << (7 - n): the same numbers
    x = np.arange(-128, 128)
    for n in range(1, 8):
        factor = np.full(256, 1 << (7 - n))
        np.testing.assert_array_equal(vector.shift(x, -n), vector.mul_fs(x, factor))


def test_compare_select():
    c = np.array([-5, 0, 7])
    np.testing.assert_array_equal(vector.select(c, [1, 1, 1], [2, 2, 2], "gt"), [2, 2, 1])
    np.testing.assert_array_equal(vector.select(c, [1, 1, 1], [2, 2, 2], "lt"), [1, 2, 2])
    np.testing.assert_array_equal(vector.select(c, [1, 1, 1], [2, 2, 2], "eq"), [2, 1, 2])


def test_lane_counts_and_costs():
    assert vector.lanes(8) == 128 and vector.lanes(16) == 64
    assert vector.vector_ops(256, 8) == 2 and vector.vector_ops(256, 16) == 4


@pytest.mark.parametrize("call", [
    lambda: vector.add_fs([128], [0]),             # does not fit 8 bit
    lambda: vector.add_fs([1.5], [0]),             # not an integer
    lambda: vector.shift([1], 8),                  # shift beyond the lane
    lambda: vector.lanes(32),
])
def test_bad_operands_name_the_limit(call):
    with pytest.raises(ProgramError):
        call()
