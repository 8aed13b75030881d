"""The chip's readouts: CADC membrane samples and MADC traces.

Both turn an analog voltage into integers the way the converters do: the channel's own
analog offset and gain (fixed pattern of the chip), white noise per sample, then the
converter's numerics (:func:`specs.cadc_read`, :func:`specs.madc_read`: floor, clamp at
the range ends with a :class:`~neurotwin.bss2.specs.SaturationWarning`)::

    CADC   x = (v - CADC_ZERO_MV) / (CADC_LSB_MV * gain_ch) + offset_ch + noise
           read = cadc_read(x, digital_offset_ch)          (8 bit, ~1.7 µs period)
    MADC   x = (v - MADC_ZERO_MV) / (MADC_LSB_MV * gain) + offset + noise
           sample = madc_read(x)                          (10 bit, 41.7 MSa/s)

CADC channels are indexed (hemisphere, branch, column); branch 0 ("causal") carries the
membrane of the neuron in that column (the twin's choice of routing), both branches carry
the correlation sensors of the selected synapse row. The MADC digitises one source at a
time; functions here take arrays of traces for convenience, each column being one
recording (the result does not depend on the order, because the MADC's offset and gain
are the same for every recording and the noise of each sample is independent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.neuron import Emulation
from neurotwin.errors import ConfigError

__all__ = [
    "cadc_membrane",
    "cadc_sample",
    "cadc_sample_steps",
    "madc_sample",
    "madc_trace",
    "membrane_channels",
    "synin_line_voltage",
]

Channels = tuple[np.ndarray, np.ndarray, np.ndarray]


def membrane_channels(circuits: Any) -> Channels:
    """CADC channels (hemisphere, branch, column) reading the membranes of ``circuits``."""
    idx = specs.check_integer_range("circuit", circuits, 0, specs.N_NEURONS - 1)
    return idx // specs.N_NEURON_COLUMNS, np.zeros_like(idx), idx % specs.N_NEURON_COLUMNS


def cadc_sample(
    chip: Chip,
    voltage_mv: Any,
    channels: Channels,
    rng: np.random.Generator,
    digital_offset: Any = None,
) -> np.ndarray:
    """CADC reads of voltages on the given channels.

    Parameters
    ----------
    chip
        The chip whose channels read.
    voltage_mv
        Voltages, mV, shape (..., m): the last axis runs over the channels.
    channels
        (hemisphere, branch, column) index arrays of shape (m,).
    rng
        Source of the read noise.
    digital_offset
        Digital offsets of all channels, shape (2, 2, 256) (a calibration's
        ``cadc_offset``); None means zero.

    Returns
    -------
    np.ndarray
        int64 reads of the shape of ``voltage_mv``.
    """
    fp = chip.fixed_pattern
    v = np.asarray(voltage_mv, dtype=np.float64)
    x = (v - specs.CADC_ZERO_MV) / (specs.CADC_LSB_MV * fp.cadc_gain[channels]) \
        + fp.cadc_offset_lsb[channels]
    noise = chip.deviations.cadc_noise_lsb
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    offset = 0 if digital_offset is None else np.asarray(digital_offset)[channels]
    return specs.cadc_read(x, offset)


def cadc_sample_steps(duration: float, dt: float,
                      period: float = specs.CADC_SAMPLE_PERIOD_US) -> np.ndarray:
    """Indices of emulation steps at which the CADC samples: the nearest step to every
    ``k * period`` µs in [0, duration]."""
    if period < dt:
        raise ConfigError(f"the CADC period ({period} µs) must not be shorter than the "
                          f"emulation step ({dt} µs)")
    times = np.arange(0.0, duration + 1e-9 * period, period)
    return np.rint(times / dt).astype(np.int64)


def cadc_membrane(
    chip: Chip,
    emulation: Emulation,
    circuits: Any,
    rng: np.random.Generator,
    digital_offset: Any = None,
    period: float = specs.CADC_SAMPLE_PERIOD_US,
) -> np.ndarray:
    """CADC samples of the recorded membranes: (samples, n) reads, one every ``period`` µs
    of the emulation (starting at t = 0)."""
    if emulation.v is None:
        raise ConfigError("the emulation did not record 'v'")
    duration = (emulation.v.shape[0] - 1) * emulation.dt
    steps = cadc_sample_steps(duration, emulation.dt, period)
    return cadc_sample(chip, emulation.v[steps], membrane_channels(circuits), rng,
                       digital_offset)


def madc_sample(chip: Chip, voltage_mv: Any, rng: np.random.Generator) -> np.ndarray:
    """MADC samples of voltages (mV, any shape): int64 samples 0..1023."""
    fp = chip.fixed_pattern
    v = np.asarray(voltage_mv, dtype=np.float64)
    x = (v - specs.MADC_ZERO_MV) / (specs.MADC_LSB_MV * fp.madc_gain) + fp.madc_offset_lsb
    noise = chip.deviations.madc_noise_lsb
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    return specs.madc_read(x)


def madc_trace(
    chip: Chip,
    emulation: Emulation,
    position: int,
    rng: np.random.Generator,
    variable: str = "v",
) -> tuple[np.ndarray, np.ndarray]:
    """The MADC trace of one neuron of an emulation.

    Parameters
    ----------
    position
        Position of the neuron within the emulation's circuits (0..n-1).
    variable
        "v" (membrane) or "i_exc" / "i_inh" (the synaptic input line, read as the
        voltage ``SYNIN_READOUT_BASE_MV + SYNIN_READOUT_MV_PER_NA * i``).

    Returns
    -------
    times, samples
        Sample times in µs (every MADC period, 24 ns, nearest emulation step) and the
        10-bit samples.
    """
    trace = getattr(emulation, variable, None) if variable in ("v", "i_exc", "i_inh") else None
    if trace is None:
        raise ConfigError(f"the emulation did not record {variable!r}")
    if not 0 <= position < trace.shape[1]:
        raise ConfigError(f"position must lie in [0, {trace.shape[1] - 1}], got {position}")
    if emulation.dt > specs.MADC_SAMPLE_PERIOD_US * (1 + 1e-9):
        raise ConfigError(f"emulation step {emulation.dt} µs is coarser than the MADC period "
                          f"{specs.MADC_SAMPLE_PERIOD_US} µs")
    duration = (trace.shape[0] - 1) * emulation.dt
    times = np.arange(0.0, duration + 1e-12, specs.MADC_SAMPLE_PERIOD_US)
    steps = np.minimum(np.rint(times / emulation.dt).astype(np.int64), trace.shape[0] - 1)
    values = trace[steps, position]
    if variable != "v":
        values = synin_line_voltage(values)
    return times, madc_sample(chip, values, rng)


def synin_line_voltage(current_na: Any) -> np.ndarray:
    """Voltage of a synaptic input line carrying ``current_na`` as the readout sees it, mV."""
    return specs.SYNIN_READOUT_BASE_MV + specs.SYNIN_READOUT_MV_PER_NA * np.asarray(
        current_na, dtype=np.float64)
