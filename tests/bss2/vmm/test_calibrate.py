"""Per-column calibration: measured against the twin's own pattern, computed independently."""

import math
import zlib

import numpy as np
import pytest
import torch

from neurotwin.bss2 import Chip, vmm
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.errors import ConfigError

SERIAL = 4


def quiet_columns_twin():
    """Column gains (5 %) and the chip's CADC offsets and gains, nothing else, no noise."""
    return vmm.Twin(Chip(seed=SERIAL), vmm.VmmDeviations(0.002, 0, 0.05, 0, 0.0, math.inf, 0))


def test_measured_offsets_and_gains_are_the_twins():
    twin = quiet_columns_twin()
    cal = vmm.measure_columns(twin, 300, 40, 1, 2, repeats=3)
    # independent: the patterns from the (serial, name) streams and the Chip's CADC channels
    col = np.exp(0.05 * np.random.default_rng(
        [SERIAL, zlib.crc32(b"vmm_column_gain")]).standard_normal((2, 2, 256)))
    fp = Chip(seed=SERIAL).fixed_pattern
    hemis = [0, 1, 0]  # three row blocks on slots 0, 1, 2 of one chip
    offset = sum(np.floor(fp.cadc_offset_lsb[h, 0, :40]) for h in hemis)
    np.testing.assert_array_equal(cal.offset.numpy(), offset)
    for b, h in enumerate(hemis):
        for sign in (0, 1):
            expected = col[h, sign, :40] * fp.cadc_gain[h, 0, :40]
            # a read of ~60 LSB is floored: 1 LSB is 1.7 % of it
            np.testing.assert_allclose(cal.gain[b, sign].numpy(), expected, atol=0.03)
    assert cal.configurations == 7 and cal.vectors == 21


def test_calibrated_layer_reads_as_the_mock_of_its_median_gain():
    torch.manual_seed(0)
    layer = vnn.Linear(300, 40, bias=False, num_sends=2, wait_between_events=5, mock=True)
    with torch.no_grad():
        layer.weight.mul_(0.3)
    vnn.set_target(layer, quiet_columns_twin())
    x = torch.randint(0, 32, (200, 300)).float()
    with torch.no_grad():
        raw = layer(x)
        cal = vnn.calibrate_columns(layer, repeats=3)[""]
        corrected = layer(x)
    mock = vmm.MockParameter(gain=0.002 * float(torch.median(cal.gain)), noise_std=0.0)
    ideal = vmm.matmul(x, layer.weight.detach().round().t(), 2, mock=mock)
    raw_bias = (raw - ideal).mean(0).abs().mean()
    corrected_bias = (corrected - ideal).mean(0).abs().mean()
    assert raw_bias > 3.0  # offsets and gains of 5 %: several LSB per column
    # left: the floor of each block's read (up to 1 LSB per block) and the gain steps
    assert corrected_bias < 2.0 and corrected_bias < raw_bias / 3


def test_set_target_drops_the_calibration_and_bad_layers_raise():
    layer = vnn.Linear(100, 10, bias=False, mock=True)
    vnn.set_target(layer, quiet_columns_twin())
    vnn.calibrate_columns(layer, repeats=2)
    assert layer.calibration is not None
    vnn.set_target(layer, vmm.MockParameter())
    assert layer.calibration is None
    wide = vnn.Linear(100, 10, bias=False, mock=True, avg=2)
    with pytest.raises(ConfigError, match="avg 1"):
        vnn.calibrate_columns(wide)
    with pytest.raises(ConfigError, match="does not fit"):
        vmm.measure_columns(quiet_columns_twin(), 100, 10, 1, 5, 2).weight_factor(
            torch.zeros(300, 10))
