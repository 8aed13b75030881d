"""What the routers do with a packet: the walk of keys through the router tables.

Router semantics (one implementation, :func:`route_classes`; :func:`follow` and
:func:`follow_block` are views of it): a chip takes the first entry with
``key & mask == entry_key``; with no match, a packet that arrived over a link leaves by
the opposite link (SpiNNaker's default routing) and a packet from a local PE is dropped;
a copy sent over a dead link is lost; a copy that reaches a chip the key reached before
is dropped there (as a router would after its timeout). Copies are followed depth first,
the links of an entry pushed in link order (E, NE, N, W, SW, S), so which copy of a
looping key arrives first is defined. The generated tables never rely on default routing;
the walk models it so that a wrong table gives wrong (not impossible) deliveries.

Keys sent from one chip travel as a group while they take the same entries; a group
splits where its keys match different entries or some of them were at that chip before.
The final groups are the *route classes*: the keys of a class reach the same PEs over
the same links, so deliveries and hops are listed once per class, not per key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurotwin.errors import ConfigError, MappingError
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.routing import Tables
from neurotwin.spinnaker2.specs import CHIP_PES

__all__ = ["BlockRoutes", "RouteClasses", "follow", "follow_block", "route_classes"]


@dataclass(frozen=True, eq=False)
class RouteClasses:
    """Where every key of some blocks of keys goes, grouped into route classes.

    Classes are numbered from 0, block after block (a class never spans two blocks);
    deliveries and hops are sorted by class.
    """

    key_class: np.ndarray
    """(n_keys,) int64 class of each key."""
    loop_chip: np.ndarray
    """(n_keys,) int64 first chip at which a copy of the key arrived again and was
    dropped (depth-first order), -1 if none."""
    block_classes: np.ndarray
    """(n_blocks,) int64 classes of each block."""
    class_ptr: np.ndarray
    """(n_classes + 1,) int64 CSR over classes of ``class_pe``."""
    class_pe: np.ndarray
    """Every delivery as ``chip * CHIP_PES + pe`` (PEs without a slice included)."""
    hop_class: np.ndarray
    hop_link: np.ndarray
    """(h,) class and ``chip * 6 + link`` of every link a class's packet crosses (once per
    class: a key leaves each chip at most once)."""

    @property
    def n_classes(self) -> int:
        """Number of route classes."""
        return self.class_ptr.size - 1


def route_classes(
    machine: Machine,
    tables: Tables,
    keys: np.ndarray,
    block_ptr: np.ndarray,
    source_chip: np.ndarray,
) -> RouteClasses:
    """Route classes of blocks of keys, each block sent from one chip (see the module doc).

    Parameters
    ----------
    machine, tables
        Where the packets travel and the router tables they follow.
    keys
        (n_keys,) 32-bit routing keys, block after block.
    block_ptr
        (n_blocks + 1,) keys ``block_ptr[b]:block_ptr[b + 1]`` form block ``b``.
    source_chip
        (n_blocks,) chip index of the PE that sends the keys of each block.

    Runs in time proportional to the chips visited per class, not to the keys, when a
    block's keys route alike (the mapper's tables: one class per slice).
    """
    keys = np.asarray(keys, np.int64) & 0xFFFFFFFF
    block_ptr = np.asarray(block_ptr, np.int64)
    key_class, loop_chip, n_cls, d_cls, d_pe, h_cls, h_link = _walk(
        keys, block_ptr, np.asarray(source_chip, np.int64), tables.offsets.astype(np.int64),
        tables.key.astype(np.int64), tables.mask.astype(np.int64),
        np.ascontiguousarray(tables.route, np.uint64), machine.link_alive,
        machine.neighbour.astype(np.int64), CHIP_PES,
    )  # fmt: skip
    n_classes = int(n_cls.sum())
    class_ptr = np.zeros(n_classes + 1, np.int64)
    np.cumsum(np.bincount(d_cls, minlength=n_classes), out=class_ptr[1:])
    first = np.cumsum(n_cls) - n_cls
    return RouteClasses(
        key_class=np.repeat(first, np.diff(block_ptr)) + key_class,
        loop_chip=loop_chip,
        block_classes=n_cls,
        class_ptr=class_ptr,
        class_pe=d_pe,
        hop_class=h_cls,
        hop_link=h_link,
    )


def _one_block(machine: Machine, tables: Tables, keys: np.ndarray, chip: int) -> RouteClasses:
    keys = np.asarray(keys, np.int64).reshape(-1)
    return route_classes(machine, tables, keys, np.array([0, keys.size]), np.array([chip]))


def follow(
    machine: Machine, tables: Tables, key: int, source_chip: int, loops: str = "raise"
) -> np.ndarray:
    """Deliveries of one packet with ``key`` sent by a PE of ``source_chip``.

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
        ``loops="raise"`` and the packet reaches a chip twice (a loop, or duplicate paths).
    """
    if loops not in ("raise", "drop"):
        raise ConfigError(f"loops must be 'raise' or 'drop', got {loops!r}")
    key = int(key) & 0xFFFFFFFF
    walk = _one_block(machine, tables, np.array([key]), int(source_chip))
    if loops == "raise" and walk.loop_chip[0] >= 0:
        raise MappingError(
            f"key {key:#010x} reaches chip {machine.xy(int(walk.loop_chip[0]))} twice "
            "(routing loop or duplicate path)"
        )
    chip, pe = np.divmod(walk.class_pe, CHIP_PES)
    pairs = np.stack([chip, pe], axis=1).reshape(-1, 2)
    return pairs[np.lexsort((pe, chip))]


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


def _per_key(ptr: np.ndarray, key_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key index, position in the class's list) of every item of every key's class,
    for a CSR ``ptr`` over classes."""
    count = np.diff(ptr)[key_class]
    key = np.repeat(np.arange(key_class.size), count)
    within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return key, np.repeat(ptr[key_class], count) + within


def follow_block(
    machine: Machine, tables: Tables, keys: np.ndarray, source_chip: int
) -> BlockRoutes:
    """:func:`follow` with ``loops="drop"`` for many keys sent from one chip, per key.

    Parameters
    ----------
    machine, tables
        Where the packets travel and the router tables they follow.
    keys
        (n_keys,) 32-bit routing keys.
    source_chip
        Chip index of the sending PE.
    """
    walk = _one_block(machine, tables, keys, int(source_chip))
    d_key, d_at = _per_key(walk.class_ptr, walk.key_class)
    hop_ptr = np.zeros(walk.n_classes + 1, np.int64)
    np.cumsum(np.bincount(walk.hop_class, minlength=walk.n_classes), out=hop_ptr[1:])
    h_key, h_at = _per_key(hop_ptr, walk.key_class)
    chip, pe = np.divmod(walk.class_pe[d_at], CHIP_PES)
    return BlockRoutes(
        deliver_key=d_key,
        deliver_chip=chip,
        deliver_pe=pe,
        hop_key=h_key,
        hop_link=walk.hop_link[h_at],
        looped=walk.loop_chip >= 0,
    )


# ---------------------------------------------------------------------------------------
# the compiled walk


@numba.njit(cache=True)
def _grow(a, need):  # pragma: no cover - compiled
    """``a``, or a copy at least twice as long when it holds fewer than ``need`` items."""
    if need <= a.shape[0]:
        return a
    out = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    out[: a.shape[0]] = a
    return out


@numba.njit(cache=True)
def _relabel(members, labels, fresh, fresh_stamp, stamp, n_labels):  # pragma: no cover
    """Partition refinement: the keys ``members`` leave their classes for new ones (one
    per old class), then the labels are renumbered densely in key order. Returns the
    number of classes."""
    for k in members:
        old = labels[k]
        if fresh_stamp[old] != stamp:
            fresh_stamp[old] = stamp
            fresh[old] = n_labels
            n_labels += 1
        labels[k] = fresh[old]
    dense = np.full(n_labels, -1, np.int64)
    count = 0
    for k in range(labels.shape[0]):
        if dense[labels[k]] < 0:
            dense[labels[k]] = count
            count += 1
        labels[k] = dense[labels[k]]
    return count


@numba.njit(cache=True)
def _entries(pool, lo, hi, block_keys, chip, offsets, tkey, tmask, ent):  # pragma: no cover
    """First matching table entry of chip ``chip`` (-1: none) for each key
    ``block_keys[pool[q]]``, q in lo..hi-1, into ``ent[:hi - lo]``. An entry that every
    key misses on a bit they share is skipped without looking at the keys one by one (the
    mapper's tables then need one comparison per entry for a whole slice)."""
    k_and = np.int64(0xFFFFFFFF)
    k_or = np.int64(0)
    for q in range(lo, hi):
        key = block_keys[pool[q]]
        k_and &= key
        k_or |= key
    agree = ~(k_and ^ k_or) & 0xFFFFFFFF
    first = -1
    for e in range(offsets[chip], offsets[chip + 1]):
        ek = tkey[e]
        em = tmask[e]
        # an entry whose key has bits outside its mask matches nothing
        if ((k_and ^ ek) & em & agree) == 0 and (ek & ~em) == 0:
            first = e
            break
    if first < 0 or (tmask[first] & ~agree & 0xFFFFFFFF) == 0:
        ent[: hi - lo] = first
        return
    for q in range(lo, hi):
        key = block_keys[pool[q]]
        ent[q - lo] = -1
        for e in range(first, offsets[chip + 1]):
            if (key & tmask[e]) == tkey[e]:
                ent[q - lo] = e
                break


@numba.njit(cache=True)
def _walk(
    keys, block_ptr, src_chip, offsets, tkey, tmask, route, alive, neighbour, n_pes
):  # pragma: no cover - compiled; tested through follow and the program's classes
    """Route classes of the keys ``keys[block_ptr[s]:block_ptr[s + 1]]`` sent from chip
    ``src_chip[s]``, for every block ``s``, through the tables (CSR ``offsets``, ``tkey``,
    ``tmask``, ``route`` words); the semantics of the module docstring, followed per group
    of keys that took the same entries so far.

    Returns per key its class within the block and the chip where a copy of it was
    first dropped (-1: none); per block the number of classes; deliveries (class,
    chip * n_pes + pe) and hops (class, chip * 6 + link), sorted by class. Classes are
    numbered from 0, block after block.
    """
    n_blocks = src_chip.shape[0]
    n_chips = offsets.shape[0] - 1
    total = block_ptr[n_blocks]
    max_keys = 1
    for s in range(n_blocks):
        max_keys = max(max_keys, block_ptr[s + 1] - block_ptr[s])
    label_out = np.zeros(total, np.int64)
    loop_out = np.full(total, -1, np.int64)
    n_cls = np.zeros(n_blocks, np.int64)
    d_cls = np.empty(1 << 12, np.int64)
    d_pe = np.empty(1 << 12, np.int64)
    h_cls = np.empty(1 << 12, np.int64)
    h_link = np.empty(1 << 12, np.int64)
    nd = 0
    nh = 0
    chip_slot = np.full(n_chips, -1, np.int64)
    visited = np.empty(n_chips, np.int64)
    marks = np.zeros((16, max_keys), np.bool_)
    pool = np.empty(4 * max_keys, np.int64)
    st_chip = np.empty(64, np.int64)
    st_travel = np.empty(64, np.int64)
    st_lo = np.empty(64, np.int64)
    st_hi = np.empty(64, np.int64)
    dr_lo = np.empty(64, np.int64)
    dr_hi = np.empty(64, np.int64)
    dr_chip = np.empty(64, np.int64)
    dr_entry = np.empty(64, np.int64)
    hr_lo = np.empty(64, np.int64)
    hr_hi = np.empty(64, np.int64)
    hr_link = np.empty(64, np.int64)
    ent = np.empty(max_keys, np.int64)
    sub_lo = np.empty(max_keys + 1, np.int64)
    sub_hi = np.empty(max_keys + 1, np.int64)
    sub_e = np.empty(max_keys + 1, np.int64)
    fresh = np.empty(2 * max_keys + 1, np.int64)
    fresh_stamp = np.zeros(2 * max_keys + 1, np.int64)
    seen_stamp = np.zeros(max_keys, np.int64)
    pes = np.empty(n_pes, np.int64)
    stamp = 0
    cls_base = 0
    for s in range(n_blocks):
        key_pos = block_ptr[s]
        m = block_ptr[s + 1] - key_pos
        block_keys = keys[key_pos : key_pos + m]
        labels = label_out[key_pos : key_pos + m]
        loop_chip = loop_out[key_pos : key_pos + m]
        n_labels = 1
        n_vis = 0
        ndr = 0
        nhr = 0
        pool[:m] = np.arange(m)
        top = m
        st_chip[0] = src_chip[s]
        st_travel[0] = -1
        st_lo[0] = 0
        st_hi[0] = m
        sp_ = 1
        while sp_ > 0:
            sp_ -= 1
            chip = st_chip[sp_]
            travel = st_travel[sp_]
            lo = st_lo[sp_]
            hi = st_hi[sp_]
            slot = chip_slot[chip]
            if slot < 0:
                slot = n_vis
                chip_slot[chip] = slot
                visited[n_vis] = chip
                n_vis += 1
                if slot >= marks.shape[0]:
                    bigger = np.zeros((2 * marks.shape[0], max_keys), np.bool_)
                    bigger[: marks.shape[0]] = marks
                    marks = bigger
                marks[slot, :m] = False
            again = 0
            for q in range(lo, hi):
                if marks[slot, pool[q]]:
                    again += 1
            if again == hi - lo:
                for q in range(lo, hi):
                    if loop_chip[pool[q]] < 0:
                        loop_chip[pool[q]] = chip
                continue
            if again:
                pool = _grow(pool, top + 2 * (hi - lo))
                kept = top
                for q in range(lo, hi):
                    if not marks[slot, pool[q]]:
                        pool[top] = pool[q]
                        top += 1
                dropped = top
                for q in range(lo, hi):
                    if marks[slot, pool[q]]:
                        if loop_chip[pool[q]] < 0:
                            loop_chip[pool[q]] = chip
                        pool[top] = pool[q]
                        top += 1
                stamp += 1
                n_labels = _relabel(pool[dropped:top], labels, fresh, fresh_stamp, stamp,
                                    n_labels)
                lo, hi = kept, dropped
            for q in range(lo, hi):
                marks[slot, pool[q]] = True
            g = hi - lo
            _entries(pool, lo, hi, block_keys, chip, offsets, tkey, tmask, ent)
            same = True
            for q in range(1, g):
                if ent[q] != ent[0]:
                    same = False
            if same:
                n_sub = 1
                sub_lo[0] = lo
                sub_hi[0] = hi
                sub_e[0] = ent[0]
            else:
                uniq = np.unique(ent[:g])
                n_sub = uniq.shape[0]
                pool = _grow(pool, top + g)
                for i in range(n_sub):
                    sub_lo[i] = top
                    for q in range(g):
                        if ent[q] == uniq[i]:
                            pool[top] = pool[lo + q]
                            top += 1
                    sub_hi[i] = top
                    sub_e[i] = uniq[i]
                    if i > 0:
                        stamp += 1
                        n_labels = _relabel(pool[sub_lo[i] : top], labels, fresh, fresh_stamp,
                                            stamp, n_labels)
            for i in range(n_sub):
                e = sub_e[i]
                if e < 0:
                    links = (1 << travel) if travel >= 0 else 0
                else:
                    links = np.int64(route[e, 0] & np.uint64(0x3F))
                    dr_lo = _grow(dr_lo, ndr + 1)
                    dr_hi = _grow(dr_hi, ndr + 1)
                    dr_chip = _grow(dr_chip, ndr + 1)
                    dr_entry = _grow(dr_entry, ndr + 1)
                    dr_lo[ndr] = sub_lo[i]
                    dr_hi[ndr] = sub_hi[i]
                    dr_chip[ndr] = chip
                    dr_entry[ndr] = e
                    ndr += 1
                for d in range(6):
                    if (links >> d) & 1 and alive[chip, d]:
                        hr_lo = _grow(hr_lo, nhr + 1)
                        hr_hi = _grow(hr_hi, nhr + 1)
                        hr_link = _grow(hr_link, nhr + 1)
                        hr_lo[nhr] = sub_lo[i]
                        hr_hi[nhr] = sub_hi[i]
                        hr_link[nhr] = chip * 6 + d
                        nhr += 1
                        st_chip = _grow(st_chip, sp_ + 1)
                        st_travel = _grow(st_travel, sp_ + 1)
                        st_lo = _grow(st_lo, sp_ + 1)
                        st_hi = _grow(st_hi, sp_ + 1)
                        st_chip[sp_] = neighbour[chip, d]
                        st_travel[sp_] = d
                        st_lo[sp_] = sub_lo[i]
                        st_hi[sp_] = sub_hi[i]
                        sp_ += 1
        for v in range(n_vis):
            chip_slot[visited[v]] = -1
        # one record per class present in the record's group
        d_start = nd
        h_start = nh
        for r in range(ndr):
            e = dr_entry[r]
            n_p = 0
            for p in range(n_pes):
                bit = 6 + p
                if (route[e, bit // 64] >> np.uint64(bit % 64)) & np.uint64(1):
                    pes[n_p] = p
                    n_p += 1
            stamp += 1
            for q in range(dr_lo[r], dr_hi[r]):
                lab = labels[pool[q]]
                if seen_stamp[lab] == stamp:
                    continue
                seen_stamp[lab] = stamp
                d_cls = _grow(d_cls, nd + n_p)
                d_pe = _grow(d_pe, nd + n_p)
                for i in range(n_p):
                    d_cls[nd] = cls_base + lab
                    d_pe[nd] = dr_chip[r] * n_pes + pes[i]
                    nd += 1
                if n_labels == 1:
                    break
        for r in range(nhr):
            stamp += 1
            for q in range(hr_lo[r], hr_hi[r]):
                lab = labels[pool[q]]
                if seen_stamp[lab] == stamp:
                    continue
                seen_stamp[lab] = stamp
                h_cls = _grow(h_cls, nh + 1)
                h_link = _grow(h_link, nh + 1)
                h_cls[nh] = cls_base + lab
                h_link[nh] = hr_link[r]
                nh += 1
                if n_labels == 1:
                    break
        if n_labels > 1:
            order = np.argsort(d_cls[d_start:nd], kind="mergesort")
            d_cls[d_start:nd] = d_cls[d_start:nd][order]
            d_pe[d_start:nd] = d_pe[d_start:nd][order]
            order = np.argsort(h_cls[h_start:nh], kind="mergesort")
            h_cls[h_start:nh] = h_cls[h_start:nh][order]
            h_link[h_start:nh] = h_link[h_start:nh][order]
        n_cls[s] = n_labels
        cls_base += n_labels
    return label_out, loop_out, n_cls, d_cls[:nd], d_pe[:nd], h_cls[:nh], h_link[:nh]
