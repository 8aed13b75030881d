"""Per-PE synaptic data: every synapse as the 16-bit word of its synaptic row, built in
chunks from the projections' compressed rows (no per-synapse int64 temporaries).

A synaptic row is the synapses of one presynaptic unit onto one target slice (PE); it
lives in the DRAM of the slice's chip (:mod:`.partition`). Here all rows are held as one
CSR over units (units: the neurons of all populations in network order, then the spike
sources, as :mod:`.program` numbers them), the synapses of a unit sorted by target slice,
so each row is a run of one slice. Per synapse: its slice (int16 or int32) and its word.

Synapse word (``uint16``), bit fields from :mod:`.specs`::

    "int4_delay":  bits 0-7 target neuron within the slice | 8-10 delay - 1 (ticks)
                   | 11 receptor (0 exc, 1 inh) | 12-15 weight magnitude (LSB)
    "int8":        bits 0-7 target neuron within the slice | 8-14 weight magnitude (LSB)
                   | 15 receptor; the delay is always one tick (no delay bits)

Weights are quantised and delays converted to ticks by :mod:`.numerics` (the one place
for rounding); a constant weight or delay stored once (connectors) is quantised once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from neurotwin.errors import ConfigError, check_int, check_positive
from neurotwin.network import Network
from neurotwin.network.projection import Projection, SynapseCSR, constant_value
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.numerics import WeightFormat
from neurotwin.spinnaker2.parallel import run_parts, split
from neurotwin.spinnaker2.partition import (
    LUT_NEURONS,
    post_slice,
    post_slice_table,
    slice_bounds,
)
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.specs import (
    SYNAPSE_DELAY_BITS,
    SYNAPSE_SIGN_BITS,
    SYNAPSE_TARGET_BITS,
)

__all__ = [
    "CHUNK_SYNAPSES",
    "SynapseBlock",
    "SynapticRows",
    "WordLayout",
    "build_rows",
    "largest_weights",
    "synapse_blocks",
    "weight_scales",
    "word_layout",
]

CHUNK_SYNAPSES = 1 << 24
"""Synapses handled per chunk where per-synapse weights or delays need numpy temporaries
(16M synapses: a few hundred MB of temporaries at most)."""


class WordLayout(NamedTuple):
    """Bit positions of a synapse-word format (see the module docstring)."""

    delay_shift: int
    """Shift of the delay - 1 field, -1 if the format has no delay bits."""
    receptor_shift: int
    weight_shift: int


def word_layout(fmt: WeightFormat) -> WordLayout:
    """Bit layout of the 16-bit synapse word of ``fmt``."""
    if fmt.delay_max > fmt.delay_min:
        delay = SYNAPSE_TARGET_BITS
        sign = delay + SYNAPSE_DELAY_BITS
        return WordLayout(delay, sign, sign + SYNAPSE_SIGN_BITS)
    weight_bits = int(fmt.weight_max).bit_length()
    return WordLayout(-1, SYNAPSE_TARGET_BITS + weight_bits, SYNAPSE_TARGET_BITS)


class SynapseBlock(NamedTuple):
    """Presynaptic neurons ``pre_lo:pre_hi`` of a projection (views, no copies).

    ``indptr`` is relative to the block (starts at 0); ``weight`` and ``delay`` are per
    synapse or 0-d (one value for all), as in :class:`~neurotwin.network.SynapseCSR`.
    """

    pre_lo: int
    pre_hi: int
    indptr: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray


def synapse_blocks(csr: SynapseCSR, max_synapses: int = CHUNK_SYNAPSES) -> Iterator[SynapseBlock]:
    """Consecutive blocks of presynaptic rows of ``csr`` with at most ``max_synapses``
    synapses each (or one row, if a row alone has more)."""
    indptr = np.asarray(csr.indptr, np.int64)
    n_pre = indptr.size - 1
    lo = 0
    while lo < n_pre:
        hi = int(np.searchsorted(indptr, indptr[lo] + max_synapses, side="right")) - 1
        hi = min(max(hi, lo + 1), n_pre)
        a, b = int(indptr[lo]), int(indptr[hi])

        def part(x: np.ndarray, a: int = a, b: int = b) -> np.ndarray:
            return x if x.ndim == 0 else x[a:b]

        yield SynapseBlock(lo, hi, indptr[lo : hi + 1] - a, csr.post[a:b], part(csr.weight),
                           part(csr.delay))
        lo = hi


def largest_weights(network: Network) -> dict[tuple[str, str], float]:
    """(population, receptor) -> largest incoming weight magnitude, nA, for receptors with
    synapses; a weight stored once is read once."""
    largest: dict[tuple[str, str], float] = {}

    def add(post: str, receptor: str, value: float) -> None:
        largest[(post, receptor)] = max(largest.get((post, receptor), 0.0), value)

    for proj in network.projections:
        if proj.n_synapses == 0:
            continue
        w = proj.csr().weight
        one = float(w) if w.ndim == 0 else constant_value(w)
        if one is not None:
            parts = [(proj.receptor or ("exc" if one >= 0 else "inh"), abs(one))]
        elif proj.receptor is not None:
            parts = [(proj.receptor, float(w.max()))]
        else:
            parts = [("exc", float(w.max())), ("inh", float(-w.min()))]
            parts = [(r, v) for r, v in parts if (v >= 0 if r == "exc" else v > 0)]
        for receptor, value in parts:
            add(str(proj.post), receptor, value)
    return largest


def weight_scales(
    network: Network, fmt: WeightFormat, weight_scale: float | Mapping[str, float] | None = None
) -> dict[tuple[str, str], float]:
    """Weight scale of every (population, receptor), nA per LSB: the one place it is chosen.

    Parameters
    ----------
    network
        The network whose incoming weights are scaled.
    fmt
        Synapse-word format (its largest integer weight).
    weight_scale
        None (the largest incoming weight maps to the format's largest integer weight,
        :func:`~neurotwin.spinnaker2.numerics.weight_scale`), one float for all, or
        population label -> float (the rest default).
    """
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


@dataclass(frozen=True, eq=False)
class SynapticRows:
    """Quantised synaptic rows of a placed network (see the module docstring).

    The synapses of unit ``u`` are ``unit_ptr[u]:unit_ptr[u + 1]``, sorted by slice;
    synapse ``q`` targets neuron ``slice_first[slice[q]] + (word[q] & 0xFF)`` (global
    neuron index, populations in network order).
    """

    fmt: WeightFormat
    unit_ptr: np.ndarray
    """(n_units + 1,) int64."""
    slice: np.ndarray
    """(S,) int16 or int32 target slice of each synapse."""
    word: np.ndarray
    """(S,) uint16 synapse words."""
    slice_first: np.ndarray
    """(n_slices,) int64 global index of each population slice's first neuron (-1 for
    source slices)."""
    scales: dict[tuple[str, str], float]
    """(population, receptor) -> nA per weight LSB used."""
    max_delay: int
    """Longest delay, ticks."""

    @property
    def n_synapses(self) -> int:
        """Synapses stored."""
        return int(self.word.size)

    @property
    def nbytes(self) -> int:
        """Host memory of the arrays, bytes."""
        return int(self.unit_ptr.nbytes + self.slice.nbytes + self.word.nbytes)

    def decode(self, lo: int = 0, hi: int | None = None) -> tuple[np.ndarray, ...]:
        """(post, receptor, weight, delay) int64 arrays of synapses ``lo:hi``: global target
        neuron, 0 exc / 1 inh, weight magnitude in LSB, delay in ticks."""
        word = self.word[lo:hi].astype(np.int64)
        layout = word_layout(self.fmt)
        post = self.slice_first[self.slice[lo:hi]] + (word & ((1 << SYNAPSE_TARGET_BITS) - 1))
        receptor = (word >> layout.receptor_shift) & 1
        weight = (word >> layout.weight_shift) & int(self.fmt.weight_max)
        if layout.delay_shift < 0:
            delay = np.full(word.shape, self.fmt.delay_min, np.int64)
        else:
            delay = ((word >> layout.delay_shift) & ((1 << SYNAPSE_DELAY_BITS) - 1)) + 1
        return post, receptor, weight, delay


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _fill(
    indptr, post, unit0, pos, post_lut, post_bounds, slice0, high, out_slice, out_word
):  # pragma: no cover - compiled; tested through build_rows
    """Write the synapses of a block: row i goes to unit ``unit0 + i`` at ``pos[unit]``
    (which advances); word = ``high`` (per synapse, or one value) | index in the slice.
    The slice of a post is ``post_lut[post]`` if given (non-empty), else computed
    (:func:`~neurotwin.spinnaker2.partition.post_slice`). Indices are unsigned or loop
    counters from 0 where numba could not see their sign (a signed index costs a
    negative-index check per access)."""
    n_tgt = post_bounds.size - 1
    scale = n_tgt / max(post_bounds[n_tgt], 1)
    one = high.size == 1
    for i in range(indptr.size - 1):
        u = unit0 + i
        p = np.uint64(pos[u])
        a = np.int64(indptr[i])
        n = np.int64(indptr[i + 1]) - a
        row = post[a : a + n]
        row_high = high if one else high[a : a + n]
        for k in range(n):
            q = row[k]
            t = post_slice(q, post_lut, post_bounds, scale)
            h = row_high[0] if one else row_high[k]
            out_slice[p] = slice0 + np.int64(t)
            out_word[p] = h | np.uint16(q - post_bounds[t])
            p += np.uint64(1)
        pos[u] = np.int64(p)


@numba.njit(cache=True, nogil=True)
def _sort_units(unit_ptr, lo, hi, out_slice, out_word):  # pragma: no cover - compiled
    """Sort the synapses of units ``lo:hi`` by (slice, word) so that rows are contiguous
    (needed where several projections leave one node)."""
    for u in range(lo, hi):
        a, b = unit_ptr[u], unit_ptr[u + 1]
        if b - a < 2:
            continue
        key = out_slice[a:b].astype(np.int64) * 65536 + out_word[a:b].astype(np.int64)
        order = np.argsort(key, kind="mergesort")
        out_slice[a:b] = out_slice[a:b][order]
        out_word[a:b] = out_word[a:b][order]


def _high_bits(
    proj: Projection,
    block: SynapseBlock,
    fmt: WeightFormat,
    scales: Mapping[tuple[str, str], float],
    tick_ms: float,
    rounding: str,
) -> tuple[np.ndarray, int]:
    """Word bits above the target index of the synapses of ``block`` (uint16: one value
    if weight, delay and receptor are the same for all), and the longest delay (ticks)."""
    name = f"{proj.pre}->{proj.post}"
    layout = word_layout(fmt)
    post = str(proj.post)
    w = block.weight
    if w.ndim == 0:
        w = w.reshape(1)
    if proj.receptor is None:
        receptor = (w < 0).astype(np.int64)
    else:
        receptor = np.full(1 if w.size == 1 else w.shape, int(proj.receptor == "inh"), np.int64)
    magnitude = np.abs(w)
    ints = np.zeros(magnitude.shape, np.int64)
    for r, rname in enumerate(("exc", "inh")):
        sel = receptor == r
        if sel.all():
            ints = numerics.quantise_weights(magnitude, scales[(post, rname)], fmt, name, rounding)
        elif sel.any():
            ints[sel] = numerics.quantise_weights(
                magnitude[sel], scales[(post, rname)], fmt, name, rounding
            )
    d = block.delay.reshape(1) if block.delay.ndim == 0 else block.delay
    ticks = numerics.delay_ticks(d, tick_ms, fmt, name)
    high = (ints << layout.weight_shift) | (receptor << layout.receptor_shift)
    if layout.delay_shift >= 0:
        high = high | ((ticks - 1) << layout.delay_shift)
    longest = int(ticks.max()) if ticks.size else 1
    return np.asarray(high, np.int64).astype(np.uint16), longest


def build_rows(
    network: Network,
    placement: Placement,
    weight_format: str = "int4_delay",
    scales: Mapping[tuple[str, str], float] | None = None,
    tick_ms: float | None = None,
    rounding: str = "nearest",
    chunk_synapses: int = CHUNK_SYNAPSES,
) -> SynapticRows:
    """Quantised synaptic rows of ``network`` as placed by ``placement``.

    Parameters
    ----------
    network
        The network the placement was made for (checked).
    placement
        From :func:`~neurotwin.spinnaker2.map_network`.
    weight_format
        "int4_delay" or "int8" (:data:`~neurotwin.spinnaker2.numerics.WEIGHT_FORMATS`).
    scales
        (population, receptor) -> nA per LSB; default :func:`weight_scales` (the largest
        incoming weight maps to the format's largest weight).
    tick_ms
        Tick, ms (default the placement's).
    rounding
        "nearest" or "exact" (:func:`~neurotwin.spinnaker2.numerics.quantise_weights`).
    chunk_synapses
        Synapses per chunk where weights or delays are per synapse.

    Memory: 4 bytes per synapse (int16 slice and uint16 word; 6 with more than 32,767
    slices) plus 8 bytes per unit; temporaries are bounded by ``chunk_synapses``.

    Raises
    ------
    ConfigError
        Unrepresentable weights (names the projection), bad options.
    MappingError
        Delays outside the format; a placement of another network.
    """
    placement.check_network(network)
    fmt = numerics.get_format(weight_format)
    tick = float(placement.options.get("tick_ms", network.dt) if tick_ms is None else tick_ms)
    check_positive("tick_ms", tick, "ms")
    chunk = chunk_synapses
    check_int("chunk_synapses", chunk, low=1)
    pops = network.populations
    if scales is None:
        scales = weight_scales(network, fmt)
    # units: population neurons in network order, then sources
    base: dict[str, int] = {}
    n = 0
    for node in (*pops, *network.sources):
        base[str(node.label)] = n
        n += node.size
    n_units = n
    node_index = {label: i for i, label in enumerate(placement.labels)}
    counts = np.zeros(n_units, np.int64)
    leaving: dict[str, int] = {}
    csrs = []
    for proj in network.projections:
        csr = proj.csr()
        csrs.append(csr)
        size = network.nodes[proj.pre].size
        counts[base[proj.pre] : base[proj.pre] + size] += np.diff(np.asarray(csr.indptr, np.int64))
        leaving[proj.pre] = leaving.get(proj.pre, 0) + 1
    unit_ptr = np.zeros(n_units + 1, np.int64)
    np.cumsum(counts, out=unit_ptr[1:])
    del counts
    total = int(unit_ptr[-1])
    slice_dtype = np.int16 if placement.n_slices <= np.iinfo(np.int16).max else np.int32
    out_slice = np.empty(total, slice_dtype)
    out_word = np.empty(total, np.uint16)
    pos = unit_ptr[:-1].copy()
    slice_first = np.full(placement.n_slices, -1, np.int64)
    for pop in pops:
        i = node_index[str(pop.label)]
        s = slice(int(placement.slice_offsets[i]), int(placement.slice_offsets[i + 1]))
        slice_first[s] = base[str(pop.label)] + placement.slice_lo[s]
    max_delay = 1
    for proj, csr in zip(network.projections, csrs, strict=True):
        i = node_index[proj.post]
        n_post = int(placement.sizes[i])
        n_tgt = int(placement.slice_offsets[i + 1] - placement.slice_offsets[i])
        lut = post_slice_table(n_post, n_tgt) if n_post <= LUT_NEURONS else np.zeros(0, np.int16)
        bounds = slice_bounds(n_post, n_tgt)
        per_synapse = csr.weight.ndim > 0 or csr.delay.ndim > 0
        for block in synapse_blocks(csr, chunk_synapses if per_synapse else 1 << 62):
            high, longest = _high_bits(proj, block, fmt, scales, tick, rounding)
            max_delay = max(max_delay, longest)
            unit0 = base[proj.pre] + block.pre_lo

            def fill(a: int, b: int, block: SynapseBlock = block, high: np.ndarray = high,
                     unit0: int = unit0, lut: np.ndarray = lut, bounds: np.ndarray = bounds,
                     first: int = int(placement.slice_offsets[i])) -> None:
                # rows a:b of the block: their units and output positions are their own
                _fill(block.indptr[a : b + 1], block.post, unit0 + a, pos, lut, bounds, first,
                      high, out_slice, out_word)

            run_parts(fill, split(block.indptr))
    for label, k in leaving.items():
        if k > 1:
            lo = base[label]
            _sort_units(unit_ptr, lo, lo + network.nodes[label].size, out_slice, out_word)
    return SynapticRows(
        fmt=fmt,
        unit_ptr=unit_ptr,
        slice=out_slice,
        word=out_word,
        slice_first=slice_first,
        scales=dict(scales),
        max_delay=max_delay,
    )
