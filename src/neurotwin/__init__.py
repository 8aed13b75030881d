"""neurotwin: software twins of BrainScaleS-2 and SpiNNaker2, with exact event-based training.

The public face::

    import neurotwin as nt
    net = nt.Network(dt=0.1)
    pop = net.add(nt.Population(100, nt.LIF(), label="exc"))
    res = nt.simulate(net, duration=1000.0, backend="ideal", seed=0)

and for training, ``nt.eventprop`` (layers, losses, spike batches, the training loop;
docs/training.md) and ``nt.datasets``.
"""

from neurotwin import backends as backends
from neurotwin import bss2 as bss2  # registers the "bss2" backend
from neurotwin import datasets as datasets
from neurotwin import eventprop as eventprop
from neurotwin import spinnaker2 as spinnaker2
from neurotwin import train as train
from neurotwin.backends import BACKENDS as BACKENDS
from neurotwin.backends import Backend as Backend
from neurotwin.backends import simulate as simulate
from neurotwin.dynamics import LIF as LIF
from neurotwin.dynamics import MODELS as MODELS
from neurotwin.dynamics import AdEx as AdEx
from neurotwin.dynamics import AlphaLIF as AlphaLIF
from neurotwin.dynamics import CondAlphaAdEx as CondAlphaAdEx
from neurotwin.dynamics import CondAlphaLIF as CondAlphaLIF
from neurotwin.dynamics import CondExpAdEx as CondExpAdEx
from neurotwin.dynamics import CondExpLIF as CondExpLIF
from neurotwin.engines.result import Cost as Cost
from neurotwin.engines.result import Result as Result
from neurotwin.errors import CapacityError as CapacityError
from neurotwin.errors import ConfigError as ConfigError
from neurotwin.errors import DataError as DataError
from neurotwin.errors import DistributedError as DistributedError
from neurotwin.errors import MappingError as MappingError
from neurotwin.errors import NeurotwinError as NeurotwinError
from neurotwin.network import DCSource as DCSource
from neurotwin.network import Network as Network
from neurotwin.network import Population as Population
from neurotwin.network import Projection as Projection
from neurotwin.network import SpikeSourceArray as SpikeSourceArray
from neurotwin.network import SpikeSourcePoisson as SpikeSourcePoisson

__version__ = "0.1.0"
