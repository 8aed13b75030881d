r"""Compiled CPU kernel of the adjoint walk of a feed-forward LIF layer (numba): mirror of
:mod:`neurotwin.engines.event_kernel`, one (sample, neuron) pair at a time.

The costate of neuron j only depends on j's own events (its inputs and its spikes), so each
pair walks back from ``t_max`` alone: :func:`~neurotwin.engines.event_adjoint.flow.adjoint_flow`
between events, then at an input of source m the jump of
:func:`~neurotwin.engines.event_adjoint.jump.adjoint_input_jump` (dL/dw_mj += lam_i,
dL/dt += w_mj (lam_i / tau_syn - lam_v / cm)) and at an own spike the jump of
:func:`~neurotwin.engines.event_adjoint.jump.adjoint_spike_jump`. The equations are those
modules' (same arithmetic on scalars); :mod:`neurotwin.engines.event_adjoint.layer` is the
torch path for other devices and dtypes, and the two agree to rounding (tested).

Inputs after a neuron's last spike meet a zero costate and are skipped. Events at one
time are undone in the reverse of the forward order: the forward fires the
crossings up to an input before it applies the input, so backwards an input comes before a
spike at the same time.

:func:`recurrent_backward` is the recurrent layer's walk (mirror of
:mod:`neurotwin.engines.event_recurrent_kernel`, equations in
:mod:`neurotwin.engines.event_adjoint.recurrent`): an output spike is an input to every neuron
of the layer, so the costates of a sample's neurons are coupled and the sample walks back
as a whole, all events (inputs, outputs and, at rec_delay > 0, the recurrent arrivals
t_k + rec_delay <= t_max, a third time-ordered stream read off the output spikes) merged.
Every event reads every costate (the weight gradient dL/dw[., j] += lam_i_j is due for all
j), so all neurons are carried to each event; they share one time, and the adjoint flow's
exponentials and K are computed once per event. Until the last output spike of the sample
(in forward time) the costate is zero and the inputs and arrivals there are skipped.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neurotwin.dynamics.event_lif import EventLIFConstants
from neurotwin.engines.event_kernel import kernel_factor

__all__ = ["layer_backward", "recurrent_backward"]


@numba.njit(cache=True)
def _backward(
    arrive: np.ndarray, ids: np.ndarray, w: np.ndarray, out_times: np.ndarray,
    out_ids: np.ndarray, current: np.ndarray, grad_out: np.ndarray, t_max: float,
    p: EventLIFConstants, min_slope: float,
) -> tuple[np.ndarray, np.ndarray]:
    batch, k_in = arrive.shape
    n_in, n_out = w.shape
    k_out = out_times.shape[1]
    tau_mem, tau_syn, cm, v_thresh = p.tau_mem, p.tau_syn, p.cm, p.v_thresh
    v_reset, tau_long, rate = p.v_reset, p.tau_long, p.rate
    grad_w_t = np.zeros((n_out, n_in))
    grad_arrive = np.zeros((batch, k_in))
    w_t = np.ascontiguousarray(w.T)
    per_neuron = np.zeros(n_out + 1, dtype=np.int64)
    columns = np.empty(k_out, dtype=np.int64)
    fill = np.empty(n_out, dtype=np.int64)
    for b in range(batch):
        n_valid = 0
        while n_valid < k_in and ids[b, n_valid] >= 0 and arrive[b, n_valid] <= t_max:
            n_valid += 1
        # the sample's output columns grouped by neuron, in time order (counting sort)
        per_neuron[:] = 0
        for c in range(k_out):
            if out_ids[b, c] >= 0:
                per_neuron[out_ids[b, c] + 1] += 1
        for j in range(n_out):
            per_neuron[j + 1] += per_neuron[j]
        fill[:] = per_neuron[:n_out]
        for c in range(k_out):
            j = out_ids[b, c]
            if j >= 0:
                columns[fill[j]] = c
                fill[j] += 1
        for j in range(n_out):
            w_j = w_t[j]
            g_w = grad_w_t[j]
            lam_v = 0.0
            lam_i = 0.0
            t = t_max
            k = n_valid - 1
            s = per_neuron[j + 1] - 1
            first_spike = per_neuron[j]
            while k >= 0 or s >= first_spike:
                t_in = arrive[b, k] if k >= 0 else -math.inf
                t_out = out_times[b, columns[s]] if s >= first_spike else -math.inf
                t_event = t_in if t_in >= t_out else t_out
                if t_in >= t_out and lam_v == 0.0 and lam_i == 0.0:
                    k -= 1  # after the neuron's last spike: no gradient from this input
                    continue
                if t_event < t:  # adjoint flow back to the event
                    back = t - t_event
                    k_factor = kernel_factor(back, tau_long, rate)
                    lam_i = lam_i * math.exp(-back / tau_syn) + lam_v * (k_factor / cm)
                    lam_v = lam_v * math.exp(-back / tau_mem)
                    t = t_event
                if t_in >= t_out:
                    m = ids[b, k]
                    g_w[m] += lam_i
                    grad_arrive[b, k] += w_j[m] * (lam_i / tau_syn - lam_v / cm)
                    k -= 1
                else:
                    c = columns[s]
                    i_spike = current[b, c]
                    slope_before = -v_thresh / tau_mem + i_spike / cm
                    if min_slope > 0.0:
                        slope_before = max(slope_before, min_slope)
                    slope_after = -v_reset / tau_mem + i_spike / cm
                    lam_v = (slope_after * lam_v - grad_out[b, c]) / slope_before
                    s -= 1
    return np.ascontiguousarray(grad_w_t.T), grad_arrive


def layer_backward(
    arrive: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray,
    out_times: np.ndarray,
    out_ids: np.ndarray,
    current: np.ndarray,
    grad_out_times: np.ndarray,
    t_max: float,
    p: EventLIFConstants,
    min_slope: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a loss with respect to a layer's weights and input arrival times.

    Parameters
    ----------
    arrive, ids
        The layer's input arrivals (ms, float64 (B, K_in), ascending, ``+inf`` padded) and
        sources (int64, -1 at padding), as the forward pass saw them.
    weights
        Signed weights, nA, float64 (n_in, n_out).
    out_times, out_ids, current
        The forward's output spikes (B, K_out) and the current at each spike, nA.
    grad_out_times
        dL/d(output spike time), 1/ms, (B, K_out); zero at padding.
    t_max
        End of the simulation, ms.
    p
        The neuron (:func:`neurotwin.dynamics.event_lif.event_lif_constants`;
        ``tau_refrac`` = 0).
    min_slope
        Floor of dv/dt just before a spike in the spike jump, mV/ms (0: exact; see
        :func:`~neurotwin.engines.event_adjoint.jump.adjoint_spike_jump`).

    Returns
    -------
    grad_weights
        dL/dw, (n_in, n_out), summed over the batch.
    grad_arrive
        dL/d(arrival time), 1/ms, (B, K_in); zero for padding and inputs after t_max.
    """
    return _backward(
        arrive, ids, weights, out_times, out_ids, current, grad_out_times, float(t_max), p,
        float(min_slope),
    )


@numba.njit(cache=True)
def _recurrent_backward(
    arrive: np.ndarray, ids: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray,
    out_times: np.ndarray, out_ids: np.ndarray, current: np.ndarray, grad_out: np.ndarray,
    t_max: float, p: EventLIFConstants, min_slope: float, rec_delay: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    batch, k_in = arrive.shape
    n = w_in.shape[1]
    k_out = out_times.shape[1]
    tau_mem, tau_syn, cm, v_thresh = p.tau_mem, p.tau_syn, p.cm, p.v_thresh
    v_reset, tau_long, rate = p.v_reset, p.tau_long, p.rate
    delayed = rec_delay > 0.0
    grad_w_in = np.zeros(w_in.shape)
    grad_w_rec = np.zeros((n, n))
    grad_arrive = np.zeros((batch, k_in))
    grad_delay = 0.0
    grad_rec_arrive = np.zeros(k_out)  # R_k of the sample's spikes (d > 0)
    lam_v = np.empty(n)
    lam_i = np.empty(n)
    for b in range(batch):
        n_valid = 0
        while n_valid < k_in and ids[b, n_valid] >= 0 and arrive[b, n_valid] <= t_max:
            n_valid += 1
        c = k_out - 1
        while c >= 0 and out_ids[b, c] < 0:
            c -= 1
        a = c if delayed else -1  # the last spike whose recurrent arrival acted (d > 0)
        while a >= 0 and out_times[b, a] + rec_delay > t_max:
            a -= 1
        grad_rec_arrive[:] = 0.0
        lam_v[:] = 0.0
        lam_i[:] = 0.0
        live = False  # whether any costate is nonzero yet
        t = t_max
        k = n_valid - 1
        while k >= 0 or c >= 0 or a >= 0:
            t_in = arrive[b, k] if k >= 0 else -math.inf
            t_out = out_times[b, c] if c >= 0 else -math.inf
            t_arr = out_times[b, a] + rec_delay if a >= 0 else -math.inf
            # the reverse of the forward order at one time: recurrent arrivals, inputs, spikes
            is_arrival = a >= 0 and t_arr >= t_in and t_arr >= t_out
            is_input = not is_arrival and t_in >= t_out
            if not live and (is_arrival or is_input):
                if is_arrival:
                    a -= 1
                else:
                    k -= 1
                continue
            t_event = t_arr if is_arrival else (t_in if is_input else t_out)
            if live and t_event < t:  # adjoint flow of all neurons back to the event
                back = t - t_event
                decay_syn = math.exp(-back / tau_syn)
                decay_mem = math.exp(-back / tau_mem)
                k_cm = kernel_factor(back, tau_long, rate) / cm
                for j in range(n):
                    lam_i[j] = lam_i[j] * decay_syn + lam_v[j] * k_cm
                    lam_v[j] = lam_v[j] * decay_mem
            t = t_event
            # the event as an input to the layer: a source row of w_in, or w_rec of the
            # spiking neuron at its arrival (at the spike itself for d = 0)
            if is_input:
                src = ids[b, k]
                row = w_in[src]
                g_row = grad_w_in[src]
            else:
                src = out_ids[b, a] if is_arrival else out_ids[b, c]
                row = w_rec[src]
                g_row = grad_w_rec[src]
            jumps = is_input or is_arrival or not delayed  # d > 0: no row at the spike
            grad_t = 0.0
            if live and jumps:
                for j in range(n):
                    g_row[j] += lam_i[j]
                    grad_t += row[j] * (lam_i[j] / tau_syn - lam_v[j] / cm)
            if is_input:
                grad_arrive[b, k] = grad_t
                k -= 1
                continue
            if is_arrival:
                grad_rec_arrive[a] = grad_t
                grad_delay += grad_t
                a -= 1
                continue
            if delayed:
                grad_t = grad_rec_arrive[c]
            else:
                grad_delay += grad_t
            nrn = out_ids[b, c]
            i_spike = current[b, c]
            slope_before = -v_thresh / tau_mem + i_spike / cm
            if min_slope > 0.0:
                slope_before = max(slope_before, min_slope)
            slope_after = -v_reset / tau_mem + i_spike / cm
            lam_v[nrn] = (slope_after * lam_v[nrn] - (grad_out[b, c] + grad_t)) / slope_before
            live = live or lam_v[nrn] != 0.0
            c -= 1
    return grad_w_in, grad_w_rec, grad_arrive, grad_delay


def recurrent_backward(
    arrive: np.ndarray,
    ids: np.ndarray,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    out_times: np.ndarray,
    out_ids: np.ndarray,
    current: np.ndarray,
    grad_out_times: np.ndarray,
    t_max: float,
    p: EventLIFConstants,
    min_slope: float = 0.0,
    rec_delay: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Gradients of a loss with respect to a recurrent layer's weights, input times and
    recurrent delay.

    Parameters
    ----------
    arrive, ids
        The layer's input arrivals (ms, float64 (B, K_in), ascending, ``+inf`` padded) and
        sources (int64, -1 at padding), as the forward pass saw them.
    w_in, w_rec
        Input weights (n_in, n) and recurrent weights (n, n), nA, float64.
    out_times, out_ids, current
        The forward's output spikes (B, K_out), ascending, ties by neuron index, and the
        current of the spiking neuron just before each spike, before its own recurrent
        jump, nA.
    grad_out_times
        dL/d(output spike time), 1/ms, (B, K_out); zero at padding.
    t_max
        End of the simulation, ms.
    p
        The neuron (:func:`neurotwin.dynamics.event_lif.event_lif_constants`;
        ``tau_refrac`` = 0).
    min_slope
        Floor of dv/dt just before a spike in the spike jump, mV/ms (0: exact).
    rec_delay
        Recurrent delay d, ms (>= 0): a spike at t acted at t + d if that is <= t_max.

    Returns
    -------
    grad_w_in, grad_w_rec
        dL/dw_in (n_in, n) and dL/dw_rec (n, n), summed over the batch.
    grad_arrive
        dL/d(arrival time), 1/ms, (B, K_in); zero for padding and inputs after t_max.
    grad_rec_delay
        dL/d(rec_delay), 1/ms: the sum of dL/d(arrival) over the recurrent arrivals and the
        batch (at d = 0 the derivative from the right).
    """
    return _recurrent_backward(
        arrive, ids, w_in, w_rec, out_times, out_ids, current, grad_out_times, float(t_max),
        p, float(min_slope), float(rec_delay),
    )
