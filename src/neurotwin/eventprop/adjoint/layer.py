"""The reverse-time walk of one LIF layer (feed-forward, or recurrent with ``w_rec``): mirror
of ``forward/layer.py``."""

from __future__ import annotations

import torch

from neurotwin.engines.event import EventLIF
from neurotwin.eventprop.adjoint.flow import AdjointState, adjoint_flow, adjoint_params
from neurotwin.eventprop.adjoint.jump import adjoint_input_jump, adjoint_spike_jump
from neurotwin.eventprop.forward.events import EventList

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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The reverse walk of a feed-forward (``w_rec`` None) or recurrent layer.

    Starts from zero costate at ``t_max`` and walks the merged events backwards (one Python
    iteration per event column, vectorised over samples and neurons): adjoint flow to each
    event, then the adjoint jump of an output spike (with its recurrent input, ``adjoint/
    recurrent.py``) or of an input spike. Arguments as :func:`lif_layer_backward`; ``w_rec``
    (n_out, n_out) the recurrent weights, nA.

    Returns
    -------
    grad_weights, grad_arrive, grad_w_rec
        dL/dw (n_in, n_out) and dL/dw_rec (None without ``w_rec``), summed over the batch;
        dL/d(input arrival time), 1/ms, (B, K_in), zero for padding and late inputs.
    """
    batch, n_out = events.times.shape[0], weights.shape[1]
    dtype, device = weights.dtype, weights.device
    mirror = adjoint_params(params)
    zeros = torch.zeros((batch, n_out), dtype=dtype, device=device)
    state = AdjointState(zeros, zeros.clone(), torch.full_like(zeros, float(t_max)))
    grad_w = torch.zeros_like(weights)
    grad_w_rec = None if w_rec is None else torch.zeros_like(w_rec)
    grad_arrive = torch.zeros((batch, k_in), dtype=dtype, device=device)
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
            if w_rec is not None and grad_w_rec is not None:
                # the spike as an input to the layer, from the costate after it
                src = torch.where(is_out, ids, 0)
                grad_rows, grad_t_rec = adjoint_input_jump(state, w_rec[src], params)
                grad_w_rec.index_add_(0, src[is_out], grad_rows[is_out])
                grad_t = grad_t + grad_t_rec[:, None]
            fired = torch.zeros((batch, n_out), dtype=torch.bool, device=device)
            fired[rows[is_out], ids[is_out]] = True
            current = current_at_spike.gather(1, out_col)
            state = adjoint_spike_jump(state, fired, current, grad_t, params, min_slope)
        if bool(is_in.any()):
            src = torch.where(is_in, ids, 0)
            grad_rows, grad_t_in = adjoint_input_jump(state, weights[src], params)
            grad_w.index_add_(0, src[is_in], grad_rows[is_in])
            grad_arrive[rows[is_in], col[is_in]] = grad_t_in[is_in]
    return grad_w, grad_arrive, grad_w_rec


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
    grad_w, grad_arrive, _ = layer_walk(
        events, current_at_spike, grad_out_times, weights, params, t_max, k_in, min_slope
    )
    return grad_w, grad_arrive
