"""Partitioning: cut every population and spike source into per-PE slices that fit a PE.

A node of ``size`` neurons in ``n`` slices is split evenly: slice ``k`` holds neurons
``[k * size // n, (k + 1) * size // n)``, so neuron ``i`` lies in slice
``((i + 1) * n - 1) // size``.

Memory of a slice (bytes; constants in :mod:`neurotwin.spinnaker2.specs`). As on
SpiNNaker (sPyNNaker's synaptic matrices in SDRAM, fetched by DMA per incoming spike),
synaptic rows live in the chip's DRAM; only the lookup from a spike's key to its rows,
the row buffers and the neurons live in the PE's data SRAM::

    PE data SRAM, neuron slice:  reserved + n * (neuron state + receptors * slots * entry)
                                 + master-table entry * (incoming source slices)
                                 + row DMA buffers * (bytes of the slice's longest row)
    PE data SRAM, array source:  reserved + n * per-source pointer + stored spikes * per-spike word
    PE data SRAM, Poisson:       reserved + n * per-source state
    chip DRAM, neuron slice:     sum over its synaptic rows (header + words padded to 32 bit)

One synaptic row per (presynaptic neuron, target slice) with at least one synapse, as
in sPyNNaker (and, by our reading, py-spinnaker2): a spike's key selects its row, the
row lists the targets. A slice whose SRAM exceeds the PE's data memory, or whose rows
alone exceed a chip's DRAM, makes its node split further; the loop repeats until every
slice fits (the master table of a slice depends on how its sources are cut, hence
rounds). The chips' shared DRAM is packed at placement (:mod:`.mapping`).

Rows and (source slice, target slice) pairs are counted by one compiled pass over each
projection's compressed rows (:func:`group_rows`), without per-synapse temporaries: a
billion synapses need no memory beyond the network's own arrays. Posts ascend within a
compressed row and slices are contiguous ranges of posts, so the synapses of one row onto
one slice (one synaptic row) are consecutive: a run. Per synapse the pass only finds
where runs end; counters are updated per run.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.lif import LIF
from neurotwin.errors import CapacityError, ConfigError, MappingError
from neurotwin.network import (
    Network,
    Population,
    Projection,
    SpikeSourceArray,
    SpikeSourcePoisson,
)
from neurotwin.network.nodes import Node
from neurotwin.network.projection import SynapseCSR
from neurotwin.spinnaker2.parallel import run_parts, split
from neurotwin.spinnaker2.specs import (
    CHIP_DRAM_BYTES,
    MASTER_TABLE_ENTRY_BYTES,
    MAX_DELAY_TICKS,
    NEURON_BYTES,
    PE_DATA_BYTES,
    PE_RESERVED_DATA_BYTES,
    POISSON_SOURCE_BYTES,
    RECEPTORS,
    RING_BUFFER_ENTRY_BYTES,
    RING_BUFFER_SLOTS,
    ROW_DMA_BUFFERS,
    ROW_HEADER_BYTES,
    SPIKE_ARRAY_BYTES_PER_SOURCE,
    SPIKE_ARRAY_BYTES_PER_SPIKE,
    SYNAPSE_WORD_BYTES,
)

__all__ = [
    "LUT_NEURONS",
    "GroupRows",
    "Partition",
    "check_models",
    "group_rows",
    "node_kind",
    "partition",
    "post_slice",
    "post_slice_table",
    "row_bytes",
    "slice_bounds",
    "slice_of",
]

MAX_ROUNDS = 64
"""Re-slicing rounds before giving up (each round shrinks at least one node)."""
SECANT_MARGIN = 0.005
"""A secant step aims this fraction below the memory limit (the byte count is not
exactly linear in the slice size), to avoid one more round for a few bytes."""
FIRST_ROUND_PAIRS = 1 << 25
"""Pairs are counted in the first round only if a group can have at most this many
(synapses or source x target slices); beyond, they wait for the final cut."""
PAIR_CAPACITY = 1 << 12
"""Initial room for (source slice, target slice) pairs while counting rows (doubles)."""
LUT_NEURONS = 1 << 18
"""Largest target population whose neuron -> slice table (int16, 512 KiB) is used while
counting rows; larger ones compute the slice (the table would miss the cache)."""
SRAM = "PE data memory (bytes)"
DRAM = "chip DRAM (bytes)"
"""Resource names of :class:`~neurotwin.errors.CapacityError`."""


def slice_bounds(size: int, n_slices: int) -> np.ndarray:
    """(n_slices + 1,) first neuron of each slice and the end, for an even split."""
    return (np.arange(n_slices + 1, dtype=np.int64) * size) // n_slices


def slice_of(index: np.ndarray, size: int, n_slices: int) -> np.ndarray:
    """Slice (within its node) of each neuron ``index`` of a node evenly cut in ``n_slices``."""
    return ((np.asarray(index, dtype=np.int64) + 1) * n_slices - 1) // size


def post_slice_table(size: int, n_slices: int) -> np.ndarray:
    """(size,) int16 (int32 beyond 32,767 slices) slice of every neuron of a node cut
    evenly in ``n_slices``."""
    dtype = np.int16 if n_slices <= np.iinfo(np.int16).max else np.int32
    return _fill_slice_table(np.empty(size, dtype), n_slices)


@numba.njit(cache=True, nogil=True)
def _fill_slice_table(out: np.ndarray, n_slices: int) -> np.ndarray:  # pragma: no cover
    """``out[i]`` = slice of neuron ``i`` of ``out.size`` neurons cut evenly (compiled: a
    table is built per mapping, numpy's few calls cost more than the loop)."""
    size = out.size
    for k in range(n_slices):
        for i in range(k * size // n_slices, (k + 1) * size // n_slices):
            out[i] = k
    return out


def node_kind(node: Node) -> str:
    """"LIF", "AdEx", "SpikeSourceArray" or "SpikeSourcePoisson"."""
    if isinstance(node, Population):
        return type(node.model).__name__
    return type(node).__name__


def check_models(network: Network, models: tuple[type, ...] = (LIF,)) -> None:
    """ConfigError for a population whose model is not one of ``models``: the twin runs
    its LIF application (current-based, exponential synapses) only; the resource model of
    the partition also knows AdEx' bytes (:data:`~neurotwin.spinnaker2.specs.NEURON_BYTES`)."""
    for pop in network.populations:
        if not isinstance(pop.model, models):
            raise ConfigError(
                f"population {pop.label!r} is {type(pop.model).__name__}, with "
                f"{pop.model.synapses}: the SpiNNaker2 twin runs the LIF application only "
                "(current-based, exponential synapses)"
            )


def neuron_bytes(kind: str) -> int:
    """Fixed data bytes per neuron of a population: state, parameters and ring buffers."""
    return NEURON_BYTES[kind] + RECEPTORS * RING_BUFFER_SLOTS * RING_BUFFER_ENTRY_BYTES


def row_bytes(count: np.ndarray) -> np.ndarray:
    """Bytes of synaptic rows holding ``count`` synapses each (header + padded words)."""
    return ROW_HEADER_BYTES + 4 * ((np.asarray(count) * SYNAPSE_WORD_BYTES + 3) // 4)


@dataclass(frozen=True, eq=False)
class Partition:
    """Slices of every node and the synaptic traffic between slices.

    Slices are numbered globally, node by node in network order. All arrays are numpy;
    "pair" arrays list each (source slice, target slice) with at least one synapse.
    """

    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    """Per node: "LIF", "AdEx", "SpikeSourceArray" or "SpikeSourcePoisson"."""
    sizes: np.ndarray
    """(n_nodes,) neurons per node."""
    slice_offsets: np.ndarray
    """(n_nodes + 1,) first global slice of each node."""
    slice_node: np.ndarray
    slice_lo: np.ndarray
    """First neuron (within the node) of each slice."""
    slice_hi: np.ndarray
    """End neuron (exclusive) of each slice."""
    slice_bytes: np.ndarray
    """PE data SRAM each slice uses, bytes (synaptic rows excluded: they are in DRAM)."""
    slice_dram_bytes: np.ndarray
    """Chip DRAM each slice's synaptic rows use, bytes."""
    slice_synapses: np.ndarray
    """Synapses stored for each slice (incoming)."""
    slice_rows: np.ndarray
    """Synaptic rows stored for each slice."""
    pair_src: np.ndarray
    pair_tgt: np.ndarray
    pair_synapses: np.ndarray
    """Synapses from source slice to target slice."""

    @property
    def n_slices(self) -> int:
        """Number of slices (= PEs needed, or used once placed)."""
        return len(self.slice_node)


class GroupRows(NamedTuple):
    """Synaptic rows of one (pre node -> population) group for one slicing of both.

    Per target slice (n_tgt,) int64: ``rows``, ``synapses``, ``dram`` (bytes of its rows),
    ``longest`` (synapses of its longest row), ``sources`` (source slices with synapses
    onto it: its master-table entries). Pairs (int32), sorted by (source, target) slice:
    ``pair_src``, ``pair_tgt`` (local slice indices) and ``pair_synapses``.
    """

    rows: np.ndarray
    synapses: np.ndarray
    dram: np.ndarray
    longest: np.ndarray
    sources: np.ndarray
    pair_src: np.ndarray
    pair_tgt: np.ndarray
    pair_synapses: np.ndarray


@numba.njit(inline="always")
def post_slice(q, post_lut, post_bounds, scale):  # pragma: no cover - compiled
    """Slice (uint64) of post ``q`` of an even cut with bounds ``post_bounds``, for
    compiled kernels: ``post_lut[q]`` if the table is given (non-empty; faster while it
    stays in cache), else computed (a float estimate, off by at most one; ``scale`` =
    slices / posts). Inlined into the kernels' loops (numba IR inlining: no call, no
    reference counting per synapse)."""
    if post_lut.size > 0:
        return np.uint64(post_lut[np.uint64(q)])
    n = post_bounds.size - 1
    t = np.uint64(min(int(q * scale), n - 1))
    if post_bounds[t] > q:
        t -= np.uint64(1)
    elif post_bounds[t + np.uint64(1)] <= q:
        t += np.uint64(1)
    return t


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _count_rows(
    indptr, post, post_lut, n_post, n_tgt, src_bounds, s_lo, s_hi, header_bytes, word_bytes,
    with_pairs, pair_capacity,
):  # pragma: no cover - compiled; tested through group_rows
    """Rows and pairs of compressed rows ``(indptr, post)`` (see :class:`GroupRows`).

    The ``n_post`` posts are cut evenly into ``n_tgt`` target slices (:func:`slice_bounds`);
    ``post_lut`` is the slice of every post or empty (:func:`post_slice`). Presynaptic neurons
    ``src_bounds[s]:src_bounds[s + 1]`` form source slice ``s``; only source slices
    ``s_lo:s_hi`` are counted (one part of a parallel run). A row of ``c`` synapses takes
    ``header_bytes + 4 * ceil(c * word_bytes / 4)`` bytes. Without ``with_pairs`` the pair
    arrays come back empty (re-slicing rounds need only the per-slice sums; with random
    connectivity and narrow slices there are nearly as many pairs as synapses). Pairs are
    int32 (slices and synapses per pair stay far below 2**31) in arrays of
    ``pair_capacity`` that double when full; the pairs are returned as views (pages
    never written are never touched, so a generous capacity costs no memory).

    Two loops per presynaptic neuron, none of which makes a synapse wait for the previous
    one (counting each synapse into its slice's counters would: a run's synapses update
    one counter in turn). Posts ascend, so the synapses of a row onto one slice are
    consecutive (a run, one synaptic row) and the runs of a row have distinct slices.
    A row with fewer synapses than target slices: the first loop lists its runs (slice,
    end), the second adds each run to its slice's counters. A longer row: the first loop
    stores, per slice, the position of its last synapse in the row; the second walks all
    target slices, a slice's run ending at that position and starting after the previous
    slice's. Memory O(n_tgt + pairs + longest row).

    Indices whose sign numba cannot see are unsigned (slices) or loop counters from 0
    (positions in a row's view): numba checks every signed index for a negative value,
    which here made the pass 1.7 times slower.
    """
    post_bounds = (np.arange(n_tgt + 1) * n_post) // n_tgt
    scale = n_tgt / max(n_post, 1)
    longest_row = 0
    for i in range(src_bounds[s_lo], src_bounds[s_hi]):
        longest_row = max(longest_row, indptr[i + 1] - indptr[i])
    run_slice = np.empty(longest_row + 1, np.uint64)
    run_end = np.empty(longest_row + 1, np.int64)  # end of each run within its row
    run_end[0] = 0
    last = np.full(n_tgt, -1, np.int64)  # last synapse of each slice in a long row
    # per target slice: rows, synapses, 32-bit words (of the current source slice)
    acc = np.zeros((n_tgt, 3), np.int64)
    total = np.zeros((n_tgt, 4), np.int64)  # rows, synapses, words, source slices
    longest = np.zeros(n_tgt, np.int64)
    cap = pair_capacity
    ps = np.empty(cap, np.int32)
    pt = np.empty(cap, np.int32)
    pn = np.empty(cap, np.int32)
    n_pairs = 0
    no_slice = np.uint64(n_tgt)
    for s in range(s_lo, s_hi):
        for i in range(src_bounds[s], src_bounds[s + 1]):
            a = np.int64(indptr[i])
            n = np.int64(indptr[i + 1]) - a
            row = post[a : a + n]
            if n >= n_tgt:
                for k in range(n):
                    last[post_slice(row[k], post_lut, post_bounds, scale)] = k
                end = -1  # end of the previous run; slices not in this row add zeros
                for t in range(n_tgt):
                    e = max(last[t], end)
                    c = e - end
                    end = e
                    acc[t, 0] += c > 0
                    acc[t, 1] += c
                    acc[t, 2] += (c * word_bytes + 3) >> 2
                    longest[t] = max(longest[t], c)
                    last[t] = -1
                continue
            m = np.uint64(0)
            prev = no_slice
            for k in range(n):
                t = post_slice(row[k], post_lut, post_bounds, scale)
                m += np.uint64(t != prev)
                run_slice[m] = t
                run_end[m] = k + 1
                prev = t
            for r in range(1, np.int64(m) + 1):
                t = run_slice[r]
                c = run_end[r] - run_end[r - 1]
                acc[t, 0] += 1
                acc[t, 1] += c
                acc[t, 2] += (c * word_bytes + 3) >> 2
                if c > longest[t]:  # rarely true: a branch, not a store per run
                    longest[t] = c
        if with_pairs and n_pairs + n_tgt > cap:
            while n_pairs + n_tgt > cap:
                cap *= 2
            ps = np.concatenate((ps[:n_pairs], np.empty(cap - n_pairs, np.int32)))
            pt = np.concatenate((pt[:n_pairs], np.empty(cap - n_pairs, np.int32)))
            pn = np.concatenate((pn[:n_pairs], np.empty(cap - n_pairs, np.int32)))
        for k in range(n_tgt):
            c = acc[k, 1]
            if c > 0:
                if with_pairs:
                    ps[n_pairs] = s
                    pt[n_pairs] = k
                    pn[n_pairs] = c
                    n_pairs += 1
                total[k, 0] += acc[k, 0]
                total[k, 1] += c
                total[k, 2] += acc[k, 2]
                total[k, 3] += 1
                acc[k, 0] = 0
                acc[k, 1] = 0
                acc[k, 2] = 0
    rows = total[:, 0].copy()
    dram = header_bytes * rows + 4 * total[:, 2]
    return (rows, total[:, 1].copy(), dram, longest, total[:, 3].copy(),
            ps[:n_pairs], pt[:n_pairs], pn[:n_pairs])


def _merged(csrs: list[SynapseCSR], n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, post) holding the synapses of several projections between the same two
    nodes, posts ascending in every row (their rows merge: one row per presynaptic
    neuron and target)."""
    pre = np.concatenate([np.repeat(np.arange(n_pre), np.diff(c.indptr)) for c in csrs])
    post = np.concatenate([np.asarray(c.post, np.int64) for c in csrs])
    order = np.lexsort((post, pre))
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
    del pre
    return indptr, post[order]


def group_rows(
    csrs: list[SynapseCSR],
    n_pre: int,
    n_post: int,
    n_src: int,
    n_tgt: int,
    with_pairs: bool = True,
    pairs_hint: int = 0,
) -> GroupRows:
    """Rows and pairs of the projections ``csrs`` from one node (``n_pre`` neurons cut in
    ``n_src`` slices) into one population (``n_post`` neurons cut in ``n_tgt``); without
    ``with_pairs`` the pair arrays are empty. ``pairs_hint``: the number of pairs if known
    (from a count without pairs), allocated at once."""
    if len(csrs) == 1:
        indptr, post = csrs[0].indptr, csrs[0].post
    else:
        indptr, post = _merged(csrs, n_pre, n_post)
    # a lookup table is fastest while it stays in cache; beyond, the slice is computed
    small = n_post <= LUT_NEURONS
    lut = post_slice_table(n_post, n_tgt) if small else np.zeros(0, np.int16)
    src_bounds = slice_bounds(n_pre, n_src)

    def count(s_lo: int, s_hi: int) -> tuple[np.ndarray, ...]:
        return _count_rows(indptr, post, lut, n_post, n_tgt, src_bounds, s_lo, s_hi,
                           ROW_HEADER_BYTES, SYNAPSE_WORD_BYTES, with_pairs,
                           max(pairs_hint, PAIR_CAPACITY) if with_pairs else 1)

    parts = run_parts(count, split(np.asarray(indptr)[src_bounds]))
    if len(parts) == 1:
        return GroupRows(*parts[0])
    return GroupRows(
        rows=np.sum([p[0] for p in parts], axis=0),
        synapses=np.sum([p[1] for p in parts], axis=0),
        dram=np.sum([p[2] for p in parts], axis=0),
        longest=np.max([p[3] for p in parts], axis=0),
        sources=np.sum([p[4] for p in parts], axis=0),
        pair_src=np.concatenate([p[5] for p in parts]),
        pair_tgt=np.concatenate([p[6] for p in parts]),
        pair_synapses=np.concatenate([p[7] for p in parts]),
    )


def _check_delays(proj: Projection, delay: np.ndarray, tick_ms: float) -> None:
    """MappingError if a delay of ``proj`` exceeds what the synapse word holds."""
    if delay.size == 0 or proj.n_synapses == 0:
        return
    ticks = math.floor(float(np.max(delay)) / tick_ms + 0.5)
    if ticks > MAX_DELAY_TICKS:
        raise MappingError(
            f"delays of {proj.pre}->{proj.post} reach {ticks} ticks of dt = {tick_ms:g} ms; "
            f"a SpiNNaker2 synapse word holds 1..{MAX_DELAY_TICKS} ticks "
            f"({MAX_DELAY_TICKS * tick_ms:g} ms at this dt)"
        )


def _smaller(
    per_slice: int, need: int, available: int, base: int, previous: tuple[int, int] | None
) -> int:
    """Next (smaller) neurons per slice after a slice of ``per_slice`` needed ``need`` bytes
    of a resource with ``available`` bytes, ``base`` of which every slice needs anyway.

    Bytes grow about linearly with neurons but not through zero (rows of sparse inputs
    shrink more slowly than the slice), so after the first proportional step the slope
    comes from the last two measurements (a secant step).
    """
    guess = per_slice * (available - base) / max(need - base, 1)
    if previous is not None and previous[0] > per_slice and previous[1] > need:
        slope = (previous[1] - need) / (previous[0] - per_slice)
        guess = per_slice - (need - available * (1 - SECANT_MARGIN)) / slope
    return max(1, min(per_slice - 1, math.floor(guess)))


def _width_for_masters(
    per_slice: int,
    fixed: int,
    per_neuron: int,
    masters: list[tuple[int, int, int | None]],
    size: int,
    available: int,
) -> int | None:
    """Largest slice below ``per_slice`` neurons whose PE data memory is predicted to fit
    ``available`` bytes, or None if none is.

    The master table does not shrink in proportion to the slice: with random sources a
    slice of ``w`` neurons receiving ``lam`` distinct sources per neuron from a node cut
    in ``S`` slices has about ``S (1 - exp(-lam w / S))`` source slices, and where the
    source is the node itself ``S = size / w`` grows as ``w`` shrinks (narrower slices
    can need more entries). ``lam`` is calibrated per pre node so that the model gives
    the ``entries`` counted in the worst slice (``masters``: (entries, source slices then,
    source slices if fixed else None)); ``fixed`` bytes (reserved + DMA buffers) stay. The
    next round counts again, so the model only has to point in the right direction.
    """
    w = np.arange(per_slice - 1, 0, -1, dtype=np.float64)
    need = fixed + per_neuron * w
    for entries, s_then, s_fixed in masters:
        if entries == 0:
            continue
        fraction = min(entries / s_then, 1.0 - 0.5 / s_then)
        lam = -s_then / per_slice * math.log1p(-fraction)
        s_now = np.full_like(w, s_fixed) if s_fixed is not None else np.ceil(size / w)
        need = need + MASTER_TABLE_ENTRY_BYTES * s_now * -np.expm1(-lam * w / s_now)
    fits = np.flatnonzero(need <= available * (1 - SECANT_MARGIN))
    return int(w[fits[0]]) if fits.size else None


class _NodeSlices(NamedTuple):
    """Per-slice data of one node for one slicing (local slice indices)."""

    bounds: np.ndarray
    """(n + 1,) first neuron of each slice and the end."""
    sram: np.ndarray
    """PE data SRAM per slice, bytes."""
    dram: np.ndarray
    """Chip DRAM of the slice's rows, bytes."""
    synapses: np.ndarray
    rows: np.ndarray
    dma: np.ndarray
    """Bytes of the row DMA buffers per slice."""
    sources: dict[int, np.ndarray]
    """Per pre node: its source slices with synapses onto each slice (master-table
    entries)."""


def partition(
    network: Network,
    neurons_per_pe: int,
    sources_per_pe: int,
    data_bytes: int = PE_DATA_BYTES,
    tick_ms: float | None = None,
    dram_bytes: int = CHIP_DRAM_BYTES,
) -> Partition:
    """Cut every node of ``network`` into slices that fit one PE each.

    Parameters
    ----------
    network
        The network (not modified).
    neurons_per_pe, sources_per_pe
        Most neurons / spike sources per slice.
    data_bytes
        PE data SRAM available to a slice, bytes.
    tick_ms
        Length of a tick, ms, for the delay check (default ``network.dt``).
    dram_bytes
        DRAM of a chip, bytes: the synaptic rows of one slice must fit it.

    Raises
    ------
    CapacityError
        A single neuron or source does not fit a PE ("PE data memory (bytes)") or its
        rows do not fit a chip's DRAM ("chip DRAM (bytes)").
    MappingError
        Delays longer than the synapse word can hold.
    ConfigError
        A population of a model other than LIF or AdEx (:func:`check_models`).
    """
    check_models(network, (LIF, AdEx))
    tick = float(network.dt if tick_ms is None else tick_ms)
    nodes = list(network.nodes.values())
    labels = tuple(str(n.label) for n in nodes)
    kinds = tuple(node_kind(n) for n in nodes)
    sizes = [int(n.size) for n in nodes]
    index = {label: i for i, label in enumerate(labels)}
    groups: dict[int, dict[int, list[SynapseCSR]]] = {i: {} for i in range(len(nodes))}
    for proj in network.projections:
        csr = proj.csr()
        _check_delays(proj, csr.delay, tick)
        groups[index[proj.post]].setdefault(index[proj.pre], []).append(csr)

    limits = [neurons_per_pe if isinstance(n, Population) else sources_per_pe for n in nodes]
    n_slices = [math.ceil(s / lim) for s, lim in zip(sizes, limits, strict=True)]
    rows_cache: dict[tuple[int, int], tuple[tuple[int, int], bool, GroupRows]] = {}
    """(target node, pre node) -> ((source slices, target slices), pairs counted?, rows).
    The first count of a group lists its pairs when there can be few (most networks
    settle in that round); re-slicing rounds count without (:func:`_count_rows`) and the
    pairs of the final cut are counted once at the end."""

    def rows_for(i: int, pre: int, need_pairs: bool) -> GroupRows:
        cut = (n_slices[pre], n_slices[i])
        cached = rows_cache.get((i, pre))
        if cached is None or cached[0] != cut or (need_pairs and not cached[1]):
            bound = min(sum(int(c.indptr[-1]) for c in groups[i][pre]), cut[0] * cut[1])
            with_pairs = need_pairs or (cached is None and bound <= FIRST_ROUND_PAIRS)
            hint = int(cached[2].sources.sum()) if cached is not None and cached[0] == cut else 0
            g = group_rows(groups[i][pre], sizes[pre], sizes[i], *cut, with_pairs=with_pairs,
                           pairs_hint=hint)
            cached = (cut, with_pairs, g)
            rows_cache[(i, pre)] = cached
        return cached[2]

    def evaluate(i: int) -> _NodeSlices:
        node, n = nodes[i], n_slices[i]
        bounds = slice_bounds(sizes[i], n)
        width = bounds[1:] - bounds[:-1]
        none = np.zeros(n, np.int64)
        if isinstance(node, SpikeSourceArray | SpikeSourcePoisson):
            if isinstance(node, SpikeSourceArray):
                counts = np.array([np.size(t) for t in node.spike_times], dtype=np.int64)
                cum = np.concatenate([[0], np.cumsum(counts)])
                spikes = cum[bounds[1:]] - cum[bounds[:-1]]
                used = (
                    PE_RESERVED_DATA_BYTES
                    + width * SPIKE_ARRAY_BYTES_PER_SOURCE
                    + spikes * SPIKE_ARRAY_BYTES_PER_SPIKE
                )
            else:
                used = PE_RESERVED_DATA_BYTES + width * POISSON_SOURCE_BYTES
            return _NodeSlices(bounds, used, none, none, none, none, {})
        sram = PE_RESERVED_DATA_BYTES + width * neuron_bytes(kinds[i])
        rows_of = {pre: rows_for(i, pre, False) for pre in groups[i]}
        if not rows_of:
            return _NodeSlices(bounds, sram, none, none, none, none, {})
        dram, synapses, rows, longest = none, none, none, none
        for g in rows_of.values():
            dram = dram + g.dram
            synapses = synapses + g.synapses
            rows = rows + g.rows
            longest = np.maximum(longest, g.longest)
            sram = sram + MASTER_TABLE_ENTRY_BYTES * g.sources
        dma = ROW_DMA_BUFFERS * (longest > 0) * row_bytes(longest)
        sram = sram + dma
        sources = {pre: g.sources for pre, g in rows_of.items()}
        return _NodeSlices(bounds, sram, dram, synapses, rows, dma, sources)

    results: list[_NodeSlices] = []
    signature: list[tuple[int, ...] | None] = [None] * len(nodes)
    last: dict[tuple[int, str], tuple[int, int]] = {}
    """(node, resource) -> (largest slice, its bytes) when it last overflowed."""
    for _ in range(MAX_ROUNDS):
        changed = False
        for i in range(len(nodes)):
            sig = (n_slices[i], *(n_slices[pre] for pre in groups[i]))
            if sig != signature[i]:
                result = evaluate(i)
                if i < len(results):
                    results[i] = result
                else:
                    results.append(result)
                signature[i] = sig
            r = results[i]
            # the largest share of each resource (as float64, as numpy would divide)
            over_sram = float(r.sram.max()) / data_bytes
            over_dram = float(r.dram.max()) / dram_bytes
            if max(over_sram, over_dram) <= 1.0:
                continue
            if over_sram >= over_dram:
                resource, used, available, base = SRAM, r.sram, data_bytes, PE_RESERVED_DATA_BYTES
            else:
                resource, used, available, base = DRAM, r.dram, dram_bytes, 0
            worst = int(np.argmax(used))
            need = int(used[worst])
            bounds = r.bounds
            per_slice = int(bounds[worst + 1] - bounds[worst])
            if per_slice <= 1:
                detail = f"one source of {labels[i]!r} needs {need} bytes"
                if isinstance(nodes[i], Population):
                    detail = (
                        f"one neuron of {labels[i]!r} needs {need} bytes "
                        f"({int(r.rows[worst])} synaptic rows, {int(r.synapses[worst])} "
                        "synapses)"
                    )
                raise CapacityError(resource, need, available, detail)
            smaller = None
            if resource == SRAM and r.sources:
                fixed = PE_RESERVED_DATA_BYTES + int(r.dma[worst])
                masters = [
                    (int(src[worst]), n_slices[pre], None if pre == i else n_slices[pre])
                    for pre, src in r.sources.items()
                ]
                smaller = _width_for_masters(per_slice, fixed, neuron_bytes(kinds[i]),
                                             masters, sizes[i], available)
            if smaller is None:
                smaller = _smaller(per_slice, need, available, base, last.get((i, resource)))
            n_slices[i] = max(n_slices[i] + 1, math.ceil(sizes[i] / smaller))
            last[(i, resource)] = (per_slice, need)
            changed = True
        if not changed:
            break
    else:
        raise MappingError(f"slicing did not settle in {MAX_ROUNDS} rounds; lower neurons_per_pe")

    offsets = np.array([0, *itertools.accumulate(n_slices)], np.int64)
    pair_src, pair_tgt, pair_syn = [], [], []
    for i in range(len(nodes)):
        for pre in groups[i]:  # global slice numbers (no copy where the same)
            g = rows_for(i, pre, True)
            del rows_cache[(i, pre)]
            pair_src.append(g.pair_src + offsets[pre] if offsets[pre] else g.pair_src)
            pair_tgt.append(g.pair_tgt + offsets[i] if offsets[i] else g.pair_tgt)
            pair_syn.append(g.pair_synapses)

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros(0, np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    return Partition(
        labels=labels,
        kinds=kinds,
        sizes=np.array(sizes, dtype=np.int64),
        slice_offsets=offsets,
        slice_node=np.repeat(np.arange(len(nodes), dtype=np.int64), n_slices),
        slice_lo=cat([r.bounds[:-1] for r in results]),
        slice_hi=cat([r.bounds[1:] for r in results]),
        slice_bytes=cat([r.sram for r in results]),
        slice_dram_bytes=cat([r.dram for r in results]),
        slice_synapses=cat([r.synapses for r in results]),
        slice_rows=cat([r.rows for r in results]),
        pair_src=cat(pair_src),
        pair_tgt=cat(pair_tgt),
        pair_synapses=cat(pair_syn),
    )
