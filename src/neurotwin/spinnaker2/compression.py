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

Both passes are compiled and run chip by chip (entries merge within a chip only, so each
chip's entries stay in cache); buddies are found with a hash table of (route, mask, key
without the bit) rather than a sort.

What is still too large after this is reported by the mapper (CapacityError).
"""

from __future__ import annotations

import numba
import numpy as np

from neurotwin.spinnaker2.routing import ROUTE_WORDS, Tables
from neurotwin.spinnaker2.specs import KEY_BITS

__all__ = ["compress"]

MAX_SWEEPS = KEY_BITS
"""Full sweeps of pass 2 before it stops (each merge clears one mask bit)."""


@numba.njit(cache=True, nogil=True)
def _previous_equal(rows: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """For each row of ``rows`` (n, k) int64, the index of the closest earlier row with
    the same values, or -1 (an open-addressing hash table: O(n), no sort).

    Rows with equal values, in index order, are what a stable sort puts next to each
    other, so ``(previous[e], e)`` are exactly the neighbouring pairs of such a sort.
    """
    n, k = rows.shape
    size = 1
    while size < 2 * n:
        size <<= 1
    table = np.full(size, -1, np.int64)  # latest row of each distinct value
    previous = np.full(n, -1, np.int64)
    slots = np.uint64(size - 1)
    for e in range(n):
        h = np.uint64(0x9E3779B97F4A7C15)
        for c in range(k):  # a 64-bit mix of the row (splitmix64's finaliser per value)
            h = (h ^ np.uint64(rows[e, c])) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
        slot = h & slots
        while True:
            r = table[slot]
            if r < 0:
                table[slot] = e
                break
            same = True
            for c in range(k):
                if rows[r, c] != rows[e, c]:
                    same = False
                    break
            if same:
                previous[e] = r
                table[slot] = e
                break
            slot = (slot + np.uint64(1)) & slots
    return previous


@numba.njit(cache=True, nogil=True)
def _merge_bit(
    group: np.ndarray, key: np.ndarray, mask: np.ndarray, alive: np.ndarray, b: int,
    lowest: bool,
) -> int:  # pragma: no cover - compiled; tested through compress
    """Merge, in place, buddy pairs at bit ``b`` (entries whose lowest mask bit is ``b``
    if ``lowest``, else all with mask bit ``b``); return how many merged.

    Buddies agree in (group, mask, key without bit ``b``); of each pair the earlier entry
    is kept with bit ``b`` cleared from key and mask, the later one dies.
    """
    bit = np.int64(1) << b
    below = (bit << 1) - 1
    n = key.size
    idx = np.empty(n, np.int64)
    n_cand = 0
    for e in range(n):
        if alive[e] and ((mask[e] & below) == bit if lowest else (mask[e] & bit) != 0):
            idx[n_cand] = e
            n_cand += 1
    if n_cand < 2:
        return 0
    rows = np.empty((n_cand, 3), np.int64)
    for i in range(n_cand):
        e = idx[i]
        rows[i, 0] = group[e]
        rows[i, 1] = mask[e]
        rows[i, 2] = key[e] & ~bit
    previous = _previous_equal(rows)
    merged = 0
    for i in range(n_cand):
        if previous[i] >= 0:  # all pairs found first, then merged (as one update)
            merged += 1
    for i in range(n_cand):
        if previous[i] >= 0:
            lo, hi = idx[previous[i]], idx[i]
            key[lo] &= ~bit
            mask[lo] &= ~bit
            alive[hi] = False
    return merged


@numba.njit(cache=True, nogil=True)
def _compress_chip(
    route: np.ndarray, key: np.ndarray, mask: np.ndarray, capacity: int
) -> np.ndarray:  # pragma: no cover - compiled; tested through compress
    """Merge the entries of one chip in place (``key``, ``mask``: int64); return which
    entries remain."""
    n = key.size
    # group: entries with one route (only equality matters)
    rows = np.empty((n, ROUTE_WORDS), np.int64)
    for e in range(n):
        for w in range(ROUTE_WORDS):
            rows[e, w] = np.int64(route[e, w])  # same bits, so the same equality
    previous = _previous_equal(rows)
    group = np.empty(n, np.int64)
    n_groups = 0
    for e in range(n):
        if previous[e] < 0:
            group[e] = n_groups
            n_groups += 1
        else:
            group[e] = group[previous[e]]
    # identical entries (same key, mask and route) are redundant: keep the first
    ident = np.empty((n, 3), np.int64)
    for e in range(n):
        ident[e, 0] = group[e]
        ident[e, 1] = mask[e]
        ident[e, 2] = key[e]
    alive = _previous_equal(ident) < 0
    # 1. buddy pass, lowest mask bit first (merges only raise an entry's lowest bit)
    b = -1
    while True:
        low = np.int64(1) << KEY_BITS  # next lowest mask bit above b among live entries
        for e in range(n):
            bit = mask[e] & -mask[e]
            if alive[e] and (bit >> (b + 1)) > 0 and bit < low:
                low = bit
        if low >= np.int64(1) << KEY_BITS:
            break
        b = 0
        while (np.int64(1) << b) < low:
            b += 1
        _merge_bit(group, key, mask, alive, b, True)
    # 2. every mask bit, only if the chip is still over capacity
    if alive.sum() > capacity:
        for _ in range(MAX_SWEEPS):
            merged = 0
            for b in range(KEY_BITS):
                merged += _merge_bit(group, key, mask, alive, b, False)
            if merged == 0:
                break
    return alive


def _compress_all(
    offsets: np.ndarray, route: np.ndarray, key: np.ndarray, mask: np.ndarray, capacity: int
) -> np.ndarray:
    """Which entries remain after compressing every chip (entries merge within a chip
    only, so chips are compressed one by one, each in cache)."""
    alive = np.ones(key.size, bool)
    for c in np.flatnonzero(np.diff(offsets) > 1):  # one entry has nothing to merge with
        lo, hi = int(offsets[c]), int(offsets[c + 1])
        alive[lo:hi] = _compress_chip(route[lo:hi], key[lo:hi], mask[lo:hi], capacity)
    return alive


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
    key = tables.key.astype(np.int64)
    mask = tables.mask.astype(np.int64)
    alive = _compress_all(tables.offsets, tables.route, key, mask, int(capacity))
    return Tables.from_entries(
        n_chips, chip[alive], key[alive], mask[alive], tables.route[alive]
    )
