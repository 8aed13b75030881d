"""A recurrent LIF layer's forward pass, with what its adjoint needs recorded.

The spikes come from :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward`
(exact, never re-implemented). As for the feed-forward layer (``forward/layer.py``) the
adjoint needs, besides the spike times and ids, the synaptic current of each spiking neuron
just before its spike (v is v_thresh there by definition).
:func:`~neurotwin.eventprop.forward.layer.record_currents` with ``w_rec`` obtains it by
replaying the merged event list with the engine's :func:`flow` and
:func:`input_jump`, where an output spike of neuron n is now also an input: after its
current is read, the row ``w_rec[n, :]`` is added to all currents (zero delay). On CPU in
float64 the engine's compiled kernel returns that current with the spikes
(:func:`neurotwin.engines.event_recurrent.recurrent_kernel`, same rule), and no replay
runs.

*Simultaneous events.* The merged list is ordered by time, output spikes before input
arrivals at equal times, output spikes at equal times by neuron index; the replay (and the
adjoint walk, its mirror) takes events in that order, so a spike of neuron m at exactly
the time of a spike of neuron n < m sees n's recurrent jump. The spike times do not depend
on this choice (a current jump leaves v continuous); it fixes which one-sided derivative
is taken at such a tie, which has measure zero in the weights.
"""

from __future__ import annotations

import torch

from neurotwin.engines.event import EventLIF, check_spike_inputs, compiled_path
from neurotwin.engines.event_recurrent import (
    check_recurrent_weights,
    recurrent_kernel,
    recurrent_lif_forward,
)
from neurotwin.eventprop.forward.events import merge_events
from neurotwin.eventprop.forward.layer import (
    LayerRecord,
    check_eventprop_params,
    record_currents,
)

__all__ = ["recurrent_lif_record"]


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
    xtol: float = 1e-10,
) -> LayerRecord:
    """Run the recurrent layer with the event engine and record what its adjoint needs.

    Arguments as :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward` (validated
    there); ``params.tau_refrac`` must be 0. Computed without autograd.
    """
    params = check_eventprop_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, w_in, t_max, max_spikes, delay)
    w_r = check_recurrent_weights(w_rec, w)
    with torch.no_grad():
        w, w_r = w.detach(), w_r.detach()
        arrive = times.detach() + delay
        if compiled_path(w):
            spikes, current = recurrent_kernel(
                arrive, ids, w, w_r, params, t_max, max_spikes, xtol
            )
        else:
            spikes = recurrent_lif_forward(
                times, ids, w, w_r, params, t_max, max_spikes=max_spikes, delay=delay,
                xtol=xtol,
            )
            events = merge_events(arrive, ids, spikes.times, spikes.ids, t_max)
            current = record_currents(events, w, params, spikes.times.shape[1], w_rec=w_r)
    return LayerRecord(spikes, arrive, ids, current)
