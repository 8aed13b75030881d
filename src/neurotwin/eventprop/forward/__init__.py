"""The forward half of EventProp: the event engine's pieces, reused, plus what the adjoint
needs recorded (the synaptic current at each output spike) and the V_max readout."""

from neurotwin.eventprop.forward.events import EventList as EventList
from neurotwin.eventprop.forward.events import merge_events as merge_events
from neurotwin.eventprop.forward.flow import flow as flow
from neurotwin.eventprop.forward.jump import input_jump as input_jump
from neurotwin.eventprop.forward.jump import spike_jump as spike_jump
from neurotwin.eventprop.forward.layer import LayerRecord as LayerRecord
from neurotwin.eventprop.forward.layer import lif_layer_record as lif_layer_record
from neurotwin.eventprop.forward.readout import li_vmax as li_vmax
