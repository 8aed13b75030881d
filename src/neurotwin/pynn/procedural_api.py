"""PyNN's procedural API (``create``, ``connect``, ``record``) for neurotwin."""

from __future__ import annotations

from pyNN import common
from pyNN.connectors import FixedProbabilityConnector

from neurotwin.pynn import simulator
from neurotwin.pynn.populations import Population
from neurotwin.pynn.projections import Projection
from neurotwin.pynn.standardmodels import StaticSynapse

__all__ = ["connect", "create", "record", "record_gsyn", "record_v", "set"]

create = common.build_create(Population)
connect = common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)
record = common.build_record(simulator)
set = common.set


def record_v(source: object, filename: str) -> object:
    """Record the membrane potential of ``source`` into ``filename`` at ``end()``."""
    return record(["v"], source, filename)


def record_gsyn(source: object, filename: str) -> object:
    """Synaptic conductances are not recorded: neurotwin's synapses are current-based."""
    raise NotImplementedError("neurotwin's synapses are current-based: record 'isyn_exc' / "
                              "'isyn_inh' of IF_curr_exp instead of conductances")
