"""Multicast routing: route trees over the chip mesh and the router tables they give.

Route word (158 bits, stored as three little-endian uint64 words): bit ``d`` (0..5) sends
the packet out of link ``d`` (E, NE, N, W, SW, S); bit ``6 + p`` delivers it to PE ``p``.

Trees: every slice's packets travel down the breadth-first shortest-path tree of working
links rooted at its source chip (neighbours tried in link order E, NE, N, W, SW, S, so
the tree is deterministic), pruned to the chips that hold target PEs. One entry per
(slice, chip on the tree): links to the children, bits of the target PEs on that chip.

What a router does with a packet (first matching entry, default routing) is
:mod:`.router`; the tables built here never rely on default routing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurotwin.errors import MappingError
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.specs import CHIP_PES, LINKS_PER_CHIP, ROUTE_BITS

__all__ = [
    "ROUTE_WORDS",
    "RouteEntries",
    "Tables",
    "build_routes",
    "route_links",
    "route_pes",
    "route_words_for_pes",
]

ROUTE_WORDS = -(-ROUTE_BITS // 64)
"""uint64 words per route word (3)."""
TREE_BATCH_ELEMENTS = 1 << 22
"""Parent-matrix elements (source chips x chips) held at once while building trees."""


def route_words_for_pes(pe: np.ndarray) -> np.ndarray:
    """(n, ROUTE_WORDS) uint64 route words with only the bit of each PE ``pe`` set."""
    pos = LINKS_PER_CHIP + np.asarray(pe, dtype=np.int64)
    out = np.zeros((len(pos), ROUTE_WORDS), dtype=np.uint64)
    out[np.arange(len(pos)), pos // 64] = np.left_shift(np.uint64(1), (pos % 64).astype(np.uint64))
    return out


def route_links(route: np.ndarray) -> np.ndarray:
    """Link indices set in one route word (ROUTE_WORDS uint64)."""
    return np.flatnonzero([(int(route[0]) >> d) & 1 for d in range(LINKS_PER_CHIP)])


def route_pes(route: np.ndarray) -> np.ndarray:
    """PE indices set in one route word (ROUTE_WORDS uint64)."""
    value = sum(int(w) << (64 * i) for i, w in enumerate(route)) >> LINKS_PER_CHIP
    return np.array([p for p in range(CHIP_PES) if (value >> p) & 1], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class RouteEntries:
    """Uncompressed routes: one per (slice, chip on the slice's tree)."""

    chip: np.ndarray
    slice: np.ndarray
    route: np.ndarray
    """(n, ROUTE_WORDS) uint64."""
    link_load: np.ndarray
    """(n_chips, 6) summed weight of the slices whose tree uses each outgoing link."""


@dataclass(frozen=True, eq=False)
class Tables:
    """Router tables of every chip as flat arrays, chip-major (CSR over chips).

    Entries of chip ``c`` are rows ``offsets[c]:offsets[c + 1]``, in priority order.
    """

    offsets: np.ndarray
    """(n_chips + 1,) int64."""
    key: np.ndarray
    """(n,) uint32."""
    mask: np.ndarray
    """(n,) uint32."""
    route: np.ndarray
    """(n, ROUTE_WORDS) uint64."""

    @classmethod
    def from_entries(
        cls, n_chips: int, chip: np.ndarray, key: np.ndarray, mask: np.ndarray, route: np.ndarray
    ) -> Tables:
        """Tables from unordered entries, each chip's sorted by key."""
        order = np.lexsort((key, chip))
        counts = np.bincount(chip, minlength=n_chips)
        return cls(
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            key=np.asarray(key, np.uint32)[order],
            mask=np.asarray(mask, np.uint32)[order],
            route=np.asarray(route, np.uint64)[order],
        )

    @property
    def sizes(self) -> np.ndarray:
        """(n_chips,) entries per chip."""
        return np.diff(self.offsets)

    def chip_of_entries(self) -> np.ndarray:
        """(n,) chip of every entry."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.sizes)


@numba.njit(cache=True, nogil=True)
def _destination_kernel(
    pair_src: np.ndarray,
    pair_tgt: np.ndarray,
    slice_chip: np.ndarray,
    slice_pe: np.ndarray,
    n_chips: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(slice, chip, route words) of every (source slice, chip with targets), sorted by
    slice then chip, the route holding the bits of the target PEs on that chip."""
    n_slices = slice_chip.size
    start = np.zeros(n_slices + 1, np.int64)
    for k in range(pair_src.size):
        start[pair_src[k] + 1] += 1
    for s in range(n_slices):
        start[s + 1] += start[s]
    fill = start[:-1].copy()
    by_src = np.empty(pair_src.size, pair_tgt.dtype)
    for k in range(pair_src.size):
        s = pair_src[k]
        by_src[fill[s]] = pair_tgt[k]
        fill[s] += 1
    words = np.zeros((n_chips, ROUTE_WORDS), np.uint64)
    touched = np.empty(n_chips, np.int64)
    cap = max(16, n_slices)
    out_slice = np.empty(cap, np.int64)
    out_chip = np.empty(cap, np.int64)
    out_route = np.empty((cap, ROUTE_WORDS), np.uint64)
    n_out = 0
    for s in range(n_slices):
        n_touched = 0
        for k in range(start[s], start[s + 1]):
            t = by_src[k]
            c = slice_chip[t]
            bit = LINKS_PER_CHIP + slice_pe[t]
            if words[c, 0] == 0 and words[c, 1] == 0 and words[c, 2] == 0:
                touched[n_touched] = c
                n_touched += 1
            words[c, bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
        if n_out + n_touched > cap:
            while n_out + n_touched > cap:
                cap *= 2
            grown = np.empty((cap, ROUTE_WORDS), np.uint64)
            grown[:n_out] = out_route[:n_out]
            out_route = grown
            out_slice = np.concatenate((out_slice[:n_out], np.empty(cap - n_out, np.int64)))
            out_chip = np.concatenate((out_chip[:n_out], np.empty(cap - n_out, np.int64)))
        chips = np.sort(touched[:n_touched])
        for c in chips:
            out_slice[n_out] = s
            out_chip[n_out] = c
            out_route[n_out] = words[c]
            words[c] = 0
            n_out += 1
    return out_slice[:n_out].copy(), out_chip[:n_out].copy(), out_route[:n_out].copy()


@numba.njit(cache=True, nogil=True)
def _tree_kernel(  # pragma: no cover - compiled; tested through build_routes
    dest_slice: np.ndarray,
    dest_chip: np.ndarray,
    dest_route: np.ndarray,
    slice_chip: np.ndarray,
    parent: np.ndarray,
    link: np.ndarray,
    row_of_chip: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Route entries of the slices whose source chip has a tree row, from their
    destinations ``dest_*`` (sorted by slice, as :func:`_destination_kernel` gives them).

    ``row_of_chip[c]``: row of chip ``c`` in ``parent`` / ``link`` (its shortest-path
    tree), -2 if the slices of ``c`` have local destinations only (their entries are their
    destinations), -1 to skip them. Returns (slice, chip, route) of every entry, sorted by
    slice then chip; (slice, chip * 6 + link) of every tree edge, slices ascending; and
    the (source chip, chip) of a destination without a working path, else (-1, -1).
    """
    n = dest_slice.size
    n_chips = row_of_chip.size
    words = np.zeros((n_chips, ROUTE_WORDS), np.uint64)
    on_tree = np.full(n_chips, -1, np.int64)  # slice whose tree holds the chip
    edge_up = np.full(n_chips, -1, np.int64)  # slice whose tree holds the chip's uplink
    tree = np.empty(n_chips, np.int64)
    cap = max(16, 2 * n)
    out_slice = np.empty(cap, np.int64)
    out_chip = np.empty(cap, np.int64)
    out_route = np.empty((cap, ROUTE_WORDS), np.uint64)
    cap_e = max(16, n)
    edge_slice = np.empty(cap_e, np.int64)
    edge_link = np.empty(cap_e, np.int64)
    n_out = 0
    n_edges = 0
    k = 0
    while k < n:
        s = dest_slice[k]
        end = k
        while end < n and dest_slice[end] == s:
            end += 1
        source = slice_chip[s]
        row = row_of_chip[source]
        if row == -1:
            k = end
            continue
        n_tree = 0
        for e in range(k, end):
            c = dest_chip[e]
            if on_tree[c] != s:
                on_tree[c] = s
                tree[n_tree] = c
                n_tree += 1
            for w in range(ROUTE_WORDS):
                words[c, w] |= dest_route[e, w]
            x = c
            while row >= 0 and x != source and edge_up[x] != s:
                p = parent[row, x]
                if p < 0:
                    return (out_slice[:0], out_chip[:0], out_route[:0], edge_slice[:0],
                            edge_link[:0], source, x)
                d = link[row, x]
                edge_up[x] = s
                words[p, 0] |= np.uint64(1) << np.uint64(d)
                if n_edges == cap_e:
                    cap_e *= 2
                    edge_slice = np.concatenate((edge_slice, np.empty(n_edges, np.int64)))
                    edge_link = np.concatenate((edge_link, np.empty(n_edges, np.int64)))
                edge_slice[n_edges] = s
                edge_link[n_edges] = p * LINKS_PER_CHIP + d
                n_edges += 1
                if on_tree[p] != s:
                    on_tree[p] = s
                    tree[n_tree] = p
                    n_tree += 1
                x = p
        if n_out + n_tree > cap:
            while n_out + n_tree > cap:
                cap *= 2
            grown = np.empty((cap, ROUTE_WORDS), np.uint64)
            grown[:n_out] = out_route[:n_out]
            out_route = grown
            out_slice = np.concatenate((out_slice[:n_out], np.empty(cap - n_out, np.int64)))
            out_chip = np.concatenate((out_chip[:n_out], np.empty(cap - n_out, np.int64)))
        for c in np.sort(tree[:n_tree]):
            out_slice[n_out] = s
            out_chip[n_out] = c
            for w in range(ROUTE_WORDS):
                out_route[n_out, w] = words[c, w]
                words[c, w] = 0
            n_out += 1
        k = end
    return (out_slice[:n_out].copy(), out_chip[:n_out].copy(), out_route[:n_out].copy(),
            edge_slice[:n_edges].copy(), edge_link[:n_edges].copy(), -1, -1)


def build_routes(
    machine: Machine,
    slice_chip: np.ndarray,
    slice_pe: np.ndarray,
    pair_src: np.ndarray,
    pair_tgt: np.ndarray,
    slice_weight: np.ndarray,
) -> RouteEntries:
    """Route trees of every slice that has targets, as per-chip route entries.

    Parameters
    ----------
    machine
        The machine (trees use working links only).
    slice_chip, slice_pe
        (n_slices,) where each slice is placed.
    pair_src, pair_tgt
        Source and target slice of each (source slice, target slice) pair with synapses.
    slice_weight
        (n_slices,) what one use of a link by the slice's tree adds to the link load
        (packets per second, or a synapse count).
    """
    n_chips = machine.n_chips
    slice_chip = np.asarray(slice_chip, np.int64)
    # destinations: (slice, chip) -> PE bits
    dest_slice, dest_chip, dest_route = _destination_kernel(
        np.asarray(pair_src),  # int32 or int64: compiled for each
        np.asarray(pair_tgt),
        slice_chip,
        np.asarray(slice_pe, np.int64),
        n_chips,
    )
    src_chip = slice_chip[dest_slice]
    # only chips whose slices reach other chips need a tree
    sources = np.unique(src_chip[dest_chip != src_chip])
    if sources.size == 0:
        return RouteEntries(
            chip=dest_chip,
            slice=dest_slice,
            route=dest_route,
            link_load=np.zeros((n_chips, LINKS_PER_CHIP)),
        )
    batch = max(1, TREE_BATCH_ELEMENTS // max(n_chips, 1))
    row_of_chip = np.full(n_chips, -2, np.int64)
    row_of_chip[sources] = -1
    parts = []
    for first in range(0, len(sources), batch):
        chips = sources[first : first + batch]
        parent = np.empty((len(chips), n_chips), np.int64)
        link = np.empty((len(chips), n_chips), np.int64)
        for row, chip in enumerate(chips):
            parent[row], link[row] = machine.shortest_path_tree(int(chip))
        row_of_chip[chips] = np.arange(len(chips))
        *part, bad_source, bad_chip = _tree_kernel(
            dest_slice, dest_chip, dest_route, slice_chip, parent, link, row_of_chip
        )
        if bad_source >= 0:
            raise MappingError(
                f"no working path from chip {machine.xy(bad_source)} to chip "
                f"{machine.xy(bad_chip)}"
            )
        parts.append(part)
        row_of_chip[row_of_chip != -1] = -1  # local-only slices are emitted by the first batch
    if len(parts) == 1:
        e_slice, e_chip, route, edge_slice, edge_link = parts[0]
    else:  # entries by (slice, chip), edges by slice (the order of the load sums)
        e_slice, e_chip, route, edge_slice, edge_link = (
            np.concatenate([p[i] for p in parts]) for i in range(5)
        )
        order = np.argsort(e_slice * n_chips + e_chip, kind="stable")
        e_slice, e_chip, route = e_slice[order], e_chip[order], route[order]
        order = np.argsort(edge_slice, kind="stable")
        edge_slice, edge_link = edge_slice[order], edge_link[order]
    load = np.bincount(
        edge_link,
        weights=np.asarray(slice_weight, dtype=np.float64)[edge_slice],
        minlength=n_chips * LINKS_PER_CHIP,
    ).astype(np.float64)
    return RouteEntries(
        chip=e_chip,
        slice=e_slice,
        route=route,
        link_load=load.reshape(n_chips, LINKS_PER_CHIP),
    )
