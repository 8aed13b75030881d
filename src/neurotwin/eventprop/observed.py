r"""EventProp gradients at observed spike times: the backward pass of hardware-in-the-loop
training (Göltz et al. 2021, Cramer et al. 2022).

A hardware run (here a twin) gives the spike times of every layer; the ideal model gives
the gradient *at those times*. For a feed-forward LIF layer the adjoint
(:mod:`neurotwin.engines.event_adjoint`) needs the input arrivals, the output spikes and
the state of each neuron just before each of its spikes: ``v = v_thresh`` by definition
and the synaptic current, which the ideal model gives from the observed inputs,

    i_n(t) = sum_{j: a_j < t} w[s_j, n] exp(-(t - a_j) / tau_syn),

(a_j the arrival times of the layer's observed inputs, s_j their sources). Where the
hardware fired but the model's membrane would be falling (``-v_thresh / tau_mem + i / cm
<= 0``), the exact jump divides by a slope of the wrong sign; ``min_slope`` floors it
(the grazing-crossing remedy of :func:`~neurotwin.eventprop.lif_layer`).
"""

from __future__ import annotations

from typing import Any

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import check_spike_inputs
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.errors import ConfigError, check_positive
from neurotwin.eventprop.forward.layer import check_eventprop_params
from neurotwin.spikes import PAD_ID, Spikes

__all__ = ["ObservedLIFLayerFunction", "current_at", "observed_lif_layer"]


def current_at(
    arrive: torch.Tensor, input_ids: torch.Tensor, weights: torch.Tensor, times: torch.Tensor,
    neurons: torch.Tensor, tau_syn: float,
) -> torch.Tensor:
    """Synaptic current of neuron ``neurons[b, k]`` just before ``times[b, k]``, nA.

    ``arrive`` (B, K_in) input arrival times, ms, ``+inf`` padded; ``input_ids`` (B, K_in)
    sources, PAD_ID at padding; ``weights`` (n_in, n_out), nA; ``times``, ``neurons``
    (B, K_out), PAD_ID at padding (current 0 there). Inputs arriving at the spike time
    itself are not counted (the current *before* the spike). Returns (B, K_out).
    """
    real_in = (input_ids != PAD_ID) & torch.isfinite(arrive)
    w_rows = weights[input_ids.clamp(min=0)]  # (B, K_in, n_out)
    col = neurons.clamp(min=0)[:, None, :].expand(-1, arrive.shape[1], -1)
    w_sel = w_rows.gather(2, col)  # (B, K_in, K_out)
    lag = times[:, None, :] - torch.where(real_in, arrive, 0.0)[:, :, None]
    before = real_in[:, :, None] & (lag > 0) & torch.isfinite(lag)
    kernel = torch.exp(-torch.where(before, lag, 0.0) / tau_syn)
    current = (torch.where(before, w_sel * kernel, 0.0)).sum(dim=1)
    return torch.where(neurons != PAD_ID, current, 0.0)


class ObservedLIFLayerFunction(torch.autograd.Function):
    """Autograd node of one layer whose output spikes were observed, not computed.

    ``apply(input_times, weights, input_ids, out_times, out_ids, params, t_max,
    min_slope)`` returns the observed output times (differentiable with respect to the
    input times and the weights); the backward is the ideal layer's adjoint
    (:meth:`~neurotwin.engines.event_kernels.EventKernels.backward`) walked over the
    observed inputs and outputs, with the current of :func:`current_at`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input_times: torch.Tensor,
        weights: torch.Tensor,
        input_ids: torch.Tensor,
        out_times: torch.Tensor,
        out_ids: torch.Tensor,
        params: EventLIF,
        t_max: float,
        min_slope: float,
    ) -> torch.Tensor:
        arrive = input_times.detach()
        w = weights.detach()
        current = current_at(arrive, input_ids, w, out_times, out_ids, params.tau_syn)
        ctx.save_for_backward(arrive, input_ids, out_times, out_ids, current, w)
        ctx.params, ctx.t_max, ctx.min_slope = params, float(t_max), float(min_slope)
        return out_times.clone()

    @staticmethod
    def backward(ctx: Any, grad_times: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        arrive, input_ids, out_times, out_ids, current, w = ctx.saved_tensors
        grad = torch.nan_to_num(grad_times, nan=0.0, posinf=0.0, neginf=0.0)
        grad = torch.where(torch.isfinite(out_times), grad, 0.0)
        grad_w, grad_in = event_kernels(w).backward(
            arrive, input_ids, w, Spikes(out_times, out_ids), current, grad, ctx.params,
            ctx.t_max, ctx.min_slope,
        )
        return (
            grad_in if ctx.needs_input_grad[0] else None,
            grad_w if ctx.needs_input_grad[1] else None,
            None, None, None, None, None, None,
        )


def observed_lif_layer(
    inputs: Spikes,
    weights: torch.Tensor,
    observed: Spikes,
    params: EventLIF,
    t_max: float,
    *,
    min_slope: float = 0.0,
) -> Spikes:
    """The observed output spikes of a feed-forward LIF layer, differentiable by the ideal
    layer's EventProp adjoint at the observed times (module docstring).

    Parameters
    ----------
    inputs
        The layer's input spikes as the hardware received them, (B, K_in), times in ms
        (a tensor that may require grad: the observed outputs of the layer before).
    weights
        Signed weights, nA, (n_in, n_out), a float tensor (float64 for exact gradients).
    observed
        The layer's output spikes as the hardware produced them, (B, K_out): ascending per
        row, ``+inf`` / PAD_ID padding; at most the spikes before ``t_max``.
    params
        Neuron parameters of the ideal model (``tau_refrac`` = 0).
    t_max
        End of the window, ms.
    min_slope
        Floor of the membrane slope before a spike in the adjoint's jump, mV/ms (0: exact).

    Returns
    -------
    Spikes
        ``observed``'s times, differentiable, and its ids.

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, ids out of range, an observed batch of another
        size, observed times after ``t_max``.
    """
    check_eventprop_params(params)
    check_positive("min_slope", min_slope, "mV/ms", allow_zero=True)
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise ConfigError(f"weights must be a float torch tensor, got {type(weights).__name__}")
    times, ids, _ = check_spike_inputs(inputs.times, inputs.ids, weights, t_max, None, 0.0)
    if isinstance(inputs.times, torch.Tensor) and inputs.times.requires_grad:
        times = inputs.times.to(dtype=weights.dtype)
    out_times = torch.as_tensor(observed.times).to(dtype=weights.dtype, device=weights.device)
    out_ids = torch.as_tensor(observed.ids).to(device=weights.device)
    if out_times.ndim != 2 or out_times.shape != out_ids.shape \
            or out_times.shape[0] != times.shape[0]:
        raise ConfigError(f"observed spikes must be (B, K) times and ids with B = "
                          f"{times.shape[0]} samples, got {tuple(out_times.shape)} and "
                          f"{tuple(out_ids.shape)}")
    real = out_ids != PAD_ID
    n_out = weights.shape[1]
    if bool((real & ((out_ids < 0) | (out_ids >= n_out))).any()):
        raise ConfigError(f"observed ids must lie in [0, {n_out}) or be PAD_ID")
    if bool((real & ~((out_times >= 0) & (out_times <= t_max))).any()):
        raise ConfigError(f"observed spike times must lie in [0, t_max = {t_max}] ms")
    out = ObservedLIFLayerFunction.apply(
        times, weights, ids, out_times, out_ids, params, t_max, min_slope
    )
    return Spikes(out, out_ids)
