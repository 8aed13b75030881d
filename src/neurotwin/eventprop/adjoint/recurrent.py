r"""The reverse-time walk of one recurrent LIF layer: mirror of ``forward/recurrent.py``.

Costate notation of ``adjoint/flow.py`` (lam = dL/d(state at t), per neuron j:
lam_v_j in 1/mV, lam_i_j in 1/nA) and flow field f(v, i) = (-v / tau_mem + i / cm,
-i / tau_syn). Input spikes and the adjoint flow are as in the feed-forward layer; what is
new is the output spike, which is now also an input to every neuron of the layer.

*Output spike* of neuron n at t_k (zero recurrent delay), with current i_n just before it::

    v_n^+ = v_reset,   i_j^+ = i_j^- + w_rec[n, j]  (all j, n included),   other v_j continuous

and t_k defined by v_n(t_k^-) = v_thresh. Write the map as x^+ = h(x^-) with Jacobian H
(the identity, except dv_n^+/dv_n^- = 0). A perturbation dx^- of the state just before the
spike (at the fixed time t_k) moves the spike by dt_k = -dv_n^- / vdot_n^-; comparing the
perturbed and unperturbed trajectories at a fixed time just after the spike gives::

    dx^+ = H dx^- + (H f(x^-) - f(x^+)) dt_k

Componentwise, H f(x^-) - f(x^+) is -vdot_n^+ in v_n (H drops vdot_n^-), and for every j
-w_rec[n, j] / cm in v_j (j != n) and +w_rec[n, j] / tau_syn in i_j. For j = n the v part
is -(-v_reset / tau_mem + (i_n + w_rec[n, n]) / cm) = -vdot_n^+ - w_rec[n, n] / cm, with
vdot_n^+ = -v_reset / tau_mem + i_n / cm the slope after the reset *without* the recurrent
jump (the feed-forward slope). Hence::

    lam^+ . (H f^- - f^+) = -lam_v_n^+ vdot_n^+ + R_k,
    R_k = sum_j w_rec[n, j] (lam_i_j^+ / tau_syn - lam_v_j^+ / cm)

R_k is exactly dL/ds of an input spike through the row w_rec[n, :] arriving at t_k
(``adjoint_input_jump``). Requiring lam^- . dx^- = lam^+ . dx^+ + g_k dt_k for every dx^-
(g_k = dL/dt_k from the loss and the next layers) gives::

    lam_v_n^- = (vdot_n^+ lam_v_n^+ - (g_k + R_k)) / vdot_n^-
    vdot_n^-  = -v_thresh / tau_mem + i_n / cm
    lam_v_j^- = lam_v_j^+ (j != n),    lam_i_j^- = lam_i_j^+ (all j)
    dL/dw_rec[n, j] += lam_i_j(t_k)                       (lam_i is continuous there)

i.e. the recurrent input's time sensitivity R_k, computed from the costate after the spike,
is added to g_k before the feed-forward spike jump (``adjoint_spike_jump`` with the current
i_n recorded before the recurrent jump). This is the paper's "lambda_I of the targets
weighted by W" term of the jump of lambda_V (Wunderlich & Pehle 2021, Table 2), here inside
the layer. Simultaneous spikes are taken one at a time in the order of the forward record
(``forward/recurrent.py``). Input spikes of source m at s: dL/dw_in[m, j] += lam_i_j(s),
dL/ds = sum_j w_in[m, j] (lam_i_j / tau_syn - lam_v_j / cm) (``adjoint/jump.py``).
``tau_refrac`` = 0 (no adjoint of the refractory hold).
"""

from __future__ import annotations

import torch

from neurotwin.engines.event import EventLIF
from neurotwin.eventprop.adjoint.flow import AdjointState, adjoint_flow, adjoint_params
from neurotwin.eventprop.adjoint.jump import adjoint_input_jump, adjoint_spike_jump
from neurotwin.eventprop.forward.events import EventList

__all__ = ["recurrent_lif_backward"]


def recurrent_lif_backward(
    events: EventList,
    current_at_spike: torch.Tensor,
    grad_out_times: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    params: EventLIF,
    t_max: float,
    k_in: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of a loss with respect to a recurrent layer's weights and input times.

    Starts from zero costate at ``t_max`` and walks the merged events backwards (one Python
    iteration per event column, vectorised over samples and neurons): adjoint flow to each
    event, then the adjoint jump of an output spike (recurrent input included) or of an
    input spike (equations in the module docstring).

    Parameters
    ----------
    events
        The layer's inputs and outputs in time order, (B, K_in + K_out).
    current_at_spike
        Synaptic current of the spiking neuron just before each output spike (before its
        own recurrent jump), nA, (B, K_out).
    grad_out_times
        dL/d(output spike time), 1/ms, (B, K_out); zero at padding.
    w_in
        Input weights, nA, (n_in, n).
    w_rec
        Recurrent weights, nA, (n, n).
    params
        Neuron parameters (``tau_refrac`` = 0).
    t_max
        End of the simulation, ms.
    k_in
        Width of the input batch.

    Returns
    -------
    grad_w_in
        dL/dw_in, (n_in, n), summed over the batch.
    grad_w_rec
        dL/dw_rec, (n, n), summed over the batch.
    grad_arrive
        dL/d(input arrival time), 1/ms, (B, K_in); zero for padding and late inputs.
    """
    batch, n = events.times.shape[0], w_in.shape[1]
    dtype, device = w_in.dtype, w_in.device
    mirror = adjoint_params(params)
    zeros = torch.zeros((batch, n), dtype=dtype, device=device)
    state = AdjointState(zeros, zeros.clone(), torch.full_like(zeros, float(t_max)))
    grad_w_in = torch.zeros_like(w_in)
    grad_w_rec = torch.zeros_like(w_rec)
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
            src = torch.where(is_out, ids, 0)
            # the spike as an input to the layer, from the costate after it
            grad_rows, grad_t_rec = adjoint_input_jump(state, w_rec[src], params)
            grad_w_rec.index_add_(0, src[is_out], grad_rows[is_out])
            fired = torch.zeros((batch, n), dtype=torch.bool, device=device)
            fired[rows[is_out], ids[is_out]] = True
            out_col = torch.where(is_out, col, 0)[:, None]
            current = current_at_spike.gather(1, out_col)
            grad_t = grad_out_times.gather(1, out_col) + grad_t_rec[:, None]
            state = adjoint_spike_jump(state, fired, current, grad_t, params)
        if bool(is_in.any()):
            src = torch.where(is_in, ids, 0)
            grad_rows, grad_t_in = adjoint_input_jump(state, w_in[src], params)
            grad_w_in.index_add_(0, src[is_in], grad_rows[is_in])
            grad_arrive[rows[is_in], col[is_in]] = grad_t_in[is_in]
    return grad_w_in, grad_w_rec, grad_arrive
