"""The virtual chip: deviations fixed by the serial, the ideal chip, configuration limits."""

from dataclasses import fields

import numpy as np
import pytest

from neurotwin import units
from neurotwin.bss2 import Chip, ChipConfig, Deviations, NeuronConfig, specs
from neurotwin.errors import ConfigError


def pattern_arrays(chip):
    return {f.name: np.asarray(getattr(chip.fixed_pattern, f.name))
            for f in fields(chip.fixed_pattern)}


def test_same_serial_same_chip():
    a, b = pattern_arrays(Chip(seed=42)), pattern_arrays(Chip(seed=42))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_different_serials_differ_everywhere():
    a, b = pattern_arrays(Chip(seed=1)), pattern_arrays(Chip(seed=2))
    for name in a:
        assert not np.array_equal(a[name], b[name]), name


def test_a_magnitude_changes_only_its_own_deviation():
    a = Chip(seed=5)
    b = Chip(seed=5, deviations=Deviations(tau_mem_spread=0.3))
    np.testing.assert_array_equal(a.fixed_pattern.potential_offset_mv,
                                  b.fixed_pattern.potential_offset_mv)
    np.testing.assert_allclose(np.log(b.fixed_pattern.leak_factor),
                               2 * np.log(a.fixed_pattern.leak_factor))


def test_realised_spreads_match_the_magnitudes():
    d = Deviations()
    fp = Chip(seed=3).fixed_pattern
    assert np.log(fp.leak_factor).std() == pytest.approx(d.tau_mem_spread, rel=0.15)
    assert fp.potential_offset_mv.std() == pytest.approx(d.potential_offset_mv, rel=0.1)
    assert np.log(fp.synin_tau_factor).std() == pytest.approx(d.tau_syn_spread, rel=0.15)


def test_ideal_chip_has_the_design_parameters():
    chip = Chip(seed=9, deviations=Deviations.ideal())
    config = NeuronConfig.default()
    p = chip.circuit_parameters(config)
    lsb = 1200.0 / 1023
    np.testing.assert_allclose(p.tau_mem, 10.0, rtol=1e-12)
    np.testing.assert_allclose(p.tau_syn_exc, 10.0, rtol=1e-12)
    np.testing.assert_allclose(p.tau_syn_inh, 10.0, rtol=1e-12)
    np.testing.assert_allclose(p.c_mem, 2.2, rtol=1e-12)
    np.testing.assert_allclose(p.syn_gain_exc, 0.3, rtol=1e-12)
    np.testing.assert_allclose(p.v_leak, config.cell("v_leak") * lsb, rtol=1e-12)
    np.testing.assert_allclose(p.v_reset, config.cell("v_reset") * lsb, rtol=1e-12)
    np.testing.assert_allclose(p.v_thresh, config.cell("v_threshold") * lsb, rtol=1e-12)
    np.testing.assert_array_equal(p.noise_mv, 0.0)
    np.testing.assert_array_equal(p.i_offset, 0.0)
    fp = chip.fixed_pattern
    assert fp.madc_gain == 1.0 and fp.madc_offset_lsb == 0.0
    np.testing.assert_array_equal(fp.cadc_gain, 1.0)
    np.testing.assert_array_equal(fp.syn_gain_driver, 1.0)


def test_ideal_time_constant_is_inverse_in_the_bias_code():
    chip = Chip(seed=0, deviations=Deviations.ideal())
    config = NeuronConfig.default([0, 1, 2]).with_cells(i_bias_leak=[150, 300, 600],
                                                        i_bias_synin_exc_tau=[100, 300, 1000])
    p = chip.circuit_parameters(config)
    np.testing.assert_allclose(p.tau_mem, [20.0, 10.0, 5.0], rtol=1e-12)
    np.testing.assert_allclose(p.tau_syn_exc, [30.0, 10.0, 3.0], rtol=1e-12)
    off = chip.circuit_parameters(config.with_cells(i_bias_leak=0, i_bias_synin_exc_tau=0))
    np.testing.assert_allclose(off.tau_mem, specs.TAU_MEM_MAX_US)
    np.testing.assert_allclose(off.tau_syn_exc, specs.TAU_SYN_MAX_US)


def test_refractory_time_and_disabled_threshold():
    chip = Chip(seed=0)
    p = chip.circuit_parameters(NeuronConfig.default([3, 4], refractory_counter=[20, 255],
                                                     enable_threshold=[True, False]))
    np.testing.assert_allclose(p.tau_refrac, [2.0, 25.5])
    assert np.isfinite(p.v_thresh[0]) and p.v_thresh[1] == np.inf


def test_model_time_maps_to_hardware_time_one_to_one():
    assert units.hardware_time_us(12.5, specs.ACCELERATION) == pytest.approx(12.5)


@pytest.mark.parametrize("cell", ["v_leak", "i_bias_leak", "i_bias_nmda"])
def test_capmem_codes_outside_the_range_raise(cell):
    config = NeuronConfig.default([0, 1])
    with pytest.raises(ConfigError, match=rf"{cell}.*1022"):
        config.with_cells(**{cell: [0, 1023]})
    with pytest.raises(ConfigError, match=rf"{cell}.*limit 0"):
        config.with_cells(**{cell: -1})


def test_neuron_config_validation():
    with pytest.raises(ConfigError, match="capmem must have shape"):
        NeuronConfig(circuits=[0, 1], capmem=np.zeros((24, 3), int))
    with pytest.raises(ConfigError, match="unique"):
        NeuronConfig.default([1, 1])
    with pytest.raises(ConfigError, match="511"):
        NeuronConfig.default([512])
    with pytest.raises(ConfigError, match=r"membrane_capacitance.*63"):
        NeuronConfig.default([0], membrane_capacitance=64)
    with pytest.raises(ConfigError, match=r"refractory_counter.*255"):
        NeuronConfig.default([0], refractory_counter=256)
    with pytest.raises(ConfigError, match="unknown CapMem cell"):
        NeuronConfig.default([0]).with_cells(v_leek=3)
    config = NeuronConfig.default([0, 5])
    with pytest.raises(ValueError, match="read-only"):
        config.capmem[0, 0] = 3


def test_chip_config_validation():
    config = ChipConfig()
    assert config.weights.shape == (2, 256, 256) and config.weights.dtype == np.uint8
    weights = np.zeros((2, 256, 256), int)
    weights[1, 2, 3] = 64
    with pytest.raises(ConfigError, match=r"weights.*63"):
        ChipConfig(weights=weights)
    with pytest.raises(ConfigError, match="all 512"):
        ChipConfig(neurons=NeuronConfig.default([0, 1]))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_bad_serial(seed):
    with pytest.raises(ConfigError, match="serial"):
        Chip(seed=seed)


def test_bad_deviation():
    with pytest.raises(ConfigError, match="tau_mem_spread"):
        Deviations(tau_mem_spread=-0.1)
