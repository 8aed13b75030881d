"""What the mapping says about what the chip cannot do or is not: time constants beyond
calibration (ConfigError with the reachable range) and the ideal default chip (named in
the mapping, its summary and the result's meta)."""

import re

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, specs
from neurotwin.bss2.mapping import map_network
from neurotwin.bss2.neuron_mapping import time_constant_range


def one_population(**params: float) -> nt.Network:
    net = nt.Network(dt=0.1)
    net.add(nt.Population(4, nt.LIF(**params), label="slow"))
    return net


@pytest.mark.parametrize("tau_mem", [200.0, 300.0, 500.0])
def test_slow_tau_mem_raises_with_the_reachable_range(tau_mem):
    # nominal codes 3000 µs / tau: 6..15, a few codes of a weak leak bias
    high = specs.CALIX_FEASIBLE_RANGES["tau_mem_us"][1]
    with pytest.raises(nt.ConfigError) as err:
        map_network(one_population(tau_mem=tau_mem))
    msg = str(err.value)
    assert f"tau_mem {tau_mem:g} ms" in msg and "'slow'" in msg
    low = 3000.0 / specs.CAPMEM_MAX
    assert re.search(rf"\[{low:.4g}, {high:.4g}\] ms", msg), msg


@pytest.mark.parametrize("name", ["tau_syn_exc", "tau_syn_inh"])
def test_slow_tau_syn_raises(name):
    high = specs.CALIX_FEASIBLE_RANGES[f"{name}_us"][1]
    with pytest.raises(nt.ConfigError, match=rf"{name} 50 ms of population 'slow'.*"
                                             rf", {high:.4g}\] ms"):
        map_network(one_population(**{name: 50.0}))


def test_fast_tau_syn_names_the_cell_and_the_range():
    with pytest.raises(nt.ConfigError, match=r"tau_syn_exc 1 ms.*\[2\.935, 30\] ms.*"
                                             r"i_bias_synin_exc_tau"):
        map_network(one_population(tau_syn_exc=1.0))


def test_the_ends_of_the_range_map():
    high_mem = specs.CALIX_FEASIBLE_RANGES["tau_mem_us"][1]
    high_syn = specs.CALIX_FEASIBLE_RANGES["tau_syn_exc_us"][1]
    m = map_network(one_population(tau_mem=high_mem, tau_syn_exc=high_syn,
                                   tau_syn_inh=high_syn))
    neurons = m.config.neurons
    used = np.isin(np.asarray(neurons.circuits), m.circuits)
    leak = neurons.cell("i_bias_leak")[used]
    assert leak.size == 4
    assert np.all(leak == round(3000.0 / high_mem))


def test_time_constant_range_follows_the_largest_code():
    low, high = time_constant_range(10.0, np.array([300.0, 511.0]), "tau_mem_us")
    assert low == pytest.approx(10.0 * 511 / specs.CAPMEM_MAX)
    assert high == specs.CALIX_FEASIBLE_RANGES["tau_mem_us"][1]


def test_slow_tau_mem_raises_after_calibration(calibrated):
    with pytest.raises(nt.ConfigError, match=r"tau_mem 300 ms of population 'slow'.*, 60\]"):
        map_network(one_population(tau_mem=300.0), chip=calibrated.chip,
                    calibration=calibrated.calibration)


def test_tau_refrac_beyond_the_counter_names_population_and_limit():
    with pytest.raises(nt.ConfigError, match=r"tau_refrac of population 'slow'.*25\.5"):
        map_network(one_population(tau_refrac=30.0))


def small_network() -> nt.Network:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0, 5.0]], label="in"))
    pop = net.add(nt.Population(2, nt.LIF(), label="pop"))
    net.connect(src, pop, np.full((1, 2), 0.5), receptor="exc")
    net.record(pop, "spikes")
    return net


def test_default_chip_is_named_ideal():
    net = small_network()
    m = map_network(net)
    assert m.chip_serial == 0 and m.ideal_chip
    assert ("ideal chip (no fixed-pattern deviations): pass chip=Chip(serial) for a "
            "realistic one") in m.summary()
    res = nt.simulate(net, 10.0, backend="bss2")
    assert res.meta["chip_serial"] == 0 and res.meta["ideal_chip"] is True


def test_a_real_chip_is_named_with_its_serial():
    net = small_network()
    m = map_network(net, chip=Chip(7))
    assert m.chip_serial == 7 and not m.ideal_chip
    assert m.summary().splitlines()[0] == ("chip serial 7: fixed-pattern deviations, "
                                           "uncalibrated")
    res = nt.simulate(net, 10.0, backend="bss2", chip=Chip(7))
    assert res.meta["chip_serial"] == 7 and res.meta["ideal_chip"] is False
