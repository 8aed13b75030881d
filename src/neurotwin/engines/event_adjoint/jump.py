r"""Adjoint jumps at events: mirror of the input and spike jumps of
:mod:`neurotwin.engines.event_maps` (costate notation of
``event_adjoint/flow.py``; f(v, i) = (-v / tau_mem + i / cm, -i / tau_syn) is the flow field).

*Input spike* of source m at time t through weights w_m (nA) to the layer's neurons j
(i_j += w_mj). The jump is additive, so the costate is continuous across it, and::

    dL/dw_mj  += lam_i_j(t)
    dL/dt     += sum_j lam_j . (f(x_j^-) - f(x_j^+)) = sum_j w_mj (lam_i_j / tau_syn - lam_v_j / cm)

(moving the jump later by dt leaves the state one dt of the old flow field instead of the
new one). In the paper's units this is dL/dw_ji = -tau_s Sigma (lambda_I)_j.

*Output spike* of neuron n at time t_k, where v reaches v_thresh with current i:
v^- = v_thresh, v^+ = v_reset, i continuous. With the slopes
vdot^- = -v_thresh / tau_mem + i / cm (> 0 at a transversal crossing) and
vdot^+ = -v_reset / tau_mem + i / cm, a perturbation dv of v before the spike moves it by
dt_k = -dv / vdot^-; the state after it then differs by -vdot^+ dt_k in v. Hence, with
g_k = dL/dt_k (the loss's own dependence on t_k, and through the next layer, whose
input-time gradient above carries the downstream lam_i W term of the paper's Table 2)::

    lam_v^- = (vdot^+ lam_v^+ - g_k) / vdot^-,      lam_i^- = lam_i^+

For v_reset = 0 this is the paper's jump of lambda_V. The 1 / vdot^- factor blows up for a
grazing crossing (vdot^- -> 0): the gradient is exact but ill-conditioned there.
``min_slope`` > 0 (mV/ms) replaces vdot^- by max(vdot^-, min_slope) in this jump: a
switchable remedy that bounds the factor by 1 / min_slope at the price of a biased gradient
at crossings slower than min_slope (exact elsewhere); 0, the default, is exact.
"""

from __future__ import annotations

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_adjoint.flow import AdjointState

__all__ = ["adjoint_input_jump", "adjoint_spike_jump"]


def adjoint_input_jump(
    state: AdjointState, w_rows: torch.Tensor, p: EventLIF
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients at an input spike: (dL/dw of the row, (B, n); dL/dt of the spike, (B,)).

    Parameters
    ----------
    state
        Costate at the input's arrival, (B, n).
    w_rows
        Weights of the arriving source to the n neurons, nA, (B, n).
    p
        Neuron parameters.
    """
    grad_t = (w_rows * (state.lam_i / p.tau_syn - state.lam_v / p.cm)).sum(dim=-1)
    return state.lam_i, grad_t


def adjoint_spike_jump(
    state: AdjointState,
    fired: torch.Tensor,
    current: torch.Tensor,
    grad_t: torch.Tensor,
    p: EventLIF,
    min_slope: float = 0.0,
) -> AdjointState:
    """Costate just before output spikes, from the costate just after them.

    Parameters
    ----------
    state
        Costate just after the spikes, (B, n).
    fired
        Bool mask of the neurons that spike at ``state.t``, (B, n).
    current
        Synaptic current of those neurons at the spike, nA, broadcasting to (B, n).
    grad_t
        dL/dt of those spikes, 1/ms, broadcasting to (B, n).
    p
        Neuron parameters.
    min_slope
        Floor of vdot^- in the jump, mV/ms (0: exact; module docstring).
    """
    slope_before = -p.v_thresh / p.tau_mem + current / p.cm
    if min_slope > 0.0:
        slope_before = torch.clamp(slope_before, min=min_slope)
    slope_after = -p.v_reset / p.tau_mem + current / p.cm
    safe = torch.where(fired, slope_before, torch.ones_like(slope_before))
    lam_v = torch.where(fired, (slope_after * state.lam_v - grad_t) / safe, state.lam_v)
    return state._replace(lam_v=lam_v)
