r"""The reverse-time walk of one recurrent LIF layer: mirror of
:func:`neurotwin.engines.event_torch.recurrent_record`.

Costate notation of ``event_adjoint/flow.py`` (lam = dL/d(state at t), per neuron j:
lam_v_j in 1/mV, lam_i_j in 1/nA) and flow field f(v, i) = (-v / tau_mem + i / cm,
-i / tau_syn). Input spikes and the adjoint flow are as in the feed-forward layer; what is
new is the output spike, which is now also an input to every neuron of the layer.

*Output spike* of neuron n at t_k (zero recurrent delay, d = 0), with current i_n just
before it::

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
(:func:`neurotwin.engines.event_torch.recurrent_record`). Input spikes of source m at
s: dL/dw_in[m, j] += lam_i_j(s),
dL/ds = sum_j w_in[m, j] (lam_i_j / tau_syn - lam_v_j / cm) (``event_adjoint/jump.py``).
``tau_refrac`` = 0 (no adjoint of the refractory hold).

*Recurrent delay* d > 0: the spike at t_k only resets v_n (vdot_n^+ as above); its row
arrives at a_k = t_k + d, an input jump at its own time, where the costate is continuous::

    dL/dw_rec[n, j] += lam_i_j(a_k)
    R_k = dL/da_k = sum_j w_rec[n, j] (lam_i_j(a_k) / tau_syn - lam_v_j(a_k) / cm)

a_k moves with t_k (da_k / dt_k = 1), so the spike jump at t_k takes g_k + R_k with R_k from
the costates at the *arrival* a_k, which the reverse walk meets first (a_k >= t_k, and at an
equal time the forward fired first)::

    lam_v_n^-(t_k) = (vdot_n^+ lam_v_n^+ - (g_k + R_k)) / vdot_n^-

Arrivals after t_max did nothing: no jump, R_k = 0. The delay itself enters only through
the arrivals, so dL/dd = sum_k R_k; at d = 0 the same sum (R_k from the costate after the
spike) is the derivative from the right, d -> 0+.
"""

from __future__ import annotations

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_adjoint.layer import layer_walk
from neurotwin.engines.event_list import EventList

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
    min_slope: float = 0.0,
    rec_delay: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of a loss with respect to a recurrent layer's weights, input times and
    recurrent delay.

    :func:`~neurotwin.engines.event_adjoint.layer.layer_walk` with ``w_rec`` and ``rec_delay``:
    the jump of an input, a recurrent arrival (d > 0) or an output spike, whose recurrent
    input (d = 0) or arrival's R_k (d > 0) comes before its spike jump (equations in the
    module docstring).

    Parameters
    ----------
    events
        The layer's events in time order, from
        :func:`~neurotwin.engines.event_list.recurrent_events` (at d > 0 they hold
        the recurrent arrivals, as inputs of source n_in + neuron in column K_in + spike).
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
    min_slope
        Floor of vdot^- in the spike jump, mV/ms (0: exact;
        :func:`~neurotwin.engines.event_adjoint.jump.adjoint_spike_jump`).
    rec_delay
        Recurrent delay d, ms (>= 0).

    Returns
    -------
    grad_w_in
        dL/dw_in, (n_in, n), summed over the batch.
    grad_w_rec
        dL/dw_rec, (n, n), summed over the batch.
    grad_arrive
        dL/d(input arrival time), 1/ms, (B, K_in); zero for padding and late inputs.
    grad_rec_delay
        dL/d(rec_delay), 1/ms, a 0-d tensor: the sum over the recurrent arrivals of
        dL/d(arrival), summed over the batch (at d = 0 the derivative from the right).
    """
    grad_w_in, grad_arrive, grad_w_rec, grad_rec_delay = layer_walk(
        events, current_at_spike, grad_out_times, w_in, params, t_max, k_in, min_slope,
        w_rec=w_rec, rec_delay=rec_delay,
    )
    assert grad_w_rec is not None and grad_rec_delay is not None
    return grad_w_in, grad_w_rec, grad_arrive, grad_rec_delay
