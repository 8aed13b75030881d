"""A feed-forward LIF layer's forward pass, with what its adjoint needs recorded.

The spikes come from the event kernels (exact, never re-implemented). The adjoint needs,
besides the input arrivals and the output spikes, the state of each neuron just before each
of its spikes: v = v_thresh by definition, and the synaptic current i, which the kernels'
``record`` returns with the spikes (:class:`neurotwin.engines.event_kernels.EventKernels`:
compiled on CPU in float64, else a torch replay of the merged events,
:func:`neurotwin.engines.event_torch.record_currents`). Nothing else is stored: memory is
O(B (K_in + K_out)).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import check_event_params, check_spike_inputs
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.errors import ConfigError
from neurotwin.spikes import Spikes

__all__ = ["LayerRecord", "check_eventprop_params", "lif_layer_record"]


class LayerRecord(NamedTuple):
    """A layer's output spikes and what the adjoint pass of the layer needs."""

    spikes: Spikes
    """Output spikes, (B, K_out), as the event engine returns them."""
    arrive: torch.Tensor
    """Input arrival times (spike time + delay), ms, (B, K_in), ``+inf`` padded."""
    input_ids: torch.Tensor
    """Input source indices, int64, (B, K_in), -1 at padding."""
    current_at_spike: torch.Tensor
    """Synaptic current of the spiking neuron just before each output spike, nA, (B, K_out);
    0 at padding."""


def check_eventprop_params(params: Any) -> EventLIF:
    """Raise :class:`ConfigError` unless ``params`` is an :class:`EventLIF` that the adjoint
    covers (no refractory period)."""
    check_event_params(params)
    if params.tau_refrac != 0.0:
        raise ConfigError(
            f"EventProp here needs tau_refrac = 0 ms (no refractory adjoint), got "
            f"{params.tau_refrac} ms"
        )
    return params


def lif_layer_record(
    input_times: torch.Tensor,
    input_ids: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    xtol: float = 1e-10,
) -> LayerRecord:
    """Run the layer with the event engine and record what its adjoint needs.

    Arguments as :func:`neurotwin.engines.event.lif_layer_forward` (validated there);
    ``params.tau_refrac`` must be 0. Computed without autograd.
    """
    params = check_eventprop_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, weights, t_max, max_spikes, delay)
    with torch.no_grad():
        w = w.detach()
        arrive = times.detach() + delay
        spikes, current = event_kernels(w).record(arrive, ids, w, params, t_max, max_spikes,
                                                  xtol)  # fmt: skip
    return LayerRecord(spikes, arrive, ids, current)
