"""Multicast routing: route trees over the chip mesh, router tables, and a packet follower.

Route word (158 bits, stored as three little-endian uint64 words): bit ``d`` (0..5) sends
the packet out of link ``d`` (E, NE, N, W, SW, S); bit ``6 + p`` delivers it to PE ``p``.

Trees: every slice's packets travel down the breadth-first shortest-path tree of working
links rooted at its source chip (neighbours tried in link order E, NE, N, W, SW, S, so
the tree is deterministic), pruned to the chips that hold target PEs. One entry per
(slice, chip on the tree): links to the children, bits of the target PEs on that chip.

Router semantics (:func:`follow`): a chip takes the first entry with
``key & mask == entry_key``; with no match, a packet that arrived over a link leaves by
the opposite link (SpiNNaker's default routing) and a packet from a local PE is dropped.
The generated tables never rely on default routing; the follower models it so that a
wrong table gives wrong (not impossible) deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurotwin.errors import ConfigError, MappingError
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.specs import CHIP_PES, LINKS_PER_CHIP, ROUTE_BITS

__all__ = [
    "ROUTE_WORDS",
    "BlockRoutes",
    "RouteEntries",
    "Tables",
    "build_routes",
    "follow",
    "follow_block",
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


def _or_reduce(code: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique codes and the bitwise OR of ``values`` (n, w) per code."""
    if code.size == 0:
        return code, values
    order = np.argsort(code, kind="stable")
    code = code[order]
    starts = np.flatnonzero(np.concatenate([[True], code[1:] != code[:-1]]))
    return code[starts], np.bitwise_or.reduceat(values[order], starts, axis=0)


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
    by_src = np.empty(pair_src.size, np.int64)
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
    word_dtype = np.uint64
    # destinations: (slice, chip) -> PE bits
    dest_slice, dest_chip, dest_route = _destination_kernel(
        np.asarray(pair_src, np.int64),
        np.asarray(pair_tgt, np.int64),
        np.asarray(slice_chip, np.int64),
        np.asarray(slice_pe, np.int64),
        n_chips,
    )
    dest_code = dest_slice * n_chips + dest_chip
    sources = np.unique(slice_chip[dest_slice])
    batch = max(1, TREE_BATCH_ELEMENTS // max(n_chips, 1))
    node_codes, edge_codes, edge_links = [], [], []
    load = np.zeros(n_chips * LINKS_PER_CHIP, dtype=np.float64)
    for first in range(0, len(sources), batch):
        chips = sources[first : first + batch]
        parent = np.empty((len(chips), n_chips), np.int64)
        link = np.empty((len(chips), n_chips), np.int64)
        for row, chip in enumerate(chips):
            parent[row], link[row] = machine.shortest_path_tree(int(chip))
        in_batch = np.isin(slice_chip[dest_slice], chips)
        frontier = dest_code[in_batch]
        collected = [frontier]
        while frontier.size:
            k, c = frontier // n_chips, frontier % n_chips
            row = np.searchsorted(chips, slice_chip[k])
            up = c != slice_chip[k]
            k, c, row = k[up], c[up], row[up]
            p = parent[row, c]
            if np.any(p < 0):
                bad = int(np.flatnonzero(p < 0)[0])
                raise MappingError(
                    f"no working path from chip {machine.xy(int(slice_chip[k[bad]]))} to chip "
                    f"{machine.xy(int(c[bad]))}"
                )
            edge_codes.append(k * n_chips + p)
            edge_links.append(link[row, c])
            frontier = np.unique(k * n_chips + p)
            collected.append(frontier)
        node_codes.append(np.unique(np.concatenate(collected)))
    nodes = np.unique(np.concatenate(node_codes)) if node_codes else np.zeros(0, np.int64)
    route = np.zeros((len(nodes), ROUTE_WORDS), dtype=word_dtype)
    if edge_codes:
        e_code = np.concatenate(edge_codes)
        e_link = np.concatenate(edge_links)
        e_code = np.unique(e_code * LINKS_PER_CHIP + e_link)
        e_link = e_code % LINKS_PER_CHIP
        e_node = e_code // LINKS_PER_CHIP
        e_slice, e_chip = e_node // n_chips, e_node % n_chips
        load = np.bincount(
            e_chip * LINKS_PER_CHIP + e_link,
            weights=np.asarray(slice_weight, dtype=np.float64)[e_slice],
            minlength=n_chips * LINKS_PER_CHIP,
        ).astype(np.float64)
        bits = np.zeros((len(e_node), ROUTE_WORDS), dtype=word_dtype)
        bits[:, 0] = np.left_shift(np.uint64(1), e_link.astype(np.uint64))
        code, bits = _or_reduce(e_node, bits)
        route[np.searchsorted(nodes, code)] |= bits
    route[np.searchsorted(nodes, dest_code)] |= dest_route
    return RouteEntries(
        chip=nodes % n_chips,
        slice=nodes // n_chips,
        route=route,
        link_load=load.reshape(n_chips, LINKS_PER_CHIP),
    )


def follow(
    machine: Machine, tables: Tables, key: int, source_chip: int, loops: str = "raise"
) -> np.ndarray:
    """Deliveries of one packet with ``key`` sent by a PE of ``source_chip``.

    Follows the tables hop by hop (first matching entry per chip; default routing for a
    packet that arrived over a link and matches nothing; links that do not work drop the
    packet).

    Parameters
    ----------
    machine, tables
        Where the packet travels and the router tables it follows.
    key
        32-bit routing key.
    source_chip
        Chip index of the sending PE.
    loops
        "raise" (MappingError when a chip is reached twice) or "drop" (the copy that
        arrives again is dropped, as a router would after its timeout).

    Returns
    -------
    (n, 2) int64 array of (chip, PE) deliveries, sorted.

    Raises
    ------
    MappingError
        The packet reaches a chip twice (a loop, or duplicate deliveries).
    """
    if loops not in ("raise", "drop"):
        raise ConfigError(f"loops must be 'raise' or 'drop', got {loops!r}")
    key = int(key) & 0xFFFFFFFF
    ukey = np.uint32(key)
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    stack: list[tuple[int, int]] = [(int(source_chip), -1)]
    while stack:
        chip, travel = stack.pop()
        if chip in seen:
            if loops == "drop":
                continue
            raise MappingError(
                f"key {key:#010x} reaches chip {machine.xy(chip)} twice (routing loop or "
                "duplicate path)"
            )
        seen.add(chip)
        lo, hi = int(tables.offsets[chip]), int(tables.offsets[chip + 1])
        hit = np.flatnonzero((ukey & tables.mask[lo:hi]) == tables.key[lo:hi])
        if hit.size:
            route = tables.route[lo + int(hit[0])]
            out.extend((chip, int(p)) for p in route_pes(route))
            links = route_links(route)
        elif travel >= 0:
            links = np.array([travel])
        else:
            links = np.zeros(0, np.int64)
        for d in links:
            if machine.link_alive[chip, d]:
                stack.append((int(machine.neighbour[chip, d]), int(d)))
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True, eq=False)
class BlockRoutes:
    """Where every key of a block of keys goes (:func:`follow_block`).

    Deliveries and link hops are listed per key (index into the block's keys).
    """

    deliver_key: np.ndarray
    """(n,) key index of each delivery."""
    deliver_chip: np.ndarray
    deliver_pe: np.ndarray
    hop_key: np.ndarray
    """(h,) key index of each link traversal."""
    hop_link: np.ndarray
    """(h,) chip * 6 + link of each traversal (outgoing link of that chip)."""
    looped: np.ndarray
    """(n_keys,) the key reached a chip twice (the later copy was dropped)."""


def _entry_route(tables: Tables, entry: int, cache: dict[int, tuple[np.ndarray, np.ndarray]]):
    hit = cache.get(entry)
    if hit is None:
        route = tables.route[entry]
        hit = (route_links(route), route_pes(route))
        cache[entry] = hit
    return hit


def follow_block(
    machine: Machine,
    tables: Tables,
    keys: np.ndarray,
    source_chip: int,
    cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> BlockRoutes:
    """:func:`follow` for many keys sent from one chip at once (vectorised over keys).

    Same router semantics as :func:`follow` (first matching entry, default routing over
    the opposite link, dead links drop), with ``loops="drop"``: a copy of a key that
    reaches a chip again is dropped and the key is marked in ``looped``. Keys travel
    together while they take the same entries; at a chip whose entries tell them apart
    they are split. Runs in time proportional to the chips visited, not to the keys,
    when a block's keys route alike (the mapper's tables).

    Parameters
    ----------
    machine, tables
        Where the packets travel and the router tables they follow.
    keys
        (n_keys,) 32-bit routing keys.
    source_chip
        Chip index of the sending PE.
    cache
        Optional decoded-route cache (entry index -> (links, PEs)) shared across calls
        on the same tables.
    """
    cache = {} if cache is None else cache
    k_all = np.asarray(keys, dtype=np.int64) & 0xFFFFFFFF
    n = k_all.size
    looped = np.zeros(n, bool)
    seen: dict[int, np.ndarray] = {}
    d_key: list[np.ndarray] = []
    d_chip: list[np.ndarray] = []
    d_pe: list[np.ndarray] = []
    h_key: list[np.ndarray] = []
    h_link: list[np.ndarray] = []
    stack: list[tuple[int, int, np.ndarray]] = [(int(source_chip), -1, np.arange(n))]
    while stack:
        chip, travel, idx = stack.pop()
        mark = seen.setdefault(chip, np.zeros(n, bool))
        again = mark[idx]
        if again.any():
            looped[idx[again]] = True
            idx = idx[~again]
        if idx.size == 0:
            continue
        mark[idx] = True
        lo, hi = int(tables.offsets[chip]), int(tables.offsets[chip + 1])
        ek = tables.key[lo:hi].astype(np.int64)
        em = tables.mask[lo:hi].astype(np.int64)
        k = k_all[idx]
        k_and = int(np.bitwise_and.reduce(k))
        agree = ~(k_and ^ int(np.bitwise_or.reduce(k))) & 0xFFFFFFFF
        # an entry whose key has bits outside its mask matches nothing
        cand = np.flatnonzero((((k_and ^ ek) & em & agree) | (ek & ~em)) == 0)
        if cand.size == 0:
            entry = np.full(idx.size, -1, np.int64)
        elif (int(em[cand[0]]) & ~agree & 0xFFFFFFFF) == 0:
            entry = np.full(idx.size, lo + int(cand[0]), np.int64)
        else:
            match = (k[:, None] & em[cand][None, :]) == ek[cand][None, :]
            entry = np.where(match.any(axis=1), lo + cand[np.argmax(match, axis=1)], -1)
        for e in np.unique(entry):
            group = idx[entry == e]
            if e < 0:
                links = np.array([travel]) if travel >= 0 else np.zeros(0, np.int64)
            else:
                links, pes = _entry_route(tables, int(e), cache)
                if pes.size:
                    d_key.append(np.repeat(group, pes.size))
                    d_chip.append(np.full(group.size * pes.size, chip, np.int64))
                    d_pe.append(np.tile(pes, group.size))
            for d in links:
                if machine.link_alive[chip, d]:
                    h_key.append(group)
                    h_link.append(np.full(group.size, chip * LINKS_PER_CHIP + int(d), np.int64))
                    stack.append((int(machine.neighbour[chip, d]), int(d), group))

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return BlockRoutes(
        deliver_key=cat(d_key),
        deliver_chip=cat(d_chip),
        deliver_pe=cat(d_pe),
        hop_key=cat(h_key),
        hop_link=cat(h_link),
        looped=looped,
    )
