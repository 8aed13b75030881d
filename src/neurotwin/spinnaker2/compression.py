"""Router-table compression that keeps routing exactly the same.

Two entries of a chip with the same route and the same mask whose keys differ in one
bit ``b`` of the mask match, together, exactly the keys of one entry with bit ``b``
cleared from key and mask. Merging such pairs never changes which route any key gets
(the tables built here have non-overlapping entries, so the order of entries does not
matter either).

1. Buddy pass: for b = 0..31, merge pairs whose lowest mask bit is b. Slices of a chip
   hold aligned, contiguous key blocks (:mod:`neurotwin.spinnaker2.keys`), so blocks
   with the same route collapse like a binary buddy allocator: 2**j neighbouring
   slices with one route become one entry.
2. Only for chips still over capacity: sweeps over every mask bit until nothing merges
   (catches pairs that differ in a higher bit, e.g. slices 0 and 2 of a chip).

What is still too large after this is reported by the mapper (CapacityError).
"""

from __future__ import annotations

import numpy as np

from neurotwin.spinnaker2.routing import Tables
from neurotwin.spinnaker2.specs import KEY_BITS

__all__ = ["compress"]

MAX_SWEEPS = KEY_BITS
"""Full sweeps of pass 2 before it stops (each merge clears one mask bit)."""


def _merge_bit(
    group: np.ndarray, key: np.ndarray, mask: np.ndarray, alive: np.ndarray, b: int, lowest: bool
) -> int:
    """Merge, in place, buddy pairs at bit ``b``; return how many merged."""
    bit = np.int64(1) << b
    if lowest:
        cand = (mask & ((bit << 1) - 1)) == bit
    else:
        cand = (mask & bit) != 0
    idx = np.flatnonzero(cand & alive)
    if idx.size < 2:
        return 0
    sec = (mask[idx].astype(np.uint64) << np.uint64(32)) | (key[idx] & ~bit).astype(np.uint64)
    order = np.lexsort((sec, group[idx]))
    g, s = group[idx][order], sec[order]
    same = (g[1:] == g[:-1]) & (s[1:] == s[:-1])
    if not same.any():
        return 0
    lo = idx[order[:-1][same]]
    hi = idx[order[1:][same]]
    key[lo] &= ~bit
    mask[lo] &= ~bit
    alive[hi] = False
    return int(lo.size)


def compress(tables: Tables, capacity: int) -> Tables:
    """Exactly equivalent, smaller tables.

    Parameters
    ----------
    tables
        Router tables with non-overlapping entries on each chip.
    capacity
        Entries a chip holds; chips above it after the buddy pass get the thorough pass.
    """
    n_chips = len(tables.offsets) - 1
    chip = tables.chip_of_entries()
    if chip.size == 0:
        return tables
    _, route_id = np.unique(tables.route, axis=0, return_inverse=True)
    route_id = route_id.ravel().astype(np.int64)
    n_routes = int(route_id.max()) + 1
    group = chip * n_routes + route_id
    key = tables.key.astype(np.int64)
    mask = tables.mask.astype(np.int64)
    # identical entries (same chip, key, mask, route) are redundant: keep one
    code = np.lexsort((key, mask, group))
    dup = np.zeros(chip.size, dtype=bool)
    dup[code[1:]] = (
        (group[code[1:]] == group[code[:-1]])
        & (key[code[1:]] == key[code[:-1]])
        & (mask[code[1:]] == mask[code[:-1]])
    )
    alive = ~dup
    b = 0
    while b < KEY_BITS:
        _merge_bit(group, key, mask, alive, b, lowest=True)
        # next bit that is some live entry's lowest mask bit (merges only raise it)
        low = mask[alive] & -mask[alive]
        higher = low[low > (1 << b)]
        b = int(higher.min()).bit_length() - 1 if higher.size else KEY_BITS
    sizes = np.bincount(chip[alive], minlength=n_chips)
    full = np.isin(chip, np.flatnonzero(sizes > capacity))
    if full.any():
        sub = alive & full
        for _ in range(MAX_SWEEPS):
            merged = sum(
                _merge_bit(group, key, mask, sub, b, lowest=False) for b in range(KEY_BITS)
            )
            if merged == 0:
                break
        alive = np.where(full, sub, alive)
    return Tables.from_entries(
        n_chips, chip[alive], key[alive], mask[alive], tables.route[alive]
    )
