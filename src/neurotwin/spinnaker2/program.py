r"""Compiling a placed network into an :class:`S2Program`, the ``spinnaker2`` backend's artefact.

What is decided once, before any tick runs:

1. **Routes.** Every key of every sending slice is followed through the placement's
   (possibly edited) router tables (:func:`~neurotwin.spinnaker2.router.route_classes`).
   Keys that take the same entries at every chip form a *route class* (one per slice with
   the mapper's tables); a class has a fixed list of receiving PEs and link hops. A wrong
   entry gives wrong deliveries, hence missing or extra spikes.
2. **Synapses.** The quantised rows (:func:`~neurotwin.spinnaker2.rows.build_rows`, with
   the weight scales of :func:`~neurotwin.spinnaker2.rows.weight_scales`) become one
   64-bit word per synapse, stored per presynaptic unit. Only rows on PEs that the unit's
   route class reaches are kept; a PE reached without a row drops the packet at its
   bit-field filter (a cheap filtered packet, :mod:`.tick`) and changes nothing; a PE not
   reached never sees the spike.
3. **Packet counts.** Per class the receiving slices, or, for a class that reaches most
   PEs, the complement of its receivers within the PEs that receive anything
   (:func:`_receive_lists`), so that the tick kernel (:mod:`.tick`) charges a spike to
   the PEs it *misses*, not the ~all it reaches.
4. **Neurons.** Per population (segment) the float32 per-tick constants
   (:func:`~neurotwin.spinnaker2.numerics.lif_constants_f32`), refractory ticks and
   receptor scales; the initial state; the cycles every PE spends per tick regardless of
   traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numba
import numpy as np
import scipy.sparse as sp

from neurotwin.dynamics.lif import LIF
from neurotwin.engines.plan import RecordingPlan, SourcePlan, recording_plan, source_plan
from neurotwin.errors import CapacityError, ConfigError, check_positive
from neurotwin.network import Network
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.machine import check_clock
from neurotwin.spinnaker2.numerics import WeightFormat
from neurotwin.spinnaker2.partition import check_models
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.router import route_classes
from neurotwin.spinnaker2.rows import SynapticRows, build_rows, weight_scales, word_layout
from neurotwin.spinnaker2.specs import (
    CHIP_PES,
    CYCLES_PER_NEURON,
    CYCLES_PER_POISSON_SOURCE,
    CYCLES_TICK_OVERHEAD,
    LINKS_PER_CHIP,
    SYNAPSE_DELAY_BITS,
    SYNAPSE_TARGET_BITS,
)

__all__ = ["DEADLINE_POLICIES", "SLICE_SHIFT", "WEIGHT_SHIFT", "S2Program", "compile_program"]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2}
"""Row of each recordable state variable in the kernel's state stack."""
DEADLINE_POLICIES = ("report", "raise")
WEIGHT_SHIFT = 32
SLICE_SHIFT = 40
"""Bit positions of the weight and the receiving slice in a synapse word."""


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


@dataclass(frozen=True, eq=False)
class _Routes:
    """Route classes of all units (:func:`_routes`; fields as in :class:`S2Program`)."""

    unit_class: np.ndarray
    looped: np.ndarray
    class_ptr: np.ndarray
    class_pe: np.ndarray
    hops: sp.csr_array


def _routes(placement: Placement, slice_unit: np.ndarray, n_units: int) -> _Routes:
    """Route classes of every unit (``slice_unit``: first unit of each slice); class 0 is
    that of the units that send nothing."""
    senders = np.unique(placement.pair_src).astype(np.int64)
    sizes = (placement.slice_hi - placement.slice_lo)[senders].astype(np.int64)
    block_ptr = np.concatenate([[0], np.cumsum(sizes)])
    within = np.arange(int(block_ptr[-1])) - np.repeat(block_ptr[:-1], sizes)
    keys = np.repeat(placement.slice_key[senders].astype(np.int64), sizes) + within
    walk = route_classes(placement.machine, placement.tables, keys, block_ptr,
                         placement.slice_chip[senders])
    units = np.repeat(slice_unit[senders], sizes) + within
    unit_class = np.zeros(n_units, np.int64)
    unit_class[units] = 1 + walk.key_class
    looped = np.zeros(n_units, bool)
    looped[units] = walk.loop_chip >= 0
    hops = sp.csr_array(
        (np.ones(walk.hop_class.size, np.int64), (1 + walk.hop_class, walk.hop_link)),
        shape=(1 + walk.n_classes, placement.machine.n_chips * LINKS_PER_CHIP),
    )
    return _Routes(unit_class, looped, np.concatenate([[0], walk.class_ptr]), walk.class_pe,
                   hops)


@numba.njit(cache=True)
def _receive_lists(class_ptr, class_slice, universe):  # pragma: no cover - compiled
    """Per class (CSR) the slices whose packet count it raises, or, where that is shorter
    (``neg``), the slices of ``universe`` (sorted slice ids) it does not reach."""
    n_classes = class_ptr.shape[0] - 1
    n_slices = class_slice.max() + 1 if class_slice.shape[0] else 0
    mark = np.full(max(n_slices, 1), -1, np.int64)
    ptr = np.zeros(n_classes + 1, np.int64)
    neg = np.zeros(n_classes, np.bool_)
    for c in range(n_classes):
        valid = 0
        for q in range(class_ptr[c], class_ptr[c + 1]):
            if class_slice[q] >= 0:
                valid += 1
        neg[c] = 2 * valid > universe.shape[0]
        ptr[c + 1] = ptr[c] + (universe.shape[0] - valid if neg[c] else valid)
    out = np.empty(ptr[n_classes], np.int64)
    n = 0
    for c in range(n_classes):
        if neg[c]:
            for q in range(class_ptr[c], class_ptr[c + 1]):
                if class_slice[q] >= 0:
                    mark[class_slice[q]] = c
            for t in universe:
                if mark[t] != c:
                    out[n] = t
                    n += 1
        else:
            for q in range(class_ptr[c], class_ptr[c + 1]):
                if class_slice[q] >= 0:
                    out[n] = class_slice[q]
                    n += 1
    return ptr, out, neg


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
        PE clock, MHz: a DVFS level (150 or 300; :func:`~neurotwin.spinnaker2.machine.check_clock`),
        sets the per-tick cycle budget and the energy per cycle.
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
    fmt = numerics.get_format(weight_format)
    if deadline not in DEADLINE_POLICIES:
        raise ConfigError(
            f"deadline must be one of {', '.join(DEADLINE_POLICIES)}, got {deadline!r}"
        )
    check_positive("tick_ms", tick_ms, "ms")
    clock_mhz = check_clock(clock_mhz)
    check_models(network)
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
    scales = weight_scales(network, fmt, weight_scale)
    ring_size = 2 * (fmt.delay_max + 1) * n
    if ring_size >= 2**WEIGHT_SHIFT:
        raise CapacityError("ring-buffer entries in a synapse word", ring_size,
                            2**WEIGHT_SHIFT - 1)
    # the quantised rows; build_rows checks that the placement maps this network
    rows = build_rows(network, placement, weight_format=weight_format, scales=scales,
                      tick_ms=tick_ms, rounding=rounding)

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

    # synapses: one word each, delivered ones only
    multiplicity = np.ones(n_units, np.int64)  # spikes a unit can send in one tick
    if plan.array_source.size:
        pairs, repeats = np.unique(np.stack([plan.array_source, plan.array_emit_step]),
                                   axis=1, return_counts=True)
        np.maximum.at(multiplicity, n + pairs[0], repeats)
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

