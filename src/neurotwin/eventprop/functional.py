"""EventProp as torch autograd: exact gradients of feed-forward LIF layers (Wunderlich &
Pehle 2021), equations in :mod:`neurotwin.engines.event_adjoint` and docs/eventprop.md.

:func:`lif_layer` maps a padded input spike batch to the layer's output batch. Its output
times are differentiable with respect to the weights and the input times; chaining layers
with autograd passes each layer's input-time gradient to the layer before as the dL/dt_k
of its output spikes, which is the paper's downstream term in the jump of lambda_V.
"""

from __future__ import annotations

from typing import Any

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.engines.event_recurrent import check_rec_delay
from neurotwin.engines.event_recurrent_budget import DEFAULT_SPIKE_BUDGET
from neurotwin.errors import ConfigError, check_positive
from neurotwin.eventprop.forward.layer import check_eventprop_params, lif_layer_record
from neurotwin.eventprop.forward.readout import li_vmax
from neurotwin.eventprop.forward.recurrent import recurrent_lif_record
from neurotwin.spikes import Spikes

__all__ = [
    "LIFLayerFunction",
    "RecurrentLIFLayerFunction",
    "li_vmax",
    "lif_layer",
    "recurrent_lif_layer",
]


class LIFLayerFunction(torch.autograd.Function):
    """Autograd node of one layer: forward by the event engine, backward by the adjoint.

    ``apply(input_times, weights, input_ids, params, t_max, max_spikes, delay, xtol,
    min_slope)`` returns (output times, output ids); only the times carry gradients. Saved for
    the backward pass: the input arrivals, the output spikes and the current at each output
    spike. Both passes run on the event kernels chosen from the weights
    (:func:`~neurotwin.engines.event_kernels.event_kernels`: compiled on CPU in float64,
    else torch).
    """

    @staticmethod
    def forward(
        ctx: Any,
        input_times: torch.Tensor,
        weights: torch.Tensor,
        input_ids: torch.Tensor,
        params: EventLIF,
        t_max: float,
        max_spikes: int | None,
        delay: float,
        xtol: float,
        min_slope: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        record = lif_layer_record(
            input_times.detach(), input_ids, weights.detach(), params, t_max,
            max_spikes=max_spikes, delay=delay, xtol=xtol,
        )
        ctx.save_for_backward(
            record.arrive, record.input_ids, record.spikes.times, record.spikes.ids,
            record.current_at_spike, weights,
        )
        ctx.params, ctx.t_max = params, float(t_max)
        ctx.min_slope = float(min_slope)
        ctx.mark_non_differentiable(record.spikes.ids)
        return record.spikes.times, record.spikes.ids

    @staticmethod
    def backward(
        ctx: Any, grad_times: torch.Tensor | None, grad_ids: Any
    ) -> tuple[torch.Tensor | None, ...]:
        arrive, input_ids, out_times, out_ids, current, weights = ctx.saved_tensors
        if grad_times is None:
            return (None,) * 9
        # padding (+inf) carries no gradient; a loss that touched it could leave NaN there
        grad = torch.nan_to_num(grad_times, nan=0.0, posinf=0.0, neginf=0.0)
        grad = torch.where(torch.isfinite(out_times), grad, 0.0)
        w = weights.detach()
        grad_w, grad_in = event_kernels(w).backward(
            arrive, input_ids, w, Spikes(out_times, out_ids), current, grad, ctx.params,
            ctx.t_max, ctx.min_slope,
        )
        return (
            grad_in if ctx.needs_input_grad[0] else None,
            grad_w if ctx.needs_input_grad[1] else None,
            None, None, None, None, None, None, None,
        )


def lif_layer(
    input_times: Any,
    input_ids: Any,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    xtol: float = 1e-10,
    min_slope: float = 0.0,
) -> Spikes:
    """Exact output spikes of a feed-forward LIF layer, differentiable by EventProp.

    Parameters
    ----------
    input_times
        Input spike times, ms, (B, K_in): ascending per row, >= 0, ``+inf`` padding last;
        a tensor (which may require grad) or an array.
    input_ids
        Source indices, integers (B, K_in) in [0, n_in), -1 at padding.
    weights
        Signed weights, nA, (n_in, n_out), a float tensor (float64 for exact gradients).
    params
        Neuron parameters, ``tau_refrac`` = 0.
    t_max
        End of the simulation, ms (> 0).
    max_spikes
        At most this many spikes per neuron and sample (e.g. 1 for time-to-first-spike
        outputs); None: no limit.
    delay
        Delay of every input, ms (>= 0).
    xtol
        Spike-time tolerance of the forward solver, ms.
    min_slope
        Grazing-crossing remedy, mV/ms (>= 0): the adjoint's spike jump divides by
        max(dv/dt before the spike, min_slope); 0 (default) is the exact gradient
        (:func:`~neurotwin.engines.event_adjoint.jump.adjoint_spike_jump`).

    Returns
    -------
    Spikes
        ``times`` (B, K_out), differentiable; ``ids`` (B, K_out).

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, unsorted rows, ids out of range, weights not a
        float tensor, ``tau_refrac`` != 0, negative ``min_slope``.
    """
    check_eventprop_params(params)
    check_positive("min_slope", min_slope, "mV/ms", allow_zero=True)
    if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
        raise ConfigError(f"weights must be a float torch tensor, got {type(weights).__name__}")
    times = input_times if isinstance(input_times, torch.Tensor) else torch.as_tensor(input_times)
    times = times.to(dtype=weights.dtype, device=weights.device)
    ids = torch.as_tensor(input_ids, device=weights.device)
    out_times, out_ids = LIFLayerFunction.apply(
        times, weights, ids, params, t_max, max_spikes, delay, xtol, min_slope
    )
    return Spikes(out_times, out_ids)


class RecurrentLIFLayerFunction(torch.autograd.Function):
    """Autograd node of one recurrent layer: forward by the recurrent event engine, backward
    by its adjoint (``adjoint/recurrent.py``).

    ``apply(input_times, w_in, w_rec, rec_delay, input_ids, params, t_max, max_spikes, delay,
    xtol, min_slope, spike_budget)`` returns (output times, output ids); only the times
    carry gradients, with respect to the input times, ``w_in``, ``w_rec`` and ``rec_delay``
    (a 0-d tensor, ms). Saved for the backward pass: the input arrivals, the output spikes
    and the current at each output spike. Both halves run on the event kernels chosen from
    the weights (:func:`~neurotwin.engines.event_kernels.event_kernels`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        input_times: torch.Tensor,
        w_in: torch.Tensor,
        w_rec: torch.Tensor,
        rec_delay: torch.Tensor,
        input_ids: torch.Tensor,
        params: EventLIF,
        t_max: float,
        max_spikes: int | None,
        delay: float,
        xtol: float,
        min_slope: float,
        spike_budget: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d_rec = check_rec_delay(rec_delay)
        record = recurrent_lif_record(
            input_times.detach(), input_ids, w_in.detach(), w_rec.detach(), params, t_max,
            max_spikes=max_spikes, delay=delay, rec_delay=d_rec, xtol=xtol,
            spike_budget=spike_budget,
        )
        ctx.save_for_backward(
            record.arrive, record.input_ids, record.spikes.times, record.spikes.ids,
            record.current_at_spike, w_in, w_rec,
        )
        ctx.params, ctx.t_max = params, float(t_max)
        ctx.min_slope = float(min_slope)
        ctx.rec_delay, ctx.delay_dtype, ctx.delay_device = d_rec, rec_delay.dtype, rec_delay.device
        ctx.mark_non_differentiable(record.spikes.ids)
        return record.spikes.times, record.spikes.ids

    @staticmethod
    def backward(
        ctx: Any, grad_times: torch.Tensor | None, grad_ids: Any
    ) -> tuple[torch.Tensor | None, ...]:
        arrive, input_ids, out_times, out_ids, current, w_in, w_rec = ctx.saved_tensors
        none = (None,) * 8
        if grad_times is None:
            return (None, None, None, None, *none)
        # padding (+inf) carries no gradient; a loss that touched it could leave NaN there
        grad = torch.nan_to_num(grad_times, nan=0.0, posinf=0.0, neginf=0.0)
        grad = torch.where(torch.isfinite(out_times), grad, 0.0)
        w, w_r = w_in.detach(), w_rec.detach()
        grad_w_in, grad_w_rec, grad_in, grad_delay = event_kernels(w).backward_recurrent(
            arrive, input_ids, w, w_r, Spikes(out_times, out_ids), current, grad, ctx.params,
            ctx.t_max, ctx.min_slope, ctx.rec_delay,
        )
        return (
            grad_in if ctx.needs_input_grad[0] else None,
            grad_w_in if ctx.needs_input_grad[1] else None,
            grad_w_rec if ctx.needs_input_grad[2] else None,
            grad_delay.to(dtype=ctx.delay_dtype, device=ctx.delay_device)
            if ctx.needs_input_grad[3] else None,
            *none,
        )


def recurrent_lif_layer(
    input_times: Any,
    input_ids: Any,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    rec_delay: float | torch.Tensor = 0.0,
    xtol: float = 1e-10,
    min_slope: float = 0.0,
    spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
) -> Spikes:
    """Exact output spikes of a recurrent LIF layer, differentiable by EventProp.

    The forward is :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward`: an
    output spike of neuron n at t adds ``w_rec[n, :]`` to all currents at t + ``rec_delay``
    (if <= t_max).

    Parameters
    ----------
    input_times
        Input spike times, ms, (B, K_in): ascending per row, >= 0, ``+inf`` padding last;
        a tensor (which may require grad) or an array.
    input_ids
        Source indices, integers (B, K_in) in [0, n_in), -1 at padding.
    w_in
        Signed input weights, nA, (n_in, n), a float tensor (float64 for exact gradients).
    w_rec
        Signed recurrent weights, nA, (n, n), a float tensor of the dtype and device of
        ``w_in``; row n is what a spike of neuron n adds to the currents.
    params
        Neuron parameters, ``tau_refrac`` = 0.
    t_max
        End of the simulation, ms (> 0).
    max_spikes
        At most this many spikes per neuron and sample; None: no limit.
    delay
        Delay of every input, ms (>= 0).
    rec_delay
        Delay of all recurrent connections, ms (finite, >= 0): a number, or a tensor with
        one element, which then gets dL/d(rec_delay) (at 0: the derivative from the right).
    xtol
        Spike-time tolerance of the forward solver, ms.
    min_slope
        Grazing-crossing remedy, mV/ms (>= 0), as for :func:`lif_layer` (0: exact).
    spike_budget
        Runaway guard: a sample with more than ``spike_budget n`` spikes stops the forward
        with a ``CapacityError`` (:mod:`neurotwin.engines.event_recurrent_budget`); None:
        no limit.

    Returns
    -------
    Spikes
        ``times`` (B, K_out), differentiable; ``ids`` (B, K_out).

    Raises
    ------
    ConfigError
        Bad shapes (``w_rec`` not (n, n)), NaN or negative times, unsorted rows, ids out of
        range, weights not float tensors of one dtype and device, ``tau_refrac`` != 0,
        negative ``min_slope``, ``rec_delay`` not one number >= 0, ``spike_budget`` not an
        integer >= 1 or None.
    CapacityError
        A sample exceeded the spike budget (recurrent excitation running away).
    """
    check_eventprop_params(params)
    check_positive("min_slope", min_slope, "mV/ms", allow_zero=True)
    for name, w in (("w_in", w_in), ("w_rec", w_rec)):
        if not isinstance(w, torch.Tensor) or not w.is_floating_point():
            raise ConfigError(f"{name} must be a float torch tensor, got {type(w).__name__}")
    if w_rec.dtype != w_in.dtype or w_rec.device != w_in.device:
        raise ConfigError(
            f"w_rec must have the dtype and device of w_in ({w_in.dtype}, {w_in.device}), "
            f"got {w_rec.dtype}, {w_rec.device}"
        )
    times = input_times if isinstance(input_times, torch.Tensor) else torch.as_tensor(input_times)
    times = times.to(dtype=w_in.dtype, device=w_in.device)
    ids = torch.as_tensor(input_ids, device=w_in.device)
    d_rec = check_rec_delay(rec_delay)
    if isinstance(rec_delay, torch.Tensor):
        d = rec_delay.reshape(())
    else:
        d = torch.tensor(d_rec, dtype=w_in.dtype, device=w_in.device)
    out_times, out_ids = RecurrentLIFLayerFunction.apply(
        times, w_in, w_rec, d, ids, params, t_max, max_spikes, delay, xtol, min_slope,
        spike_budget,
    )
    return Spikes(out_times, out_ids)
