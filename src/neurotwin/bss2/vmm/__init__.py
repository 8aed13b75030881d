"""BrainScaleS-2 as a vector-matrix multiplier behind PyTorch (hxtorch.perceptron).

The analog core without spikes: 5-bit inputs, signed 6-bit weights, int8 CADC reads.
Operations (:mod:`.ops`) run on a target: hxtorch's mock (:class:`MockParameter`) or a
twin of chips with their deviations (:class:`Twin`); layers in :mod:`.nn`; a float
network carried over in :mod:`.convert`; per-column calibration in :mod:`.calibrate`;
partitioning
and the schedule in :mod:`.partition`; the runtime overhead in :mod:`.overhead`. See
``docs/vmm.md``.
"""

from neurotwin.bss2.vmm import nn as nn
from neurotwin.bss2.vmm.calibrate import ColumnCalibration as ColumnCalibration
from neurotwin.bss2.vmm.calibrate import measure_columns as measure_columns
from neurotwin.bss2.vmm.convert import LayerScale as LayerScale
from neurotwin.bss2.vmm.convert import from_float as from_float
from neurotwin.bss2.vmm.measure import measure_mock_parameter as measure_mock_parameter
from neurotwin.bss2.vmm.mock import MockParameter as MockParameter
from neurotwin.bss2.vmm.ops import add as add
from neurotwin.bss2.vmm.ops import argmax as argmax
from neurotwin.bss2.vmm.ops import conv1d as conv1d
from neurotwin.bss2.vmm.ops import conv2d as conv2d
from neurotwin.bss2.vmm.ops import converting_relu as converting_relu
from neurotwin.bss2.vmm.ops import expanded_conv1d as expanded_conv1d
from neurotwin.bss2.vmm.ops import matmul as matmul
from neurotwin.bss2.vmm.ops import relu as relu
from neurotwin.bss2.vmm.overhead import OverheadBreakdown as OverheadBreakdown
from neurotwin.bss2.vmm.overhead import OverheadModel as OverheadModel
from neurotwin.bss2.vmm.overhead import inference_overhead as inference_overhead
from neurotwin.bss2.vmm.partition import Schedule as Schedule
from neurotwin.bss2.vmm.partition import partition as partition
from neurotwin.bss2.vmm.target import VmmTarget as VmmTarget
from neurotwin.bss2.vmm.twin import Twin as Twin
from neurotwin.bss2.vmm.twin import VmmDeviations as VmmDeviations
