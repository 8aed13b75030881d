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

import numba
import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.tables import SynapseTable

__all__ = ["Sensors"]


@numba.njit(cache=True)
def _apply(ev_time, ev_kind, ev_syn, ev_post, order, post_ptr, post_entries, entry_syn,
           last_pre, last_post, causal, acausal, eta_c, tau_c, eta_a, tau_a,
           saturation):  # pragma: no cover - compiled; tested through Sensors
    """Apply events in ``order``: kind 0 a spike of neuron ``ev_post``, kind 1 the arrival
    of a presynaptic event at sensor ``ev_syn`` of a synapse onto neuron ``ev_post``."""
    for o in order:
        t = ev_time[o]
        i = ev_post[o]
        if ev_kind[o] == 0:
            for q in range(post_ptr[i], post_ptr[i + 1]):
                s = entry_syn[post_entries[q]]
                if last_pre[s] < t:
                    causal[s] = min(causal[s] + eta_c[s] * np.exp(-(t - last_pre[s]) / tau_c[s]),
                                    saturation)
            last_post[i] = t
        else:
            s = ev_syn[o]
            tq = last_post[i]
            if tq < t:
                acausal[s] = min(acausal[s] + eta_a[s] * np.exp(-(t - tq) / tau_a[s]),
                                 saturation)
            last_pre[s] = t


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
        self.synapse = np.unique(_flat(table.placement) if synapses is None else synapses)
        self.retable(table, entry_neuron)
        h, rest = np.divmod(self.synapse, specs.SYNRAM_ROWS * specs.SYNRAM_COLUMNS)
        row, col = np.divmod(rest, specs.SYNRAM_COLUMNS)
        self.placement = np.stack([h, row, col], axis=1)
        eta = np.ones((2, self.synapse.size))
        tau = np.ones((2, self.synapse.size))
        for hemi in np.unique(h):
            sel = h == hemi
            eta[:, sel], tau[:, sel] = chip.correlation_factors(int(hemi), row[sel], col[sel])
        self.eta = eta * eta_mv
        self.tau = tau * tau_us
        n_syn = self.synapse.size
        self.causal = np.zeros(n_syn)
        self.acausal = np.zeros(n_syn)
        self.last_pre = np.full(n_syn, -np.inf)
        self.last_post = np.full(n_neurons, -np.inf)
        self.counts = np.zeros(n_neurons, np.int64)
        # arrivals after the horizon: times (µs), sensors, postsynaptic neurons
        self._pending = (np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def retable(self, table: SynapseTable, entry_neuron: np.ndarray) -> None:
        """Follow a new synapse table (labels rewritten): which sensor and neuron each
        entry reaches; the stores and partner times stay with the synapses."""
        flat = _flat(table.placement)
        entry_syn = np.searchsorted(self.synapse, flat)
        if np.any(entry_syn >= self.synapse.size) or np.any(
                self.synapse[np.minimum(entry_syn, self.synapse.size - 1)] != flat):
            raise ValueError("the new synapse table reaches synapses without a sensor here")
        self.table = table
        self.entry_syn = entry_syn.astype(np.int64)
        self.entry_neuron = entry_neuron.astype(np.int64)
        self.post_ptr = np.concatenate([[0], np.cumsum(np.bincount(
            self.entry_neuron, minlength=self.n_neurons))]).astype(np.int64)
        self.post_entries = np.argsort(self.entry_neuron, kind="stable").astype(np.int64)

    def reset_correlation(self, synapses: np.ndarray | None = None) -> None:
        """Clear the stores of ``synapses`` (indices into :attr:`synapse`; all if None)."""
        idx = slice(None) if synapses is None else synapses
        self.causal[idx] = 0.0
        self.acausal[idx] = 0.0

    def reset_counts(self, neurons: np.ndarray | None = None) -> None:
        """Clear the spike counters of ``neurons`` (all if None)."""
        self.counts[slice(None) if neurons is None else neurons] = 0

    def emitted(self, units: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arrival times (µs) and entries of events of presynaptic ``units`` emitted in
        ``steps`` (table rows: neurons first, then sources)."""
        ptr = self.table.indptr
        lo, hi = ptr[units], ptr[units + 1]
        n = hi - lo
        if not n.sum():
            return np.zeros(0), np.zeros(0, np.int64)
        # entries lo_u .. hi_u - 1 of every unit u, concatenated
        entries = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        emit = np.repeat(steps, n)
        return (emit + 1 + self.table.delay_steps[entries]) * self.dt, entries

    def queue(self, arrivals: tuple[np.ndarray, np.ndarray]) -> None:
        """Add presynaptic arrivals (times µs, entries) to be applied when their time comes
        (at the synapses the entries reach now: the event's label is matched when it is
        sent)."""
        t, entries = arrivals
        self._pending = (np.concatenate([self._pending[0], t]),
                         np.concatenate([self._pending[1], self.entry_syn[entries]]),
                         np.concatenate([self._pending[2], self.entry_neuron[entries]]))

    def advance(self, j1: int, spike_steps: np.ndarray, spike_neurons: np.ndarray,
                arrivals: tuple[np.ndarray, np.ndarray]) -> None:
        """Take in the neurons' spikes (steps, neurons) and new presynaptic arrivals
        (times µs, entries), and apply everything up to the end of step ``j1 - 1``."""
        horizon = j1 * self.dt + 1e-9
        np.add.at(self.counts, spike_neurons, 1)
        np.minimum(self.counts, specs.PPU_SPIKE_COUNTER_MAX, out=self.counts)
        self.queue(arrivals)
        t_arr, s_arr, p_arr = self._pending
        now = t_arr <= horizon
        self._pending = (t_arr[~now], s_arr[~now], p_arr[~now])
        times = np.concatenate([(spike_steps + 1) * self.dt, t_arr[now]])
        kinds = np.concatenate([np.zeros(spike_steps.size, np.int64),
                                np.ones(int(now.sum()), np.int64)])
        syn = np.concatenate([np.zeros(spike_steps.size, np.int64), s_arr[now]])
        post = np.concatenate([spike_neurons.astype(np.int64), p_arr[now]])
        order = np.lexsort((kinds, times))  # by time; at a tie postsynaptic spikes first
        _apply(times, kinds, syn, post, order, self.post_ptr, self.post_entries,
               self.entry_syn, self.last_pre, self.last_post, self.causal, self.acausal,
               self.eta[0], self.tau[0], self.eta[1], self.tau[1], self.saturation)
