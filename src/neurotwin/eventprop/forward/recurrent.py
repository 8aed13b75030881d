"""A recurrent LIF layer's forward pass, with what its adjoint needs recorded.

The spikes come from the event kernels' ``record_recurrent``
(:class:`neurotwin.engines.event_kernels.EventKernels`; algorithm in
:mod:`neurotwin.engines.event_recurrent`, never re-implemented). As for the feed-forward
layer (``forward/layer.py``) the adjoint needs, besides the spike times and ids, the
synaptic current of each spiking neuron just before its spike (v is v_thresh there by
definition), before the neuron's own recurrent jump.

*Simultaneous events.* At equal times output spikes come first (by neuron index), then
input arrivals, then recurrent arrivals (in spike order), as in the engine, and the adjoint
walk (:mod:`neurotwin.engines.event_adjoint.recurrent`) takes them in the reverse order, so
at rec_delay = 0 a spike of neuron m at exactly the time of a spike of neuron n < m sees
n's recurrent jump. The spike times do not depend on this choice (a current jump leaves v
continuous); it fixes which one-sided derivative is taken at such a tie, which has measure
zero in the weights.
"""

from __future__ import annotations

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import check_spike_inputs
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.engines.event_recurrent import check_rec_delay, check_recurrent_weights
from neurotwin.engines.event_recurrent_budget import DEFAULT_SPIKE_BUDGET, check_spike_budget
from neurotwin.eventprop.forward.layer import LayerRecord, check_eventprop_params

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
    rec_delay: float = 0.0,
    xtol: float = 1e-10,
    spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
) -> LayerRecord:
    """Run the recurrent layer with the event engine and record what its adjoint needs.

    Arguments as :func:`neurotwin.engines.event_recurrent.recurrent_lif_forward` (validated
    there); ``params.tau_refrac`` must be 0. Computed without autograd.
    """
    params = check_eventprop_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, w_in, t_max, max_spikes, delay)
    w_r = check_recurrent_weights(w_rec, w)
    d_rec = check_rec_delay(rec_delay)
    budget = check_spike_budget(spike_budget)
    with torch.no_grad():
        w, w_r = w.detach(), w_r.detach()
        arrive = times.detach() + delay
        spikes, current = event_kernels(w).record_recurrent(
            arrive, ids, w, w_r, params, t_max, max_spikes, xtol, d_rec, budget
        )
    return LayerRecord(spikes, arrive, ids, current)
