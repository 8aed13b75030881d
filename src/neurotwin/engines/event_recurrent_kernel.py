r"""Compiled CPU kernel of the recurrent event layer (numba), one sample at a time.

The neurons of a sample interact through ``w_rec``, so a sample is simulated as a whole:
each round takes the sample's earliest event, either the earliest threshold crossing over
all neurons before the next arrival or else the arrival itself, the next arrival being the
earlier of the next input and the next pending recurrent arrival (spike time + rec_delay;
with one delay for all connections the pending arrivals are a FIFO queue in spike order).
At one time: crossings, then inputs, then recurrent arrivals. This is
:func:`neurotwin.engines.event_recurrent.recurrent_lif_forward`'s algorithm with the
scalar arithmetic of :mod:`neurotwin.engines.event_kernel` (free evolution with the
overflow-free kernel factor, :func:`~neurotwin.engines.event_kernel.next_crossing_scalar`),
so the two paths give the same spikes up to rounding (tested). Samples are independent.

*What is reused between rounds.* All neurons of a sample sit at one time (the last event);
flowing them to the next event needs exp(-dt / tau_mem), exp(-dt / tau_syn) and K(dt)
once per event, not per neuron (a refractory neuron flows on its own). The threshold search
is lazy: each neuron holds either its next crossing before the next arrival (an absolute
time, which flowing does not move) or a lower bound of it. The horizon (the next arrival)
only grows after an arrival, when every neuron is bounded afresh; a spike that queues an
arrival can only shrink it, and what was found for a longer horizon still holds for a
shorter one. A neuron whose current jumped
gets the bound v(s) <= max(v, 0) + i s / cm (K(s) <= s), i.e. no crossing before
(v_thresh - max(v, 0)) cm / i, or "none" by the engine's reach bound; an inhibitory jump
only delays a crossing, so a known crossing stays a bound and a known "none" stays
"none". Each round, a neuron whose bound lies before the earliest event found so far is
looked at there: v at that time and the slopes at both ends (one extremum at most) show
most neurons clear of the threshold, whose bound then moves to that time; only the rest
get the exact crossing (:func:`~neurotwin.engines.event_kernel.next_crossing_scalar`).
In a busy layer that is about one solve per round, not one per neuron.

*Simultaneous crossings.* Neurons whose cached crossings are equal to the earliest one fire
in the same round, in index order: each one's current is read (at rec_delay = 0 it includes
the recurrent jumps of the lower-indexed neurons of the round, as the merged-event replay of
``eventprop/forward/recurrent.py`` has it), then it is reset and its row is added (or, at
rec_delay > 0, queued). The spikes come out in time order, ties by neuron index.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neurotwin.dynamics.event_lif import EventLIFConstants
from neurotwin.engines.event_kernel import kernel_factor, next_crossing_scalar
from neurotwin.engines.event_recurrent_budget import (
    DEFAULT_SPIKE_BUDGET,
    NO_CAP,
    runaway_error,
    spike_cap,
)
from neurotwin.errors import check_memory

__all__ = ["recurrent_forward"]

_FIRST_CAPACITY = 64
"""Spike slots of the first output buffer (all samples together; doubled when full)."""


@numba.njit(cache=True)
def _flow_all(
    v: np.ndarray, i: np.ndarray, free_at: np.ndarray, t: float, t_to: float,
    p: EventLIFConstants,
) -> None:
    """Flow every neuron of a sample from the common time ``t`` to ``t_to`` (ms), in place:
    the engine's ``flow`` (v held at v_reset until ``free_at``, i decaying throughout)."""
    tau_mem, tau_syn, cm, tau_long, rate = p.tau_mem, p.tau_syn, p.cm, p.tau_long, p.rate
    elapsed = t_to - t
    if not elapsed > 0.0:
        return
    decay_mem = math.exp(-elapsed / tau_mem)
    decay_syn = math.exp(-elapsed / tau_syn)
    k_cm = kernel_factor(elapsed, tau_long, rate) / cm
    for j in range(v.shape[0]):
        if free_at[j] > t:  # refractory for part of the step: its own free evolution
            start = min(free_at[j], t_to)
            i_start = i[j] * math.exp(-(start - t) / tau_syn)
            free = t_to - start
            v[j] = v[j] * math.exp(-free / tau_mem) + i_start * (
                kernel_factor(free, tau_long, rate) / cm
            )
            i[j] = i_start * math.exp(-free / tau_syn)
        else:
            v[j] = v[j] * decay_mem + i[j] * k_cm
            i[j] = i[j] * decay_syn


@numba.njit(cache=True)
def _crossing(
    v: float, i: float, free_at: float, t: float, t_end: float, p: EventLIFConstants,
    xtol: float,
) -> float:
    """Absolute time (ms) of a neuron's next crossing in (max(t, free_at), t_end]; inf if
    none (the engine's ``next_crossing`` on one neuron at time ``t``)."""
    start = max(t, free_at)
    i_start = i * math.exp(-(start - t) / p.tau_syn) if start > t else i
    dt = next_crossing_scalar(v, i_start, t_end - start, p, xtol)
    return start + dt


_BOUND_MARGIN = 1.0 - 1e-9
"""Factor on the time to the bound's crossing: keeps a rounded bound below the crossing
that the solver returns."""


@numba.njit(cache=True)
def _lower_bound(
    v: float, i: float, free_at: float, t: float, t_end: float, p: EventLIFConstants
) -> tuple[float, bool]:
    """(time, exact) for a neuron at time ``t``: its next crossing in (max(t, free_at),
    t_end] if ``exact`` (inf: none, by the reach bound of
    :func:`~neurotwin.engines.event_kernel.next_crossing_scalar`; or now, if v is at the
    threshold), else a time before which it cannot cross."""
    tau_syn, cm, v_thresh, k_peak = p.tau_syn, p.cm, p.v_thresh, p.k_peak
    start = max(t, free_at)
    i_start = i * math.exp(-(start - t) / tau_syn) if start > t else i
    horizon = t_end - start
    if horizon < 0.0:
        return math.inf, True
    reach = horizon if horizon < k_peak else k_peak
    bound = max(v, 0.0) + max(i_start, 0.0) / cm * reach
    if not bound >= v_thresh:
        return math.inf, True
    if v >= v_thresh:
        return start, True
    return start + _BOUND_MARGIN * (v_thresh - max(v, 0.0)) * cm / i_start, False


_CLEAR_MARGIN = 1e-12
"""Relative margin below the threshold under which a screened v counts as clear of it;
closer calls go to the solver."""


@numba.njit(cache=True)
def _stays_below(
    v: float, i: float, decay_mem: float, decay_syn: float, k_cm: float, tau_mem: float,
    cm: float, v_clear: float,
) -> bool:
    """Whether a free neuron below threshold certainly does not cross in the next ``dt``
    ms (``decay_mem`` = exp(-dt / tau_mem), ``decay_syn`` = exp(-dt / tau_syn), ``k_cm`` =
    K(dt) / cm): v has at most one extremum, so it stays below if v(dt) < ``v_clear`` and
    no maximum lies inside (not rising at 0 and falling at dt)."""
    v_end = v * decay_mem + i * k_cm
    if not v_end < v_clear:
        return False
    rising = -v / tau_mem + i / cm > 0.0
    return not rising or -v_end / tau_mem + i * decay_syn / cm > 0.0


@numba.njit(cache=True)
def _grow(buf_t: np.ndarray, buf_id: np.ndarray, buf_i: np.ndarray) -> tuple[
    np.ndarray, np.ndarray, np.ndarray
]:
    size = 2 * buf_t.shape[0]
    new_t = np.empty(size)
    new_id = np.empty(size, dtype=np.int64)
    new_i = np.empty(size)
    new_t[: buf_t.shape[0]] = buf_t
    new_id[: buf_t.shape[0]] = buf_id
    new_i[: buf_t.shape[0]] = buf_i
    return new_t, new_id, new_i


@numba.njit(cache=True)
def _grow_queue(queue_t: np.ndarray, queue_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    size = 2 * queue_t.shape[0]
    new_t = np.empty(size)
    new_id = np.empty(size, dtype=np.int64)
    new_t[: queue_t.shape[0]] = queue_t
    new_id[: queue_t.shape[0]] = queue_id
    return new_t, new_id


@numba.njit(cache=True)
def _forward(
    arrive: np.ndarray, ids: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray, t_max: float,
    p: EventLIFConstants, xtol: float, max_spikes: int, rec_delay: float, cap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float]:
    batch, k_in = arrive.shape
    n = w_in.shape[1]
    tau_mem, tau_syn, cm, v_thresh = p.tau_mem, p.tau_syn, p.cm, p.v_thresh
    v_reset, tau_refrac, tau_long, rate = p.v_reset, p.tau_refrac, p.tau_long, p.rate
    v_clear = v_thresh * (1.0 - _CLEAR_MARGIN)
    decay_mem = decay_syn = k_cm = 0.0
    v = np.empty(n)
    i = np.empty(n)
    free_at = np.empty(n)
    cross = np.empty(n)  # next crossing before t_input if exact, else a lower bound
    exact = np.empty(n, dtype=np.bool_)
    count = np.empty(n, dtype=np.int64)
    changed = np.empty(n, dtype=np.bool_)
    jump = np.empty(n)  # sum of the recurrent rows a neuron received in this round
    buf_t = np.empty(_FIRST_CAPACITY)
    buf_id = np.empty(_FIRST_CAPACITY, dtype=np.int64)
    buf_i = np.empty(_FIRST_CAPACITY)
    queue_t = np.empty(_FIRST_CAPACITY)  # pending recurrent arrivals: spike times, neurons
    queue_id = np.empty(_FIRST_CAPACITY, dtype=np.int64)
    first = np.zeros(batch + 1, dtype=np.int64)  # sample b's spikes: first[b]:first[b + 1]
    pos = 0
    for b in range(batch):
        n_valid = 0
        while n_valid < k_in and ids[b, n_valid] >= 0 and arrive[b, n_valid] <= t_max:
            n_valid += 1
        v[:] = 0.0
        i[:] = 0.0
        free_at[:] = 0.0
        cross[:] = math.inf  # at rest without current nothing crosses
        exact[:] = True
        count[:] = 0
        changed[:] = False
        jump[:] = 0.0
        t = 0.0
        pointer = 0
        head = tail = 0  # the sample's queue: queue_t[head:tail]
        while True:
            t_ext = arrive[b, pointer] if pointer < n_valid else t_max
            t_rec = queue_t[head] + rec_delay if head < tail else math.inf
            has_rec = t_rec <= t_max  # later arrivals are dropped
            t_input = t_rec if has_rec and t_rec < t_ext else t_ext  # the next arrival
            # earliest event: the exact crossings, then each bound that might beat them
            t_first = t_input
            fires = False
            likely = -1  # the neuron with the lowest bound, solved first to narrow t_first
            for j in range(n):
                if exact[j]:
                    if cross[j] <= t_first:
                        t_first = cross[j]
                        fires = True
                elif likely < 0 or cross[j] < cross[likely]:
                    likely = j
            if likely >= 0 and cross[likely] <= t_first:
                cross[likely] = _crossing(
                    v[likely], i[likely], free_at[likely], t, t_input, p, xtol
                )
                exact[likely] = True
                if cross[likely] <= t_first:
                    t_first = cross[likely]
                    fires = True
            screened_to = -math.inf  # the time that the screening factors below are for
            for j in range(n):
                if exact[j] or cross[j] > t_first:
                    continue
                if free_at[j] <= t:  # free: a cheap look at v up to t_first first
                    if screened_to != t_first:
                        elapsed = t_first - t
                        decay_mem = math.exp(-elapsed / tau_mem)
                        decay_syn = math.exp(-elapsed / tau_syn)
                        k_cm = kernel_factor(elapsed, tau_long, rate) / cm
                        screened_to = t_first
                    if _stays_below(v[j], i[j], decay_mem, decay_syn, k_cm, tau_mem, cm,
                                    v_clear):  # fmt: skip
                        cross[j] = t_first
                        continue
                cross[j] = _crossing(v[j], i[j], free_at[j], t, t_input, p, xtol)
                exact[j] = True
                if cross[j] <= t_first:
                    t_first = cross[j]
                    fires = True
            if fires:  # a crossing at an arrival's time comes first
                _flow_all(v, i, free_at, t, t_first, p)
                t = t_first
                for nrn in range(n):
                    if not (exact[nrn] and cross[nrn] == t_first):
                        continue
                    if pos - first[b] == cap:  # a runaway: stop before it takes all memory
                        return buf_t, buf_id, buf_i, first, b, t
                    if pos == buf_t.shape[0]:
                        buf_t, buf_id, buf_i = _grow(buf_t, buf_id, buf_i)
                    # a neuron found again at an earlier round's time (v rounded to the
                    # threshold) goes before the higher indices of that time
                    slot = pos
                    while slot > first[b] and buf_t[slot - 1] == t and buf_id[slot - 1] > nrn:
                        buf_t[slot] = buf_t[slot - 1]
                        buf_id[slot] = buf_id[slot - 1]
                        buf_i[slot] = buf_i[slot - 1]
                        slot -= 1
                    buf_t[slot] = t
                    buf_id[slot] = nrn
                    buf_i[slot] = i[nrn]
                    pos += 1
                    count[nrn] += 1
                    v[nrn] = v_reset
                    free_at[nrn] = t + tau_refrac
                    exact[nrn] = False  # fresh bound below
                    cross[nrn] = -math.inf
                    changed[nrn] = True
                    if rec_delay > 0.0:
                        if tail == queue_t.shape[0]:
                            queue_t, queue_id = _grow_queue(queue_t, queue_id)
                        queue_t[tail] = t
                        queue_id[tail] = nrn
                        tail += 1
                        continue
                    row = w_rec[nrn]
                    for j in range(n):
                        if row[j] != 0.0:
                            i[j] += row[j]
                            jump[j] += row[j]
                            changed[j] = True
                for j in range(n):
                    if not changed[j]:
                        continue
                    changed[j] = False
                    if count[j] >= max_spikes:
                        cross[j], exact[j] = math.inf, True
                    elif jump[j] <= 0.0 and exact[j] and cross[j] == math.inf:
                        pass  # inhibition cannot make a crossing
                    else:
                        bound, is_exact = _lower_bound(v[j], i[j], free_at[j], t, t_input, p)
                        if jump[j] <= 0.0 and not is_exact:
                            bound = max(bound, cross[j])  # inhibition only delays it
                        cross[j], exact[j] = bound, is_exact
                    jump[j] = 0.0
            elif pointer < n_valid or has_rec:
                _flow_all(v, i, free_at, t, t_input, p)
                t = t_input
                if pointer < n_valid and t_ext <= t_rec:  # an input before a recurrent arrival
                    row = w_in[ids[b, pointer]]
                    pointer += 1
                else:
                    row = w_rec[queue_id[head]]
                    head += 1
                for j in range(n):
                    i[j] += row[j]
                t_end = arrive[b, pointer] if pointer < n_valid else t_max
                if head < tail:
                    t_end = min(t_end, queue_t[head] + rec_delay)
                for j in range(n):
                    if count[j] >= max_spikes:
                        cross[j], exact[j] = math.inf, True
                    else:
                        cross[j], exact[j] = _lower_bound(v[j], i[j], free_at[j], t, t_end, p)
            else:
                break
        first[b + 1] = pos
    return buf_t, buf_id, buf_i, first, -1, 0.0


def recurrent_forward(
    arrive: np.ndarray,
    ids: np.ndarray,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    t_max: float,
    p: EventLIFConstants,
    xtol: float,
    max_spikes: int | None,
    rec_delay: float = 0.0,
    spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output spikes of a recurrent LIF layer, and the current at each spike.

    Parameters
    ----------
    arrive
        Input arrival times (spike time + delay), ms, float64 (B, K_in), ascending per row,
        ``+inf`` padded (validated by the caller).
    ids
        Source indices, int64 (B, K_in), -1 at padding.
    w_in
        Signed input weights, nA, float64 (n_in, n).
    w_rec
        Signed recurrent weights, nA, float64 (n, n): row n is added to all currents
        ``rec_delay`` after neuron n spikes.
    t_max
        End of the simulation, ms.
    p
        The neuron (:func:`neurotwin.dynamics.event_lif.event_lif_constants`).
    xtol
        Spike-time tolerance, ms.
    max_spikes
        Spikes per neuron and sample at most; None: unbounded.
    rec_delay
        Delay of the recurrent connections, ms (>= 0, validated by the caller): a spike at
        t acts at t + rec_delay if that is <= t_max.
    spike_budget
        Runaway guard (:mod:`neurotwin.engines.event_recurrent_budget`): a sample that
        reaches ``spike_budget n`` spikes stops the run; None: no limit (validated by the
        caller).

    Returns
    -------
    times, ids, current
        (B, K_out): spike times (ms, ascending, ties by neuron, ``+inf`` padded), neuron
        indices (-1 at padding), synaptic current of the spiking neuron just before its
        spike, before its own recurrent jump (nA, 0 at padding).

    Raises
    ------
    CapacityError
        A sample reached the spike budget (a runaway), or the padded output would not fit
        this machine's memory.
    """
    batch, n = arrive.shape[0], w_in.shape[1]
    limit = NO_CAP if max_spikes is None else int(max_spikes)
    cap = spike_cap(n, spike_budget, max_spikes)
    buf_t, buf_id, buf_i, first, stopped, t_stop = _forward(
        arrive, ids, w_in, w_rec, float(t_max), p, xtol, limit, float(rec_delay), cap
    )
    if stopped >= 0:
        assert spike_budget is not None  # only a budget sets a cap
        raise runaway_error(n, spike_budget, stopped, t_stop, t_max)
    counts = np.diff(first)
    width = int(counts.max()) if batch else 0
    # the padded arrays hold the busiest sample's width for every sample
    check_memory(f"the spikes of a recurrent layer, {batch} samples x {width} spikes",
                 batch * width * (2 * buf_t.itemsize + buf_id.itemsize))  # fmt: skip
    times = np.full((batch, width), np.inf)
    out_ids = np.full((batch, width), -1, dtype=np.int64)
    current = np.zeros((batch, width))
    rows = np.repeat(np.arange(batch), counts)
    cols = np.arange(first[-1]) - np.repeat(first[:-1], counts)
    times[rows, cols] = buf_t[: first[-1]]
    out_ids[rows, cols] = buf_id[: first[-1]]
    current[rows, cols] = buf_i[: first[-1]]
    return times, out_ids, current
