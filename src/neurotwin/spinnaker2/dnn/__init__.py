"""int8 DNN inference on the SpiNNaker2 twin's MAC arrays (docs/spinnaker2_dnn.md).

    from neurotwin.spinnaker2 import dnn
    qmodel = dnn.quantise(model, calibration)          # torch's int8 model + the twin's layers
    program = dnn.deploy(qmodel, s2.Machine(board_chips=1))
    codes = dnn.run_dnn(program, dnn.quantise_input(qmodel, x))
    assert (codes == dnn.reference_codes(qmodel, x)).all()   # bit-exact with torch
    cost = dnn.estimate_dnn_cost(program)              # latency, data moved, energy
"""

from neurotwin.spinnaker2.dnn.cost import ASSUMPTIONS as ASSUMPTIONS
from neurotwin.spinnaker2.dnn.cost import DnnCost as DnnCost
from neurotwin.spinnaker2.dnn.cost import estimate_dnn_cost as estimate_dnn_cost
from neurotwin.spinnaker2.dnn.layers import Flatten as Flatten
from neurotwin.spinnaker2.dnn.layers import MacLayer as MacLayer
from neurotwin.spinnaker2.dnn.layers import Pool as Pool
from neurotwin.spinnaker2.dnn.layers import QuantisedModel as QuantisedModel
from neurotwin.spinnaker2.dnn.layers import Relu as Relu
from neurotwin.spinnaker2.dnn.partition import DnnProgram as DnnProgram
from neurotwin.spinnaker2.dnn.partition import PeSlice as PeSlice
from neurotwin.spinnaker2.dnn.partition import Stage as Stage
from neurotwin.spinnaker2.dnn.partition import deploy as deploy
from neurotwin.spinnaker2.dnn.quantisation import quantise as quantise
from neurotwin.spinnaker2.dnn.quantisation import quantise_input as quantise_input
from neurotwin.spinnaker2.dnn.quantisation import reference_codes as reference_codes
from neurotwin.spinnaker2.dnn.run import run_dnn as run_dnn

__all__ = [
    "ASSUMPTIONS",
    "DnnCost",
    "DnnProgram",
    "Flatten",
    "MacLayer",
    "PeSlice",
    "Pool",
    "QuantisedModel",
    "Relu",
    "Stage",
    "deploy",
    "estimate_dnn_cost",
    "quantise",
    "quantise_input",
    "reference_codes",
    "run_dnn",
]
