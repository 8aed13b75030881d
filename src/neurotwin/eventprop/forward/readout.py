r"""Leaky-integrator readout: the maximum over time of a non-spiking membrane, V_max.

Output neuron j integrates the input spikes like the LIF neuron but never fires::

    v_j(t) = sum_{input spikes k, s_k < t} w_{m_k j} K(t - s_k) / cm,     s_k = time_k + delay

(mV; K = :func:`neurotwin.dynamics.lif.exp_kernel_factor`), and the readout is
V_max_j = max over t in [0, t_max] of v_j(t). The maximum is exact: it lies at t = 0, at
t_max, at an input arrival (a kink, where an inhibitory input ends a rise), or at the one
analytic extremum of v between two arrivals (:func:`neurotwin.dynamics.spike_time` gives
t_peak = log1p(a c) / a). The event kernels' ``vmax`` walks the inputs without autograd
(:class:`neurotwin.engines.event_kernels.EventKernels`: compiled on CPU in float64, else
:func:`neurotwin.engines.event_torch.vmax_time`); it yields the time t*_j of the maximum.

*Gradient.* V_max_j = v_j(t*_j) is then evaluated in closed form with autograd. At an
interior maximum v'(t*) = 0, so t* is held fixed (envelope theorem); at a kink t* is the
arrival time of the input that made it, so it moves with that input. This is what the
adjoint gives for a loss on v at one time (lam_v jumps by dL/dV_max at t*), computed here
by torch's autograd over B K_in n_out terms.
"""

from __future__ import annotations

from typing import Any

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.lif import exp_kernel_factor
from neurotwin.engines.event import check_spike_inputs
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.spikes import PAD_ID

__all__ = ["li_vmax"]


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
        t_star, kink = event_kernels(w).vmax(arrive.detach(), ids, w.detach(), params, t_max)
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
