"""The event-based GRU (EGRU, Subramoney et al. 2023) and a dense GRU on the SpiNNaker2
twin's MAC arrays (docs/spinnaker2_dnn.md, section "Event-based GRU").

    model = egru.RnnClassifier("egru", 28, 64, 10)          # train in torch
    qmodel = egru.quantise_rnn(model)                         # int8 weights, 8-bit events
    program = egru.deploy_rnn(qmodel, Machine(board_chips=1))
    run = egru.run_rnn(program, egru.quantise_sequences(x, 28))   # event-driven MAC jobs
    logits, _ = egru.reference_forward(qmodel, codes)         # == run.logits bit for bit
    cost = egru.estimate_rnn_cost(program, run)               # ops, time, energy per sequence
"""

from neurotwin.spinnaker2.egru.cost import RnnCost as RnnCost
from neurotwin.spinnaker2.egru.cost import estimate_rnn_cost as estimate_rnn_cost
from neurotwin.spinnaker2.egru.deploy import RnnProgram as RnnProgram
from neurotwin.spinnaker2.egru.deploy import UnitSlice as UnitSlice
from neurotwin.spinnaker2.egru.deploy import deploy_rnn as deploy_rnn
from neurotwin.spinnaker2.egru.deploy import step_cycles as step_cycles
from neurotwin.spinnaker2.egru.model import RnnClassifier as RnnClassifier
from neurotwin.spinnaker2.egru.model import spike as spike
from neurotwin.spinnaker2.egru.quantise import QuantisedRnn as QuantisedRnn
from neurotwin.spinnaker2.egru.quantise import cell_update as cell_update
from neurotwin.spinnaker2.egru.quantise import quantise_rnn as quantise_rnn
from neurotwin.spinnaker2.egru.quantise import quantise_sequences as quantise_sequences
from neurotwin.spinnaker2.egru.quantise import reference_forward as reference_forward
from neurotwin.spinnaker2.egru.run import RnnRun as RnnRun
from neurotwin.spinnaker2.egru.run import run_rnn as run_rnn

__all__ = [
    "QuantisedRnn",
    "RnnClassifier",
    "RnnCost",
    "RnnProgram",
    "RnnRun",
    "UnitSlice",
    "cell_update",
    "deploy_rnn",
    "estimate_rnn_cost",
    "quantise_rnn",
    "quantise_sequences",
    "reference_forward",
    "run_rnn",
    "spike",
    "step_cycles",
]
