"""The backward half of EventProp: adjoint flow between events and adjoint jumps at events,
mirroring ``eventprop/forward`` file by file, and the reverse-time walk of one layer."""

from neurotwin.eventprop.adjoint.flow import AdjointState as AdjointState
from neurotwin.eventprop.adjoint.flow import adjoint_flow as adjoint_flow
from neurotwin.eventprop.adjoint.flow import adjoint_params as adjoint_params
from neurotwin.eventprop.adjoint.jump import adjoint_input_jump as adjoint_input_jump
from neurotwin.eventprop.adjoint.jump import adjoint_spike_jump as adjoint_spike_jump
from neurotwin.eventprop.adjoint.layer import lif_layer_backward as lif_layer_backward
