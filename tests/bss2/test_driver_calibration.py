"""The synapse drivers' STP offset calibration (calix ``STPOffsetCalib``): checked against
the chip's hidden driver factors, which the calibration never reads."""

import json

import numpy as np
import pytest

from neurotwin.bss2 import Chip, ChipConfig, Deviations, specs
from neurotwin.bss2.calibration import Calibration, calibrate_drivers
from neurotwin.bss2.measurements import measure_driver_amplitudes
from neurotwin.bss2.tables import synapse_table
from neurotwin.errors import ConfigError, DataError

SHAPE = (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)
H, D = np.meshgrid(np.arange(SHAPE[0]), np.arange(SHAPE[1]), indexing="ij")
BLOCK = specs.capmem_block_of_driver(H, D)
HALF_STEP = specs.STP_OFFSET_STEP / 2
def relative_to_block_median(chip, offsets):
    """Each driver's true factor at ``offsets`` over the median true factor of its CapMem
    block at the reference code (the target calix sets), minus 1."""
    at_reference = chip.driver_gain(H, D)
    factor = chip.driver_gain(H, D, offsets)
    out = np.empty(SHAPE)
    for b in range(4):
        out[BLOCK == b] = factor[BLOCK == b] / np.median(at_reference[BLOCK == b]) - 1
    return out


def test_capmem_blocks_follow_halco():
    # halco SynapseDriverOnDLS::toCapMemBlockOnDLS: 2 * hemisphere + (driver odd)
    assert specs.capmem_block_of_driver(0, 0) == 0
    assert specs.capmem_block_of_driver(0, 7) == 1
    assert specs.capmem_block_of_driver(1, 126) == 2
    assert specs.capmem_block_of_driver(1, 127) == 3
    assert np.bincount(BLOCK.ravel()).tolist() == [64, 64, 64, 64]


def test_offset_scales_a_driver_by_its_step():
    chip = Chip(3)
    raw = chip.fixed_pattern.syn_gain_driver[1, 5]
    assert chip.driver_gain(1, 5) == raw
    assert chip.driver_gain(1, 5, 9) == pytest.approx(raw * np.exp(-2 * 0.025), rel=1e-12)
    with pytest.raises(ConfigError, match=r"STP offset must lie in \[0, 15\], got 16"):
        chip.driver_gain(1, 5, 16)


def measurement_error(chip):
    """Relative std of one amplitude measurement, from 20 repeats at one setting."""
    rng = np.random.default_rng(99)
    reads = np.array([measure_driver_amplitudes(chip, np.full(SHAPE, 7), rng)
                      for _ in range(20)])
    return float(np.mean(reads.std(axis=0) / reads.mean(axis=0)))


@pytest.fixture(scope="module")
def calibrated_drivers():
    chip = Chip(11)
    offsets, spread = calibrate_drivers(chip, np.random.default_rng(0))
    return chip, offsets, spread


def test_a_driver_with_a_large_deviation_is_pulled_in(calibrated_drivers):
    chip, offsets, _ = calibrated_drivers
    noise = measurement_error(chip)
    assert 0.002 < noise < 0.01
    before = relative_to_block_median(chip, np.full(SHAPE, specs.STP_OFFSET_REFERENCE))
    after = relative_to_block_median(chip, offsets)
    worst = np.unravel_index(np.argmax(np.abs(before)), SHAPE)
    assert abs(before[worst]) > 0.1
    # the bound: half an offset step, and the search's choice between two neighbouring
    # codes decided by measurements (up to 4 std of the measurement)
    bound = HALF_STEP + 4 * noise
    assert abs(after[worst]) <= bound
    assert np.max(np.abs(after)) <= bound
    # the residual's std: a uniform quantisation step's, 1/sqrt(12), and the measurement's
    assert after.std() <= 1.15 * np.hypot(specs.STP_OFFSET_STEP / np.sqrt(12), noise)
    assert before.std() > 4 * after.std()


def test_calibrated_amplitudes_pass_calix_hardware_test(calibrated_drivers):
    # calix tests/hw/py/test_stp_calibration.py: per CapMem block, std < 2 LSB after and
    # lowered by more than 1 LSB
    chip, offsets, spread = calibrated_drivers
    rng = np.random.default_rng(5)
    before = measure_driver_amplitudes(chip, np.full(SHAPE, specs.STP_OFFSET_REFERENCE), rng)
    after = measure_driver_amplitudes(chip, offsets, rng)
    for b in range(4):
        std_before, std_after = before[BLOCK == b].std(), after[BLOCK == b].std()
        assert std_after < specs.STP_CALIB_BLOCK_STD_MAX_LSB
        assert std_before - std_after > 1.0
    assert spread.after_std < spread.before_std
    assert spread.before_mean == pytest.approx(specs.STP_CALIB_AMPLITUDE_LSB, rel=0.02)


def test_drivers_of_an_ideal_chip_stay_at_the_reference():
    offsets, spread = calibrate_drivers(Chip(1, Deviations.ideal()), np.random.default_rng(0))
    np.testing.assert_array_equal(offsets, specs.STP_OFFSET_REFERENCE)
    assert spread.before_std == 0.0


def test_a_deviation_beyond_the_offset_range_stops_at_the_code_limit():
    chip = Chip(4, Deviations(syn_gain_driver_spread=0.4))
    offsets, _ = calibrate_drivers(chip, np.random.default_rng(0))
    after = relative_to_block_median(chip, offsets)
    # beyond +19 % / -18 % the hardware's 4-bit code saturates, as on the chip
    reach_up = np.exp(specs.STP_OFFSET_STEP * specs.STP_OFFSET_REFERENCE) - 1
    bound = HALF_STEP + 4 * measurement_error(chip)
    too_weak = after < -bound
    assert too_weak.any()
    # at code 0 (or 1: the search's last choice between two codes that differ by one
    # step is made on measurements)
    assert np.all(offsets[too_weak] <= 1)
    assert np.mean(offsets[too_weak] == 0) > 0.9
    before = relative_to_block_median(chip, np.full(SHAPE, specs.STP_OFFSET_REFERENCE))
    assert np.all(before[too_weak] < -reach_up + bound)


def test_calibrated_offsets_reach_the_synapse_table(calibrated):
    chip, calibration = calibrated
    assert not np.all(calibration.driver_offset == specs.STP_OFFSET_REFERENCE)
    config = calibration.apply(ChipConfig(
        weights=np.full((2, 256, 256), 1), row_modes=np.full((2, 256), 1)))
    np.testing.assert_array_equal(config.driver_offset, calibration.driver_offset)
    routes = np.array([[0, 0, d] for d in range(0, 128, 9)])
    table = synapse_table(config, chip, np.arange(4), routes, np.zeros(1, np.int64),
                          np.ones((2, 256, 256), np.int64), np.ones(4), np.ones(4))
    h, row = table.placement[:, 0], table.placement[:, 1]
    expected = chip.fixed_pattern.syn_gain_driver[h, row // 2] * np.exp(
        -specs.STP_OFFSET_STEP * (calibration.driver_offset[h, row // 2]
                                  - specs.STP_OFFSET_REFERENCE))
    np.testing.assert_allclose(table.driver_gain, expected, rtol=1e-12)


def test_driver_offsets_are_validated_and_saved(tmp_path, calibrated):
    with pytest.raises(ConfigError, match=r"driver_offset must lie in \[0, 15\], got 16"):
        ChipConfig(driver_offset=np.full(SHAPE, 16))
    with pytest.raises(ConfigError, match=r"driver_offset must have shape \(2, 128\)"):
        ChipConfig(driver_offset=np.zeros((2, 64), np.int64))
    calibration = calibrated.calibration
    path = tmp_path / "cal.json"
    calibration.save(path)
    loaded = Calibration.load(path, serial=calibration.serial)
    np.testing.assert_array_equal(loaded.driver_offset, calibration.driver_offset)
    data = json.loads(path.read_text())
    data["driver_offset"][0][0] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="corrupt"):
        Calibration.load(path, serial=calibration.serial)
    data["version"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="version 1"):
        Calibration.load(path, serial=calibration.serial)
