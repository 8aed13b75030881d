"""A recurrent LIF layer's forward pass, with what its adjoint needs recorded.

The spikes come from :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward`
(exact, never re-implemented). As for the feed-forward layer (``forward/layer.py``) the
adjoint needs, besides the spike times and ids, the synaptic current of each spiking neuron
just before its spike (v is v_thresh there by definition).
:func:`~neurotwin.eventprop.forward.layer.record_currents` with ``w_rec`` obtains it by
replaying the merged event list with the engine's :func:`flow` and
:func:`input_jump`, where an output spike of neuron n is now also an input: at
rec_delay = 0, after its current is read, the row ``w_rec[n, :]`` is added to all currents;
at rec_delay > 0 the spike's arrival at t + rec_delay (if <= t_max) is one more input
event, of source n_in + n with the weights ``[w_in; w_rec]`` (:func:`recurrent_events`). On
CPU in float64 the engine's compiled kernel returns that current with the spikes
(:func:`neurotwin.engines.event_recurrent.recurrent_kernel`, same rule), and no replay
runs.

*Simultaneous events.* The merged list is ordered by time; at equal times output spikes
come first (by neuron index), then input arrivals, then recurrent arrivals (in spike
order), as in the engine. The replay (and the adjoint walk, its mirror) takes events in
that order, so at rec_delay = 0 a spike of neuron m at exactly the time of a spike of
neuron n < m sees n's recurrent jump. The spike times do not depend on this choice (a
current jump leaves v continuous); it fixes which one-sided derivative is taken at such a
tie, which has measure zero in the weights.
"""

from __future__ import annotations

import torch

from neurotwin.engines.event import PAD_ID, EventLIF, Spikes, check_spike_inputs, compiled_path
from neurotwin.engines.event_recurrent import (
    check_rec_delay,
    check_recurrent_weights,
    recurrent_kernel,
    recurrent_lif_forward,
)
from neurotwin.eventprop.forward.events import EventList, merge_events
from neurotwin.eventprop.forward.layer import (
    LayerRecord,
    check_eventprop_params,
    record_currents,
)

__all__ = ["recurrent_events", "recurrent_lif_record"]


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
        :func:`~neurotwin.eventprop.forward.events.merge_events`; at rec_delay > 0 the
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


def recurrent_lif_record(
    input_times: torch.Tensor,
    input_ids: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    rec_delay: float = 0.0,
    xtol: float = 1e-10,
) -> LayerRecord:
    """Run the recurrent layer with the event engine and record what its adjoint needs.

    Arguments as :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward` (validated
    there); ``params.tau_refrac`` must be 0. Computed without autograd.
    """
    params = check_eventprop_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, w_in, t_max, max_spikes, delay)
    w_r = check_recurrent_weights(w_rec, w)
    d_rec = check_rec_delay(rec_delay)
    with torch.no_grad():
        w, w_r = w.detach(), w_r.detach()
        arrive = times.detach() + delay
        if compiled_path(w):
            spikes, current = recurrent_kernel(
                arrive, ids, w, w_r, params, t_max, max_spikes, xtol, d_rec
            )
        else:
            spikes = recurrent_lif_forward(
                times, ids, w, w_r, params, t_max, max_spikes=max_spikes, delay=delay,
                rec_delay=d_rec, xtol=xtol,
            )
            events = recurrent_events(arrive, ids, spikes, t_max, w.shape[0], d_rec)
            k_out = spikes.times.shape[1]
            if d_rec == 0.0:
                current = record_currents(events, w, params, k_out, w_rec=w_r)
            else:
                current = record_currents(events, torch.cat([w, w_r]), params, k_out)
    return LayerRecord(spikes, arrive, ids, current)
