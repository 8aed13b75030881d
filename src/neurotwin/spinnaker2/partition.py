"""Partitioning: cut every population and spike source into per-PE slices that fit a PE.

A node of ``size`` neurons in ``n`` slices is split evenly: slice ``k`` holds neurons
``[k * size // n, (k + 1) * size // n)``, so neuron ``i`` lies in slice
``((i + 1) * n - 1) // size``.

Data memory of a PE (bytes; constants in :mod:`neurotwin.spinnaker2.specs`)::

    neuron slice:  reserved + n * (neuron state + receptors * slots * entry)
                   + sum over synaptic rows (header + words padded to 32 bit)
                   + master-table entry * (incoming source slices)
    array source:  reserved + n * per-source pointer + stored spikes * per-spike word
    Poisson:       reserved + n * per-source state

One synaptic row per (presynaptic neuron, target slice) with at least one synapse, as
in sPyNNaker (and, by our reading, py-spinnaker2): a spike's key selects its row, the
row lists the targets.
A slice that does not fit the PE's data memory makes its node split further; the loop
repeats until every slice fits (the master table of a slice depends on how its sources
are cut, hence rounds). All per-synapse work is numpy over whole projections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neurotwin.errors import CapacityError, MappingError
from neurotwin.network import (
    Network,
    Population,
    Projection,
    SpikeSourceArray,
    SpikeSourcePoisson,
)
from neurotwin.network.nodes import Node
from neurotwin.spinnaker2.specs import (
    MASTER_TABLE_ENTRY_BYTES,
    MAX_DELAY_TICKS,
    NEURON_BYTES,
    PE_DATA_BYTES,
    PE_RESERVED_DATA_BYTES,
    POISSON_SOURCE_BYTES,
    RECEPTORS,
    RING_BUFFER_ENTRY_BYTES,
    RING_BUFFER_SLOTS,
    ROW_HEADER_BYTES,
    SPIKE_ARRAY_BYTES_PER_SOURCE,
    SPIKE_ARRAY_BYTES_PER_SPIKE,
    SYNAPSE_WORD_BYTES,
)

__all__ = ["Partition", "node_kind", "partition", "slice_bounds", "slice_of"]

MAX_ROUNDS = 64
"""Re-slicing rounds before giving up (each round shrinks at least one node)."""
SECANT_MARGIN = 0.005
"""A secant step aims this fraction below the memory limit (the byte count is not
exactly linear in the slice size), to avoid one more round for a few bytes."""
BINCOUNT_LIMIT = 1 << 24
"""Cells of the (source slice x target slice) grid counted with one bincount call."""


def slice_bounds(size: int, n_slices: int) -> np.ndarray:
    """(n_slices + 1,) first neuron of each slice and the end, for an even split."""
    return (np.arange(n_slices + 1, dtype=np.int64) * size) // n_slices


def slice_of(index: np.ndarray, size: int, n_slices: int) -> np.ndarray:
    """Slice (within its node) of each neuron ``index`` of a node evenly cut in ``n_slices``."""
    return ((np.asarray(index, dtype=np.int64) + 1) * n_slices - 1) // size


def node_kind(node: Node) -> str:
    """"LIF", "AdEx", "SpikeSourceArray" or "SpikeSourcePoisson"."""
    if isinstance(node, Population):
        return type(node.model).__name__
    return type(node).__name__


def neuron_bytes(kind: str) -> int:
    """Fixed data bytes per neuron of a population: state, parameters and ring buffers."""
    return NEURON_BYTES[kind] + RECEPTORS * RING_BUFFER_SLOTS * RING_BUFFER_ENTRY_BYTES


def row_bytes(count: np.ndarray) -> np.ndarray:
    """Bytes of synaptic rows holding ``count`` synapses each (header + padded words)."""
    return ROW_HEADER_BYTES + 4 * ((count * SYNAPSE_WORD_BYTES + 3) // 4)


@dataclass(frozen=True, eq=False)
class Partition:
    """Slices of every node and the synaptic traffic between slices.

    Slices are numbered globally, node by node in network order. All arrays are numpy;
    "pair" arrays list each (source slice, target slice) with at least one synapse.
    """

    labels: tuple[str, ...]
    kinds: tuple[str, ...]
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
    """PE data memory each slice uses, bytes."""
    slice_synapses: np.ndarray
    """Synapses stored on each slice's PE (incoming)."""
    slice_rows: np.ndarray
    """Synaptic rows stored on each slice's PE."""
    pair_src: np.ndarray
    pair_tgt: np.ndarray
    pair_synapses: np.ndarray
    """Synapses from source slice to target slice."""

    @property
    def n_slices(self) -> int:
        """Number of slices (= PEs needed)."""
        return len(self.slice_node)


@dataclass
class _Rows:
    """Synaptic rows of one (pre node -> population) group for one target slicing."""

    pre: np.ndarray
    target: np.ndarray
    count: np.ndarray


def _group_rows(
    network: Network, projections: list[Projection], n_target: int, tick_ms: float
) -> _Rows:
    """Rows of all projections from one node into one population cut in ``n_target``.

    Also checks that every delay fits the synapse word (MappingError otherwise).
    """
    post_size = network.nodes[projections[0].post].size
    codes = []
    for proj in projections:
        syn = proj.synapses()
        _check_delays(proj, syn.delay, tick_ms)
        target = slice_of(syn.post, post_size, n_target)
        codes.append(syn.pre * n_target + target)
    code = codes[0] if len(codes) == 1 else np.concatenate(codes)
    if code.size == 0:
        empty = np.zeros(0, np.int64)
        return _Rows(empty, empty, empty)
    if len(codes) > 1 or np.any(code[1:] < code[:-1]):
        code = np.sort(code)
    starts = np.flatnonzero(np.concatenate([[True], code[1:] != code[:-1]]))
    count = np.diff(starts, append=code.size)
    pre, target = np.divmod(code[starts], n_target)
    return _Rows(pre, target, count)


def _aggregate(
    src: np.ndarray, tgt: np.ndarray, weight: np.ndarray, n_src: int, n_tgt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unique (src, tgt) pairs of the rows, with summed ``weight`` and row counts.

    ``src`` must be sorted (rows come sorted by presynaptic neuron), so the grid of
    (source slice, target slice) can be counted with bincount in chunks of source slices
    of at most ``BINCOUNT_LIMIT`` cells: linear time, no sort.
    """
    chunk = max(1, BINCOUNT_LIMIT // max(n_tgt, 1))
    edges = np.searchsorted(src, np.arange(0, n_src + chunk, chunk))
    out_s, out_t, out_w, out_n = [], [], [], []
    for c in range(len(edges) - 1):
        lo, hi = int(edges[c]), int(edges[c + 1])
        if lo == hi:
            continue
        first = c * chunk
        cells = min(chunk, n_src - first) * n_tgt
        code = (src[lo:hi] - first) * n_tgt + tgt[lo:hi]
        rows = np.bincount(code, minlength=cells)
        total = np.bincount(code, weights=weight[lo:hi], minlength=cells)
        nz = np.flatnonzero(rows)
        out_s.append(nz // n_tgt + first)
        out_t.append(nz % n_tgt)
        out_w.append(total[nz])
        out_n.append(rows[nz])
    if not out_s:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), empty
    return (
        np.concatenate(out_s),
        np.concatenate(out_t),
        np.concatenate(out_w),
        np.concatenate(out_n),
    )


def _check_delays(proj: Projection, delay: np.ndarray, tick_ms: float) -> None:
    """MappingError if a delay of ``proj`` exceeds what the synapse word holds."""
    if delay.size == 0:
        return
    ticks = math.floor(float(delay.max()) / tick_ms + 0.5)
    if ticks > MAX_DELAY_TICKS:
        raise MappingError(
            f"delays of {proj.pre}->{proj.post} reach {ticks} ticks of dt = {tick_ms:g} ms; "
            f"a SpiNNaker2 synapse word holds 1..{MAX_DELAY_TICKS} ticks "
            f"({MAX_DELAY_TICKS * tick_ms:g} ms at this dt)"
        )


def _smaller(per_slice: int, need: int, available: int, previous: tuple[int, int] | None) -> int:
    """Next (smaller) neurons per slice after a slice of ``per_slice`` needed ``need`` bytes.

    Bytes grow about linearly with neurons but not through zero (rows of sparse inputs
    shrink more slowly than the slice), so after the first proportional step the slope
    comes from the last two measurements (a secant step).
    """
    guess = per_slice * (available - PE_RESERVED_DATA_BYTES) / (need - PE_RESERVED_DATA_BYTES)
    if previous is not None and previous[0] > per_slice and previous[1] > need:
        slope = (previous[1] - need) / (previous[0] - per_slice)
        guess = per_slice - (need - available * (1 - SECANT_MARGIN)) / slope
    return max(1, min(per_slice - 1, math.floor(guess)))


class _NodeSlices(NamedTuple):
    """Per-slice data of one node for one slicing (local slice indices)."""

    used: np.ndarray
    """Bytes per slice."""
    synapses: np.ndarray
    rows: np.ndarray
    pairs: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
    """Per pre node: (pre node, source slice, target slice, synapses), local indices."""


def partition(
    network: Network,
    neurons_per_pe: int,
    sources_per_pe: int,
    data_bytes: int = PE_DATA_BYTES,
    tick_ms: float | None = None,
) -> Partition:
    """Cut every node of ``network`` into slices that fit one PE each.

    Parameters
    ----------
    network
        The network (not modified).
    neurons_per_pe, sources_per_pe
        Most neurons / spike sources per slice.
    data_bytes
        PE data memory available to a slice, bytes.
    tick_ms
        Length of a tick, ms, for the delay check (default ``network.dt``).

    Raises
    ------
    CapacityError
        A single neuron or source does not fit a PE ("PE data memory (bytes)").
    MappingError
        Delays longer than the synapse word can hold.
    """
    tick = float(network.dt if tick_ms is None else tick_ms)
    nodes = list(network.nodes.values())
    labels = tuple(str(n.label) for n in nodes)
    kinds = tuple(node_kind(n) for n in nodes)
    sizes = [int(n.size) for n in nodes]
    index = {label: i for i, label in enumerate(labels)}
    groups: dict[int, dict[int, list[Projection]]] = {i: {} for i in range(len(nodes))}
    for proj in network.projections:
        groups[index[proj.post]].setdefault(index[proj.pre], []).append(proj)

    limits = [neurons_per_pe if isinstance(n, Population) else sources_per_pe for n in nodes]
    n_slices = [math.ceil(s / lim) for s, lim in zip(sizes, limits, strict=True)]
    rows_cache: dict[tuple[int, int], tuple[int, _Rows]] = {}
    """(target node, pre node) -> (target's slice count, rows for it)."""

    def evaluate(i: int) -> _NodeSlices:
        node, n = nodes[i], n_slices[i]
        bounds = slice_bounds(sizes[i], n)
        width = np.diff(bounds)
        none = np.zeros(n, np.int64)
        if isinstance(node, SpikeSourceArray):
            counts = np.array([np.size(t) for t in node.spike_times], dtype=np.int64)
            cum = np.concatenate([[0], np.cumsum(counts)])
            spikes = cum[bounds[1:]] - cum[bounds[:-1]]
            used = (
                PE_RESERVED_DATA_BYTES
                + width * SPIKE_ARRAY_BYTES_PER_SOURCE
                + spikes * SPIKE_ARRAY_BYTES_PER_SPIKE
            )
            return _NodeSlices(used, none, none, [])
        if isinstance(node, SpikeSourcePoisson):
            used = PE_RESERVED_DATA_BYTES + width * POISSON_SOURCE_BYTES
            return _NodeSlices(used, none, none, [])
        used = PE_RESERVED_DATA_BYTES + width * neuron_bytes(kinds[i])
        synapses = np.zeros(n, np.float64)
        rows = np.zeros(n, np.float64)
        pairs = []
        for pre, projections in groups[i].items():
            cached = rows_cache.get((i, pre))
            if cached is None or cached[0] != n:
                cached = (n, _group_rows(network, projections, n, tick))
                rows_cache[(i, pre)] = cached
            r = cached[1]
            src = slice_of(r.pre, sizes[pre], n_slices[pre])
            s, t, syn, n_rows = _aggregate(
                src, r.target, r.count.astype(np.float64), n_slices[pre], n
            )
            used = used + np.bincount(r.target, weights=row_bytes(r.count), minlength=n).astype(
                np.int64
            )
            used = used + MASTER_TABLE_ENTRY_BYTES * np.bincount(t, minlength=n)
            synapses += np.bincount(t, weights=syn, minlength=n)
            rows += np.bincount(t, weights=n_rows, minlength=n)
            pairs.append((pre, s, t, np.rint(syn).astype(np.int64)))
        return _NodeSlices(used, synapses.astype(np.int64), rows.astype(np.int64), pairs)

    results: list[_NodeSlices] = []
    signature: list[tuple[int, ...] | None] = [None] * len(nodes)
    last: dict[int, tuple[int, int]] = {}
    """node -> (largest slice, its bytes) when it last overflowed."""
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
            used = results[i].used
            worst = int(np.argmax(used))
            need = int(used[worst])
            if need <= data_bytes:
                continue
            bounds = slice_bounds(sizes[i], n_slices[i])
            per_slice = int(bounds[worst + 1] - bounds[worst])
            if per_slice <= 1:
                detail = f"one source of {labels[i]!r} needs {need} bytes"
                if isinstance(nodes[i], Population):
                    detail = (
                        f"one neuron of {labels[i]!r} needs {need} bytes "
                        f"({int(results[i].rows[worst])} synaptic rows, "
                        f"{int(results[i].synapses[worst])} synapses)"
                    )
                raise CapacityError("PE data memory (bytes)", need, data_bytes, detail)
            smaller = _smaller(per_slice, need, data_bytes, last.get(i))
            n_slices[i] = math.ceil(sizes[i] / smaller)
            last[i] = (per_slice, need)
            changed = True
        if not changed:
            break
    else:
        raise MappingError(f"slicing did not settle in {MAX_ROUNDS} rounds; lower neurons_per_pe")

    offsets = np.concatenate([[0], np.cumsum(n_slices)]).astype(np.int64)
    bounds_all = [slice_bounds(sizes[i], n) for i, n in enumerate(n_slices)]
    empty = np.zeros(0, np.int64)
    pair_src, pair_tgt, pair_syn = [empty], [empty], [empty]
    for i, result in enumerate(results):
        for pre, s, t, syn in result.pairs:
            pair_src.append(s + offsets[pre])
            pair_tgt.append(t + offsets[i])
            pair_syn.append(syn)
    return Partition(
        labels=labels,
        kinds=kinds,
        sizes=np.array(sizes, dtype=np.int64),
        slice_offsets=offsets,
        slice_node=np.repeat(np.arange(len(nodes), dtype=np.int64), n_slices),
        slice_lo=np.concatenate([b[:-1] for b in bounds_all]),
        slice_hi=np.concatenate([b[1:] for b in bounds_all]),
        slice_bytes=np.concatenate([r.used for r in results]).astype(np.int64),
        slice_synapses=np.concatenate([r.synapses for r in results]),
        slice_rows=np.concatenate([r.rows for r in results]),
        pair_src=np.concatenate(pair_src).astype(np.int64),
        pair_tgt=np.concatenate(pair_tgt).astype(np.int64),
        pair_synapses=np.concatenate(pair_syn).astype(np.int64),
    )
