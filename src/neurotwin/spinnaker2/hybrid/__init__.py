"""Hybrid DNN/SNN programs on the SpiNNaker2 twin (docs/spinnaker2_dnn.md, "Hybrid
DNN/SNN"): an int8 DNN front end on the MAC arrays whose last stage's PEs send its
activations as rate-coded spikes, through the router tables, to a LIF readout on other PEs.

    from neurotwin.spinnaker2 import dnn, hybrid
    front = dnn.quantise(model[:-1], calibration)                     # ends in a ReLU
    code = hybrid.RateCode(ticks=32)
    spikes = code.spikes(dnn.reference_codes(front, calibration), front.output_zero_point)
    readout = hybrid.readout_from_linear(model[-1].weight.detach().numpy(), spikes.sum(2))
    program = hybrid.deploy_hybrid(front, readout, code=code)
    run = hybrid.run_hybrid(program, dnn.quantise_input(front, images))
    ref = hybrid.reference_hybrid(program, images)                    # torch int8 + numpy LIF
"""

from neurotwin.spinnaker2.hybrid.coding import RateCode as RateCode
from neurotwin.spinnaker2.hybrid.program import HybridProgram as HybridProgram
from neurotwin.spinnaker2.hybrid.program import deploy_hybrid as deploy_hybrid
from neurotwin.spinnaker2.hybrid.readout import ReferenceRun as ReferenceRun
from neurotwin.spinnaker2.hybrid.readout import SpikingReadout as SpikingReadout
from neurotwin.spinnaker2.hybrid.readout import decide as decide
from neurotwin.spinnaker2.hybrid.readout import readout_from_linear as readout_from_linear
from neurotwin.spinnaker2.hybrid.readout import reference_lif as reference_lif
from neurotwin.spinnaker2.hybrid.reference import reference_hybrid as reference_hybrid
from neurotwin.spinnaker2.hybrid.run import HybridCost as HybridCost
from neurotwin.spinnaker2.hybrid.run import HybridRun as HybridRun
from neurotwin.spinnaker2.hybrid.run import run_hybrid as run_hybrid

__all__ = [
    "HybridCost",
    "HybridProgram",
    "HybridRun",
    "RateCode",
    "ReferenceRun",
    "SpikingReadout",
    "decide",
    "deploy_hybrid",
    "readout_from_linear",
    "reference_hybrid",
    "reference_lif",
    "run_hybrid",
]
