"""EventProp: exact event-based gradients of LIF networks (Wunderlich & Pehle 2021).

The algorithms, forward and adjoint, torch and compiled, are the event kernels
(:mod:`neurotwin.engines.event_kernels`; the adjoint maps and walks in
:mod:`neurotwin.engines.event_adjoint`). ``forward/`` runs a layer on them and records the
current at each spike; :mod:`~neurotwin.eventprop.functional` wraps the record and the
adjoint in a ``torch.autograd.Function``; :mod:`~neurotwin.eventprop.modules` holds the nn.Modules;
:mod:`~neurotwin.eventprop.losses` the losses; :mod:`~neurotwin.eventprop.silent` the
silent-neuron remedy; :mod:`~neurotwin.eventprop.delays` learnable per-source delays.
Equations: docs/eventprop.md.

This package is the face of EventProp training: with the neuron (:class:`EventLIF`) and
the padded spike batches (:class:`Spikes`, :class:`SpikeBatch`, :func:`first_spike_times`)
exported here, a training script needs ``nt.eventprop`` for the network and its loss,
``nt.datasets`` for the data and ``nt.train`` for the loop (docs/training.md).
"""

from neurotwin.dynamics.event_lif import EventLIF as EventLIF
from neurotwin.eventprop import losses as losses
from neurotwin.eventprop.delays import Delay as Delay
from neurotwin.eventprop.delays import delay_spikes as delay_spikes
from neurotwin.eventprop.functional import LIFLayerFunction as LIFLayerFunction
from neurotwin.eventprop.functional import (
    RecurrentLIFLayerFunction as RecurrentLIFLayerFunction,
)
from neurotwin.eventprop.functional import li_vmax as li_vmax
from neurotwin.eventprop.functional import lif_layer as lif_layer
from neurotwin.eventprop.functional import recurrent_lif_layer as recurrent_lif_layer
from neurotwin.eventprop.modules import ConvLIFLayer as ConvLIFLayer
from neurotwin.eventprop.modules import LIFLayer as LIFLayer
from neurotwin.eventprop.modules import LILayer as LILayer
from neurotwin.eventprop.modules import RecurrentLIFLayer as RecurrentLIFLayer
from neurotwin.eventprop.silent import WeightBump as WeightBump
from neurotwin.eventprop.silent import silent_label_pull as silent_label_pull
from neurotwin.eventprop.silent import silent_neurons as silent_neurons
from neurotwin.spikes import SpikeBatch as SpikeBatch
from neurotwin.spikes import Spikes as Spikes
from neurotwin.spikes import first_spike_times as first_spike_times
