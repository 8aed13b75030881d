"""neurotwin as a PyNN backend: ``import neurotwin.pynn as sim`` runs a PyNN 0.13 script
on the ``ideal`` backend or on either twin (``sim.setup(backend="bss2")``).

Built on PyNN's own base classes (``pyNN.common``, ``pyNN.standardmodels``,
``pyNN.recording``, ``pyNN.connectors``) as ``pyNN.mock`` and ``pyNN.brian2`` are; what
is supported on which backend is listed in docs/pynn.md. The PyNN objects collect into a
:class:`~neurotwin.network.Network` that ``run`` maps and simulates with
:func:`neurotwin.simulate` (:mod:`neurotwin.pynn.build`, :mod:`neurotwin.pynn.simulator`).
"""

from pyNN import errors, random, space
from pyNN.connectors import (
    AllToAllConnector,
    ArrayConnector,
    CloneConnector,
    DisplacementDependentProbabilityConnector,
    DistanceDependentProbabilityConnector,
    FixedNumberPostConnector,
    FixedNumberPreConnector,
    FixedProbabilityConnector,
    FixedTotalNumberConnector,
    FromFileConnector,
    FromListConnector,
    IndexBasedProbabilityConnector,
    OneToOneConnector,
    SmallWorldConnector,
)
from pyNN.network import Network
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution
from pyNN.recording import get_io
from pyNN.space import Space
from pyNN.standardmodels import StandardCellType

from neurotwin.pynn.control import (
    end,
    get_current_time,
    get_max_delay,
    get_min_delay,
    get_time_step,
    initialize,
    num_processes,
    rank,
    reset,
    run,
    run_for,
    run_until,
    setup,
)
from neurotwin.pynn.electrodes import ACSource, DCSource, NoisyCurrentSource, StepCurrentSource
from neurotwin.pynn.populations import Assembly, Population, PopulationView
from neurotwin.pynn.procedural_api import connect, create, record, record_gsyn, record_v, set
from neurotwin.pynn.projections import Projection
from neurotwin.pynn.standardmodels import (
    REFUSED,
    AdditiveWeightDependence,
    EIF_cond_alpha_isfa_ista,
    EIF_cond_exp_isfa_ista,
    IF_cond_alpha,
    IF_cond_exp,
    IF_curr_alpha,
    IF_curr_exp,
    MultiplicativeWeightDependence,
    SimpleStochasticSynapse,
    SpikePairRule,
    SpikeSourceArray,
    SpikeSourceGamma,
    SpikeSourcePoisson,
    SpikeSourcePoissonRefractory,
    StaticSynapse,
    STDPMechanism,
    TsodyksMarkramSynapse,
)

globals().update(REFUSED)

__all__ = [
    "GSLRNG",
    "ACSource",
    "AdditiveWeightDependence",
    "AllToAllConnector",
    "ArrayConnector",
    "Assembly",
    "CloneConnector",
    "DCSource",
    "DisplacementDependentProbabilityConnector",
    "DistanceDependentProbabilityConnector",
    "EIF_cond_alpha_isfa_ista",
    "EIF_cond_exp_isfa_ista",
    "FixedNumberPostConnector",
    "FixedNumberPreConnector",
    "FixedProbabilityConnector",
    "FixedTotalNumberConnector",
    "FromFileConnector",
    "FromListConnector",
    "IF_cond_alpha",
    "IF_cond_exp",
    "IF_curr_alpha",
    "IF_curr_exp",
    "IndexBasedProbabilityConnector",
    "MultiplicativeWeightDependence",
    "Network",
    "NoisyCurrentSource",
    "NumpyRNG",
    "OneToOneConnector",
    "Population",
    "PopulationView",
    "Projection",
    "RandomDistribution",
    "STDPMechanism",
    "SimpleStochasticSynapse",
    "SmallWorldConnector",
    "Space",
    "SpikePairRule",
    "SpikeSourceArray",
    "SpikeSourceGamma",
    "SpikeSourcePoisson",
    "SpikeSourcePoissonRefractory",
    "StaticSynapse",
    "StepCurrentSource",
    "TsodyksMarkramSynapse",
    "connect",
    "create",
    "end",
    "errors",
    "get_current_time",
    "get_io",
    "get_max_delay",
    "get_min_delay",
    "get_time_step",
    "initialize",
    "list_standard_models",
    "num_processes",
    "random",
    "rank",
    "record",
    "record_gsyn",
    "record_v",
    "reset",
    "run",
    "run_for",
    "run_until",
    "set",
    "setup",
    "space",
]


def list_standard_models() -> list[str]:
    """The standard cell types this backend runs (the refused ones left out)."""
    return [name for name, obj in globals().items()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType and not hasattr(obj, "neurotwin_refused")]
