"""One time-ordered list of a layer's events: input arrivals and output spikes, per sample.

The torch replay of the currents at the spikes (:func:`neurotwin.engines.event_torch.
record_currents`) and the torch adjoint walk (:mod:`neurotwin.engines.event_adjoint.layer`)
take a layer's events from it. On equal times an output spike comes first (the engine fires
the crossings up to an input before it applies the input), then input arrivals, then (in a
recurrent layer with rec_delay > 0) recurrent arrivals in spike order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from neurotwin.spikes import PAD_ID, Spikes

__all__ = ["EventList", "merge_events", "recurrent_events"]


class EventList(NamedTuple):
    """The events of a layer in time order, padded: tensors of shape (B, K_in + K_out)."""

    times: torch.Tensor
    """Event times, ms: ascending per row, ``+inf`` padding last."""
    is_output: torch.Tensor
    """True for an output spike of the layer, False for an input arrival (or padding)."""
    ids: torch.Tensor
    """Neuron index (output spike) or source index (input), int64; ``PAD_ID`` at padding."""
    column: torch.Tensor
    """Column of the event in the output batch (output spike) or input batch (input)."""


def merge_events(
    arrive: torch.Tensor,
    input_ids: torch.Tensor,
    out_times: torch.Tensor,
    out_ids: torch.Tensor,
    t_max: float,
) -> EventList:
    """Merge input arrivals and output spikes of a layer into one time-ordered list.

    Parameters
    ----------
    arrive
        Input arrival times (spike time + delay), ms, shape (B, K_in), ``+inf`` padded.
    input_ids
        Source indices, (B, K_in), ``PAD_ID`` at padding.
    out_times, out_ids
        The layer's output spikes, (B, K_out), as :func:`~neurotwin.engines.event.
        lif_layer_forward` returns them.
    t_max
        End of the simulation, ms: inputs arriving later did nothing and become padding.

    Returns
    -------
    EventList
        On equal times an output spike comes first: the engine fires the crossings up to
        an input event before it applies the input.
    """
    valid_in = (input_ids != PAD_ID) & (arrive <= t_max)
    t_in = torch.where(valid_in, arrive, math.inf)
    id_in = torch.where(valid_in, input_ids, PAD_ID)
    batch, k_in = arrive.shape
    k_out = out_times.shape[1]
    device = arrive.device
    times = torch.cat([out_times, t_in], dim=1)
    is_output = torch.cat(
        [
            torch.ones((batch, k_out), dtype=torch.bool, device=device),
            torch.zeros((batch, k_in), dtype=torch.bool, device=device),
        ],
        dim=1,
    ) & torch.isfinite(times)
    ids = torch.cat([out_ids, id_in], dim=1)
    column = torch.cat(
        [
            torch.arange(k_out, device=device).expand(batch, k_out),
            torch.arange(k_in, device=device).expand(batch, k_in),
        ],
        dim=1,
    )
    order = torch.argsort(times, dim=1, stable=True)
    return EventList(
        times.gather(1, order), is_output.gather(1, order), ids.gather(1, order),
        column.gather(1, order),
    )


def recurrent_events(
    arrive: torch.Tensor,
    input_ids: torch.Tensor,
    spikes: Spikes,
    t_max: float,
    n_in: int,
    rec_delay: float,
) -> EventList:
    """A recurrent layer's events in time order: inputs, output spikes and, at
    rec_delay > 0, the spikes' recurrent arrivals.

    Parameters
    ----------
    arrive, input_ids
        Input arrival times (ms, (B, K_in), ``+inf`` padded) and sources (-1 at padding).
    spikes
        The layer's output spikes, (B, K_out).
    t_max
        End of the simulation, ms: later arrivals become padding.
    n_in
        Number of input sources.
    rec_delay
        Recurrent delay, ms (>= 0).

    Returns
    -------
    EventList
        :func:`merge_events`; at rec_delay > 0 the
        arrival of output spike c of neuron n is an input event of source n_in + n (a row of
        ``[w_in; w_rec]``) in input column K_in + c, after the true inputs of its time.
    """
    if rec_delay == 0.0:
        return merge_events(arrive, input_ids, spikes.times, spikes.ids, t_max)
    rec_ids = torch.where(spikes.ids >= 0, spikes.ids + n_in, PAD_ID)
    return merge_events(
        torch.cat([arrive, spikes.times + rec_delay], dim=1),
        torch.cat([input_ids, rec_ids], dim=1), spikes.times, spikes.ids, t_max,
    )
