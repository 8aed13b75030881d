r"""What the PPU reads from the analog core during a run: correlation sensors and spike
counters, kept up to date while the emulation steps.

The sensors follow :mod:`neurotwin.bss2.correlation` (nearest-neighbour pairing)::

    at a postsynaptic spike t_q:   S_c += eta_c * exp(-(t_q - t_p) / tau_c),  t_p the
                                   last presynaptic arrival < t_q at that synapse
    at a presynaptic arrival t_p:  S_a += eta_a * exp(-(t_p - t_q) / tau_a),  t_q the
                                   last postsynaptic spike < t_p of that column's neuron

each store clamped to ``saturation`` mV; a reset clears the stores, not the partner
times. Times as the run's correlation readout has them: a neuron's spike in step k at
``(k + 1) dt``, a presynaptic event emitted in step k reaches the synapse at
``(k + 1 + delay) dt``. Events at the same instant do not pair (postsynaptic spikes are
taken first). A sensor belongs to a synapse (hemisphere, row, column): every event that
reaches the synapse drives it, whichever unit sent it.

The spike counters count each neuron's spikes since their last reset, saturating at
:data:`~neurotwin.bss2.specs.PPU_SPIKE_COUNTER_MAX` (8 bit).
"""

from __future__ import annotations

import copy

import numba
import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.tables import SynapseTable

__all__ = ["Sensors"]


@numba.njit(cache=True, inline="always")
def _pair(record, s, branch, t, partner, saturation, touched):  # pragma: no cover - compiled
    """Store ``branch`` (0 causal, 1 acausal) of sensor ``s``: ``min(S + eta * exp(-(t -
    partner) / tau), saturation)``. No partner yet (-inf) adds exactly 0 and a saturated
    store stays: both are skipped. A store that leaves 0 sets the sensor's bit in
    ``touched`` (:attr:`Sensors.touched`)."""
    store = record[s, branch]
    if partner == -np.inf or store == saturation:
        return
    eta, tau = record[s, 3 + 2 * branch], record[s, 4 + 2 * branch]
    record[s, branch] = min(store + eta * np.exp(-(t - partner) / tau), saturation)
    if record[s, branch] != 0.0:
        touched[s >> 6] |= np.uint64(1) << np.uint64(s & 63)


@numba.njit(cache=True)
def _due(pend_step, pend_a, pend_b, new_step, new_a, new_b, lo, j1):  # pragma: no cover
    """Join pending and new items (step, a, b) and split them: those due by step ``j1``,
    bucketed by step from ``lo`` (CSR ``start`` over steps lo..j1, ``order``), and the
    rest (step, a, b) for later."""
    steps = np.concatenate((pend_step, new_step))
    a = np.concatenate((pend_a, new_a))
    b = np.concatenate((pend_b, new_b))
    start = np.zeros(j1 - lo + 2, np.int64)
    n_due = 0
    for x in range(steps.size):
        if steps[x] <= j1:
            start[steps[x] - lo + 1] += 1
            n_due += 1
    for k in range(1, start.size):
        start[k] += start[k - 1]
    fill = start[:-1].copy()
    order = np.empty(n_due, np.int64)
    later = np.empty(steps.size - n_due, np.int64)
    n_later = 0
    for x in range(steps.size):
        if steps[x] <= j1:
            order[fill[steps[x] - lo]] = x
            fill[steps[x] - lo] += 1
        else:
            later[n_later] = x
            n_later += 1
    return start, order, steps, a, b, (steps[later], a[later], b[later])


@numba.njit(cache=True)
def _observe(j0, j1, raster, src_ptr, src_ids, group_ptr, group_delay, group_start, g_syn,
             g_post, pend_items, pend_arrivals, post_ptr, post_syn, record, touched,
             last_post, counts, saturation, dt,
             counter_max):  # pragma: no cover - compiled; tested through Sensors
    """Take in steps [j0, j1): count the neurons' spikes (``raster`` (j1 - j0, n)), queue
    the arrivals of the events emitted (neurons' spikes, sources' events ``src_ids``,
    CSR ``src_ptr`` over the steps), and apply every spike and arrival up to time
    ``j1 dt`` in time order, postsynaptic spikes first at a tie (events at one instant
    touch disjoint sensors or commute, so no other order matters).

    An event of unit u emitted in step e arrives at step ``e + 1 + delay`` at the
    entries of each of u's groups (entries of one delay: ``group_ptr[u]:group_ptr[u +
    1]``, entries ``group_start[g]:group_start[g + 1]`` of ``g_syn`` / ``g_post``).
    ``pend_items`` (steps, groups, unused) are arrivals queued before;
    ``pend_arrivals`` (steps, sensors, neurons) arrivals resolved by an earlier table.
    ``record`` (sensors, 8): the sensors' numbers (``_FIELDS``); ``touched``: the bit
    set of :attr:`Sensors.touched`. Returns both kinds of arrivals left for later.
    """
    steps, n = raster.shape
    # the spikes step by step, neurons ascending (CSR spike_ptr over the steps)
    spike_step, spike_neuron = np.nonzero(raster)
    spike_ptr = np.zeros(steps + 1, np.int64)
    n_new = 0
    for x in range(spike_step.size):
        i = spike_neuron[x]
        spike_ptr[spike_step[x] + 1] += 1
        counts[i] = min(counts[i] + 1, counter_max)
        n_new += group_ptr[i + 1] - group_ptr[i]
    for k in range(steps):
        spike_ptr[k + 1] += spike_ptr[k]
        for e in range(src_ptr[k], src_ptr[k + 1]):
            u = n + src_ids[e]
            n_new += group_ptr[u + 1] - group_ptr[u]
    new_step = np.empty(n_new, np.int64)
    new_group = np.empty(n_new, np.int64)
    m = 0
    for k in range(steps):
        n_spikes = spike_ptr[k + 1] - spike_ptr[k]
        for u in range(n_spikes + src_ptr[k + 1] - src_ptr[k]):
            unit = spike_neuron[spike_ptr[k] + u] if u < n_spikes \
                else n + src_ids[src_ptr[k] + u - n_spikes]
            for g in range(group_ptr[unit], group_ptr[unit + 1]):
                new_step[m] = j0 + k + 1 + group_delay[g]
                new_group[m] = g
                m += 1
    lo = j0 + 1
    for x in range(pend_items[0].size):
        lo = min(lo, pend_items[0][x])
    for x in range(pend_arrivals[0].size):
        lo = min(lo, pend_arrivals[0][x])
    start, order, _, group, _, items_later = _due(
        pend_items[0], pend_items[1], pend_items[2], new_step, new_group,
        np.zeros(n_new, np.int64), lo, j1)
    empty = np.zeros(0, np.int64)
    start_x, order_x, _, syn_x, post_x, arrivals_later = _due(
        pend_arrivals[0], pend_arrivals[1], pend_arrivals[2], empty, empty, empty, lo, j1)
    for step in range(lo, j1 + 1):
        t = step * dt
        k = step - 1 - j0
        if 0 <= k < steps:
            for x in range(spike_ptr[k], spike_ptr[k + 1]):
                i = spike_neuron[x]
                for q in range(post_ptr[i], post_ptr[i + 1]):
                    s = post_syn[q]
                    if record[s, 2] < t:
                        _pair(record, s, 0, t, record[s, 2], saturation, touched)
                last_post[i] = t
        for b in range(start[step - lo], start[step - lo + 1]):
            g = group[order[b]]
            for q in range(group_start[g], group_start[g + 1]):
                s = g_syn[q]
                tq = last_post[g_post[q]]
                if tq < t:
                    _pair(record, s, 1, t, tq, saturation, touched)
                record[s, 2] = t
        for b in range(start_x[step - lo], start_x[step - lo + 1]):
            x = order_x[b]
            s = syn_x[x]
            tq = last_post[post_x[x]]
            if tq < t:
                _pair(record, s, 1, t, tq, saturation, touched)
            record[s, 2] = t
    return items_later, arrivals_later


_FIELDS = ("causal", "acausal", "last_pre", "eta_c", "tau_c", "eta_a", "tau_a", "unused")
"""A sensor's record: stores (mV), last presynaptic arrival (µs), amplitudes (mV) and
time constants (µs) of both branches (eight numbers: one 64-byte cache line)."""


def _flat(placement: np.ndarray) -> np.ndarray:
    """Flat synapse indices of (hemisphere, row, column) rows."""
    return (placement[:, 0] * specs.SYNRAM_ROWS + placement[:, 1]) * specs.SYNRAM_COLUMNS \
        + placement[:, 2]


class Sensors:
    """Correlation sensors of the synapses in a synapse table and the neurons' spike
    counters, for one trial of a run.

    Parameters
    ----------
    table
        The mapping's synapse table (entries, their placement and delays).
    entry_neuron
        (S,) the postsynaptic logical neuron of each entry.
    n_neurons
        Logical neurons of the mapping (the first rows of ``table.indptr``).
    dt
        Time step, µs.
    chip
        The chip whose per-sensor deviations apply (amplitude and time constant factors).
    eta_mv, tau_us, saturation_mv
        Nominal amplitude per pairing at zero lag, time constant and saturation of both
        branches (the sensor biases; defaults the twin's nominal sensor).
    synapses
        Flat indices ``(hemisphere * 256 + row) * 256 + column`` of the synapses that
        have a sensor here (None: those of ``table``); a superset lets the table change
        (:meth:`retable`) while the sensors keep their stores.
    """

    def __init__(self, table: SynapseTable, entry_neuron: np.ndarray, n_neurons: int,
                 dt: float, chip: Chip, eta_mv: float = specs.CORRELATION_ETA_MV,
                 tau_us: float = specs.CORRELATION_TAU_US,
                 saturation_mv: float = specs.CORRELATION_SATURATION_MV,
                 synapses: np.ndarray | None = None) -> None:
        self.dt = float(dt)
        self.n_neurons = n_neurons
        self.saturation = float(saturation_mv)
        # one sensor per physical synapse, shared by the entries that reach it
        given = _flat(table.placement) if synapses is None else np.asarray(synapses, np.int64)
        ordered = given.size < 2 or bool(np.all(given[1:] > given[:-1]))
        self.synapse = given if ordered else np.unique(given)
        # arrivals not yet applied (at step * dt µs): (steps, groups of the table's
        # entries, unused) and, from before a table change, (steps, sensors, neurons)
        empty = np.zeros(0, np.int64)
        self._items = (empty, empty, empty)
        self._arrivals = (empty, empty, empty)
        self.retable(table, entry_neuron)
        h, rest = np.divmod(self.synapse, specs.SYNRAM_ROWS * specs.SYNRAM_COLUMNS)
        row, col = np.divmod(rest, specs.SYNRAM_COLUMNS)
        self.placement = np.stack([h, row, col], axis=1)
        eta, tau = chip.correlation_factors(h, row, col)
        self.eta = eta * eta_mv
        self.tau = tau * tau_us
        n_syn = self.synapse.size
        # one sensor's numbers side by side (a postsynaptic spike visits a column of
        # sensors, 256 apart: one cache line each instead of one per array)
        self.record = np.zeros((n_syn, len(_FIELDS)))
        """(sensors, 8) each sensor's numbers (``_FIELDS``); ``causal``, ``acausal``,
        ``last_pre`` and ``listed`` are views of its columns."""
        self.causal, self.acausal, self.last_pre = (self.record[:, _FIELDS.index(name)]
                                                    for name in _FIELDS[:3])
        self.last_pre[:] = -np.inf
        for k, values in enumerate((self.eta[0], self.tau[0], self.eta[1], self.tau[1])):
            self.record[:, 3 + k] = values
        self.touched = np.zeros(-(-n_syn // 64), np.uint64)
        """Bit set over the sensors (bit ``s % 64`` of word ``s // 64``): every sensor
        with a non-zero store has its bit set (a reset may leave it set;
        :func:`~neurotwin.bss2.ppu.kernels.correlation_update` clears those it
        resets)."""
        self.last_post = np.full(n_neurons, -np.inf)
        self.counts = np.zeros(n_neurons, np.int64)


    def fresh(self) -> Sensors:
        """A copy with its own stores, partner times, spike counters and queued arrivals
        (what a run changes); the synapse table, the sensors' placement and constants
        are shared (:meth:`retable` replaces them, it does not write into them)."""
        out = copy.copy(self)
        out.record = self.record.copy()
        out.causal, out.acausal, out.last_pre = (out.record[:, k] for k in range(3))
        out.touched = self.touched.copy()
        out.last_post = self.last_post.copy()
        out.counts = self.counts.copy()
        out._items = (self._items[0].copy(), self._items[1].copy(), self._items[2].copy())
        out._arrivals = (self._arrivals[0].copy(), self._arrivals[1].copy(),
                         self._arrivals[2].copy())
        return out

    def retable(self, table: SynapseTable, entry_neuron: np.ndarray) -> None:
        """Follow a new synapse table (labels rewritten): which sensor and neuron each
        entry reaches; the stores and partner times stay with the synapses."""
        flat = _flat(table.placement)
        entry_syn = np.searchsorted(self.synapse, flat)
        if np.any(entry_syn >= self.synapse.size) or np.any(
                self.synapse[np.minimum(entry_syn, self.synapse.size - 1)] != flat):
            raise ValueError("the new synapse table reaches synapses without a sensor here")
        if self._items[0].size:
            self._resolve_items()
        self.table = table
        self.entry_syn = entry_syn.astype(np.int64)
        self.entry_neuron = entry_neuron.astype(np.int64)
        self.post_ptr = np.concatenate([[0], np.cumsum(np.bincount(
            self.entry_neuron, minlength=self.n_neurons))]).astype(np.int64)
        # the sensors of each neuron's entries, neuron by neuron, each neuron's ascending
        # (a spike's updates, one per sensor, in memory order)
        self.post_syn = self.entry_syn[np.lexsort((self.entry_syn, self.entry_neuron))]
        # each unit's entries in groups of one delay (an event's arrivals at one step)
        n_pre = table.indptr.size - 1
        unit = np.repeat(np.arange(n_pre), np.diff(table.indptr))
        grouped = np.lexsort((table.delay_steps, unit))
        key_unit, key_delay = unit[grouped], table.delay_steps[grouped]
        first = np.ones(grouped.size, bool)
        first[1:] = (key_unit[1:] != key_unit[:-1]) | (key_delay[1:] != key_delay[:-1])
        heads = np.flatnonzero(first)
        self._group_start = np.append(heads, grouped.size).astype(np.int64)
        self._group_delay = key_delay[heads].astype(np.int64)
        self._group_ptr = np.searchsorted(key_unit[heads], np.arange(n_pre + 1)).astype(
            np.int64)
        self._g_syn = self.entry_syn[grouped]
        self._g_post = self.entry_neuron[grouped]

    def _resolve_items(self) -> None:
        """Turn the queued arrivals of the current table into arrivals at their sensors
        (before the table changes: events on their way keep their path)."""
        steps, groups, _ = self._items
        sizes = self._group_start[groups + 1] - self._group_start[groups]
        q = np.repeat(self._group_start[groups], sizes) + np.arange(sizes.sum()) \
            - np.repeat(np.cumsum(sizes) - sizes, sizes)
        self._arrivals = tuple(np.concatenate([old, new]) for old, new in zip(
            self._arrivals, (np.repeat(steps, sizes), self._g_syn[q], self._g_post[q]),
            strict=True))
        empty = np.zeros(0, np.int64)
        self._items = (empty, empty, empty)

    def reset_correlation(self, synapses: np.ndarray | None = None) -> None:
        """Clear the stores of ``synapses`` (indices into :attr:`synapse`; all if None)."""
        idx = slice(None) if synapses is None else synapses
        self.causal[idx] = 0.0
        self.acausal[idx] = 0.0

    def reset_counts(self, neurons: np.ndarray | None = None) -> None:
        """Clear the spike counters of ``neurons`` (all if None)."""
        self.counts[slice(None) if neurons is None else neurons] = 0

    def queue(self, units: np.ndarray, steps: np.ndarray) -> None:
        """Queue the arrivals of events of presynaptic ``units`` (table rows: neurons
        first, then sources) emitted in ``steps``, at the synapses their labels reach
        now (an event's label is matched when it is sent)."""
        units = np.asarray(units, np.int64)
        lo, hi = self._group_ptr[units], self._group_ptr[units + 1]
        n = hi - lo
        groups = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        arrive = np.repeat(np.asarray(steps, np.int64), n) + 1 + self._group_delay[groups]
        self._items = (np.concatenate([self._items[0], arrive]),
                       np.concatenate([self._items[1], groups]),
                       np.concatenate([self._items[2], np.zeros(groups.size, np.int64)]))

    def advance(self, j0: int, j1: int, raster: np.ndarray, src_ptr: np.ndarray,
                src_ids: np.ndarray) -> None:
        """Take in steps [j0, j1) of the run: the neurons' spikes (``raster`` (j1 - j0,
        n) bool) and the sources' events (``src_ids``, CSR ``src_ptr`` (j1 - j0 + 1,)
        over the steps), and apply everything up to time ``j1 dt``."""
        self._items, self._arrivals = _observe(
            j0, j1, raster, src_ptr, src_ids, self._group_ptr, self._group_delay,
            self._group_start, self._g_syn, self._g_post, self._items, self._arrivals,
            self.post_ptr, self.post_syn, self.record, self.touched, self.last_post,
            self.counts, self.saturation, self.dt, specs.PPU_SPIKE_COUNTER_MAX)
