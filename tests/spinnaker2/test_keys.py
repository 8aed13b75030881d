"""Key allocation: aligned blocks, unique and non-overlapping, one entry per slice."""

import numpy as np
import pytest

from neurotwin.errors import CapacityError
from neurotwin.spinnaker2 import map_network
from neurotwin.spinnaker2.keys import allocate_keys, block_bits


def test_block_bits():
    assert block_bits(np.array([1, 2, 3, 4, 5, 250, 256, 257])).tolist() == [
        0, 1, 2, 2, 3, 8, 8, 9,
    ]


def check_blocks(keys: np.ndarray, masks: np.ndarray, sizes: np.ndarray) -> None:
    keys64, masks64 = keys.astype(np.int64), masks.astype(np.int64)
    block = (~masks64 & 0xFFFFFFFF) + 1
    assert np.all(block >= sizes) and np.all(block < 2 * np.maximum(sizes, 1))
    assert np.all(keys64 & ~masks64 & 0xFFFFFFFF == 0)  # aligned: key & mask == key
    order = np.argsort(keys64)
    ends = keys64[order] + block[order]
    assert np.all(ends[:-1] <= keys64[order][1:])  # blocks do not overlap
    assert ends[-1] <= 1 << 32


def test_keys_unique_aligned_and_disjoint():
    rng = np.random.default_rng(0)
    chip = np.sort(rng.integers(0, 20, 300))
    sizes = rng.integers(1, 257, 300)
    keys, masks = allocate_keys(chip, sizes)
    assert keys.dtype == np.uint32 and masks.dtype == np.uint32
    check_blocks(keys, masks, sizes)


def test_every_neuron_key_matches_its_own_slice_only(random_network):
    p = map_network(random_network(1), neurons_per_pe=17, sources_per_pe=23)
    check_blocks(p.slice_key, p.slice_mask, p.slice_hi - p.slice_lo)
    for label in p.labels:
        neurons = np.arange(int(p.sizes[p.node_index(label)]))
        keys = p.key_of(label, neurons)
        assert len(np.unique(keys)) == len(keys)
        owners = (keys[:, None] & p.slice_mask[None, :]) == p.slice_key[None, :]
        assert np.all(owners.sum(axis=1) == 1)
        assert np.array_equal(np.argmax(owners, axis=1), p.slice_of(label, neurons))


def test_chip_ranges_are_contiguous():
    chip = np.repeat(np.arange(3), [5, 4, 3])
    keys, _ = allocate_keys(chip, np.full(12, 100))
    for c in range(3):
        k = np.sort(keys[chip == c].astype(np.int64))
        assert np.all(np.diff(k) == 128)
        assert k[0] % (1 << int(np.ceil(np.log2(len(k) * 128)))) == 0


def test_key_space_overflow_raises():
    with pytest.raises(CapacityError, match="routing keys") as err:
        allocate_keys(np.arange(3), np.full(3, 2**31))
    assert err.value.needed == 3 * 2**31 and err.value.available == 2**32
