"""The reverse-time walk of one LIF layer (feed-forward, or recurrent with ``w_rec``): mirror
of the feed-forward replay in :mod:`neurotwin.engines.event_torch`."""

from __future__ import annotations

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_adjoint.flow import AdjointState, adjoint_flow, adjoint_params
from neurotwin.engines.event_adjoint.jump import adjoint_input_jump, adjoint_spike_jump
from neurotwin.engines.event_list import EventList

__all__ = ["layer_walk", "lif_layer_backward"]


def layer_walk(
    events: EventList,
    current_at_spike: torch.Tensor,
    grad_out_times: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    k_in: int,
    min_slope: float = 0.0,
    w_rec: torch.Tensor | None = None,
    rec_delay: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The reverse walk of a feed-forward (``w_rec`` None) or recurrent layer.

    Starts from zero costate at ``t_max`` and walks the merged events backwards (one Python
    iteration per event column, vectorised over samples and neurons): adjoint flow to each
    event, then the adjoint jump of an output spike or of an input spike. In a recurrent
    layer (``w_rec`` (n_out, n_out), nA) a spike is also an input to the layer: with
    ``rec_delay`` 0 its recurrent input's jump comes before its spike jump; with a delay
    d > 0 ms its row arrives later (an input of source n_in + neuron in column K_in + spike,
    :func:`~neurotwin.engines.event_list.recurrent_events`), where the walk meets it
    first and keeps R_k = dL/d(arrival) for the spike jump (equations in
    ``event_adjoint/recurrent.py``). Other arguments as :func:`lif_layer_backward`.

    Returns
    -------
    grad_weights, grad_arrive, grad_w_rec, grad_rec_delay
        dL/dw (n_in, n_out) and dL/dw_rec, summed over the batch; dL/d(input arrival time),
        1/ms, (B, K_in), zero for padding and late inputs; dL/d(rec_delay), 1/ms, 0-d (the
        derivative from the right at d = 0). The last two are None without ``w_rec``.
    """
    batch, n_out = events.times.shape[0], weights.shape[1]
    n_in, k_out = weights.shape[0], current_at_spike.shape[1]
    dtype, device = weights.dtype, weights.device
    delayed = w_rec is not None and rec_delay > 0.0
    # with a delay a recurrent arrival is an input of source n_in + neuron
    every = torch.cat([weights, w_rec]) if delayed and w_rec is not None else weights
    mirror = adjoint_params(params)
    zeros = torch.zeros((batch, n_out), dtype=dtype, device=device)
    state = AdjointState(zeros, zeros.clone(), torch.full_like(zeros, float(t_max)))
    grad_w = torch.zeros_like(every)
    grad_w_rec = None if w_rec is None else torch.zeros_like(w_rec)
    grad_arrive = torch.zeros((batch, k_in), dtype=dtype, device=device)
    grad_rec_arrive = torch.zeros((batch, k_out), dtype=dtype, device=device)  # R_k
    rows = torch.arange(batch, device=device)
    for c in range(events.times.shape[1] - 1, -1, -1):
        t_c = events.times[:, c]
        valid = torch.isfinite(t_c)
        if not bool(valid.any()):
            continue
        ids = events.ids[:, c].clamp(min=0)
        col = events.column[:, c]
        is_out = events.is_output[:, c] & valid
        is_in = valid & ~is_out
        state = adjoint_flow(state, torch.where(valid, t_c, state.t[:, 0])[:, None], mirror)
        if bool(is_out.any()):
            out_col = torch.where(is_out, col, 0)[:, None]
            grad_t = grad_out_times.gather(1, out_col)
            if delayed:  # R_k, found at the arrival, later in forward time
                grad_t = grad_t + grad_rec_arrive.gather(1, out_col)
            elif w_rec is not None and grad_w_rec is not None:
                # the spike as an input to the layer, from the costate after it
                src = torch.where(is_out, ids, 0)
                grad_rows, grad_t_rec = adjoint_input_jump(state, w_rec[src], params)
                grad_w_rec.index_add_(0, src[is_out], grad_rows[is_out])
                grad_t = grad_t + grad_t_rec[:, None]
                grad_rec_arrive[rows[is_out], col[is_out]] = grad_t_rec[is_out]
            fired = torch.zeros((batch, n_out), dtype=torch.bool, device=device)
            fired[rows[is_out], ids[is_out]] = True
            current = current_at_spike.gather(1, out_col)
            state = adjoint_spike_jump(state, fired, current, grad_t, params, min_slope)
        if bool(is_in.any()):
            src = torch.where(is_in, ids, 0)
            grad_rows, grad_t_in = adjoint_input_jump(state, every[src], params)
            grad_w.index_add_(0, src[is_in], grad_rows[is_in])
            real = is_in & (col < k_in)
            grad_arrive[rows[real], col[real]] = grad_t_in[real]
            if delayed:
                rec = is_in & (col >= k_in)
                grad_rec_arrive[rows[rec], col[rec] - k_in] = grad_t_in[rec]
    if w_rec is None:
        return grad_w, grad_arrive, None, None
    if delayed:
        grad_w, grad_w_rec = grad_w[:n_in], grad_w[n_in:]
    return grad_w, grad_arrive, grad_w_rec, grad_rec_arrive.sum()


def lif_layer_backward(
    events: EventList,
    current_at_spike: torch.Tensor,
    grad_out_times: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    k_in: int,
    min_slope: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of a loss with respect to a feed-forward layer's weights and input arrival
    times (:func:`layer_walk` without recurrent weights).

    Parameters
    ----------
    events
        The layer's inputs and outputs in time order, (B, K_in + K_out).
    current_at_spike
        Synaptic current just before each output spike, nA, (B, K_out).
    grad_out_times
        dL/d(output spike time), 1/ms, (B, K_out); zero at padding.
    weights
        Signed weights, nA, (n_in, n_out).
    params
        Neuron parameters (``tau_refrac`` = 0).
    t_max
        End of the simulation, ms.
    k_in
        Width of the input batch.
    min_slope
        Floor of dv/dt before a spike in the spike jump, mV/ms (0: exact).

    Returns
    -------
    grad_weights
        dL/dw, (n_in, n_out), summed over the batch.
    grad_arrive
        dL/d(input arrival time), 1/ms, (B, K_in); zero for padding and late inputs.
    """
    grad_w, grad_arrive, _, _ = layer_walk(
        events, current_at_spike, grad_out_times, weights, params, t_max, k_in, min_slope
    )
    return grad_w, grad_arrive
