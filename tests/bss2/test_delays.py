"""Synaptic delays on the chip: neuron-to-neuron synapses have the chip's fixed delay
(one step) and any other is a MappingError, as the real stack refuses them; delays of
events from off-chip sources (FPGA playback) stay free."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.errors import MappingError, NeurotwinError


def network(recurrent_delay: float | None, input_delay: float = 2.0) -> nt.Network:
    net = nt.Network(dt=0.1)
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0)
    src = net.add(nt.SpikeSourceArray([[1.0]], label="in"))
    pop = net.add(nt.Population(3, model, label="pop"))
    net.connect(src, pop, np.full((1, 3), 0.5), receptor="exc", delays=input_delay)
    net.connect(pop, pop, np.full((3, 3), 0.1), receptor="exc", delays=recurrent_delay)
    return net


def test_an_on_chip_delay_other_than_the_chips_is_refused():
    with pytest.raises(MappingError, match=r"population 'pop' have a delay of 1 ms") as info:
        Bss2Backend().map(network(1.0))
    assert isinstance(info.value, NeurotwinError)
    assert "Setting the delay unequal 0 is not supported" in str(info.value)


def test_the_chips_own_delay_and_input_delays_map():
    mapping = Bss2Backend().map(network(None, input_delay=2.0))
    table = mapping.tables.synapses
    n = mapping.n_neurons
    assert set(table.delay_steps[:table.indptr[n]].tolist()) == {1}
    assert set(table.delay_steps[table.indptr[n]:].tolist()) == {20}
