r"""The event-driven engine: exact simulation of current-based LIF layers, without a time grid.

The neuron is :class:`neurotwin.dynamics.event_lif.EventLIF` (one synaptic current with
signed weights, the EventProp neuron; ms, mV from rest, nA, nF; equations there). Between
events its state evolves in closed form, so a simulation is a sequence of pure maps
(:mod:`neurotwin.engines.event_maps`: flow, input and spike jumps, next threshold crossing
by a safeguarded Newton solve to ``xtol``, never early).

:func:`lif_layer_forward` runs a feed-forward layer on a padded batch of input spikes
(:mod:`neurotwin.spikes`): it validates its arguments (:func:`check_spike_inputs`) and runs
the layer on the event kernels that :func:`~neurotwin.engines.event_kernels.event_kernels`
chooses from the weights: compiled, one (sample, neuron) pair at a time, on CPU in float64
(:mod:`neurotwin.engines.event_kernel`), else the torch maps walking the input events in
time order, vectorised over samples and neurons (:mod:`neurotwin.engines.event_torch`).
The recurrent layer is :mod:`neurotwin.engines.event_recurrent`; EventProp's adjoint
mirrors the maps (:mod:`neurotwin.engines.event_adjoint`).
"""

from __future__ import annotations

from typing import Any

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.errors import ConfigError, check_finite, check_int, check_positive
from neurotwin.spikes import Spikes, check_padded_batch

__all__ = ["check_event_params", "check_spike_inputs", "lif_layer_forward"]


def check_event_params(params: Any) -> EventLIF:
    """Raise :class:`ConfigError` unless ``params`` is an :class:`EventLIF`."""
    if not isinstance(params, EventLIF):
        raise ConfigError(
            f"params must be an EventLIF (EventLIF.from_lif converts a LIF), got "
            f"{type(params).__name__}"
        )
    return params


def check_spike_inputs(
    input_times: Any, input_ids: Any, weights: Any, t_max: float, max_spikes: int | None,
    delay: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate the arguments of :func:`lif_layer_forward`; return (times, ids, weights)."""
    w = torch.as_tensor(weights)
    if not w.is_floating_point():
        w = w.to(torch.float64)
    if w.ndim != 2:
        raise ConfigError(f"weights must have shape (n_in, n_out), got {tuple(w.shape)}")
    check_finite("weights", w.detach().cpu().numpy())
    times = torch.as_tensor(input_times).to(dtype=w.dtype, device=w.device)
    ids = torch.as_tensor(input_ids).to(device=w.device)
    check_padded_batch(
        times.detach().cpu().numpy(), ids.cpu().numpy(), w.shape[0],
        names=("input_times", "input_ids"), sources=" (rows of weights)",
    )
    ids = ids.long()
    check_positive("t_max", t_max, "ms")
    check_positive("delay", delay, "ms", allow_zero=True)
    if max_spikes is not None:
        check_int("max_spikes (or None)", max_spikes, low=1)
    return times, ids, w


def lif_layer_forward(
    input_times: Any,
    input_ids: Any,
    weights: Any,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    xtol: float = 1e-10,
) -> Spikes:
    """Exact spikes of a feed-forward layer of LIF neurons driven by a batch of input spikes.

    Parameters
    ----------
    input_times
        Input spike times, ms, shape (B, K): per row ascending, >= 0, ``+inf`` padding last
        (a torch tensor, numpy array or :class:`neurotwin.spikes.SpikeBatch`'s
        ``times``).
    input_ids
        Input source index per spike, integers of shape (B, K) in [0, n_in), ``-1`` where
        the time is ``+inf``.
    weights
        Signed weights, nA, shape (n_in, n_out). Their dtype (a float dtype; float64 for
        spike times exact to ``xtol``) and device are those of the computation and output.
    params
        Neuron parameters shared by the layer; every neuron starts at rest at 0 ms.
    t_max
        End of the simulation, ms (> 0): spikes in (0, t_max] are returned; inputs arriving
        after t_max are ignored.
    max_spikes
        At most this many spikes per neuron and sample (later crossings of a neuron that
        reached it are not computed); None: no limit.
    delay
        Axonal delay of every connection, ms (>= 0): input spikes act at time + delay.
    xtol
        Spike-time tolerance, ms: each returned time lies within ``xtol`` after the exact
        crossing (never before it), up to rounding.

    Returns
    -------
    Spikes
        ``times`` (B, K_out) ascending per row (ties by neuron index), ``+inf`` padded, and
        ``ids`` (B, K_out) neuron indices in [0, n_out) or ``-1``; K_out is the largest
        spike count of a sample (0 if no neuron fires). Computed without autograd.

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, unsorted rows, ids out of range, t_max <= 0 ...
    """
    check_event_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, weights, t_max, max_spikes, delay)
    return event_kernels(w).forward(times + delay, ids, w, params, t_max, max_spikes, xtol)
