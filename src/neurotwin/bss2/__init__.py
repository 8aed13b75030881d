"""BrainScaleS-2 twin (HICANN-X): a virtual chip with the fixed-pattern deviations of its
serial number, its readouts, and calibration through those readouts.

Units on the chip side: hardware time µs, voltage mV, current nA, capacitance pF; 1 ms of
model time is 1 µs on the chip (``specs.ACCELERATION``). See ``docs/bss2.md``.
"""

from neurotwin.bss2 import backend as backend  # registers the "bss2" backend
from neurotwin.bss2 import specs as specs
from neurotwin.bss2 import vmm as vmm
from neurotwin.bss2.calibration import Calibration as Calibration
from neurotwin.bss2.calibration import CalibrationReport as CalibrationReport
from neurotwin.bss2.calibration import CalibrationTargets as CalibrationTargets
from neurotwin.bss2.calibration import calibrate as calibrate
from neurotwin.bss2.chip import Chip as Chip
from neurotwin.bss2.chip import Deviations as Deviations
from neurotwin.bss2.chip import FixedPattern as FixedPattern
from neurotwin.bss2.config import ChipConfig as ChipConfig
from neurotwin.bss2.config import NeuronConfig as NeuronConfig
from neurotwin.bss2.mapping import Mapping as Mapping
from neurotwin.bss2.mapping import map_network as map_network
from neurotwin.bss2.neuron import CircuitParameters as CircuitParameters
from neurotwin.bss2.neuron import Emulation as Emulation
from neurotwin.bss2.neuron import emulate as emulate
from neurotwin.bss2.neuron import merge_compartments as merge_compartments
from neurotwin.bss2.neuron_mapping import PopulationMap as PopulationMap
from neurotwin.bss2.readout import Bss2Result as Bss2Result
from neurotwin.bss2.readout import CorrelationReadout as CorrelationReadout
from neurotwin.bss2.readout import Readout as Readout
from neurotwin.bss2.run_loop import EmulationState as EmulationState
from neurotwin.bss2.run_loop import PeriodicProgram as PeriodicProgram
from neurotwin.bss2.specs import SaturationWarning as SaturationWarning
