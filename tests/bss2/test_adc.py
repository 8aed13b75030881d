"""CADC and MADC readouts: quantisation and saturation bit for bit on an ideal chip.

Golden reads are computed here from the published numbers (CADC: calix maps CapMem code
70 to read 20 and 550 to 220, CapMem LSB 1200/1023 mV; MADC: 1200 mV over 1024 LSB,
500 MHz / 12 cycles per sample), by floor, never by the code under test.
"""

import math

import numpy as np
import pytest

from neurotwin.bss2 import Chip, Deviations, NeuronConfig, emulate
from neurotwin.bss2.adc import (
    cadc_membrane,
    cadc_sample,
    cadc_sample_steps,
    madc_sample,
    madc_trace,
    membrane_channels,
)
from neurotwin.bss2.specs import SaturationWarning

IDEAL = Chip(seed=0, deviations=Deviations.ideal())
CAPMEM_LSB = 1200.0 / 1023
CADC_LSB = (550 - 70) * CAPMEM_LSB / 200
CADC_ZERO = 70 * CAPMEM_LSB - 20 * CADC_LSB
MADC_LSB = 1200.0 / 1024


def test_cadc_golden_reads():
    volts = np.array([CADC_ZERO, CADC_ZERO + 80.5 * CADC_LSB, CADC_ZERO + 254.9 * CADC_LSB,
                      251.0])
    expected = [0, 80, 254, math.floor((251.0 - CADC_ZERO) / CADC_LSB)]
    reads = cadc_sample(IDEAL, volts, membrane_channels([0, 1, 300, 511]),
                        np.random.default_rng(0))
    assert reads.tolist() == expected


def test_cadc_digital_offsets_per_channel():
    offsets = np.zeros((2, 2, 256), int)
    offsets[1, 0, 44] = -7
    volts = np.full(2, CADC_ZERO + 100.25 * CADC_LSB)
    reads = cadc_sample(IDEAL, volts, membrane_channels([44, 256 + 44]),
                        np.random.default_rng(0), offsets)
    assert reads.tolist() == [100, 93]


def test_cadc_saturates_with_a_warning():
    with pytest.warns(SaturationWarning, match="CADC"):
        reads = cadc_sample(IDEAL, np.array([5.0, 900.0]), membrane_channels([0, 1]),
                            np.random.default_rng(0))
    assert reads.tolist() == [0, 255]


def test_cadc_samples_every_period():
    steps = cadc_sample_steps(10.0, 0.1, 1.7)
    assert steps.tolist() == [0, 17, 34, 51, 68, 85]
    config = NeuronConfig.default([7], enable_threshold=False)
    p = IDEAL.circuit_parameters(config)
    em = emulate(p, 10.0, 0.1, np.random.default_rng(0))
    reads = cadc_membrane(IDEAL, em, [7], np.random.default_rng(0))
    assert reads.shape == (6, 1)
    assert reads[:, 0].tolist() == [math.floor((p.v_leak[0] - CADC_ZERO) / CADC_LSB)] * 6


def test_madc_golden_samples_and_rate():
    volts = np.array([0.0, 600.0, 1199.0])
    assert madc_sample(IDEAL, volts, np.random.default_rng(0)).tolist() == [
        0, math.floor(600.0 / MADC_LSB), math.floor(1199.0 / MADC_LSB)]
    with pytest.warns(SaturationWarning, match="MADC"):
        assert madc_sample(IDEAL, np.array([1300.0]), np.random.default_rng(0)).tolist() == [1023]


def test_madc_trace_of_one_neuron():
    config = NeuronConfig.default([2, 3], enable_threshold=False)
    p = IDEAL.circuit_parameters(config)
    dt = 0.024
    em = emulate(p, 100 * dt, dt, np.random.default_rng(0),
                 initial_v=np.array([100.0, 400.0]))
    times, samples = madc_trace(IDEAL, em, 1, np.random.default_rng(0))
    assert np.diff(times) == pytest.approx(12 / 500.0)
    v = p.v_leak[1] + (400.0 - p.v_leak[1]) * np.exp(-times / p.tau_mem[1])
    assert samples.tolist() == np.floor(v / MADC_LSB).astype(int).tolist()


def test_noisy_cadc_averages_to_input_minus_half():
    chip = Chip(seed=1, deviations=Deviations(cadc_offset_lsb=0.0, cadc_gain_spread=0.0))
    volts = np.full((4000, 1), CADC_ZERO + 100.3 * CADC_LSB)
    reads = cadc_sample(chip, volts, membrane_channels([0]), np.random.default_rng(2))
    assert reads.mean() == pytest.approx(99.8, abs=0.03)
