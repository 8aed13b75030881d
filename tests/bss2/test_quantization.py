"""Weights that quantise to 0 LSB vanish on the chip: the mapping warns with their count
and the smallest representable weight (overflow is an error, tested elsewhere)."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.specs import QuantizationWarning


def network(weights: np.ndarray) -> nt.Network:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0], [2.0]], label="in"))
    pop = net.add(nt.Population(2, nt.LIF(), label="pop"))
    net.connect(src, pop, weights, receptor="exc")
    return net


def test_weights_below_half_an_lsb_warn_with_count_and_smallest_weight():
    # 1 LSB is about 0.01 nA (0.00999 after the mapping's scales): 0.004 and 0.0049
    # vanish, 0.005 rounds up to 1 LSB
    weights = np.array([[0.004, 0.0049], [0.005, 0.63]])
    with pytest.warns(QuantizationWarning,
                      match=r"2 of 4 weights of projection in->pop quantise to 0 LSB .* "
                            r"smallest representable weight is 0\.0049\d* nA"):
        mapping = Bss2Backend().map(network(weights), weight_scale=0.01)
    assert sorted(mapping.tables.synapses.weight.tolist()) == [1, 63]


def test_representable_weights_map_silently():
    Bss2Backend().map(network(np.array([[0.01, 0.2], [0.3, 0.63]])), weight_scale=0.01)
