"""The engine's synapse table built straight from a network's projections, in two passes
over them, for one process or for one rank of a sharded run.

The table is CSR over the global presynaptic index (neurons, then sources), each row
sorted by target, synapses onto the same target in projection order (the order a stable
sort of all synapses by (pre, target) gives), packed one word per synapse
(:mod:`.synapse_codes`). Nothing synapse-sized is made but the table itself:

1. the first pass walks the projections part by part (a stored projection whole, a
   :class:`~neurotwin.network.rules.FixedTotalRule` block by block, each drawn from its
   own stream) and keeps only counts: synapses per row onto the kept targets, the longest
   delay (the ring buffer's length) and whether the weights fit a table;
2. the second pass draws the parts again and writes each kept synapse into its row;
3. each row is sorted by target (stable).

The peak is the table (:data:`TABLE_BYTES` per synapse plus the weight where it is not
tabled) plus one part's draw (:data:`DRAW_BYTES` per synapse of the largest part).
A rank of ``ranks`` keeps the synapses onto neuron g with ``g % ranks == rank`` (its
local neuron ``g // ranks``): the same synapses in the same order as one process's table
restricted to them, since every part is drawn the same wherever it is drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np

from neurotwin.engines.synapse_codes import MAX_TABLE, SynapseCodes, code_layout
from neurotwin.network import Network
from neurotwin.network.rules import BLOCK_TARGETS

__all__ = [
    "DRAW_BYTES",
    "TABLE_BYTES",
    "SynapseTable",
    "build_synapse_table",
    "estimate_table_bytes",
    "initial_buffer",
    "shortest_neuron_delay",
    "unpack_rows",
]

TABLE_BYTES = 4
"""Bytes per synapse of the packed word (uint32; uint64 past 32 bits of fields)."""
DRAW_BYTES = 104
"""Peak bytes per synapse of drawing one part and filtering it (pre, post, weight,
delay draws, step counts, the kept mask and the packed words; measured with tracemalloc
on a microcircuit block: tests/engines/test_synapse_build.py)."""


@dataclass(frozen=True, eq=False)
class SynapseTable:
    """One process's or one rank's synapses (module docstring)."""

    indptr: np.ndarray
    """(n_pre + 1,) int64 offsets over the global presynaptic index."""
    codes: SynapseCodes
    """The packed synapses; targets are local ``post + receptor * n_local``."""
    n_slots: int
    """Ring buffer length: the longest delay of the whole network + 1 (the same on every
    rank)."""


@dataclass(frozen=True)
class _Part:
    """Synapses of one part: global pre, global post, receptor (0 exc, 1 inh), weight
    magnitude and delay steps, in the order the projection lists them."""

    pre: np.ndarray
    post: np.ndarray
    receptor: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray


def _parts(network: Network, pop_slices: dict[str, tuple[int, int]],
           source_slices: dict[str, tuple[int, int]], n_neurons: int,
           weights: bool = True) -> Iterator[_Part]:
    """Every static projection's synapses, part by part, in projection order
    (``weights=False``: a rule with a weight spread leaves its weights undrawn, NaN)."""
    for proj in network.projections:
        if proj.synapse is not None:
            continue  # a dynamic synapse type: engines/synapse_dynamics.py holds them
        if proj.pre in pop_slices:
            pre_offset = pop_slices[proj.pre][0]
        else:
            pre_offset = n_neurons + source_slices[proj.pre][0]
        post_offset = pop_slices[proj.post][0]
        rule = proj.rule
        if rule is not None:
            receptor = 0 if proj.receptor == "exc" else 1
            spread = rule.weight_rel_std > 0.0
            for block, count in enumerate(rule.block_counts()):
                drawn = rule.draw(block, int(count), weights or not spread)
                yield _Part(drawn.pre + pre_offset, drawn.post + post_offset,
                            np.full(drawn.pre.size, receptor), drawn.weight, drawn.delay_steps)
            continue
        syn = proj.synapses()
        if proj.receptor is None:
            receptor_of = (syn.weight < 0).astype(np.int64)
        else:
            receptor_of = np.full(syn.pre.size, 0 if proj.receptor == "exc" else 1)
        yield _Part(syn.pre + pre_offset, syn.post + post_offset, receptor_of,
                    np.abs(syn.weight), network.delay_steps(proj).astype(np.int64))


def shortest_neuron_delay(network: Network) -> int | None:
    """The smallest delay, in steps, that a synapse between two neurons may have (a rule
    with a delay spread: its smallest possible, one step); None if no synapse joins two
    neurons. Source synapses do not count."""
    shortest = None
    neurons = {str(pop.label) for pop in network.populations}
    for proj in network.projections:
        if proj.pre not in neurons or proj.n_synapses == 0:
            continue
        if proj.rule is not None:
            low = proj.rule.delay_steps_bounds()[0]
        else:
            low = int(network.delay_steps(proj).min())
        shortest = low if shortest is None else min(shortest, low)
    return shortest


def _largest_part(network: Network) -> int:
    """Synapses of the largest part (a stored projection, or a rule's largest block)."""
    largest = 0
    for proj in network.projections:
        rule = proj.rule
        if rule is None:
            largest = max(largest, proj.n_synapses)
        elif rule.n_total:
            # a block's count is Binomial(n_total, share): its mean plus 6 deviations
            share = min(1.0, BLOCK_TARGETS / rule.n_post)
            mean = rule.n_total * share
            largest = max(largest, int(mean + 6 * np.sqrt(mean) + 1))
    return largest


def estimate_table_bytes(network: Network, ranks: int, itemsize: int) -> int:
    """Peak bytes of :func:`build_synapse_table` for one rank of ``ranks`` (1: one
    process) with weights of ``itemsize`` bytes: the table (a packed word and, where the
    weights are not tabled, a weight per kept synapse), the row offsets and one part's
    draw. The kept synapses are taken as the network's divided by ``ranks`` (round-robin
    spreads every projection's targets evenly)."""
    n_syn = sum(proj.n_synapses for proj in network.projections)
    n_pre = sum(node.size for node in network.nodes.values())
    kept = -(-n_syn // ranks)
    return (kept * (TABLE_BYTES + itemsize) + 8 * (n_pre + 1) * 2
            + DRAW_BYTES * _largest_part(network))


@numba.njit(cache=True)
def _scatter(fill, rows, words, weight, code_out, weight_out, tabled):  # pragma: no cover
    """Write synapse q (row ``rows[q]``) at its row's fill pointer, in order."""
    for q in range(rows.shape[0]):
        p = fill[rows[q]]
        code_out[p] = words[q]
        if not tabled:
            weight_out[p] = weight[q]
        fill[rows[q]] = p + 1


@numba.njit(cache=True)
def _sort_rows(indptr, code, weights, tabled, target_mask):  # pragma: no cover
    """Sort every row by target, stably (synapses onto one target keep their order)."""
    for r in range(indptr.shape[0] - 1):
        lo, hi = indptr[r], indptr[r + 1]
        if hi - lo < 2:
            continue
        key = code[lo:hi] & target_mask
        ordered = True
        for q in range(1, hi - lo):
            if key[q] < key[q - 1]:
                ordered = False
                break
        if ordered:
            continue
        order = np.argsort(key, kind="mergesort")
        code[lo:hi] = code[lo:hi][order]
        if not tabled:
            weights[lo:hi] = weights[lo:hi][order]


def build_synapse_table(
    network: Network,
    pop_slices: dict[str, tuple[int, int]],
    source_slices: dict[str, tuple[int, int]],
    n_neurons: int,
    n_sources: int,
    dtype: type,
    rank: int = 0,
    ranks: int = 1,
) -> SynapseTable:
    """The synapses onto the neurons of ``rank`` of ``ranks`` (module docstring), weights
    in ``dtype``.

    Raises
    ------
    CapacityError
        If target, delay and weight index do not fit a 64-bit word.
    """
    n_pre = n_neurons + n_sources
    n_local = -(-(n_neurons - rank) // ranks)
    counts = np.zeros(n_pre, np.int64)
    longest = 0
    values: np.ndarray | None = np.zeros(0, dtype)  # the distinct weights while they fit
    for part in _parts(network, pop_slices, source_slices, n_neurons, weights=False):
        if part.pre.size == 0:
            continue
        longest = max(longest, int(part.delay_steps.max()))
        if np.isnan(part.weight[0]):  # a rule's weight spread: no table
            values = None
        if values is not None:
            values = np.union1d(values, np.unique(part.weight.astype(dtype)))
            if values.size > MAX_TABLE:
                values = None
        kept = part.post % ranks == rank
        counts += np.bincount(part.pre[kept], minlength=n_pre)
    for proj in network.projections:  # the ring buffer holds dynamic synapses' delays too
        if proj.synapse is not None and proj.n_synapses:
            longest = max(longest, int(network.delay_steps(proj).max()))
    n_slots = longest + 1 if longest else 2
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts

    tabled = values is not None
    table = values if values is not None else np.zeros(0, dtype)
    layout = code_layout(2 * n_local, n_slots, table.size if tabled else None)
    code = np.empty(int(indptr[-1]), layout.width)
    weights = table if tabled else np.empty(code.size, dtype)
    fill = indptr[:-1].copy()
    for part in _parts(network, pop_slices, source_slices, n_neurons):
        if ranks > 1:  # the rank's synapses only (one process keeps all: no copies)
            kept = np.flatnonzero(part.post % ranks == rank)
            part = _Part(*(getattr(part, f)[kept] for f in ("pre", "post", "receptor",
                                                            "weight", "delay_steps")))
            del kept
        if part.pre.size == 0:
            continue
        weight: np.ndarray = part.weight.astype(dtype, copy=False)
        words = layout.encode(part.post // ranks + part.receptor * n_local, part.delay_steps,
                              np.searchsorted(table, weight) if tabled else None)
        _scatter(fill, part.pre, words, weight, code, weights, tabled)
        del part, words, weight
    codes = layout.codes(code, weights, tabled)
    _sort_rows(indptr, code, weights, tabled, codes.target_mask)
    return SynapseTable(indptr, codes, n_slots)


def initial_buffer(table: SynapseTable, rows: np.ndarray, n_targets: int,
                   trials: int) -> np.ndarray:
    """Ring buffer (slots, trials, ``n_targets``), float64, holding the synapses of the
    presynaptic ``rows`` that emitted before the first step (array sources at t = 0)."""
    buf = np.zeros((table.n_slots, trials, n_targets))
    for row in rows:
        target, delay, weight = unpack_rows(table, table.indptr[row], table.indptr[row + 1])
        slots = (delay - 1) % table.n_slots
        for b in range(trials):
            np.add.at(buf[:, b, :], (slots, target), weight)
    return buf


def unpack_rows(table: SynapseTable, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target, delay steps, weight) of synapses ``lo:hi`` of ``table`` (int64, int64,
    the weights' dtype)."""
    c = table.codes
    code = c.code[lo:hi]
    target = (code & c.target_mask).astype(np.int64)
    delay = ((code >> c.delay_shift) & c.delay_mask).astype(np.int64)
    weight = c.weights[(code >> c.weight_shift).astype(np.int64)] if c.tabled else c.weights[lo:hi]
    return target, delay, weight
