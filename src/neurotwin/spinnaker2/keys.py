"""Routing-key allocation: one aligned power-of-two block of 32-bit keys per slice.

Neuron ``i`` of a slice sends key ``slice_key + i``; ``slice_mask`` clears the low
``ceil(log2(slice size))`` bits, so one (key, mask) entry matches every neuron of the
slice. Keys follow placement order and each chip's slices share one block size, so the
slices of a chip occupy one contiguous key range, aligned to a power of two where the key
space allows: slices of a chip with the same route then merge into few table entries.
"""

from __future__ import annotations

import numba
import numpy as np

from neurotwin.errors import CapacityError
from neurotwin.spinnaker2.specs import KEY_BITS

__all__ = ["allocate_keys", "block_bits"]

KEY_SPACE = 1 << KEY_BITS


def block_bits(size: np.ndarray) -> np.ndarray:
    """Bits needed to number ``size`` neurons: ceil(log2(size)), 0 for size 1."""
    return np.frexp(np.asarray(size, dtype=np.float64) - 1)[1].astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _key_blocks(
    slice_chip: np.ndarray, slice_size: np.ndarray, key_space: int
) -> tuple[np.ndarray, np.ndarray, int, int]:  # pragma: no cover - compiled
    """(keys, masks) as int64, or empty arrays with the keys needed and the chip count
    when the blocks do not fit ``key_space`` (see :func:`allocate_keys`)."""
    n = slice_chip.size
    bits = np.empty(n, np.int64)
    for s in range(n):
        b = 0
        while (1 << b) < slice_size[s]:  # ceil(log2(size)), 0 for size 1
            b += 1
        bits[s] = b
    starts = [0]
    for s in range(1, n):
        if slice_chip[s] != slice_chip[s - 1]:
            starts.append(s)
    n_runs = len(starts)
    starts.append(n)
    block = np.zeros(n_runs, np.int64)  # one block size per chip: its largest slice's
    span = np.empty(n_runs, np.int64)
    for c in range(n_runs):
        for s in range(starts[c], starts[c + 1]):
            block[c] = max(block[c], 1 << bits[s])
        span[c] = (starts[c + 1] - starts[c]) * block[c]
    base = np.empty(n_runs, np.int64)
    cursor = 0
    for aligned in (True, False):
        cursor = 0
        for c in range(n_runs):
            a = block[c]
            if aligned:  # the chip's range aligned to its size rounded up to a power of 2
                a = 1
                while a < span[c]:
                    a <<= 1
            cursor = -(-cursor // a) * a
            base[c] = cursor
            cursor += span[c]
        if cursor <= key_space:
            break
    if cursor > key_space:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), cursor, n_runs
    keys = np.empty(n, np.int64)
    masks = np.empty(n, np.int64)
    for c in range(n_runs):
        for s in range(starts[c], starts[c + 1]):
            keys[s] = base[c] + (s - starts[c]) * block[c]
            masks[s] = (key_space - 1) ^ ((1 << bits[s]) - 1)  # all bits but the block's
    return keys, masks, cursor, n_runs


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
    keys, masks, cursor, n_chips = _key_blocks(
        np.asarray(slice_chip, np.int64), np.asarray(slice_size, np.int64), KEY_SPACE
    )
    if keys.size < n:
        raise CapacityError(
            "routing keys", cursor, KEY_SPACE,
            f"{n} slices on {n_chips} chips; lower the slice count or neurons per PE",
        )
    return keys.astype(np.uint32), masks.astype(np.uint32)
