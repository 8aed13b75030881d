"""A feed-forward LIF layer's forward pass, with what its adjoint needs recorded.

The spikes come from the event engine (exact, never re-implemented). The adjoint needs,
besides the input arrivals and the output spikes, the state of each neuron just before each
of its spikes: v = v_thresh by definition, and the synaptic current i. On CPU in float64 the
engine's compiled kernel returns it with the spikes
(:func:`neurotwin.engines.event.layer_kernel`); elsewhere :func:`record_currents` obtains
it by replaying the merged event list with the engine's own :func:`flow` and
:func:`input_jump` (one pass, no threshold search; the current does not depend on the
neuron's own spikes, so the spike jump, which only resets v, is not replayed). Nothing else
is stored: memory is O(B (K_in + K_out)).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from neurotwin.engines.event import (
    EventLIF,
    Spikes,
    check_spike_inputs,
    compiled_path,
    initial_state,
    layer_kernel,
    lif_layer_forward,
)
from neurotwin.errors import ConfigError
from neurotwin.eventprop.forward.events import EventList, merge_events
from neurotwin.eventprop.forward.flow import flow
from neurotwin.eventprop.forward.jump import input_jump

__all__ = ["LayerRecord", "check_eventprop_params", "lif_layer_record", "record_currents"]


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
    if not isinstance(params, EventLIF):
        raise ConfigError(
            f"params must be an EventLIF (EventLIF.from_lif converts a LIF), got "
            f"{type(params).__name__}"
        )
    if params.tau_refrac != 0.0:
        raise ConfigError(
            f"EventProp here needs tau_refrac = 0 ms (no refractory adjoint), got "
            f"{params.tau_refrac} ms"
        )
    return params


def record_currents(
    events: EventList,
    weights: torch.Tensor,
    params: EventLIF,
    k_out: int,
    w_rec: torch.Tensor | None = None,
) -> torch.Tensor:
    """Synaptic current of the spiking neuron just before each output spike, nA, (B, K_out).

    Replays ``events`` through the engine's flow and input jump, reading the current off at
    each output spike (v of the replay is not used); 0 at padding.

    Parameters
    ----------
    events
        The layer's inputs and output spikes in time order, (B, K_in + K_out).
    weights
        Input weights, nA, (n_in, n_out).
    params
        Neuron parameters.
    k_out
        Width of the output batch.
    w_rec
        Recurrent weights, nA, (n_out, n_out), or None (feed-forward): after an output
        spike of neuron n is read, the row ``w_rec[n, :]`` is added to all currents (zero
        delay, ``forward/recurrent.py``).
    """
    batch, n_out = events.times.shape[0], weights.shape[1]
    out = torch.zeros((batch, k_out), dtype=weights.dtype, device=weights.device)
    state = initial_state((batch, n_out), weights.dtype, weights.device)
    rows = torch.arange(batch, device=weights.device)
    for c in range(events.times.shape[1]):
        t_c = events.times[:, c]
        valid = torch.isfinite(t_c)
        if not bool(valid.any()):
            break
        ids = events.ids[:, c].clamp(min=0)
        is_out = events.is_output[:, c] & valid
        is_in = valid & ~is_out
        state = flow(state, torch.where(valid, t_c, state.t[:, 0])[:, None], params)
        if bool(is_out.any()):
            out[rows[is_out], events.column[is_out, c]] = state.i[rows[is_out], ids[is_out]]
        jump = weights[torch.where(is_in, ids, 0)] * is_in[:, None]
        if w_rec is not None:
            jump = torch.where(is_out[:, None], w_rec[torch.where(is_out, ids, 0)], jump)
        state = input_jump(state, jump)
    return out


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
        if compiled_path(w):
            spikes, current = layer_kernel(arrive, ids, w, params, t_max, max_spikes, xtol)
        else:
            spikes = lif_layer_forward(
                times, ids, w, params, t_max, max_spikes=max_spikes, delay=delay, xtol=xtol
            )
            events = merge_events(arrive, ids, spikes.times, spikes.ids, t_max)
            current = record_currents(events, w, params, spikes.times.shape[1])
    return LayerRecord(spikes, arrive, ids, current)
