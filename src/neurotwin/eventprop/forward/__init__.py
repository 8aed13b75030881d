"""The forward half of EventProp: a layer's run on the event kernels with what its adjoint
needs recorded (the synaptic current at each output spike), and the V_max readout."""

from neurotwin.eventprop.forward.layer import LayerRecord as LayerRecord
from neurotwin.eventprop.forward.layer import lif_layer_record as lif_layer_record
from neurotwin.eventprop.forward.readout import li_vmax as li_vmax
from neurotwin.eventprop.forward.recurrent import recurrent_lif_record as recurrent_lif_record
