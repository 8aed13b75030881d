r"""Leaky-integrator readout: the maximum over time of a non-spiking membrane, V_max.

Output neuron j integrates the input spikes like the LIF neuron but never fires::

    v_j(t) = sum_{input spikes k, s_k < t} w_{m_k j} K(t - s_k) / cm,     s_k = time_k + delay

(mV; K = :func:`neurotwin.dynamics.lif.exp_kernel_factor`), and the readout is
V_max_j = max over t in [0, t_max] of v_j(t). The maximum is exact: it lies at t = 0, at
t_max, at an input arrival (a kink, where an inhibitory input ends a rise), or at the one
analytic extremum of v between two arrivals (:func:`neurotwin.dynamics.spike_time` gives
t_peak = log1p(a c) / a). The search walks the inputs with the event engine's :func:`flow`
and :func:`input_jump`, without autograd (compiled on CPU in float64:
:func:`neurotwin.engines.event_kernel.vmax_time`); it yields the time t*_j of the maximum.

*Gradient.* V_max_j = v_j(t*_j) is then evaluated in closed form with autograd. At an
interior maximum v'(t*) = 0, so t* is held fixed (envelope theorem); at a kink t* is the
arrival time of the input that made it, so it moves with that input. This is what the
adjoint gives for a loss on v at one time (lam_v jumps by dL/dV_max at t*), computed here
by torch's autograd over B K_in n_out terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neurotwin.dynamics.lif import exp_kernel_factor
from neurotwin.dynamics.spike_time import peak_time
from neurotwin.engines import event_kernel
from neurotwin.engines.event import (
    PAD_ID,
    EventLIF,
    check_spike_inputs,
    compiled_path,
    initial_state,
)
from neurotwin.eventprop.forward.flow import flow
from neurotwin.eventprop.forward.jump import input_jump

__all__ = ["li_vmax", "li_vmax_time"]


def li_vmax_time(
    arrive: torch.Tensor,
    input_ids: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time of each readout neuron's maximum and the input column of a kink there.

    Parameters
    ----------
    arrive
        Input arrival times, ms, (B, K_in), ascending, ``+inf`` padded.
    input_ids
        Source indices, (B, K_in), ``PAD_ID`` at padding.
    weights
        Signed weights, nA, (n_in, n_out).
    params
        Neuron parameters (threshold and reset unused).
    t_max
        End of the window, ms.

    Returns
    -------
    t_star
        Time of the maximum, ms, (B, n_out) (the earliest one on ties).
    kink
        Input column whose arrival is the maximum, (B, n_out), or -1 (interior maximum,
        t = 0 or t = t_max).
    """
    if compiled_path(weights):
        t_np, kink_np = event_kernel.vmax_time(
            np.ascontiguousarray(arrive.detach().numpy()),
            np.ascontiguousarray(input_ids.numpy()),
            np.ascontiguousarray(weights.detach().numpy()),
            float(t_max), params.tau_mem, params.tau_syn, params.cm,
        )
        return torch.from_numpy(t_np), torch.from_numpy(kink_np)
    lif = params.to_lif(v_rest=0.0)
    batch, n_out = arrive.shape[0], weights.shape[1]
    state = initial_state((batch, n_out), weights.dtype, weights.device)
    best_v = torch.zeros_like(state.v)
    best_t = torch.zeros_like(state.v)
    kink = torch.full(best_v.shape, -1, dtype=torch.long, device=weights.device)

    def consider(v: torch.Tensor, t: torch.Tensor, column: torch.Tensor) -> None:
        better = v > best_v
        best_v.copy_(torch.where(better, v, best_v))
        best_t.copy_(torch.where(better, t, best_t))
        kink.copy_(torch.where(better, column, kink))

    def interior(state_now: Any, t_to: torch.Tensor) -> None:
        slope = -state_now.v / params.tau_mem + state_now.i / params.cm
        t_peak = peak_time(slope, state_now.i, params.tau_syn, t_to - state_now.t, lif)
        at_peak = flow(state_now, state_now.t + t_peak, params)
        consider(at_peak.v, at_peak.t, torch.full_like(kink, -1))

    for c in range(arrive.shape[1]):
        valid = (input_ids[:, c] != PAD_ID) & (arrive[:, c] <= t_max)
        t_c = torch.where(valid, arrive[:, c], t_max)[:, None].expand(batch, n_out)
        interior(state, t_c)
        state = flow(state, t_c, params)
        column = torch.where(valid, c, -1)[:, None].expand(batch, n_out)
        consider(state.v, state.t, column)
        rows = weights[input_ids[:, c].clamp(min=0)] * valid[:, None]
        state = input_jump(state, rows)
    t_end = torch.full_like(state.v, float(t_max))
    interior(state, t_end)
    state = flow(state, t_end, params)
    consider(state.v, state.t, torch.full_like(kink, -1))
    return best_t, kink


def _detached(x: Any) -> Any:
    return x.detach() if isinstance(x, torch.Tensor) else x


def li_vmax(
    input_times: Any,
    input_ids: Any,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    *,
    delay: float = 0.0,
) -> torch.Tensor:
    """V_max of a leaky-integrator readout, mV, (B, n_out); differentiable in ``weights``
    and ``input_times`` (equations in the module docstring).

    Parameters
    ----------
    input_times
        Input spike times, ms, (B, K_in), ascending, ``+inf`` padded (a tensor, which may
        require grad, or an array).
    input_ids
        Source indices, (B, K_in), in [0, n_in) or -1 at padding.
    weights
        Signed weights, nA, (n_in, n_out).
    params
        Neuron parameters (threshold and reset unused).
    t_max
        End of the window, ms (> 0).
    delay
        Delay of every input, ms (>= 0).

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, unsorted rows, ids out of range.
    """
    times_checked, ids, w_checked = check_spike_inputs(
        _detached(input_times), input_ids, _detached(weights), t_max, None, delay
    )
    times = input_times if isinstance(input_times, torch.Tensor) else times_checked
    times = times.to(dtype=w_checked.dtype, device=w_checked.device)
    w = weights if isinstance(weights, torch.Tensor) else w_checked
    arrive = times + delay
    with torch.no_grad():
        t_star, kink = li_vmax_time(arrive.detach(), ids, w.detach(), params, t_max)
    valid = (ids != PAD_ID) & (arrive.detach() <= t_max)
    safe_arrive = torch.where(valid, arrive, 0.0)
    if arrive.shape[1] == 0:  # no input at all: no kink, V stays at rest
        t_star_g = t_star
    else:
        t_star_g = torch.where(kink >= 0, safe_arrive.gather(1, kink.clamp(min=0)), t_star)
    before = valid[:, :, None] & (arrive.detach()[:, :, None] < t_star[:, None, :])
    elapsed = torch.where(before, t_star_g[:, None, :] - safe_arrive[:, :, None], 0.0)
    kernel = exp_kernel_factor(elapsed, params.tau_mem, params.tau_syn)
    contrib = torch.where(before, w[ids.clamp(min=0)] * kernel, 0.0)
    return contrib.sum(dim=1) / params.cm
