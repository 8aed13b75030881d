"""SpiNNaker2 twin: the machine (chips, boards, links, faults) and the mapper that turns a
network into a :class:`Placement` (slices on PEs, routing keys, router tables), and the
runtime that executes it tick by tick (backend "spinnaker2"); the PE accelerators
(:mod:`.accelerators`), int8 DNN inference on them (:mod:`.dnn`) and the event-based GRU
(:mod:`.egru`).

    from neurotwin import spinnaker2 as s2
    placement = s2.map(net, s2.Machine(n_boards=1))
    print(s2.report_text(placement))
"""

from neurotwin.spinnaker2 import accelerators as accelerators
from neurotwin.spinnaker2 import dnn as dnn
from neurotwin.spinnaker2 import egru as egru
from neurotwin.spinnaker2 import hybrid as hybrid
from neurotwin.spinnaker2 import numerics as numerics
from neurotwin.spinnaker2 import specs as specs
from neurotwin.spinnaker2.backend import SpiNNaker2Backend as SpiNNaker2Backend
from neurotwin.spinnaker2.cost import DeadlineMiss as DeadlineMiss
from neurotwin.spinnaker2.cost import S2Cost as S2Cost
from neurotwin.spinnaker2.draw import draw_placement as draw_placement
from neurotwin.spinnaker2.machine import DeadChip as DeadChip
from neurotwin.spinnaker2.machine import DeadLink as DeadLink
from neurotwin.spinnaker2.machine import DeadPE as DeadPE
from neurotwin.spinnaker2.machine import Fault as Fault
from neurotwin.spinnaker2.machine import Machine as Machine
from neurotwin.spinnaker2.mapping import map_network as map_network
from neurotwin.spinnaker2.placement import Placement as Placement
from neurotwin.spinnaker2.program import S2Program as S2Program
from neurotwin.spinnaker2.report import report_text as report_text
from neurotwin.spinnaker2.report import resources as resources
from neurotwin.spinnaker2.report import utilisation as utilisation
from neurotwin.spinnaker2.router import follow as follow
from neurotwin.spinnaker2.router import follow_block as follow_block
from neurotwin.spinnaker2.routing import Tables as Tables

map = map_network
"""``spinnaker2.map(network, machine=None, ...) -> Placement`` (alias of :func:`map_network`)."""

__all__ = [
    "DeadChip",
    "DeadLink",
    "DeadPE",
    "DeadlineMiss",
    "Fault",
    "Machine",
    "Placement",
    "S2Cost",
    "S2Program",
    "SpiNNaker2Backend",
    "Tables",
    "accelerators",
    "dnn",
    "draw_placement",
    "egru",
    "follow",
    "follow_block",
    "hybrid",
    "map",
    "map_network",
    "numerics",
    "report_text",
    "resources",
    "specs",
    "utilisation",
]
