"""Routing-key allocation: one aligned power-of-two block of 32-bit keys per slice.

Neuron ``i`` of a slice sends key ``slice_key + i``; ``slice_mask`` clears the low
``ceil(log2(slice size))`` bits, so one (key, mask) entry matches every neuron of the
slice. Keys follow placement order and each chip's slices share one block size, so the
slices of a chip occupy one contiguous key range, aligned to a power of two where the key
space allows: slices of a chip with the same route then merge into few table entries.
"""

from __future__ import annotations

import numpy as np

from neurotwin.errors import CapacityError
from neurotwin.spinnaker2.specs import KEY_BITS

__all__ = ["allocate_keys", "block_bits"]

KEY_SPACE = 1 << KEY_BITS
FULL_MASK = KEY_SPACE - 1


def block_bits(size: np.ndarray) -> np.ndarray:
    """Bits needed to number ``size`` neurons: ceil(log2(size)), 0 for size 1."""
    return np.frexp(np.asarray(size, dtype=np.float64) - 1)[1].astype(np.int64)


def _next_pow2(n: np.ndarray) -> np.ndarray:
    return np.left_shift(np.int64(1), block_bits(n))


def allocate_keys(slice_chip: np.ndarray, slice_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys and masks of every slice.

    Parameters
    ----------
    slice_chip
        (n_slices,) chip of each slice; slices of one chip must be consecutive.
    slice_size
        (n_slices,) neurons per slice.

    Returns
    -------
    keys, masks
        (n_slices,) uint32 each.

    Raises
    ------
    CapacityError
        The blocks need more than the 2**32 keys ("routing keys").
    """
    n = len(slice_chip)
    if n == 0:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
    bits = block_bits(slice_size)
    starts = np.flatnonzero(np.concatenate([[True], slice_chip[1:] != slice_chip[:-1]]))
    counts = np.diff(np.append(starts, n))
    block = np.maximum.reduceat(np.left_shift(np.int64(1), bits), starts)
    rank = np.arange(n) - np.repeat(starts, counts)
    span = counts * block
    base = None
    for aligned in (True, False):
        align = _next_pow2(span) if aligned else block
        chip_base = np.empty(len(starts), np.int64)
        cursor = 0
        for c in range(len(starts)):
            a = int(align[c])
            cursor = -(-cursor // a) * a
            chip_base[c] = cursor
            cursor += int(span[c])
        if cursor <= KEY_SPACE:
            base = chip_base
            break
    if base is None:
        raise CapacityError(
            "routing keys", cursor, KEY_SPACE,
            f"{n} slices on {len(starts)} chips; lower the slice count or neurons per PE",
        )
    keys = np.repeat(base, counts) + rank * np.repeat(block, counts)
    masks = FULL_MASK ^ (np.left_shift(np.int64(1), bits) - 1)
    return keys.astype(np.uint32), masks.astype(np.uint32)
