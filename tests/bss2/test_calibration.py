"""Calibration through the readouts: targets met (checked against the chip's hidden
truth, which calibration itself never reads), binary search, and the calibration file."""

import json

import numpy as np
import pytest

from neurotwin.bss2 import Chip, ChipConfig, NeuronConfig, specs
from neurotwin.bss2.adc import membrane_channels
from neurotwin.bss2.calibration import (
    Calibration,
    CalibrationTargets,
    binary_search,
    calibrate,
)
from neurotwin.errors import ConfigError, DataError

SUBSET = np.arange(3, 512, 37)  # 14 circuits, all four quadrants


def expected_read(chip, calibration, volts):
    """Mean read the calibrated CADC channel gives at ``volts`` (hidden truth): the floor
    converter with dithering noise reads x - 0.5 on average."""
    fp = chip.fixed_pattern
    ch = membrane_channels(calibration.neurons.circuits)
    x = (volts - specs.CADC_ZERO_MV) / (specs.CADC_LSB_MV * fp.cadc_gain[ch]) \
        + fp.cadc_offset_lsb[ch]
    return x - 0.5 + calibration.cadc_offset[ch]


def check_targets(chip, calibration):
    truth = chip.circuit_parameters(calibration.neurons)
    for name in ("tau_mem", "tau_syn_exc", "tau_syn_inh"):
        value = getattr(truth, name)
        assert value.std() / value.mean() <= 0.02, name
        assert value.mean() == pytest.approx(10.0, rel=0.01), name
    for name, target in (("v_leak", 80), ("v_reset", 70), ("v_thresh", 125)):
        read = expected_read(chip, calibration, getattr(truth, name))
        assert np.max(np.abs(read - target)) <= 1.0, name
    np.testing.assert_array_equal(truth.tau_refrac, 2.0)
    for receptor in ("exc", "inh"):
        # strength = gain * tau_syn * tau_mem / C: what a regular input shifts the membrane by
        strength = getattr(truth, f"syn_gain_{receptor}") * getattr(truth, f"tau_syn_{receptor}") \
            * truth.tau_mem / truth.c_mem
        assert strength.std() / strength.mean() <= 0.04, receptor
    report = calibration.report
    for name, spread in report.spreads.items():
        assert spread.after_relative < spread.before_relative, name
    for name in ("tau_mem", "tau_syn_exc", "tau_syn_inh"):
        assert report.spreads[name].after_relative <= 0.02, name


@pytest.fixture(scope="module")
def chip(calibrated):
    return calibrated.chip


@pytest.fixture(scope="module")
def calibration(calibrated):
    """Serial 2024, seed 1: SUBSET and circuits 0..23 (shared with the mapping tests)."""
    return calibrated.calibration


def test_calibration_meets_the_targets_on_a_subset(chip, calibration):
    assert calibration.serial == 2024
    np.testing.assert_array_equal(calibration.neurons.circuits,
                                  np.union1d(np.arange(24), SUBSET))
    check_targets(chip, calibration)


def test_uncalibrated_chip_misses_the_targets(chip):
    truth = chip.circuit_parameters(NeuronConfig.default(SUBSET))
    assert truth.tau_mem.std() / truth.tau_mem.mean() > 0.05


def test_calibration_file_round_trip(tmp_path, calibration):
    path = tmp_path / "cal.json"
    calibration.save(path)
    loaded = Calibration.load(path, serial=2024)
    np.testing.assert_array_equal(loaded.neurons.capmem, calibration.neurons.capmem)
    np.testing.assert_array_equal(loaded.neurons.circuits, calibration.neurons.circuits)
    np.testing.assert_array_equal(loaded.neurons.refractory_counter,
                                  calibration.neurons.refractory_counter)
    np.testing.assert_array_equal(loaded.cadc_offset, calibration.cadc_offset)
    assert loaded.targets == calibration.targets
    assert loaded.report == calibration.report


def test_calibration_of_another_serial_is_refused(tmp_path, calibration):
    path = tmp_path / "cal.json"
    calibration.save(path)
    with pytest.raises(DataError, match=r"serial 2024.*serial 7"):
        Calibration.load(path, serial=7)


def test_corrupt_calibration_files(tmp_path, calibration):
    path = tmp_path / "cal.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        Calibration.load(path, serial=2024)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not a"):
        Calibration.load(path, serial=2024)
    calibration.save(path)
    data = json.loads(path.read_text())
    data["capmem"]["v_leak"][0] = 5000
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="corrupt"):
        Calibration.load(path, serial=2024)


def test_apply_writes_the_calibrated_circuits(calibration):
    config = calibration.apply(ChipConfig())
    circuits = calibration.neurons.circuits
    np.testing.assert_array_equal(config.neurons.capmem[:, circuits], calibration.neurons.capmem)
    np.testing.assert_array_equal(config.cadc_offset, calibration.cadc_offset)
    untouched = np.setdiff1d(np.arange(512), circuits)
    np.testing.assert_array_equal(config.neurons.capmem[:, untouched],
                                  ChipConfig().neurons.capmem[:, untouched])


def test_binary_search_finds_the_nearest_code():
    targets = np.array([0.0, 100.3, 377.7, 1e4])
    found = binary_search(lambda c: 0.37 * c, targets, 4, inverted=False)
    best = np.clip(np.rint(targets / 0.37), 0, 1022)
    np.testing.assert_array_equal(found, best)
    # falling results: tau = 3000 / code
    found = binary_search(lambda c: 3000.0 / np.maximum(c, 1), np.array([10.0, 7.3]), 2,
                          inverted=True)
    np.testing.assert_array_equal(found, [300, 411])


def test_targets_are_checked():
    with pytest.raises(ConfigError, match="leak"):
        CalibrationTargets(leak=200)
    with pytest.raises(ConfigError, match="tau_mem_us"):
        CalibrationTargets(tau_mem_us=100.0)
    with pytest.raises(ConfigError, match="refractory"):
        CalibrationTargets(refractory_us=30.0)
    with pytest.raises(ConfigError, match="below threshold"):
        CalibrationTargets(reset=130, threshold=120)


@pytest.mark.slow
def test_full_chip_calibration_meets_the_targets():
    """All 512 circuits; its time (target 60 s) is measured by `neurotwin bench bss2`."""
    chip = Chip(seed=77)
    calibration = calibrate(chip, seed=0)
    assert calibration.neurons.n == 512
    check_targets(chip, calibration)
