"""The bss2 backend: mapping (placement, labels, rows, quantisation, capacity) and
execution against the ideal backend."""

from dataclasses import replace

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, Deviations, calibrate, specs
from neurotwin.bss2.draw import draw_mapping
from neurotwin.bss2.mapping import Mapping, map_network

LIF = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0, v_reset=-65.0,
             v_thresh=-55.0, tau_refrac=1.0)
"""Time constants on whole CapMem codes (tau = 3000 µs / code) and v_reset = v_rest."""


def exact_network(lsb: float, poisson: bool = True) -> nt.Network:
    """Weights as whole multiples of ``lsb`` (nA), all within 6 bits."""
    rng = np.random.default_rng(1)
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0, 3.0, 9.0], [2.0, 4.5], [0.0, 6.0]], label="in"))
    pop = net.add(nt.Population(24, LIF, label="pop"))
    net.connect(src, pop, rng.integers(20, 64, (3, 24)) * lsb, receptor="exc", delays=0.5)
    if poisson:
        noise = net.add(nt.SpikeSourcePoisson(10, rate=80.0, label="noise"))
        net.connect(noise, pop, rng.integers(0, 40, (10, 24)) * lsb, receptor="exc")
    signed = rng.integers(-12, 6, (24, 24)) * lsb
    net.connect(pop, pop, signed, receptor=None, delays=1.0)
    net.record(pop, "spikes", "v")
    return net


WEIGHT_SCALE = 0.02


def lsb_of(net: nt.Network) -> float:
    return map_network(net, weight_scale=WEIGHT_SCALE).populations["pop"].weight_lsb_na


def test_ideal_chip_gives_the_ideal_backends_spikes():
    lsb = lsb_of(exact_network(WEIGHT_SCALE))
    net = exact_network(lsb)
    ideal = nt.simulate(net, 60.0, backend="ideal", seed=5, trials=2)
    hw = nt.simulate(net, 60.0, backend="bss2", seed=5, trials=2, weight_scale=WEIGHT_SCALE)
    for trial in range(2):
        t_i, id_i = ideal.spikes("pop", trial)
        t_h, id_h = hw.spikes("pop", trial)
        assert t_i.size > 20
        np.testing.assert_array_equal(id_h, id_i)
        # FPGA timestamps: floored to 8 ns of hardware time = 0.008 ms of model time
        assert np.all((t_i - t_h >= -1e-9) & (t_i - t_h < specs.FPGA_TICK_US))
        np.testing.assert_allclose(hw.trace("pop", "v", trial).numpy(),
                                   ideal.trace("pop", "v", trial).numpy(), atol=1e-9)


def test_quantised_weights_round_to_the_lsb():
    net = exact_network(WEIGHT_SCALE, poisson=False)
    m = map_network(net, weight_scale=WEIGHT_SCALE)
    lsb = m.populations["pop"].weight_lsb_na
    # 20..63 times WEIGHT_SCALE in LSB of lsb, rounded half up
    expected = np.floor(np.asarray(net.projections[0].weights) / lsb + 0.5)
    placed = np.sort(np.asarray(m.config.weights)[np.asarray(m.config.weights) > 0])
    assert set(expected.ravel().astype(int)) <= set(placed.tolist())


def test_more_than_512_neurons_is_a_capacity_error():
    net = nt.Network()
    net.add(nt.Population(300, nt.LIF()))
    net.add(nt.Population(213, nt.LIF()))
    with pytest.raises(nt.CapacityError, match="neurons") as err:
        map_network(net)
    assert (err.value.needed, err.value.available) == (513, 512)


def test_fan_in_above_256_rows_is_a_capacity_error():
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 257))
    pop = net.add(nt.Population(1, nt.LIF()))
    net.connect(src, pop, np.full((257, 1), 0.1))
    with pytest.raises(nt.CapacityError, match="synapse rows") as err:
        map_network(net)
    assert err.value.needed == 257 and err.value.available == 256


def test_too_many_presynaptic_units_for_16_bit_labels():
    net = nt.Network()
    net.add(nt.SpikeSourcePoisson(specs.SPIKE_LABEL_COUNT, rate=0.0))
    net.add(nt.Population(1, nt.LIF()))
    with pytest.raises(nt.CapacityError, match="spike labels"):
        map_network(net)


def test_sources_share_a_driver_through_distinct_labels():
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 65))
    pop = net.add(nt.Population(65, nt.LIF()))
    net.connect(src, pop, np.eye(65) * 0.1)
    m = map_network(net)
    # 64 sources fill driver 0's 64 addresses in one row; the 65th needs another driver
    assert m.usage()["labels"][0] == 65
    assert m.usage()["synapse drivers"][0] == 2
    row0 = np.asarray(m.config.addresses)[0, 0, :64]
    assert sorted(row0.tolist()) == list(range(64))


def test_input_rate_above_the_link_limit_is_a_capacity_error():
    net = nt.Network()
    src = net.add(nt.SpikeSourcePoisson(200, rate=1000.0))
    pop = net.add(nt.Population(1, nt.LIF()))
    net.connect(src, pop, np.full((200, 1), 0.01))
    with pytest.raises(nt.CapacityError, match="input bandwidth"):
        map_network(net)


def test_weight_overflow_names_projection_and_weight():
    net = exact_network(WEIGHT_SCALE, poisson=False)
    with pytest.raises(nt.ConfigError, match=r"in->pop.*1\.26"):
        map_network(net, weight_scale=WEIGHT_SCALE / 2)


def test_inexpressible_parameters_raise():
    net = nt.Network()
    net.add(nt.Population(2, nt.LIF(tau_syn_exc=1.0)))
    with pytest.raises(nt.ConfigError, match="i_bias_synin_exc_tau"):
        map_network(net)
    net = nt.Network()
    net.add(nt.Population(2, nt.LIF(tau_refrac=30.0)))
    with pytest.raises(nt.ConfigError, match="tau_refrac"):
        map_network(net)


def test_save_load_round_trip(tmp_path):
    net = exact_network(WEIGHT_SCALE)
    m = map_network(net, weight_scale=WEIGHT_SCALE)
    m.save(tmp_path / "m.json")
    back = Mapping.load(tmp_path / "m.json", net)
    for name in ("weights", "addresses", "row_modes"):
        np.testing.assert_array_equal(getattr(back.config, name), getattr(m.config, name))
    np.testing.assert_array_equal(back.config.neurons.capmem, m.config.neurons.capmem)
    backend = nt.backends.get_backend("bss2")
    a, b = backend.run(m, 20.0, seed=2), backend.run(back, 20.0, seed=2)
    np.testing.assert_array_equal(a.spikes("pop")[0], b.spikes("pop")[0])
    other = nt.Network()
    other.add(nt.Population(3, nt.LIF()))
    with pytest.raises(nt.DataError):
        Mapping.load(tmp_path / "m.json", other)


def test_draw_writes_a_png(tmp_path):
    m = map_network(exact_network(WEIGHT_SCALE), weight_scale=WEIGHT_SCALE)
    path = draw_mapping(m, tmp_path / "chip.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trials_are_independent_of_the_batch_and_seeded():
    net = exact_network(WEIGHT_SCALE)
    chip = Chip(0, replace(Deviations.ideal(), membrane_noise_mv=2.0))
    b3 = nt.simulate(net, 30.0, backend="bss2", seed=9, trials=3, chip=chip)
    b2 = nt.simulate(net, 30.0, backend="bss2", seed=9, trials=2, chip=chip)
    for x, y in zip(b3.spikes("pop", 1), b2.spikes("pop", 1), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(b3.spikes("pop", 0)[0], b3.spikes("pop", 1)[0])
    cost = b3.cost
    assert cost.hardware_time_us == 90.0
    assert cost.energy_j == pytest.approx(specs.CHIP_POWER_W * 90e-6)
    assert cost.resources["neurons"] == (24.0, 512.0)


def test_noisy_chip_is_different_but_statistically_similar():
    lsb = lsb_of(exact_network(WEIGHT_SCALE))
    net = exact_network(lsb)
    ideal = nt.simulate(net, 200.0, backend="ideal", seed=3, trials=4)
    chip = Chip(0, replace(Deviations.ideal(), membrane_noise_mv=3.0))
    noisy = nt.simulate(net, 200.0, backend="bss2", seed=3, trials=4, chip=chip,
                        weight_scale=WEIGHT_SCALE)
    assert not np.array_equal(ideal.spikes("pop")[0], noisy.spikes("pop")[0])
    assert noisy.mean_rate("pop") == pytest.approx(ideal.mean_rate("pop"), rel=0.25)


def test_calibrated_deviating_chip_runs_close_to_ideal():
    lsb = lsb_of(exact_network(WEIGHT_SCALE))
    net = exact_network(lsb)
    chip = Chip(7)
    cal = calibrate(chip, circuits=np.arange(24), seed=1)
    hw = nt.simulate(net, 200.0, backend="bss2", seed=3, trials=2, chip=chip,
                     calibration=cal, weight_scale=WEIGHT_SCALE)
    ideal = nt.simulate(net, 200.0, backend="ideal", seed=3, trials=2)
    assert hw.meta["calibration_serial"] == 7
    assert hw.mean_rate("pop") == pytest.approx(ideal.mean_rate("pop"), rel=0.35)
