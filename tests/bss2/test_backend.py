"""The bss2 backend: mapping (placement, labels, rows, quantisation, capacity) and
execution against the ideal backend."""

from dataclasses import replace

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, Deviations, specs
from neurotwin.bss2.draw import draw_mapping
from neurotwin.bss2.mapping import Mapping, map_network, offset_schedule
from neurotwin.bss2.neuron_mapping import place_neurons

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
    net.connect(pop, pop, signed, receptor=None)  # on chip: the chip's delay
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
    with pytest.raises(nt.CapacityError, match="neuron circuits") as err:
        map_network(net)
    assert (err.value.needed, err.value.available) == (513, 512)


def test_fan_in_above_256_rows_is_a_capacity_error():
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 257))
    pop = net.add(nt.Population(1, nt.LIF()))
    net.connect(src, pop, np.full((257, 1), 0.1))
    with pytest.raises(nt.CapacityError, match="synapses per neuron") as err:
        map_network(net, circuits_per_neuron=1)
    assert err.value.needed == 257 and err.value.available == 256
    assert "fan-in 257" in str(err.value) and "256 synapse rows" in str(err.value)
    # by default the neuron joins two circuits: 2 x 256 synapse slots, 129 rows
    m = map_network(net)
    assert m.populations[pop.label].circuits_per_neuron == 2
    assert m.usage()["synapse rows"][0] == 129


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
    assert not np.array_equal(ideal.spikes("pop", 0)[0], noisy.spikes("pop", 0)[0])
    assert noisy.mean_rate("pop") == pytest.approx(ideal.mean_rate("pop"), rel=0.25)


def test_calibrated_deviating_chip_runs_close_to_ideal(calibrated):
    lsb = lsb_of(exact_network(WEIGHT_SCALE))
    net = exact_network(lsb)
    chip, cal = calibrated
    hw = nt.simulate(net, 200.0, backend="bss2", seed=3, trials=2, chip=chip,
                     calibration=cal, weight_scale=WEIGHT_SCALE)
    ideal = nt.simulate(net, 200.0, backend="ideal", seed=3, trials=2)
    assert hw.meta["calibration_serial"] == chip.serial
    # measured 1 % apart; a 15 % error in the weight LSB moves the rate by 10 %
    assert hw.mean_rate("pop") == pytest.approx(ideal.mean_rate("pop"), rel=0.05)


# --- logical neurons of several circuits -----------------------------------------------


def test_neurons_never_straddle_a_neuron_row():
    anchors, end = place_neurons(254, 3, 2)
    np.testing.assert_array_equal(anchors, [254, 256, 258])
    assert end == 260


def wide_network(lsb: float) -> nt.Network:
    """3 neurons with 300 inputs each (more than one column's 256 rows) and recurrence."""
    rng = np.random.default_rng(4)
    net = nt.Network(dt=0.1)
    times = [sorted(rng.uniform(0.0, 40.0, 2).round(1).tolist()) for _ in range(300)]
    src = net.add(nt.SpikeSourceArray(times, label="in"))
    pop = net.add(nt.Population(3, LIF, label="wide"))
    net.connect(src, pop, rng.integers(0, 12, (300, 3)) * lsb, receptor="exc", delays=0.5)
    net.connect(pop, pop, rng.integers(0, 30, (3, 3)) * lsb, receptor="inh")
    net.record(pop, "spikes", "v", "i_exc")
    return net


def test_wide_fan_in_joins_circuits_and_gives_the_ideal_spikes():
    lsb = map_network(wide_network(WEIGHT_SCALE), weight_scale=WEIGHT_SCALE) \
        .populations["wide"].weight_lsb_na
    net = wide_network(lsb)
    m = map_network(net, weight_scale=WEIGHT_SCALE)
    pmap = m.populations["wide"]
    assert pmap.circuits_per_neuron == 2
    np.testing.assert_array_equal(pmap.circuits, np.arange(6))
    assert m.usage()["neuron circuits"][0] == 6
    weights = np.asarray(m.config.weights)[0]
    # every neuron's 300 inputs are spread over both of its columns
    for j in range(3):
        used = np.count_nonzero(weights[:, 2 * j:2 * j + 2], axis=0)
        fan_in = sum(np.count_nonzero(np.asarray(proj.weights)[:, j])
                     for proj in net.projections)
        assert fan_in > 256 and used.min() > 0 and used.sum() == fan_in
    enabled = np.asarray(m.config.neurons.enable_threshold)[:6]
    np.testing.assert_array_equal(enabled, [True, False] * 3)
    ideal = nt.simulate(net, 50.0, backend="ideal")
    hw = nt.backends.get_backend("bss2").run(m, 50.0)
    t_i, id_i = ideal.spikes("wide")
    t_h, id_h = hw.spikes("wide")
    assert t_i.size > 5
    np.testing.assert_array_equal(id_h, id_i)
    assert np.all((t_i - t_h >= -1e-9) & (t_i - t_h < specs.FPGA_TICK_US))
    # per-circuit synaptic currents summed in another order than ideal's single current
    for var in ("v", "i_exc"):
        np.testing.assert_allclose(hw.trace("wide", var).numpy(),
                                   ideal.trace("wide", var).numpy(), atol=1e-9)


def test_circuits_beyond_512_are_a_capacity_error_naming_circuits():
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 300))
    wide = net.add(nt.Population(1, nt.LIF(), label="wide"))
    net.add(nt.Population(511, nt.LIF(), label="rest"))
    net.connect(src, wide, np.full((300, 1), 0.1))
    with pytest.raises(nt.CapacityError, match="neuron circuits") as err:
        map_network(net)
    assert (err.value.needed, err.value.available) == (513, 512)
    assert "wide: 2 (fan-in 300)" in str(err.value)


def test_mnist_sized_fan_in_names_fan_in_and_the_row_limit():
    # 784 inputs onto 350 hidden neurons: four circuits each, 1400 + 20 > 512
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 784, label="input"))
    hidden = net.add(nt.Population(350, nt.LIF(), label="hidden"))
    out = net.add(nt.Population(10, nt.LIF(), label="out"))
    net.connect(src, hidden, np.full((784, 350), 0.01))
    net.connect(hidden, out, np.full((350, 10), 0.01))
    with pytest.raises(nt.CapacityError, match="neuron circuits") as err:
        map_network(net)
    assert (err.value.needed, err.value.available) == (4 * 350 + 2 * 10, 512)
    assert "hidden: 4 (fan-in 784)" in str(err.value)
    assert "256 synapse rows" in str(err.value)
    # two circuits per neuron (512 synapse slots) cannot hold a fan-in of 784
    with pytest.raises(nt.CapacityError, match="synapses per neuron") as err:
        map_network(net, circuits_per_neuron=2)
    assert (err.value.needed, err.value.available) == (784, 512)
    assert "'hidden': fan-in 784" in str(err.value) and "at least 4 circuits" in str(err.value)


def test_explicit_circuits_per_neuron_and_merged_membrane():
    net = exact_network(WEIGHT_SCALE, poisson=False)
    m = map_network(net, weight_scale=WEIGHT_SCALE, circuits_per_neuron={"pop": 3})
    assert m.n_circuits == 72 and m.n_neurons == 24
    one = map_network(net, weight_scale=WEIGHT_SCALE)
    # three times the capacitance: k / s = C_hw / cm triples (here the window narrows too:
    # the synaptic bias for the same LSB would exceed code 1022)
    three, single = m.populations["pop"], one.populations["pop"]
    assert three.current_scale / three.voltage_scale == pytest.approx(
        3 * single.current_scale / single.voltage_scale)
    assert three.voltage_scale < single.voltage_scale
    with pytest.raises(nt.ConfigError, match="circuits_per_neuron"):
        map_network(net, circuits_per_neuron={"nope": 2})
    with pytest.raises(nt.ConfigError, match="circuits_per_neuron"):
        map_network(net, circuits_per_neuron=257)


# --- AdEx populations ------------------------------------------------------------------


def adex_model(scale_from: Mapping | None) -> nt.AdEx:
    """AdEx whose parameters fall on whole CapMem codes of the mapped scales (tau = 3000 µs
    / code; delta_T, a, b on codes 516, 367, 568)."""
    base = dict(tau_mem=10.0, tau_syn_exc=5.0, tau_syn_inh=5.0, cm=0.5, v_rest=-70.0,
                v_reset=-70.0, v_thresh=-50.0, v_spike=-40.0, tau_refrac=1.0, tau_w=100.0)
    if scale_from is None:
        return nt.AdEx(**base)
    p = scale_from.populations["adex"]
    s, k = p.voltage_scale, p.current_scale
    c_hw = k * base["cm"] / s
    return nt.AdEx(**base, delta_t=516 * specs.DELTA_T_MV_PER_CODE / s,
                   a=367 * specs.ADAPT_A_NS_PER_CODE * base["cm"] / c_hw,
                   b=568 * specs.ADAPT_B_NA_PER_CODE / k)


def adex_network(model: nt.AdEx, lsb: float, amplitude: float) -> nt.Network:
    rng = np.random.default_rng(2)
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourcePoisson(10, rate=150.0, label="in"))
    pop = net.add(nt.Population(4, model, label="adex"))
    net.connect(src, pop, rng.integers(0, 64, (10, 4)) * lsb, receptor="exc")
    net.inject(pop, nt.DCSource(amplitude=amplitude, start=10.0, stop=80.0))
    net.record(pop, "spikes", "v", "w")
    return net


def test_adex_population_gives_the_ideal_spikes():
    probe = map_network(adex_network(adex_model(None), WEIGHT_SCALE, 0.0),
                        weight_scale=WEIGHT_SCALE)
    model = adex_model(probe)
    p = probe.populations["adex"]
    # a DC amplitude on a whole offset code
    amplitude = 300 * specs.MEM_OFFSET_NA_PER_CODE / p.current_scale
    net = adex_network(model, p.weight_lsb_na, amplitude)
    m = map_network(net, weight_scale=WEIGHT_SCALE)
    neurons = m.config.neurons
    assert neurons.enable_exponential[0] and neurons.enable_adaptation[0]
    assert [int(neurons.cell(c)[0]) for c in ("i_bias_exp", "i_bias_adapt_a",
                                               "i_bias_adapt_b", "i_bias_adapt_tau")] \
        == [516, 367, 568, 300]
    ideal = nt.simulate(net, 100.0, backend="ideal")
    hw = nt.backends.get_backend("bss2").run(m, 100.0)
    t_i, id_i = ideal.spikes("adex")
    t_h, id_h = hw.spikes("adex")
    assert t_i.size > 8
    np.testing.assert_array_equal(id_h, id_i)
    assert np.all((t_i - t_h >= -1e-9) & (t_i - t_h < specs.FPGA_TICK_US))
    w = ideal.trace("adex", "w").numpy()
    assert w.max() > 0.1  # adaptation at work
    # parameters equal to rounding (code * LSB vs model * scale): 1e-9 relative
    np.testing.assert_allclose(hw.trace("adex", "w").numpy(), w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hw.trace("adex", "v").numpy(),
                               ideal.trace("adex", "v").numpy(), atol=1e-8)
    # adaptation slows firing: the same input without it gives more spikes (a check on
    # the whole run; one neuron's first vs. last interval depends on the Poisson draws)
    plain = replace(model, a=0.0, b=0.0)
    unadapted = nt.simulate(adex_network(plain, p.weight_lsb_na, amplitude), 100.0,
                            backend="ideal")
    assert unadapted.spikes("adex")[0].size > t_i.size + 5


def test_inexpressible_adex_parameters_name_parameter_and_range():
    model = adex_model(None)
    for field_, value, pattern in (("delta_t", 10.0, r"delta_t 10\.0 mV.*range"),
                                   ("a", 100.0, r"a 100\.0 nS.*range"),
                                   ("b", -0.1, r"b -0\.1 nA.*range"),
                                   ("tau_w", 5.0, r"tau_w 5\.0 ms.*range")):
        net = nt.Network()
        net.add(nt.Population(2, replace(model, **{field_: value}), label="adex"))
        with pytest.raises(nt.ConfigError, match=pattern):
            map_network(net)
    net = nt.Network()
    src = net.add(nt.SpikeSourceArray([[1.0]] * 300))
    pop = net.add(nt.Population(1, model, label="adex"))
    net.connect(src, pop, np.full((300, 1), 0.01))
    with pytest.raises(nt.MappingError, match=r"adex.*2 circuits"):
        map_network(net)


# --- injected currents -------------------------------------------------------------------


def test_dc_sources_switch_at_the_ideal_step_boundaries():
    probe = map_network(exact_network(WEIGHT_SCALE, poisson=False), weight_scale=WEIGHT_SCALE)
    p = probe.populations["pop"]
    code_na = specs.MEM_OFFSET_NA_PER_CODE / p.current_scale  # model nA of one offset code
    net = exact_network(p.weight_lsb_na, poisson=False)
    amp = np.arange(24) % 4 * 60 * code_na
    net.inject("pop", nt.DCSource(amplitude=amp, start=5.0, stop=25.0))
    net.inject("pop", nt.DCSource(amplitude=200 * code_na, start=15.05, stop=40.0))
    m = map_network(net, weight_scale=WEIGHT_SCALE)
    steps, _, codes = offset_schedule(m)
    assert set(steps.tolist()) == {50, 150, 250, 400}  # 15.05 ms rounds to step 150
    assert codes.max() == 180 + 200
    ideal = nt.simulate(net, 50.0, backend="ideal")
    hw = nt.backends.get_backend("bss2").run(m, 50.0)
    t_i, id_i = ideal.spikes("pop")
    t_h, id_h = hw.spikes("pop")
    assert t_i.size > 10
    np.testing.assert_array_equal(id_h, id_i)
    assert np.all((t_i - t_h >= -1e-9) & (t_i - t_h < specs.FPGA_TICK_US))
    np.testing.assert_allclose(hw.trace("pop", "v").numpy(), ideal.trace("pop", "v").numpy(),
                               atol=1e-9)


def test_dc_outside_the_offset_cell_is_a_config_error():
    for amplitude, pattern in ((-0.5, "outside"), (50.0, "outside")):
        net = nt.Network()
        net.add(nt.Population(2, LIF, label="pop"))
        net.inject("pop", nt.DCSource(amplitude=amplitude, start=1.0))
        with pytest.raises(nt.ConfigError, match=f"population 'pop'.*{pattern}"):
            map_network(net)
