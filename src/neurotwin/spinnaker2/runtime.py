r"""The SpiNNaker2 runtime: a placed network executed tick by tick with the chip's numerics.

Per tick ``j`` (length ``tick_ms``), on every PE of a population slice:

1. **Neuron update** (float32, :mod:`.numerics`): each LIF neuron is propagated with the
   per-tick constants of its population, its synaptic currents decay and take the
   ring-buffer slot of tick ``j`` (integer sum of weights x the receptor's scale), the
   slot is cleared, the threshold is tested. The arithmetic is that of the ideal engine's
   step (:func:`neurotwin.dynamics.lif.lif_step`) in float32, so with ``tick_ms == dt``
   and exactly representable weights whose scale is a power of two the spikes equal those
   of ``nt.simulate(net, backend="ideal", dtype="float32")``.
2. **Spikes out**: a spiking neuron's PE sends one multicast packet with the neuron's
   key. Where the packet goes is what the router tables say: when the program is built,
   every key of every sending slice is followed hop by hop through the placement's
   (possibly edited) tables (:func:`_follow_blocks`, the semantics of
   :func:`~neurotwin.spinnaker2.routing.follow` with ``loops="drop"``). Keys that take the
   same entries at every chip form a *route class* (one per slice with the mapper's
   tables); a class has a fixed list of receiving PEs and link hops. A wrong entry gives
   wrong deliveries, hence missing or extra spikes.
3. **Packets in** (charged to tick ``j + 1``, when the receiving PE processes them):
   a delivered packet looks up its synaptic row (the synapses of the sending neuron onto
   that PE); each synapse adds its integer weight to the ring-buffer slot of tick
   ``j + delay``. Only rows on PEs that the unit's route class reaches are kept (decided
   once, when the program is built); a PE reached without a row costs the lookup and
   changes nothing; a PE not reached never sees the spike.

Spike sources run on their own PEs and send packets the same way (arrays at their
times rounded to the tick, Poisson sources drawn per tick from the ideal engine's
streams: :func:`~neurotwin.engines.plan.source_spikes`, :func:`~neurotwin.engines.plan.trial_rngs`).

Cost per PE and tick (cycles; constants in :mod:`.specs`)::

    cycles = CYCLES_TICK_OVERHEAD + neurons * CYCLES_PER_NEURON
             (+ Poisson sources * CYCLES_PER_POISSON_SOURCE on source PEs)
             + packets received * CYCLES_PER_PACKET + synapses processed * CYCLES_PER_SYNAPSE
             + packets sent * CYCLES_PER_SPIKE_SENT

and the deadline is ``clock_mhz * 1e3 * tick_ms`` cycles; a PE over it is a deadline
miss (PE, tick, cycles over). The simulation itself goes on as if the PE had caught up
(the spikes are those of a machine fast enough); the misses say it would not be.

How the kernel counts (integers, inside the compiled tick loop): packets sent per PE;
synapses processed per receiving PE (one count per delivered synapse); packets received
per PE from the spikes per route class, each class adding its count to its receiving
PEs. A class that reaches most PEs is stored as the complement of its receivers within
the PEs that receive anything (its count goes to all of them once, and is taken back
from the few it misses), so a spike costs the PEs it *misses*, not the ~all it reaches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numba
import numpy as np
import scipy.sparse as sp
import torch
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from neurotwin.dynamics.lif import LIF
from neurotwin.engines.plan import (
    CHUNK_STEPS,
    RecordingPlan,
    SourcePlan,
    recording_plan,
    source_plan,
    source_spikes,
    spike_records,
    trial_rngs,
)
from neurotwin.engines.result import Result
from neurotwin.errors import CapacityError, ConfigError, check_positive
from neurotwin.network import Network
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.cost import DeadlineMiss, estimate_cost
from neurotwin.spinnaker2.numerics import WeightFormat
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.rows import SynapticRows, build_rows, largest_weights, word_layout
from neurotwin.spinnaker2.specs import (
    CHIP_PES,
    CYCLES_PER_NEURON,
    CYCLES_PER_PACKET,
    CYCLES_PER_POISSON_SOURCE,
    CYCLES_PER_SPIKE_SENT,
    CYCLES_PER_SYNAPSE,
    CYCLES_TICK_OVERHEAD,
    LINKS_PER_CHIP,
    SYNAPSE_DELAY_BITS,
    SYNAPSE_TARGET_BITS,
)

__all__ = ["DEADLINE_POLICIES", "S2Program", "compile_program", "run_program"]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2}
"""Row of each recordable state variable in the kernel's state stack."""
DEADLINE_POLICIES = ("report", "raise")
MISS_CAPACITY = 10_000
"""Deadline misses kept in detail (all are counted)."""
WEIGHT_SHIFT = 32
SLICE_SHIFT = 40
"""Bit positions of the weight and the receiving slice in a synapse word."""
PREFETCH_AHEAD = 8
"""Spikes ahead whose synaptic rows are prefetched while one is delivered."""
PREFETCH_SYNAPSES = 1024
"""At most this many synapses of a row are prefetched."""


@dataclass(frozen=True, eq=False)
class S2Program:
    """A placed network ready to run on the SpiNNaker2 twin (the backend's artefact).

    Units (presynaptic indices) are the neurons of all populations in network order,
    then the spike sources. Neurons are updated per population (segment). The synapses a
    unit's packets reach are stored per unit (CSR), each as a ring-buffer index, an
    integer weight and the receiving slice; the deliveries of every unit are those of its
    route class, followed through the router tables.
    """

    network: Network
    placement: Placement
    tick_ms: float
    clock_mhz: float
    weight_format: WeightFormat
    deadline: str
    """"report" or "raise" (CapacityError on the first run with a miss)."""
    scales: dict[tuple[str, str], float]
    """(population, receptor) -> weight scale, nA per LSB."""
    pop_slices: dict[str, tuple[int, int]]
    source_slices: dict[str, tuple[int, int]]
    n_neurons: int
    n_sources: int
    seg_ptr: np.ndarray
    """(n_populations + 1,) first neuron of each population (segment)."""
    seg_consts: np.ndarray
    """(10, n_populations) float32 per-tick constants (``numerics.LIF_CONSTANT_ROWS``)."""
    seg_refrac: np.ndarray
    """(n_populations,) refractory period, ticks."""
    seg_scale: np.ndarray
    """(2, n_populations) float32 scale of the exc / inh receptor, nA per LSB."""
    initial: np.ndarray
    """(3, n_neurons) float32: v, i_exc, i_inh."""
    unit_slice: np.ndarray
    """(n_units,) slice (PE) of each unit."""
    sends: np.ndarray
    """(n_units,) the unit's slice has targets, so its spikes are sent."""
    unit_class: np.ndarray
    """(n_units,) route class of each unit: units of a class reach the same PEs over the
    same links. Class 0: no deliveries (units that do not send)."""
    looped: np.ndarray
    """(n_units,) the unit's key runs into a routing loop (copies dropped)."""
    class_ptr: np.ndarray
    class_pe: np.ndarray
    """Per class (CSR): every delivery as ``chip * CHIP_PES + pe`` (PEs without a slice
    included: the packet is dropped there)."""
    hops: sp.csr_array
    """(n_classes, n_chips * 6) link traversals of one packet of each route class."""
    recv_ptr: np.ndarray
    recv_slice: np.ndarray
    recv_neg: np.ndarray
    """Per class (CSR): receiving slices for the packet counts, or (``recv_neg``) the
    slices of ``recv_universe`` it does *not* reach."""
    recv_universe: np.ndarray
    """(n_slices,) the slice receives packets of some class."""
    syn_ptr: np.ndarray
    """(n_units + 1,) CSR over units of the synapses their packets reach."""
    syn_word: np.ndarray
    """Per synapse, uint64: bits 0-31 its ring-buffer index counted from the current slot,
    ``delay * 2 * n_neurons + receptor * n_neurons + post``; bits 32-39 the integer
    weight (LSB); bits 40-63 the receiving slice (:func:`_encode_units`). One word, so
    that a spike reads its synapses as one contiguous stream."""
    n_slots: int
    ring_dtype: type[np.signedinteger]
    """Storage of the ring-buffer accumulators (:func:`numerics.ring_dtype`)."""
    base_cycles: np.ndarray
    """(n_slices,) cycles a PE spends every tick regardless of traffic."""
    sources: SourcePlan
    recording: RecordingPlan

    @property
    def budget_cycles(self) -> int:
        """Cycles a PE has per tick at ``clock_mhz``."""
        return round(self.clock_mhz * 1e3 * self.tick_ms)


def _scales(
    network: Network, fmt: WeightFormat, weight_scale: float | Mapping[str, float] | None
) -> dict[tuple[str, str], float]:
    """Scale per (population, receptor): given, or the largest incoming weight / limit."""
    largest = largest_weights(network)
    if isinstance(weight_scale, Mapping):
        unknown = sorted(set(weight_scale) - {str(p.label) for p in network.populations})
        if unknown:
            raise ConfigError(f"weight_scale names unknown populations {unknown}")
    scales = {}
    for pop in network.populations:
        label = str(pop.label)
        for name in ("exc", "inh"):
            default = numerics.weight_scale(largest.get((label, name), 0.0), fmt)
            if weight_scale is None:
                value = default
            elif isinstance(weight_scale, Mapping):
                value = float(weight_scale.get(label, default))
            else:
                value = float(weight_scale)
            check_positive(f"weight scale of {label!r}", value, "nA")
            scales[(label, name)] = value
    return scales


# ---------------------------------------------------------------------------------------
# routes: every key of every sending slice through the router tables


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
def _entries(pool, lo, hi, k0, chip, offsets, tkey, tmask, ent):  # pragma: no cover
    """First matching table entry of chip ``chip`` (-1: none) for each key ``k0 + pool[q]``,
    q in lo..hi-1, into ``ent[:hi - lo]``. An entry that every key misses on a bit they
    share is skipped without looking at the keys one by one (the mapper's tables then
    need one comparison per entry for a whole slice)."""
    k_and = np.int64(0xFFFFFFFF)
    k_or = np.int64(0)
    for q in range(lo, hi):
        key = (k0 + pool[q]) & 0xFFFFFFFF
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
        key = (k0 + pool[q]) & 0xFFFFFFFF
        ent[q - lo] = -1
        for e in range(first, offsets[chip + 1]):
            if (key & tmask[e]) == tkey[e]:
                ent[q - lo] = e
                break


@numba.njit(cache=True)
def _follow_blocks(
    first_key, n_keys, src_chip, offsets, tkey, tmask, route, alive, neighbour, n_pes
):  # pragma: no cover - compiled; tested against routing.follow
    """Route classes of the keys ``first_key[s] + 0..n_keys[s]-1`` sent from chip
    ``src_chip[s]``, for every block ``s``, through the tables (CSR ``offsets``, ``tkey``,
    ``tmask``, ``route`` words).

    The router semantics and traversal order of :func:`routing.follow_block` (first
    matching entry, default routing over the opposite link, dead links drop, a key that
    reaches a chip again is dropped there), followed per group of keys that took the same
    entries so far: a group splits where its keys match different entries or some were
    seen before, and the classes are the final partition. Deliveries and hops are listed
    once per class, not per key.

    Returns per key its class within the block and whether it looped; per block the
    number of classes; deliveries (class, chip * n_pes + pe) and hops (class,
    chip * 6 + link), sorted by class. Classes are numbered from 1, block after block.
    """
    n_blocks = first_key.shape[0]
    n_chips = offsets.shape[0] - 1
    total = 0
    max_keys = 1
    for s in range(n_blocks):
        total += n_keys[s]
        max_keys = max(max_keys, n_keys[s])
    label_out = np.zeros(total, np.int64)
    looped_out = np.zeros(total, np.bool_)
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
    cls_base = 1
    key_pos = 0
    for s in range(n_blocks):
        m = n_keys[s]
        k0 = first_key[s]
        labels = label_out[key_pos : key_pos + m]
        looped = looped_out[key_pos : key_pos + m]
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
                    looped[pool[q]] = True
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
                        looped[pool[q]] = True
                        pool[top] = pool[q]
                        top += 1
                stamp += 1
                n_labels = _relabel(pool[dropped:top], labels, fresh, fresh_stamp, stamp,
                                    n_labels)
                lo, hi = kept, dropped
            for q in range(lo, hi):
                marks[slot, pool[q]] = True
            g = hi - lo
            _entries(pool, lo, hi, k0, chip, offsets, tkey, tmask, ent)
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
        key_pos += m
    return label_out, looped_out, n_cls, d_cls[:nd], d_pe[:nd], h_cls[:nh], h_link[:nh]


@dataclass(frozen=True, eq=False)
class _Routes:
    """Route classes of all units (:func:`_routes`; fields as in :class:`S2Program`)."""

    unit_class: np.ndarray
    looped: np.ndarray
    class_ptr: np.ndarray
    class_pe: np.ndarray
    hops: sp.csr_array


def _routes(placement: Placement, slice_unit: np.ndarray, n_units: int) -> _Routes:
    """Route classes of every unit (``slice_unit``: first unit of each slice)."""
    machine, tables = placement.machine, placement.tables
    senders = np.unique(placement.pair_src).astype(np.int64)
    sizes = (placement.slice_hi - placement.slice_lo)[senders].astype(np.int64)
    label, looped_keys, n_cls, d_cls, d_pe, h_cls, h_link = _follow_blocks(
        placement.slice_key[senders].astype(np.int64), sizes,
        placement.slice_chip[senders].astype(np.int64), tables.offsets.astype(np.int64),
        tables.key.astype(np.int64), tables.mask.astype(np.int64),
        np.ascontiguousarray(tables.route, np.uint64), machine.link_alive,
        machine.neighbour.astype(np.int64), CHIP_PES,
    )  # fmt: skip
    n_classes = 1 + int(n_cls.sum())
    first_class = 1 + np.cumsum(n_cls) - n_cls
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    units = np.repeat(slice_unit[senders], sizes) + within
    unit_class = np.zeros(n_units, np.int64)
    unit_class[units] = np.repeat(first_class, sizes) + label
    looped = np.zeros(n_units, bool)
    looped[units] = looped_keys
    class_ptr = np.concatenate([[0], np.cumsum(np.bincount(d_cls, minlength=n_classes))])
    hops = sp.csr_array((np.ones(h_cls.size, np.int64), (h_cls, h_link)),
                        shape=(n_classes, machine.n_chips * LINKS_PER_CHIP))
    return _Routes(unit_class, looped, class_ptr.astype(np.int64), d_pe, hops)


@numba.njit(cache=True)
def _receive_lists(class_ptr, class_slice, universe):  # pragma: no cover - compiled
    """Per class (CSR) the slices whose packet count it raises, or, where that is shorter
    (``neg``), the slices of ``universe`` (sorted slice ids) it does not reach."""
    n_classes = class_ptr.shape[0] - 1
    n_slices = class_slice.max() + 1 if class_slice.shape[0] else 0
    mark = np.full(max(n_slices, 1), -1, np.int64)
    ptr = np.zeros(n_classes + 1, np.int64)
    neg = np.zeros(n_classes, np.bool_)
    out = np.empty(1 << 12, np.int64)
    n = 0
    for c in range(n_classes):
        valid = 0
        for q in range(class_ptr[c], class_ptr[c + 1]):
            if class_slice[q] >= 0:
                valid += 1
        if 2 * valid > universe.shape[0]:
            neg[c] = True
            for q in range(class_ptr[c], class_ptr[c + 1]):
                if class_slice[q] >= 0:
                    mark[class_slice[q]] = c
            out = _grow(out, n + universe.shape[0] - valid)
            for t in universe:
                if mark[t] != c:
                    out[n] = t
                    n += 1
        else:
            out = _grow(out, n + valid)
            for q in range(class_ptr[c], class_ptr[c + 1]):
                if class_slice[q] >= 0:
                    out[n] = class_slice[q]
                    n += 1
        ptr[c + 1] = n
    return ptr, out[:n], neg


@numba.njit(cache=True, nogil=True)
def _encode_units(
    unit_ptr, row_slice, row_word, slice_first, layout, unit_class, class_ptr, class_slice,
    n, multiplicity, n_slices,
):  # pragma: no cover - compiled
    """Synapse words (``S2Program.syn_word``) and their CSR over units from the rows'
    16-bit words, decoded as :meth:`SynapticRows.decode` does (``layout`` = target bits,
    delay shift (-1: none), delay bits, receptor shift, weight shift, weight mask, the
    format's fixed delay); only the synapses whose slice the unit's route class reaches
    are kept. Also returns the most LSB one ring-buffer slot can receive: per (receptor,
    neuron) the sum of ``weight * multiplicity`` of its unit over all its synapses."""
    target_mask = (1 << layout[0]) - 1
    delay_shift, delay_mask = layout[1], (1 << layout[2]) - 1
    receptor_shift, weight_shift = layout[3], layout[4]
    weight_mask, fixed_delay = layout[5], layout[6]
    out = np.empty(row_word.shape[0], np.uint64)
    ptr = np.zeros(unit_ptr.shape[0], np.int64)
    slot_sum = np.zeros(2 * n, np.int64)
    mark = np.full(n_slices, -1, np.int64)
    current = -1
    m = 0
    for u in range(unit_ptr.shape[0] - 1):
        c = unit_class[u]
        if c != current:
            for q in range(class_ptr[c], class_ptr[c + 1]):
                if class_slice[q] >= 0:
                    mark[class_slice[q]] = c
            current = c
        for q in range(unit_ptr[u], unit_ptr[u + 1]):
            word = np.int64(row_word[q])
            target = np.int64(row_slice[q])
            weight = (word >> weight_shift) & weight_mask
            index = ((word >> receptor_shift) & 1) * n + slice_first[target] + (word & target_mask)
            slot_sum[index] += weight * multiplicity[u]
            if mark[target] == c:
                delay = fixed_delay
                if delay_shift >= 0:
                    delay = ((word >> delay_shift) & delay_mask) + 1
                out[m] = (np.uint64(delay * 2 * n + index)
                          | (np.uint64(weight) << np.uint64(WEIGHT_SHIFT))
                          | (np.uint64(target) << np.uint64(SLICE_SHIFT)))
                m += 1
        ptr[u + 1] = m
    largest = slot_sum.max() if n else 0
    if m == out.shape[0]:  # every synapse delivered (the mapper's tables): no copy
        return ptr, out, largest
    return ptr, out[:m].copy(), largest


def _synapse_table(
    rows: SynapticRows, routes: _Routes, class_slice: np.ndarray, n_slices: int, n: int,
    multiplicity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(syn_ptr, syn_word, most LSB one ring-buffer slot can receive) from the rows."""
    layout = word_layout(rows.fmt)
    fields = np.array([SYNAPSE_TARGET_BITS, layout.delay_shift, SYNAPSE_DELAY_BITS,
                       layout.receptor_shift, layout.weight_shift, rows.fmt.weight_max,
                       rows.fmt.delay_min], np.int64)
    ptr, word, largest = _encode_units(
        rows.unit_ptr, rows.slice, rows.word, np.maximum(rows.slice_first, 0), fields,
        routes.unit_class, routes.class_ptr, class_slice, n, multiplicity, n_slices,
    )  # fmt: skip
    return ptr, word, int(largest)


def _index_dtype(largest: int) -> type[np.signedinteger]:
    """int16, int32 or int64: the narrowest that holds ``largest``."""
    for dtype in (np.int16, np.int32):
        if largest <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def compile_program(
    network: Network,
    placement: Placement,
    tick_ms: float,
    clock_mhz: float,
    weight_format: str = "int4_delay",
    weight_scale: float | Mapping[str, float] | None = None,
    rounding: str = "nearest",
    deadline: str = "report",
) -> S2Program:
    """Quantise, route and lay out ``network`` as placed by ``placement``.

    Parameters
    ----------
    network
        The network the placement was made for (checked).
    placement
        From :func:`~neurotwin.spinnaker2.map_network`; its tables are what packets follow.
    tick_ms
        Tick, ms of model time.
    clock_mhz
        PE clock, MHz (sets the per-tick cycle budget).
    weight_format
        "int4_delay" or "int8" (:data:`~neurotwin.spinnaker2.numerics.WEIGHT_FORMATS`).
    weight_scale
        nA per weight LSB: None (per population and receptor, largest weight -> limit),
        one float for all, or population label -> float.
    rounding
        "nearest" or "exact" (ConfigError for weights off the integer grid).
    deadline
        "report" (misses in ``Result.cost.deadline_misses``) or "raise" (CapacityError).
    """
    placement.check_network(network)
    fmt = numerics.get_format(weight_format)
    if deadline not in DEADLINE_POLICIES:
        raise ConfigError(
            f"deadline must be one of {', '.join(DEADLINE_POLICIES)}, got {deadline!r}"
        )
    check_positive("tick_ms", tick_ms, "ms")
    check_positive("clock_mhz", clock_mhz, "MHz")
    for pop in network.populations:
        if not isinstance(pop.model, LIF):
            raise ConfigError(
                f"population {pop.label!r} is {type(pop.model).__name__}; the SpiNNaker2 "
                "twin runs the LIF application only"
            )
    if network.currents:
        raise ConfigError("injected currents (DCSource) are not supported by the spinnaker2 "
                          "backend; use i_offset or spike sources")
    pops = network.populations
    pop_slices: dict[str, tuple[int, int]] = {}
    n = 0
    for pop in pops:
        pop_slices[str(pop.label)] = (n, n + pop.size)
        n += pop.size
    plan, source_slices = source_plan(network, tick_ms)
    n_sources = sum(s.size for s in network.sources)
    n_units = n + n_sources
    scales = _scales(network, fmt, weight_scale)

    seg_ptr = np.array([0, *(hi for _, hi in pop_slices.values())], np.int64)
    seg_consts = np.zeros((len(numerics.LIF_CONSTANT_ROWS), len(pops)), np.float32)
    refrac = np.zeros(len(pops), np.int64)
    seg_scale = np.zeros((2, len(pops)), np.float32)
    initial = np.zeros((3, n), np.float64)
    for k, pop in enumerate(pops):
        label = str(pop.label)
        lo, hi = pop_slices[label]
        model = cast(LIF, pop.model)
        seg_consts[:, k] = numerics.lif_constants_f32(model, tick_ms)
        refrac[k] = round(model.tau_refrac / tick_ms)
        seg_scale[:, k] = scales[(label, "exc")], scales[(label, "inh")]
        for name, values in pop.initial_values().items():
            initial[STATE_CODES[name], lo:hi] = values

    def unit_base(label: str) -> int:
        if label in pop_slices:
            return pop_slices[label][0]
        return n + source_slices[label][0]

    n_slices = placement.n_slices
    slice_unit = np.array(
        [unit_base(placement.labels[int(node)]) for node in placement.slice_node], np.int64
    ) + placement.slice_lo
    width = (placement.slice_hi - placement.slice_lo).astype(np.int64)
    unit_slice = np.zeros(n_units, np.int64)
    unit_slice[np.repeat(slice_unit, width) + np.arange(int(width.sum()))
               - np.repeat(np.cumsum(width) - width, width)] = np.repeat(np.arange(n_slices), width)
    sends = np.zeros(n_slices, bool)
    sends[placement.pair_src] = True

    routes = _routes(placement, slice_unit, n_units)
    pe_slice = np.full(placement.machine.n_chips * CHIP_PES, -1, np.int64)
    pe_slice[placement.slice_chip * CHIP_PES + placement.slice_pe] = np.arange(n_slices)
    class_slice = pe_slice[routes.class_pe]
    universe = np.unique(class_slice[class_slice >= 0])
    recv_ptr, recv_slice, recv_neg = _receive_lists(routes.class_ptr, class_slice, universe)
    recv_universe = np.zeros(n_slices, bool)
    recv_universe[universe] = True

    # synapses: the quantised rows (rows.build_rows), one word each, delivered ones only
    ring_size = 2 * (fmt.delay_max + 1) * n
    if ring_size >= 2**WEIGHT_SHIFT:
        raise CapacityError("ring-buffer entries in a synapse word", ring_size,
                            2**WEIGHT_SHIFT - 1)
    multiplicity = np.ones(n_units, np.int64)  # spikes a unit can send in one tick
    if plan.array_source.size:
        pairs, repeats = np.unique(np.stack([plan.array_source, plan.array_emit_step]),
                                   axis=1, return_counts=True)
        np.maximum.at(multiplicity, n + pairs[0], repeats)
    rows = build_rows(network, placement, weight_format=weight_format, scales=scales,
                      tick_ms=tick_ms, rounding=rounding)
    syn_ptr, syn_word, largest_sum = _synapse_table(rows, routes, class_slice, n_slices, n,
                                                    multiplicity)
    n_slots = rows.max_delay + 1
    del rows

    kinds = np.array(placement.kinds)[placement.slice_node]
    base = np.full(n_slices, CYCLES_TICK_OVERHEAD, np.int64)
    base += np.where(kinds == "LIF", width * CYCLES_PER_NEURON, 0)
    base += np.where(kinds == "SpikeSourcePoisson", width * CYCLES_PER_POISSON_SOURCE, 0)

    longest = int(refrac.max(initial=0))
    return S2Program(
        network=network,
        placement=placement,
        tick_ms=float(tick_ms),
        clock_mhz=float(clock_mhz),
        weight_format=fmt,
        deadline=deadline,
        scales=scales,
        pop_slices=pop_slices,
        source_slices=source_slices,
        n_neurons=n,
        n_sources=n_sources,
        seg_ptr=seg_ptr,
        seg_consts=seg_consts,
        seg_refrac=refrac.astype(_index_dtype(longest)),
        seg_scale=seg_scale,
        initial=initial.astype(np.float32),
        unit_slice=unit_slice,
        sends=sends[unit_slice],
        unit_class=routes.unit_class,
        looped=routes.looped,
        class_ptr=routes.class_ptr,
        class_pe=routes.class_pe,
        hops=routes.hops,
        recv_ptr=recv_ptr,
        recv_slice=recv_slice,
        recv_neg=recv_neg,
        recv_universe=recv_universe,
        syn_ptr=syn_ptr,
        syn_word=syn_word,
        n_slots=n_slots,
        ring_dtype=numerics.ring_dtype(largest_sum),
        base_cycles=base,
        sources=plan,
        recording=recording_plan(network, pop_slices, source_slices, n, STATE_CODES),
    )


# ---------------------------------------------------------------------------------------
# kernel


@numba.njit(cache=True, nogil=True)
def _lif_segment(
    lo, hi, v, ie, ii, rf, fl, r_exc, r_inh, c, n_refrac, scale_e, scale_i
):  # pragma: no cover - compiled
    """One tick of neurons lo..hi-1 of one population (constants ``c``, float32): the
    arithmetic of the ideal engine's ``_lif_segment``, the input read from the ring-buffer
    slots ``r_exc``/``r_inh`` (cleared). On views from 0, so the loop vectorises."""
    v, ie, ii, rf, fl = v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], fl[lo:hi]
    r_exc, r_inh = r_exc[lo:hi], r_inh[lo:hi]
    v_rest, v_reset, v_thresh, i_offset = c[0], c[1], c[2], c[3]
    p_vv, p_vi, p_ve, p_vn, p_ee, p_nn = c[4], c[5], c[6], c[7], c[8], c[9]
    for i in range(hi - lo):
        free = rf[i] <= 0
        v_free = v_rest + (v[i] - v_rest) * p_vv + i_offset * p_vi + ie[i] * p_ve - ii[i] * p_vn
        vi = v_free if free else v[i]
        ri = rf[i] if free else rf[i] - 1
        ie[i] = ie[i] * p_ee + numerics.ring_current(r_exc[i], scale_e)
        ii[i] = ii[i] * p_nn + numerics.ring_current(r_inh[i], scale_i)
        r_exc[i] = 0
        r_inh[i] = 0
        spike = vi >= v_thresh
        v[i] = v_reset if spike else vi
        rf[i] = n_refrac if spike else ri
        fl[i] = spike


@intrinsic
def _prefetch(typingctx, arr, index):  # pragma: no cover - compiled
    """Hint the CPU to bring ``arr[index]`` into the cache (``llvm.prefetch``: read,
    high locality); changes no value."""
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        name = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _deliver(
    units, m, base, ring, syn, unit_slice, class_count, touched, syn_next, sent
):  # pragma: no cover - compiled
    """Spikes of ``units[:m]``: one packet sent by each unit's PE, counted for its route
    class (expanded to packets per PE by :func:`_expand`), and its delivered synapses
    added to the ring buffer from the slot at ``base`` on and counted per receiving PE
    (``syn`` = unit_class, syn_ptr, syn_word). The rows of the spikes
    ``PREFETCH_AHEAD`` ahead are prefetched: a row lies anywhere in the synapse table,
    and waiting for it one spike at a time dominates otherwise."""
    unit_class, syn_ptr, syn_word = syn
    size = ring.shape[0]
    for k in range(m):
        if k + PREFETCH_AHEAD < m:
            ahead = units[k + PREFETCH_AHEAD]
            first = syn_ptr[ahead]
            for q in range(first, min(syn_ptr[ahead + 1], first + PREFETCH_SYNAPSES), 8):
                _prefetch(syn_word, q)  # type: ignore[call-arg]
        u = units[k]
        sent[unit_slice[u]] += 1
        c = unit_class[u]
        if class_count[c] == 0:
            touched[0] += 1
            touched[touched[0]] = c
        class_count[c] += 1
        lo, hi = syn_ptr[u], syn_ptr[u + 1]
        row = syn_word[lo:hi]
        for q in range(hi - lo):
            word = row[q]
            x = base + np.int64(word & np.uint64(0xFFFFFFFF))
            if x >= size:
                x -= size
            ring[x] += np.int64((word >> np.uint64(WEIGHT_SHIFT)) & np.uint64(0xFF))
            syn_next[np.int64(word >> np.uint64(SLICE_SHIFT))] += 1


@numba.njit(cache=True, nogil=True)
def _expand(class_count, touched, pkt_next, bcast_next, recv):  # pragma: no cover - compiled
    """Packets received per PE from the spikes counted per class (``touched[0]`` classes in
    ``touched[1:]``); a complement class adds to ``bcast_next`` (all receiving PEs) and
    takes back from the PEs it misses. Resets the counts; returns the new ``bcast_next``."""
    recv_ptr, recv_slice, recv_neg = recv
    for k in range(1, touched[0] + 1):
        c = touched[k]
        count = class_count[c]
        if recv_neg[c]:
            bcast_next += count
            count = -count
        for q in range(recv_ptr[c], recv_ptr[c + 1]):
            pkt_next[recv_slice[q]] += count
        class_count[c] = 0
    touched[0] = 0
    return bcast_next


@numba.njit(cache=True, nogil=True)
def _chunk(
    b0, b1, j0, j1, reached, state, refrac, flags, ring, seg_ptr, seg_consts, seg_refrac,
    seg_scale, syn, recv, universe, unit_slice, sends, src_ptr, src_ids, class_count, touched,
    spiking,
    base_cycles, c_pkt, c_syn, c_sent, budget, pkt, bcast, syn_count, sent,
    max_cycles, total_cycles, miss_trial, miss_tick, miss_slice, miss_cycles, miss_count,
    record, spike_step, spike_id, spike_count, n_record, unit_spikes,
    trace_code, trace_neuron, traces,
):  # pragma: no cover - compiled; tested through run_program
    """Advance trials b0..b1-1 from their ``reached`` tick to ``j1`` (see module doc)."""
    n = state.shape[2]
    span = 2 * n
    n_slots = ring.shape[1] // span
    n_slices = base_cycles.shape[0]
    cap = spike_step.shape[1]
    miss_cap = miss_tick.shape[0]
    for b in range(b0, b1):
        v = state[0, b]
        ie = state[1, b]
        ii = state[2, b]
        rf = refrac[b]
        fl = flags[b]
        fl_words = fl.view(np.uint64)
        rg = ring[b]
        for j in range(reached[b], j1):
            if spike_count[b] + n_record > cap:
                break
            k = j - j0
            for r in range(trace_code.shape[0]):
                traces[b, j, r] = state[trace_code[r], b, trace_neuron[r]]
            base = (j % n_slots) * span
            r_exc = rg[base : base + n]
            r_inh = rg[base + n : base + span]
            for s in range(seg_ptr.shape[0] - 1):
                _lif_segment(seg_ptr[s], seg_ptr[s + 1], v, ie, ii, rf, fl, r_exc, r_inh,
                             seg_consts[:, s], seg_refrac[s], seg_scale[0, s], seg_scale[1, s])
            cur = j % 2
            nxt = 1 - cur
            sent_b = sent[b]
            m = 0
            for word in range(fl_words.shape[0]):  # 8 flags at a time: spikes are rare
                if fl_words[word] == 0:
                    continue
                for i in range(8 * word, 8 * word + 8):
                    if not fl[i]:
                        continue
                    unit_spikes[b, i] += 1
                    if sends[i]:
                        spiking[m] = i
                        m += 1
                    if record[i]:
                        cnt = spike_count[b]
                        spike_step[b, cnt] = j
                        spike_id[b, cnt] = i
                        spike_count[b] = cnt + 1
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                unit = n + src_ids[e]
                unit_spikes[b, unit] += 1
                if sends[unit]:
                    spiking[m] = unit
                    m += 1
            _deliver(spiking, m, base, rg, syn, unit_slice, class_count[b], touched[b],
                     syn_count[b, nxt], sent_b)
            bcast[b, nxt] = _expand(class_count[b], touched[b], pkt[b, nxt], bcast[b, nxt], recv)
            pkt_cur = pkt[b, cur]
            syn_cur = syn_count[b, cur]
            everyone = bcast[b, cur]
            for s in range(n_slices):
                received = pkt_cur[s] + (everyone if universe[s] else 0)
                cycles = (base_cycles[s] + received * c_pkt + syn_cur[s] * c_syn
                          + sent_b[s] * c_sent)
                total_cycles[b, s] += cycles
                if cycles > max_cycles[b, s]:
                    max_cycles[b, s] = cycles
                if cycles > budget:
                    m = miss_count[0]
                    if m < miss_cap:
                        miss_trial[m] = b
                        miss_tick[m] = j
                        miss_slice[m] = s
                        miss_cycles[m] = cycles
                    miss_count[0] = m + 1
                pkt_cur[s] = 0
                syn_cur[s] = 0
                sent_b[s] = 0
            bcast[b, cur] = 0
            reached[b] = j + 1


def _hold(traces: np.ndarray, tick: float, dt: float, steps: int) -> np.ndarray:
    """Traces sampled per tick, resampled to the network's dt grid (sample-and-hold)."""
    if traces.shape[1] == steps:
        return traces
    idx = np.minimum(np.floor(np.arange(steps) * dt / tick + 1e-9).astype(np.int64),
                     traces.shape[1] - 1)
    return traces[:, idx, :]


def run_program(
    prog: S2Program,
    duration: float,
    seed: int = 0,
    trials: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Run ``prog`` for ``duration`` ms (a multiple of the tick and of dt), ``trials`` trials.

    Returns a :class:`~neurotwin.engines.result.Result` whose ``cost`` is an
    :class:`~neurotwin.spinnaker2.cost.S2Cost`. Spikes are stamped at the end of their
    tick; traces are sampled at the start of every tick and held on the network's dt grid.

    Raises
    ------
    CapacityError
        ``deadline="raise"`` and a PE misses its deadline ("PE cycles per tick").
    """
    net = prog.network
    steps = net.steps(duration)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    ticks_f = duration / prog.tick_ms
    ticks = round(ticks_f)
    if ticks < 1 or abs(ticks_f - ticks) > 1e-9 * max(1.0, ticks_f):
        raise ConfigError(
            f"duration must be a multiple of the tick {prog.tick_ms:g} ms, got {duration!r} ms"
        )
    rngs = trial_rngs(seed, trials)
    start = time.perf_counter()
    n, n_units = prog.n_neurons, prog.n_neurons + prog.n_sources
    n_slices = prog.placement.n_slices
    state = np.repeat(prog.initial[:, None, :], trials, axis=1).astype(np.float32)
    refrac = np.zeros((trials, n), prog.seg_refrac.dtype)
    flags = np.zeros((trials, -(-n // 8) * 8), np.uint8)  # padding never set
    ring = np.zeros((trials, prog.n_slots * 2 * n), prog.ring_dtype)
    pkt = np.zeros((trials, 2, n_slices), np.int64)
    bcast = np.zeros((trials, 2), np.int64)
    syn_count = np.zeros((trials, 2, n_slices), np.int64)
    sent = np.zeros((trials, n_slices), np.int64)
    max_cycles = np.zeros((trials, n_slices), np.int64)
    total_cycles = np.zeros((trials, n_slices), np.int64)
    miss_trial = np.zeros(MISS_CAPACITY, np.int64)
    miss_tick = np.zeros(MISS_CAPACITY, np.int64)
    miss_slice = np.zeros(MISS_CAPACITY, np.int64)
    miss_cycles = np.zeros(MISS_CAPACITY, np.int64)
    miss_count = np.zeros(1, np.int64)
    n_record = int(prog.recording.record_spikes.sum())
    cap = max(4096, 4 * n_record)
    spike_step = np.zeros((trials, cap), np.int64)
    spike_id = np.zeros((trials, cap), np.int64)
    spike_count = np.zeros(trials, np.int64)
    unit_spikes = np.zeros((trials, n_units), np.int64)
    traces = np.zeros((trials, ticks, prog.recording.trace_code.size), np.float32)
    reached = np.zeros(trials, np.int64)

    n_classes = prog.class_ptr.size - 1
    class_count = np.zeros((trials, n_classes), np.int64)
    touched = np.zeros((trials, n_classes + 1), np.int64)
    syn = (prog.unit_class, prog.syn_ptr, prog.syn_word)
    recv = (prog.recv_ptr, prog.recv_slice, prog.recv_neg)
    plan = prog.sources
    early = plan.array_source[plan.array_emit_step < 0]
    before = (prog.n_slots - 1) * 2 * n  # the slot of tick -1
    early_units = n + early[prog.sends[n + early]]
    for b in range(trials):
        np.add.at(unit_spikes[b], n + early, 1)
        _deliver(early_units, early_units.size, before, ring[b], syn, prog.unit_slice,
                 class_count[b], touched[b], syn_count[b, 0], sent[b])  # charged to tick 0
        bcast[b, 0] = _expand(class_count[b], touched[b], pkt[b, 0], bcast[b, 0], recv)
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.full(early.size, -1), early)] for _ in range(trials)
    ]
    for j0 in range(0, ticks, CHUNK_STEPS):
        j1 = min(j0 + CHUNK_STEPS, ticks)
        src_ptr, src_ids = source_spikes(plan, rngs, j0, j1)
        spiking = np.empty(n + int(np.diff(src_ptr, axis=1).max(initial=0)), np.int64)
        while reached.min() < j1:
            _chunk(
                0, trials, j0, j1, reached, state, refrac, flags, ring, prog.seg_ptr,
                prog.seg_consts, prog.seg_refrac, prog.seg_scale, syn, recv, prog.recv_universe,
                prog.unit_slice, prog.sends, src_ptr, src_ids, class_count, touched, spiking,
                prog.base_cycles, CYCLES_PER_PACKET, CYCLES_PER_SYNAPSE, CYCLES_PER_SPIKE_SENT,
                prog.budget_cycles, pkt, bcast, syn_count, sent,
                max_cycles, total_cycles, miss_trial, miss_tick, miss_slice, miss_cycles,
                miss_count, prog.recording.record_spikes, spike_step, spike_id, spike_count,
                n_record, unit_spikes, prog.recording.trace_code, prog.recording.trace_neuron,
                traces,
            )  # fmt: skip
            for b in range(trials):
                c = spike_count[b]
                neuron_chunks[b].append((spike_step[b, :c].copy(), spike_id[b, :c].copy()))
            spike_count[:] = 0
        if prog.recording.record_sources:
            for b in range(trials):
                k = np.repeat(np.arange(j0, j1), np.diff(src_ptr[b]))
                source_chunks[b].append((k, src_ids[src_ptr[b, 0] : src_ptr[b, -1]]))
        if progress is not None:
            progress(j1, ticks)
    wall = time.perf_counter() - start

    m = min(int(miss_count[0]), MISS_CAPACITY)
    budget = prog.budget_cycles
    pl = prog.placement
    misses = tuple(
        DeadlineMiss(
            trial=int(miss_trial[i]),
            tick=int(miss_tick[i]),
            chip=pl.machine.xy(int(pl.slice_chip[miss_slice[i]])),
            pe=int(pl.slice_pe[miss_slice[i]]),
            node=pl.labels[int(pl.slice_node[miss_slice[i]])],
            cycles=int(miss_cycles[i]),
            budget_cycles=budget,
            over_us=(int(miss_cycles[i]) - budget) / prog.clock_mhz,
        )
        for i in range(m)
    )
    if misses and prog.deadline == "raise":
        first = misses[0]
        raise CapacityError(
            "PE cycles per tick", first.cycles, budget,
            f"PE {first.pe} of chip {first.chip} ({first.node!r}) misses the "
            f"{prog.tick_ms:g} ms deadline at {prog.clock_mhz:g} MHz in tick {first.tick} "
            f"(trial {first.trial}) by {first.over_us:.3g} µs; {int(miss_count[0])} miss(es)",
        )
    cost = estimate_cost(
        prog, ticks=ticks, trials=trials, wall_time_s=wall, unit_spikes=unit_spikes.sum(axis=0),
        total_cycles=total_cycles.sum(axis=0), max_cycles=max_cycles.max(axis=0),
        misses=misses, miss_count=int(miss_count[0]), duration=float(duration),
    )
    held = _hold(traces, prog.tick_ms, net.dt, steps)
    traces_t = torch.from_numpy(np.ascontiguousarray(held))
    return Result(
        network=net,
        duration=float(duration),
        n_trials=trials,
        spike_records=spike_records(
            prog.recording, prog.pop_slices, prog.source_slices, prog.tick_ms, trials,
            neuron_chunks, source_chunks,
        ),
        traces={
            key: traces_t[:, :, lo:hi]
            for key, (lo, hi) in prog.recording.trace_columns.items()
        },
        cost=cost,
        meta={
            "backend": "spinnaker2",
            "tick_ms": prog.tick_ms,
            "clock_mhz": prog.clock_mhz,
            "weight_format": prog.weight_format.name,
            "weight_scales_nA": dict(prog.scales),
            "looped_keys": int(prog.looped.sum()),
        },
    )
