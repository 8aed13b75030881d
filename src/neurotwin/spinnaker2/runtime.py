r"""The SpiNNaker2 runtime: a placed network executed tick by tick with the chip's numerics.

Per tick ``j`` (length ``tick_ms``), on every PE of a population slice:

1. **Neuron update** (float32, :mod:`.numerics`): each LIF neuron is propagated with the
   per-tick constants, its synaptic currents decay and take the ring-buffer slot of
   tick ``j`` (integer sum of weights x the receptor's scale), the slot is cleared, the
   threshold is tested. The arithmetic is that of the ideal engine's step
   (:func:`neurotwin.dynamics.lif.lif_step`) in float32, so with ``tick_ms == dt`` and
   exactly representable weights whose scale is a power of two the spikes equal those
   of ``nt.simulate(net, backend="ideal", dtype="float32")``.
2. **Spikes out**: a spiking neuron's PE sends one multicast packet with the neuron's
   key. Where the packet goes is what the router tables say: every key of every slice
   is followed hop by hop through the placement's (possibly edited) tables once, when
   the program is built (:func:`~neurotwin.spinnaker2.routing.follow_block`); a wrong
   entry gives wrong deliveries, hence missing or extra spikes.
3. **Packets in** (charged to tick ``j + 1``, when the receiving PE processes them):
   a delivered packet looks up its synaptic row (the synapses of the sending neuron onto
   that PE); each synapse adds its integer weight to the ring-buffer slot of tick
   ``j + delay``. A packet delivered to a PE that holds no row for it costs the lookup
   and changes nothing; a PE that is not delivered to never sees the spike.

Spike sources run on their own PEs and send packets the same way (arrays at their
times rounded to the tick, Poisson sources drawn per tick from the ideal engine's
streams: :func:`~neurotwin.engines.step.source_spikes`, :func:`~neurotwin.engines.step.trial_rngs`).

Cost per PE and tick (cycles; constants in :mod:`.specs`)::

    cycles = CYCLES_TICK_OVERHEAD + neurons * CYCLES_PER_NEURON
             (+ Poisson sources * CYCLES_PER_POISSON_SOURCE on source PEs)
             + packets received * CYCLES_PER_PACKET + synapses processed * CYCLES_PER_SYNAPSE
             + packets sent * CYCLES_PER_SPIKE_SENT

and the deadline is ``clock_mhz * 1e3 * tick_ms`` cycles; a PE over it is a deadline
miss (PE, tick, cycles over). The simulation itself goes on as if the PE had caught up
(the spikes are those of a machine fast enough); the misses say it would not be.
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

from neurotwin.dynamics.lif import LIF
from neurotwin.engines.result import Result
from neurotwin.engines.step import (
    CHUNK_STEPS,
    RecordingPlan,
    SourcePlan,
    recording_plan,
    source_plan,
    source_spikes,
    spike_records,
    trial_rngs,
)
from neurotwin.errors import CapacityError, ConfigError, check_positive
from neurotwin.network import Network
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.cost import DeadlineMiss, estimate_cost
from neurotwin.spinnaker2.numerics import WeightFormat
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.routing import follow_block
from neurotwin.spinnaker2.specs import (
    CHIP_PES,
    CYCLES_PER_NEURON,
    CYCLES_PER_PACKET,
    CYCLES_PER_POISSON_SOURCE,
    CYCLES_PER_SPIKE_SENT,
    CYCLES_PER_SYNAPSE,
    CYCLES_TICK_OVERHEAD,
    LINKS_PER_CHIP,
)

__all__ = ["DEADLINE_POLICIES", "S2Program", "compile_program", "run_program"]

STATE_CODES = {"v": 0, "i_exc": 1, "i_inh": 2}
"""Row of each recordable state variable in the kernel's state stack."""
DEADLINE_POLICIES = ("report", "raise")
MISS_CAPACITY = 10_000
"""Deadline misses kept in detail (all are counted)."""


@dataclass(frozen=True, eq=False)
class S2Program:
    """A placed network ready to run on the SpiNNaker2 twin (the backend's artefact).

    Units (presynaptic indices) are the neurons of all populations in network order,
    then the spike sources. Synapses are grouped in rows by (unit, target slice); the
    deliveries of every unit are the slices its key reaches through the router tables.
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
    consts: np.ndarray
    """(10, n_neurons) float32 per-tick constants (``numerics.LIF_CONSTANT_ROWS``)."""
    refrac_ticks: np.ndarray
    initial: np.ndarray
    """(3, n_neurons) float32: v, i_exc, i_inh."""
    scale_exc: np.ndarray
    scale_inh: np.ndarray
    """(n_neurons,) float32 receptor scales, nA per LSB."""
    unit_slice: np.ndarray
    """(n_units,) slice (PE) of each unit."""
    sends: np.ndarray
    """(n_units,) the unit's slice has targets, so its spikes are sent."""
    unit_class: np.ndarray
    """(n_units,) route class of each unit: units of a class reach the same PEs."""
    class_ptr: np.ndarray
    class_slice: np.ndarray
    """Per class (CSR): receiving slices (-1: a PE without a slice, packet dropped there)."""
    row_ptr: np.ndarray
    """(n_units + 1,) CSR over units of their delivered synaptic rows."""
    row_slice: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    """Per row: receiving slice and its synapses ``syn_*[row_lo:row_hi]``."""
    syn_post: np.ndarray
    syn_rec: np.ndarray
    syn_weight: np.ndarray
    """Integer weights, LSB."""
    syn_delay: np.ndarray
    """Delays, ticks."""
    n_slots: int
    hops: sp.csr_array
    """(n_classes, n_chips * 6) link traversals of one packet of each route class."""
    looped: np.ndarray
    """(n_units,) the unit's key runs into a routing loop (copies dropped)."""
    base_cycles: np.ndarray
    """(n_slices,) cycles a PE spends every tick regardless of traffic."""
    sources: SourcePlan
    recording: RecordingPlan

    @property
    def budget_cycles(self) -> int:
        """Cycles a PE has per tick at ``clock_mhz``."""
        return round(self.clock_mhz * 1e3 * self.tick_ms)


def _scales(
    network: Network,
    fmt: WeightFormat,
    weight_scale: float | Mapping[str, float] | None,
    split: list[tuple[str, np.ndarray, np.ndarray]],
) -> dict[tuple[str, str], float]:
    """Scale per (population, receptor): given, or the largest incoming weight / limit."""
    largest: dict[tuple[str, str], float] = {}
    for post, receptor, w in split:
        for r, name in enumerate(("exc", "inh")):
            sel = w[receptor == r]
            if sel.size:
                key = (post, name)
                largest[key] = max(largest.get(key, 0.0), float(sel.max()))
    scales = {}
    for pop in network.populations:
        label = str(pop.label)
        for name in ("exc", "inh"):
            if weight_scale is None:
                value = numerics.weight_scale(largest.get((label, name), 0.0), fmt)
            elif isinstance(weight_scale, Mapping):
                unknown = sorted(set(weight_scale) - {str(p.label) for p in network.populations})
                if unknown:
                    raise ConfigError(f"weight_scale names unknown populations {unknown}")
                default = numerics.weight_scale(largest.get((label, name), 0.0), fmt)
                value = float(weight_scale.get(label, default))
            else:
                value = float(weight_scale)
            check_positive(f"weight scale of {label!r}", value, "nA")
            scales[(label, name)] = value
    return scales


def _route_classes(
    n_keys: int, d_key: np.ndarray, d_slice: np.ndarray, h_key: np.ndarray, h_link: np.ndarray
) -> np.ndarray:
    """(n_keys,) class of each key of a block: keys with the same deliveries and hops share
    one. The mapper's tables route a block's keys alike (one class); edited tables may not."""
    for key, value in ((d_key, d_slice), (h_key, h_link)):
        counts = np.bincount(key, minlength=n_keys)
        if np.any(counts != counts[0]):
            return np.arange(n_keys, dtype=np.int64)
        rows = value[np.lexsort((value, key))].reshape(n_keys, -1)
        if np.any(rows != rows[:1]):
            return np.arange(n_keys, dtype=np.int64)
    return np.zeros(n_keys, np.int64)


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

    consts = np.zeros((len(numerics.LIF_CONSTANT_ROWS), n), np.float32)
    refrac = np.zeros(n, np.int64)
    initial = np.zeros((3, n), np.float64)
    for pop in pops:
        lo, hi = pop_slices[str(pop.label)]
        model = cast(LIF, pop.model)
        consts[:, lo:hi] = numerics.lif_constants_f32(model, tick_ms)[:, None]
        refrac[lo:hi] = round(model.tau_refrac / tick_ms)
        for name, values in pop.initial_values().items():
            initial[STATE_CODES[name], lo:hi] = values

    def unit_base(label: str) -> int:
        if label in pop_slices:
            return pop_slices[label][0]
        return n + source_slices[label][0]

    # synapses, split by sign where the projection has no receptor
    split = []
    raw = []
    for proj in network.projections:
        syn = proj.synapses()
        if proj.receptor is None:
            receptor = (syn.weight < 0).astype(np.int64)
        else:
            receptor = np.full(syn.pre.shape, 0 if proj.receptor == "exc" else 1, np.int64)
        w = np.abs(syn.weight)
        split.append((str(proj.post), receptor, w))
        raw.append((proj, syn, receptor, w))
    scales = _scales(network, fmt, weight_scale, split)
    n_slices = placement.n_slices
    codes, posts, recs, ws, ds = [], [], [], [], []
    for proj, syn, receptor, w in raw:
        name = f"{proj.pre}->{proj.post}"
        ints = np.zeros(w.shape, np.int64)
        for r, rname in enumerate(("exc", "inh")):
            sel = receptor == r
            if sel.any():
                ints[sel] = numerics.quantise_weights(
                    w[sel], scales[(str(proj.post), rname)], fmt, name, rounding
                )
        ticks = numerics.delay_ticks(syn.delay, tick_ms, fmt, name)
        target = placement.slice_of(str(proj.post), syn.post)
        codes.append((syn.pre + unit_base(str(proj.pre))) * n_slices + target)
        posts.append(syn.post + pop_slices[str(proj.post)][0])
        recs.append(receptor)
        ws.append(ints)
        ds.append(ticks)

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    code = cat(codes)
    order = np.argsort(code, kind="stable")
    code = code[order]
    syn_post, syn_rec = cat(posts)[order], cat(recs)[order]
    syn_weight, syn_delay = cat(ws)[order], cat(ds)[order]

    # every key of every sending slice, followed through the router tables
    machine, tables = placement.machine, placement.tables
    pe_slice = np.full(machine.n_chips * CHIP_PES, -1, np.int64)
    pe_slice[placement.slice_chip * CHIP_PES + placement.slice_pe] = np.arange(n_slices)
    unit_slice = np.zeros(n_units, np.int64)
    unit_class = np.zeros(n_units, np.int64)
    sends = np.zeros(n_units, bool)
    senders = set(np.unique(placement.pair_src).tolist())
    c_class, c_slice, h_class, h_link = [], [], [], []
    looped = np.zeros(n_units, bool)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    n_classes = 1  # class 0: no deliveries (units that do not send)
    for s in range(n_slices):
        label = placement.labels[int(placement.slice_node[s])]
        lo, hi = int(placement.slice_lo[s]), int(placement.slice_hi[s])
        first = unit_base(label) + lo
        unit_slice[first : first + hi - lo] = s
        if s not in senders:
            continue
        sends[first : first + hi - lo] = True
        keys = placement.slice_key[s].astype(np.int64) + np.arange(hi - lo)
        br = follow_block(machine, tables, keys, int(placement.slice_chip[s]), cache)
        looped[first : first + hi - lo] = br.looped
        targets = pe_slice[br.deliver_chip * CHIP_PES + br.deliver_pe]
        key_class = _route_classes(keys.size, br.deliver_key, targets, br.hop_key, br.hop_link)
        unit_class[first : first + hi - lo] = key_class + n_classes
        rep = np.unique(key_class, return_index=True)[1]  # one key per class
        for c, key in enumerate(rep):
            sel, hsel = br.deliver_key == key, br.hop_key == key
            c_class.append(np.full(int(sel.sum()), n_classes + c, np.int64))
            c_slice.append(np.sort(targets[sel]))
            h_class.append(np.full(int(hsel.sum()), n_classes + c, np.int64))
            h_link.append(br.hop_link[hsel])
        n_classes += rep.size
    cc, csl = cat(c_class), cat(c_slice)
    class_ptr = np.concatenate([[0], np.cumsum(np.bincount(cc, minlength=n_classes))])
    hops = sp.csr_array(
        (np.ones(sum(h.size for h in h_class), np.int64), (cat(h_class), cat(h_link))),
        shape=(n_classes, machine.n_chips * LINKS_PER_CHIP),
    )
    # synaptic rows (unit, target slice) whose target PE the unit's packets reach
    starts = np.flatnonzero(np.diff(code, prepend=-1))
    row_code = code[starts]
    row_unit, row_slice = np.divmod(row_code, n_slices)
    delivered = np.sort(cc[csl >= 0] * n_slices + csl[csl >= 0])
    want = unit_class[row_unit] * n_slices + row_slice
    keep = np.isin(want, delivered)
    ends = np.append(starts[1:], code.size)
    row_unit, row_slice = row_unit[keep], row_slice[keep]
    row_lo, row_hi = starts[keep], ends[keep]
    row_ptr = np.concatenate([[0], np.cumsum(np.bincount(row_unit, minlength=n_units))])

    width = placement.slice_hi - placement.slice_lo
    kinds = np.array(placement.kinds)[placement.slice_node]
    base = np.full(n_slices, CYCLES_TICK_OVERHEAD, np.int64)
    base += np.where(kinds == "LIF", width * CYCLES_PER_NEURON, 0)
    base += np.where(kinds == "SpikeSourcePoisson", width * CYCLES_PER_POISSON_SOURCE, 0)

    recording = recording_plan(network, pop_slices, source_slices, n, STATE_CODES)

    scale_exc = np.zeros(n, np.float32)
    scale_inh = np.zeros(n, np.float32)
    for label, (lo, hi) in pop_slices.items():
        scale_exc[lo:hi] = scales[(label, "exc")]
        scale_inh[lo:hi] = scales[(label, "inh")]
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
        consts=consts,
        refrac_ticks=refrac,
        initial=initial.astype(np.float32),
        scale_exc=scale_exc,
        scale_inh=scale_inh,
        unit_slice=unit_slice,
        sends=sends,
        unit_class=unit_class,
        class_ptr=class_ptr.astype(np.int64),
        class_slice=csl,
        row_ptr=row_ptr.astype(np.int64),
        row_slice=row_slice.astype(np.int64),
        row_lo=row_lo.astype(np.int64),
        row_hi=row_hi.astype(np.int64),
        syn_post=syn_post,
        syn_rec=syn_rec,
        syn_weight=syn_weight,
        syn_delay=syn_delay,
        n_slots=int(syn_delay.max()) + 1 if syn_delay.size else 2,
        hops=hops,
        looped=looped,
        base_cycles=base,
        sources=plan,
        recording=recording,
    )


# ---------------------------------------------------------------------------------------
# kernel


@numba.njit(cache=True, nogil=True)
def _deliver(
    unit, j, ring, class_count, touched, syn_next, rt,
):  # pragma: no cover - compiled
    """One spike of ``unit`` in tick ``j``: count it for its route class (expanded to the
    receiving PEs by :func:`_expand`) and add the delivered rows' weights to the ring
    buffers. ``rt`` = (unit_class, class_ptr, class_slice, row_ptr, row_slice, row_lo,
    row_hi, syn_post, syn_rec, syn_weight, syn_delay)."""
    unit_class, _, _, row_ptr, row_slice, row_lo, row_hi = rt[:7]
    syn_post, syn_rec, syn_weight, syn_delay = rt[7:]
    n_slots = ring.shape[0]
    c = unit_class[unit]
    if class_count[c] == 0:
        touched[0] += 1
        touched[touched[0]] = c
    class_count[c] += 1
    for q in range(row_ptr[unit], row_ptr[unit + 1]):
        syn_next[row_slice[q]] += row_hi[q] - row_lo[q]
        for r in range(row_lo[q], row_hi[q]):
            ring[(j + syn_delay[r]) % n_slots, syn_rec[r], syn_post[r]] += syn_weight[r]


@numba.njit(cache=True, nogil=True)
def _expand(class_count, touched, pkt_next, class_ptr, class_slice):  # pragma: no cover
    """Packets received by every PE in the next tick from the counted spikes per class;
    ``touched[0]`` classes are listed in ``touched[1:]``. Resets the counts."""
    for k in range(1, touched[0] + 1):
        c = touched[k]
        count = class_count[c]
        for q in range(class_ptr[c], class_ptr[c + 1]):
            t = class_slice[q]
            if t >= 0:
                pkt_next[t] += count
        class_count[c] = 0
    touched[0] = 0


@numba.njit(cache=True, nogil=True)
def _chunk(
    b0, b1, j0, j1, reached, state, refrac, ring, consts, refrac_ticks, scale_e, scale_i,
    rt, unit_slice, sends, src_ptr, src_ids, class_count, touched,
    base_cycles, c_pkt, c_syn, c_sent, budget, pkt, syn, sent,
    max_cycles, total_cycles, miss_trial, miss_tick, miss_slice, miss_cycles, miss_count,
    record, spike_step, spike_id, spike_count, n_record, unit_spikes,
    trace_code, trace_neuron, traces,
):  # pragma: no cover - compiled; tested through run_program
    """Advance trials b0..b1-1 from their ``reached`` tick to ``j1`` (see module doc)."""
    n = state.shape[2]
    n_slots = ring.shape[1]
    n_slices = base_cycles.shape[0]
    cap = spike_step.shape[1]
    miss_cap = miss_tick.shape[0]
    for b in range(b0, b1):
        v = state[0, b]
        ie = state[1, b]
        ii = state[2, b]
        rf = refrac[b]
        rg = ring[b]
        for j in range(reached[b], j1):
            if spike_count[b] + n_record > cap:
                break
            k = j - j0
            for r in range(trace_code.shape[0]):
                traces[b, j, r] = state[trace_code[r], b, trace_neuron[r]]
            slot = j % n_slots
            cur = j % 2
            nxt = 1 - cur
            pkt_next = pkt[b, nxt]
            syn_next = syn[b, nxt]
            for i in range(n):
                free = rf[i] <= 0
                v_free = (
                    consts[0, i]
                    + (v[i] - consts[0, i]) * consts[4, i]
                    + consts[3, i] * consts[5, i]
                    + ie[i] * consts[6, i]
                    - ii[i] * consts[7, i]
                )
                vi = v_free if free else v[i]
                ri = rf[i] if free else rf[i] - 1
                ie[i] = ie[i] * consts[8, i] + numerics.ring_current(rg[slot, 0, i], scale_e[i])
                ii[i] = ii[i] * consts[9, i] + numerics.ring_current(rg[slot, 1, i], scale_i[i])
                rg[slot, 0, i] = 0
                rg[slot, 1, i] = 0
                spike = vi >= consts[2, i]
                v[i] = consts[1, i] if spike else vi
                rf[i] = refrac_ticks[i] if spike else ri
                if spike:
                    unit_spikes[b, i] += 1
                    if sends[i]:
                        sent[b, unit_slice[i]] += 1
                        _deliver(i, j, rg, class_count[b], touched[b], syn_next, rt)
                    if record[i]:
                        cnt = spike_count[b]
                        spike_step[b, cnt] = j
                        spike_id[b, cnt] = i
                        spike_count[b] = cnt + 1
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                unit = n + src_ids[e]
                unit_spikes[b, unit] += 1
                if sends[unit]:
                    sent[b, unit_slice[unit]] += 1
                    _deliver(unit, j, rg, class_count[b], touched[b], syn_next, rt)
            _expand(class_count[b], touched[b], pkt_next, rt[1], rt[2])
            pkt_cur = pkt[b, cur]
            syn_cur = syn[b, cur]
            sent_b = sent[b]
            for s in range(n_slices):
                cycles = (base_cycles[s] + pkt_cur[s] * c_pkt + syn_cur[s] * c_syn
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
    refrac = np.zeros((trials, n), np.int64)
    ring = np.zeros((trials, prog.n_slots, 2, n), np.int64)
    pkt = np.zeros((trials, 2, n_slices), np.int64)
    syn = np.zeros((trials, 2, n_slices), np.int64)
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
    rt = (prog.unit_class, prog.class_ptr, prog.class_slice, prog.row_ptr, prog.row_slice,
          prog.row_lo, prog.row_hi, prog.syn_post, prog.syn_rec, prog.syn_weight, prog.syn_delay)
    plan = prog.sources
    early = plan.array_source[plan.array_emit_step < 0]
    for b in range(trials):
        for src in early:
            unit = n + int(src)
            unit_spikes[b, unit] += 1
            if prog.sends[unit]:
                sent[b, prog.unit_slice[unit]] += 1  # charged to tick 0
                _deliver(unit, -1, ring[b], class_count[b], touched[b], syn[b, 0], rt)
        _expand(class_count[b], touched[b], pkt[b, 0], prog.class_ptr, prog.class_slice)
    neuron_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(trials)]
    source_chunks: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.full(early.size, -1), early)] for _ in range(trials)
    ]
    for j0 in range(0, ticks, CHUNK_STEPS):
        j1 = min(j0 + CHUNK_STEPS, ticks)
        src_ptr, src_ids = source_spikes(plan, rngs, j0, j1)
        while reached.min() < j1:
            _chunk(
                0, trials, j0, j1, reached, state, refrac, ring, prog.consts, prog.refrac_ticks,
                prog.scale_exc, prog.scale_inh, rt, prog.unit_slice, prog.sends, src_ptr, src_ids,
                class_count, touched,
                prog.base_cycles, CYCLES_PER_PACKET, CYCLES_PER_SYNAPSE, CYCLES_PER_SPIKE_SENT,
                prog.budget_cycles, pkt, syn, sent,
                max_cycles, total_cycles, miss_trial, miss_tick, miss_slice, miss_cycles,
                miss_count, prog.recording.record_spikes, spike_step, spike_id, spike_count,
                n_record,
                unit_spikes, prog.recording.trace_code, prog.recording.trace_neuron, traces,
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
