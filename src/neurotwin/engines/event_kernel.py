r"""Compiled CPU kernel of the event engine's feed-forward layer (numba), one neuron at a time.

Neurons of a feed-forward layer do not interact, so each (sample, neuron) pair is simulated
on its own: walk the sample's input arrivals in time order; before each arrival, fire every
threshold crossing up to it; then flow to the arrival and add the weight. This is
:func:`neurotwin.engines.event_torch.layer_forward`'s algorithm with the same arithmetic on
scalars instead of tensors (free evolution with the overflow-free kernel factor, the
analytic extremum, the safeguarded Newton bracket to ``xtol``, the reach bound that skips
the solver), so the two paths give the same spikes up to rounding (tested). Consecutive
arrivals at one time cost one flow (the Yin-Yang encoding repeats each input spike).

:func:`layer_forward` returns the padded output batch and, for EventProp, the synaptic
current of the spiking neuron just before each spike; :func:`vmax_time` finds the maximum
of a non-spiking (leaky-integrator) neuron. Both take the neuron as one
:class:`~neurotwin.dynamics.event_lif.EventLIFConstants` record. They are the compiled half
of :class:`neurotwin.engines.event_kernels.EventKernels` (CPU float64 only).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neurotwin.dynamics.event_lif import EventLIFConstants

__all__ = ["kernel_factor", "layer_forward", "next_crossing_scalar", "vmax_time"]

_MAX_ITER = 200
"""Root-finder iterations, as :mod:`neurotwin.dynamics.spike_time`."""
_EPS = float(np.finfo(np.float64).eps)
_FIRST_CAPACITY = 8
"""Spike slots per neuron and sample of the first attempt when the count is unbounded
(doubled and rerun while a neuron fires more)."""


@numba.njit(cache=True)
def _decays(s: float, tau_mem: float, tau_long: float, rate: float
            ) -> tuple[float, float, float]:
    """(exp(-s/tau_mem), exp(-s/tau_syn), K(s)) from two transcendental calls: the shorter
    time constant's decay is exp(-s/tau_long) (1 + expm1(-rate s))."""
    y = -rate * s
    em1 = math.expm1(y)
    ratio = 1.0 if y == 0.0 else em1 / y
    e_long = math.exp(-s / tau_long)
    e_short = e_long * (1.0 + em1)
    k = e_long * s * ratio
    if tau_mem == tau_long:
        return e_long, e_short, k
    return e_short, e_long, k


@numba.njit(cache=True)
def kernel_factor(s: float, tau_long: float, rate: float) -> float:
    """K(s), ms, as :func:`neurotwin.dynamics.lif.exp_kernel_factor` (``tau_long`` the
    longer time constant, ``rate`` = ``|1/tau_mem - 1/tau_syn|``, 1/ms)."""
    return _decays(s, tau_long, tau_long, rate)[2]


@numba.njit(cache=True)
def _peak(dv0: float, i0: float, p: EventLIFConstants, horizon: float) -> float:
    """The one extremum of v in (0, horizon), or 0 (``spike_time.peak_time``)."""
    tau_mem, tau_syn, cm = p.tau_mem, p.tau_syn, p.cm
    if i0 == 0.0:
        return 0.0
    c = dv0 * (tau_syn * cm) / i0
    a = 1.0 / tau_mem - 1.0 / tau_syn
    if not c > 0.0:
        return 0.0
    if a == 0.0:
        t = c
    else:
        if not a * c > -1.0:
            return 0.0
        t = math.log1p(a * c) / a
    return t if t < horizon else 0.0


@numba.njit(cache=True)
def next_crossing_scalar(
    v: float, i: float, horizon: float, p: EventLIFConstants, xtol: float
) -> float:
    """Time (ms, from now) of the first threshold crossing in (0, horizon]; inf if none.

    ``v`` (mV above rest), ``i`` (nA) now; the neuron is free (not refractory). Same rules as
    :func:`neurotwin.dynamics.spike_time.next_spike_times`: 0 if v >= v_thresh, the upper
    end of a bracket of width <= ``xtol`` (never early), preceded by the reach bound of
    :func:`neurotwin.engines.event_maps.next_crossing` (``p.k_peak`` = max K, ms).
    """
    tau_mem, cm, v_thresh = p.tau_mem, p.cm, p.v_thresh
    tau_long, rate, k_peak = p.tau_long, p.rate, p.k_peak
    if horizon < 0.0:
        return math.inf
    reach = horizon if horizon < k_peak else k_peak
    bound = max(v, 0.0) + max(i, 0.0) / cm * reach
    if not bound >= v_thresh:
        return math.inf
    if v >= v_thresh:
        return 0.0
    dv0 = -v / tau_mem + i / cm
    e1 = _peak(dv0, i, p, horizon)
    d_mem, _, k_e1 = _decays(e1, tau_mem, tau_long, rate)
    f_e1 = -v_thresh + (v * d_mem + i * (k_e1 / cm))
    if f_e1 >= 0.0:
        lo, hi, f_lo, f_hi = 0.0, e1, v - v_thresh, f_e1
    else:
        d_mem, _, k_h = _decays(horizon, tau_mem, tau_long, rate)
        f_h = -v_thresh + (v * d_mem + i * (k_h / cm))
        if not f_h >= 0.0:
            return math.inf
        lo, hi, f_lo, f_hi = e1, horizon, f_e1, f_h
    # first point by linear interpolation of the bracket (the torch solver starts at the
    # middle; both end within xtol of the crossing, never before it)
    x = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    if not lo < x < hi:
        x = 0.5 * (lo + hi)
    width_1 = width_2 = hi - lo
    for _ in range(_MAX_ITER):
        decay_mem, decay_syn, k_x = _decays(x, tau_mem, tau_long, rate)
        transient = v * decay_mem + i * (k_x / cm)
        fx = -v_thresh + transient
        dfx = -transient / tau_mem + i * decay_syn / cm
        if fx < 0.0:
            lo = x
        else:
            hi = x
        width = hi - lo
        if width <= xtol + 4.0 * _EPS * abs(hi):
            break
        mid = 0.5 * (lo + hi)
        newton = x - fx / dfx
        x_new = newton if (math.isfinite(newton) and width <= 0.5 * width_2) else mid
        margin = min(0.5 * width, 0.5 * xtol)
        x = min(max(x_new, lo + margin), hi - margin)
        width_2, width_1 = width_1, width
    return hi


@numba.njit(cache=True)
def _neuron(
    arrive: np.ndarray, ids: np.ndarray, n_valid: int, w_col: np.ndarray, t_max: float,
    p: EventLIFConstants, xtol: float, max_spikes: int, out_t: np.ndarray,
    out_i: np.ndarray,
) -> tuple[int, bool]:
    """Simulate one neuron on one sample's first ``n_valid`` arrivals (ascending, ms) with
    weights ``w_col`` (nA, by source); write spike times and currents at spike into
    ``out_t``/``out_i``; return (spike count, whether more spikes than slots were due)."""
    tau_mem, tau_syn, cm = p.tau_mem, p.tau_syn, p.cm
    v_reset, tau_refrac, tau_long, rate = p.v_reset, p.tau_refrac, p.tau_long, p.rate
    capacity = out_t.shape[0]
    v = 0.0
    i = 0.0
    t = 0.0
    free_at = 0.0
    count = 0
    for k in range(n_valid + 1):
        t_end = arrive[k] if k < n_valid else t_max
        # fire every crossing up to t_end
        while count < max_spikes:
            start = max(t, free_at)
            horizon = t_end - start
            if horizon < 0.0:
                break
            i_start = i * math.exp(-(start - t) / tau_syn) if start > t else i
            dt = next_crossing_scalar(v, i_start, horizon, p, xtol)
            if dt == math.inf:
                break
            if count == capacity:
                return count, True
            t_spike = start + dt
            i = i_start * math.exp(-dt / tau_syn)
            out_t[count] = t_spike
            out_i[count] = i
            count += 1
            v = v_reset
            t = t_spike
            free_at = t_spike + tau_refrac
        if k == n_valid or count == max_spikes:
            break  # later inputs cannot make another spike that is reported
        if t_end > t:  # flow to the arrival
            start = min(max(t, free_at), t_end)
            i_start = i * math.exp(-(start - t) / tau_syn) if start > t else i
            elapsed = t_end - start
            d_mem, d_syn, k_el = _decays(elapsed, tau_mem, tau_long, rate)
            v = v * d_mem + i_start * (k_el / cm)
            i = i_start * d_syn
            t = t_end
        i += w_col[ids[k]]
    return count, False


@numba.njit(cache=True)
def _valid_inputs(arrive: np.ndarray, ids: np.ndarray, t_max: float) -> int:
    """Number of leading arrivals of a sample that are real and by t_max."""
    n = 0
    while n < arrive.shape[0] and ids[n] >= 0 and arrive[n] <= t_max:
        n += 1
    return n


@numba.njit(cache=True)
def _forward(
    arrive: np.ndarray, ids: np.ndarray, w: np.ndarray, t_max: float, p: EventLIFConstants,
    xtol: float, max_spikes: int, capacity: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    batch = arrive.shape[0]
    n_out = w.shape[1]
    w_t = np.ascontiguousarray(w.T)
    slot_t = np.empty((batch, n_out, capacity))
    slot_i = np.empty((batch, n_out, capacity))
    counts = np.zeros((batch, n_out), dtype=np.int64)
    for b in range(batch):
        n_valid = _valid_inputs(arrive[b], ids[b], t_max)
        for j in range(n_out):
            c, overflow = _neuron(
                arrive[b], ids[b], n_valid, w_t[j], t_max, p, xtol, max_spikes,
                slot_t[b, j], slot_i[b, j],
            )
            if overflow:
                empty = np.empty((0, 0))
                return empty, empty, np.empty((0, 0), dtype=np.int64), True
            counts[b, j] = c
    width = 0
    for b in range(batch):
        width = max(width, int(counts[b].sum()))
    times = np.full((batch, width), np.inf)
    out_ids = np.full((batch, width), -1, dtype=np.int64)
    current = np.zeros((batch, width))
    for b in range(batch):
        total = int(counts[b].sum())
        t_b = np.empty(total)
        j_b = np.empty(total, dtype=np.int64)
        i_b = np.empty(total)
        pos = 0
        for j in range(n_out):
            for s in range(counts[b, j]):
                t_b[pos] = slot_t[b, j, s]
                j_b[pos] = j
                i_b[pos] = slot_i[b, j, s]
                pos += 1
        order = np.argsort(t_b, kind="mergesort")  # stable: ties by neuron index
        for c in range(total):
            times[b, c] = t_b[order[c]]
            out_ids[b, c] = j_b[order[c]]
            current[b, c] = i_b[order[c]]
    return times, current, out_ids, False


def layer_forward(
    arrive: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray,
    t_max: float,
    p: EventLIFConstants,
    xtol: float,
    max_spikes: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output spikes of a feed-forward LIF layer, and the current at each spike.

    Parameters
    ----------
    arrive
        Input arrival times (spike time + delay), ms, float64 (B, K_in), ascending per row,
        ``+inf`` padded (validated by the caller).
    ids
        Source indices, int64 (B, K_in), -1 at padding.
    weights
        Signed weights, nA, float64 (n_in, n_out).
    t_max
        End of the simulation, ms.
    p
        The neuron (:func:`neurotwin.dynamics.event_lif.event_lif_constants`).
    xtol
        Spike-time tolerance, ms.
    max_spikes
        Spikes per neuron and sample at most; None: unbounded.

    Returns
    -------
    times, ids, current
        (B, K_out): spike times (ms, ascending, ties by neuron, ``+inf`` padded), neuron
        indices (-1 at padding), synaptic current of the neuron just before the spike (nA,
        0 at padding).
    """
    limit = np.iinfo(np.int64).max if max_spikes is None else int(max_spikes)
    capacity = min(limit, _FIRST_CAPACITY)
    while True:
        times, current, out_ids, overflow = _forward(
            arrive, ids, weights, float(t_max), p, xtol, limit, capacity
        )
        if not overflow:
            return times, out_ids, current
        capacity *= 4


@numba.njit(cache=True)
def _vmax_time(
    arrive: np.ndarray, ids: np.ndarray, w: np.ndarray, t_max: float, p: EventLIFConstants
) -> tuple[np.ndarray, np.ndarray]:
    batch = arrive.shape[0]
    n_out = w.shape[1]
    tau_mem, tau_syn, cm, tau_long, rate = p.tau_mem, p.tau_syn, p.cm, p.tau_long, p.rate
    w_t = np.ascontiguousarray(w.T)
    t_star = np.zeros((batch, n_out))
    kink = np.full((batch, n_out), -1, dtype=np.int64)
    for b in range(batch):
        n_valid = _valid_inputs(arrive[b], ids[b], t_max)
        for j in range(n_out):
            w_j = w_t[j]
            v = 0.0
            i = 0.0
            t = 0.0
            best_v = 0.0
            best_t = 0.0
            best_k = -1
            for k in range(n_valid + 1):
                t_to = arrive[b, k] if k < n_valid else t_max
                horizon = t_to - t
                # the one extremum of v before the next arrival (an interior maximum)
                s = _peak(-v / tau_mem + i / cm, i, p, horizon)
                if s > 0.0:
                    v_peak = v * math.exp(-s / tau_mem) + i * (
                        kernel_factor(s, tau_long, rate) / cm
                    )
                    if v_peak > best_v:
                        best_v, best_t, best_k = v_peak, t + s, -1
                if horizon > 0.0:
                    v = v * math.exp(-horizon / tau_mem) + i * (
                        kernel_factor(horizon, tau_long, rate) / cm
                    )
                    i = i * math.exp(-horizon / tau_syn)
                    t = t_to
                if v > best_v:  # at the arrival (a kink) or at t_max
                    best_v, best_t, best_k = v, t, (k if k < n_valid else -1)
                if k < n_valid:
                    i += w_j[ids[b, k]]
            t_star[b, j] = best_t
            kink[b, j] = best_k
    return t_star, kink


def vmax_time(
    arrive: np.ndarray, ids: np.ndarray, weights: np.ndarray, t_max: float,
    p: EventLIFConstants,
) -> tuple[np.ndarray, np.ndarray]:
    """Time of each leaky-integrator neuron's maximum, and the input column of a kink there.

    The compiled form of :func:`neurotwin.engines.event_torch.vmax_time` (same
    rules: candidates are the analytic interior maximum between arrivals, each arrival and
    t_max; the earliest of equal maxima wins; v starts at 0 and 0 is the floor).

    Parameters
    ----------
    arrive, ids
        Input arrivals, ms, float64 (B, K), ascending, ``+inf`` padded, and sources, int64,
        -1 at padding.
    weights
        Signed weights, nA, float64 (n_in, n_out).
    t_max
        End of the window, ms.
    p
        The neuron (threshold and reset unused).

    Returns
    -------
    t_star, kink
        (B, n_out): time of the maximum, ms; input column of a kink maximum or -1.
    """
    return _vmax_time(arrive, ids, weights, float(t_max), p)
