"""What runs: the hardware-agnostic network description and NIR import/export."""

from neurotwin.network import nir as nir
from neurotwin.network.network import Network as Network
from neurotwin.network.nodes import DCSource as DCSource
from neurotwin.network.nodes import Node as Node
from neurotwin.network.nodes import Population as Population
from neurotwin.network.nodes import SpikeSourceArray as SpikeSourceArray
from neurotwin.network.nodes import SpikeSourcePoisson as SpikeSourcePoisson
from neurotwin.network.projection import Projection as Projection
from neurotwin.network.projection import Synapses as Synapses
from neurotwin.network.projection import fixed_fan_in as fixed_fan_in
from neurotwin.network.projection import fixed_probability as fixed_probability
from neurotwin.network.projection import fixed_total_number as fixed_total_number
from neurotwin.network.rules import FixedTotalRule as FixedTotalRule
from neurotwin.network.synapse_types import Bernoulli as Bernoulli
from neurotwin.network.synapse_types import PairSTDP as PairSTDP
from neurotwin.network.synapse_types import TsodyksMarkram as TsodyksMarkram
