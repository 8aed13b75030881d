"""The adjoint of the event engine (EventProp's backward half): adjoint flow between events
and adjoint jumps at events, mirroring :mod:`neurotwin.engines.event_maps`, the torch
reverse-time walks of a layer (mirrors of :mod:`neurotwin.engines.event_torch`) and their
compiled CPU float64 form (``kernel.py``)."""

from neurotwin.engines.event_adjoint.flow import AdjointState as AdjointState
from neurotwin.engines.event_adjoint.flow import adjoint_flow as adjoint_flow
from neurotwin.engines.event_adjoint.flow import adjoint_params as adjoint_params
from neurotwin.engines.event_adjoint.jump import adjoint_input_jump as adjoint_input_jump
from neurotwin.engines.event_adjoint.jump import adjoint_spike_jump as adjoint_spike_jump
from neurotwin.engines.event_adjoint.layer import lif_layer_backward as lif_layer_backward
