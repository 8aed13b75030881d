"""BrainScaleS-2 (HICANN-X) numbers and hardware numerics: the one place for both.

Every limit, bit width and design value of the twin is a named constant here, with its
source. Sources:

- *halco* / *haldls* / *lola*: electronicvisions hardware abstraction (coordinates, bit
  fields and value ranges of every configurable container);
- *calix*: electronicvisions calibration library (``calix.spiking.neuron``,
  ``calix.common.cadc``, ``calix.common.algorithms``, ``calix.constants``);
- *Pehle 2022*: Pehle et al., "The BrainScaleS-2 accelerated neuromorphic system with
  hybrid plasticity", Front. Neurosci. 16:795876 (2022);
- *Billaudelle 2020*: Billaudelle et al., "Versatile emulation of spiking neural networks
  on an accelerated neuromorphic substrate", ISCAS 2020;
- *Wunderlich 2019*: Wunderlich et al., "Demonstrating advantages of neuromorphic
  computation: a pilot study", Front. Neurosci. 13:260 (2019) (the HICANN-DLS prototype
  and its Pong experiment);
- *twin*: a value the twin has to choose where no public number exists. Such values set
  scales of the analog model (which CapMem code gives 10 µs, how many nA one weight LSB
  is); calibration removes their influence, and they are documented in ``docs/bss2.md``.

Hardware numerics (bit widths, rounding, saturation) are applied in exactly one function
each, all in this module: :func:`check_capmem` (CapMem range), :func:`quantize_weight`
(6-bit weights), :func:`check_address` (6-bit labels), :func:`cadc_read` (8-bit CADC),
:func:`madc_read` (10-bit MADC), :func:`refractory_counter` (8-bit refractory counter),
:func:`offset_current_code` (the membrane offset current's CapMem code).

Units of the chip's analog side: hardware time in µs, voltage in mV, current in nA,
capacitance in pF. With these units the LIF equations of :mod:`neurotwin.dynamics` hold
numerically unchanged (mV/µs = nA/pF, as mV/ms = nA/nF). Model (biological) time maps to
hardware time through :data:`ACCELERATION`: 1 ms of model time is 1 µs on the chip, so
the numbers are equal (``units.hardware_time_us(t_ms, ACCELERATION) == t_ms``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from neurotwin.errors import ConfigError, check_finite

__all__ = [
    "QuantizationWarning",
    "SaturationWarning",
    "cadc_read",
    "check_address",
    "check_capmem",
    "check_integer_range",
    "correlation_voltage",
    "madc_read",
    "offset_current_code",
    "ppu_saturate",
    "quantize_weight",
    "refractory_counter",
]

# --- time -----------------------------------------------------------------------------

ACCELERATION = 1000.0
"""Speed-up of the chip over biological time (Pehle 2022, sec. 1)."""

# --- geometry (halco: AtomicNeuronOnDLS, SynapseOnSynram, SynapseDriverOnSynapseDriverBlock)

N_HEMISPHERES = 2
"""Top and bottom half of the chip, each with one synapse array and one neuron row."""
N_NEURON_ROWS = 2
"""Neuron rows, one per hemisphere (halco NeuronRowOnDLS)."""
N_NEURON_COLUMNS = 256
"""Neuron circuits per row (halco NeuronColumnOnDLS)."""
N_NEURONS = N_NEURON_ROWS * N_NEURON_COLUMNS
"""512 neuron circuits (halco AtomicNeuronOnDLS.size)."""
N_QUADRANTS = 4
"""Neuron blocks of 128 circuits, each with its own CapMem block (halco CapMemBlockOnDLS)."""
N_NEURONS_PER_QUADRANT = N_NEURONS // N_QUADRANTS
"""128 circuits per quadrant."""
SYNRAM_ROWS = 256
"""Rows of one synapse array (halco SynapseRowOnSynram)."""
SYNRAM_COLUMNS = 256
"""Columns of one synapse array, one per neuron of the hemisphere (halco)."""
N_SYNAPSES = N_HEMISPHERES * SYNRAM_ROWS * SYNRAM_COLUMNS
"""131,072 synapses (halco; Pehle 2022)."""
N_SYNAPSE_DRIVERS = 128
"""Synapse drivers per hemisphere (halco SynapseDriverOnSynapseDriverBlock)."""
ROWS_PER_SYNAPSE_DRIVER = 2
"""Each driver feeds two synapse rows (halco SynapseRowOnSynapseDriver)."""
N_BACKGROUND_GENERATORS = 8
"""Background spike generators, regular or Poisson (halco BackgroundSpikeSourceOnDLS)."""
CIRCUITS_PER_NEURON_MAX = N_NEURON_COLUMNS
"""Most circuits one logical neuron joins: neighbours of one neuron row connected through
their horizontal membrane switches (twin: the twin's logical neurons stay within one
row; halco ``LogicalNeuronOnDLS`` also allows shapes over both rows)."""
SPIKE_LABEL_BITS = 16
"""Width of an event's spike label (haldls SpikeLabel)."""

# --- FPGA, event links, power (execution and cost model) -----------------------------

FPGA_CLOCK_MHZ = 125.0
"""Clock of the FPGA that plays back input events and timestamps recorded spikes: one
tick is 8 ns of hardware time (Pehle 2022, sec. 2.5: 125 MHz FPGA systime)."""
FPGA_TICK_US = 1.0 / FPGA_CLOCK_MHZ
"""8 ns: resolution of every spike timestamp, in µs of hardware time."""
INPUT_EVENT_RATE_MAX_HZ = 125e6
"""Input events the FPGA can send to the chip per second of hardware time (twin: one
event per FPGA clock cycle). In model time this is 125,000 events per second of
biological time (divide by ACCELERATION)."""
SPIKE_LABEL_COUNT = 1 << 16
"""Distinct 16-bit spike labels: at most this many presynaptic units (haldls SpikeLabel)."""
CHIP_POWER_W = 0.057
"""Power of the chip while it emulates, W: the one published anchor, the 57 mW of the
HICANN-DLS prototype (Wunderlich 2019). The cost model's energy is this times hardware time:
an estimate, not a measurement of HICANN-X."""
HOST_CONFIG_S = 0.5
"""Host overhead per mapped configuration (writing CapMem and synapse arrays), s (twin)."""
HOST_TRIAL_S = 2e-3
"""Host overhead per trial (event upload, trigger, spike download), s (twin)."""

# --- synapses (haldls SynapseQuad: 6-bit weight, 6-bit address) -------------------------

WEIGHT_BITS = 6
WEIGHT_MAX = (1 << WEIGHT_BITS) - 1
"""Largest synaptic weight, 63 (haldls SynapseQuad::Weight)."""
ADDRESS_BITS = 6
ADDRESS_MAX = (1 << ADDRESS_BITS) - 1
"""Largest synapse address label, 63 (haldls SynapseQuad::Label)."""
ROW_MODES = ("disabled", "excitatory", "inhibitory")
"""Row modes of a synapse driver's rows (haldls SynapseDriverConfig::RowMode)."""

# --- CapMem (haldls CapMemCell::Value is RantWrapper<.., 1022, 0>; 1023 disables refresh)

CAPMEM_BITS = 10
CAPMEM_MIN = 0
CAPMEM_MAX = 1022
"""Largest writable CapMem value; 1023 is reserved (haldls CapMemCell::DisableRefresh)."""
CAPMEM_VOLTAGE_CELLS = (
    "v_leak",
    "v_reset",
    "v_threshold",
    "e_synin_exc_rev",
    "e_synin_inh_rev",
    "v_adapt_leak",
    "v_exp",
    "v_adapt_ref",
)
"""The 8 voltage cells per neuron (halco CapMemRowOnCapMemBlock, HX v2)."""
CAPMEM_CURRENT_CELLS = (
    "i_bias_leak",
    "i_bias_reset",
    "i_bias_synin_exc_tau",
    "i_bias_synin_exc_drop",
    "i_bias_synin_exc_shift",
    "i_bias_synin_exc_gm",
    "i_bias_synin_inh_tau",
    "i_bias_synin_inh_drop",
    "i_bias_synin_inh_shift",
    "i_bias_synin_inh_gm",
    "i_bias_adapt_tau",
    "i_bias_adapt_a",
    "i_bias_adapt_b",
    "i_bias_exp",
    "i_mem_offset",
    "i_bias_nmda",
)
"""The 16 current cells per neuron (halco CapMemRowOnCapMemBlock, HX v2)."""
CAPMEM_CELLS = CAPMEM_VOLTAGE_CELLS + CAPMEM_CURRENT_CELLS
"""All 24 per-neuron cells, in CapMem row order."""
CAPMEM_FULL_SCALE_MV = 1200.0
"""Voltage of a voltage cell at code 1023 (twin: the 1.2 V analog supply of HICANN-X)."""
CAPMEM_LSB_MV = CAPMEM_FULL_SCALE_MV / (CAPMEM_MAX + 1)
"""Nominal voltage step of one CapMem code, ~1.17 mV."""
MEMBRANE_RAIL_LOW_MV = 0.0
MEMBRANE_RAIL_HIGH_MV = CAPMEM_FULL_SCALE_MV
"""The membrane cannot leave the supply rails (twin: ground and 1.2 V)."""

# --- neuron circuit: digital settings -------------------------------------------------

MEMBRANE_CAPACITANCE_MAX = 63
"""Largest membrane capacitor setting (haldls NeuronConfig::MembraneCapacitorSize)."""
MEMBRANE_CAPACITANCE_MAX_PF = 2.2
"""Capacitance at setting 63: "0 to approximately 2.2 pF" (calix NeuronCalibTarget doc)."""
REFRACTORY_COUNTER_BITS = 8
REFRACTORY_COUNTER_MAX = (1 << REFRACTORY_COUNTER_BITS) - 1
"""Largest refractory counter value, 255 (haldls NeuronBackendConfig::RefractoryTime)."""
REFRACTORY_CLOCK_MHZ = 10.0
"""Refractory clock at default settings: 0.1 µs per count (haldls; Pehle 2022)."""

# --- neuron circuit: nominal analog design (twin; calibration removes their influence) ---

TAU_MEM_NOMINAL_US = 10.0
"""Membrane time constant at LEAK_BIAS_NOMINAL_CODE and full capacitance (twin)."""
LEAK_BIAS_NOMINAL_CODE = 300
"""i_bias_leak code giving TAU_MEM_NOMINAL_US on a nominal circuit (twin)."""
TAU_MEM_MAX_US = 2000.0
"""Longest membrane time constant: leak conductance floor (calix tau_mem_range upper)."""
TAU_SYN_NOMINAL_US = 10.0
"""Synaptic time constant at SYNIN_TAU_NOMINAL_CODE (twin)."""
SYNIN_TAU_NOMINAL_CODE = 300
"""i_bias_synin_{exc,inh}_tau code giving TAU_SYN_NOMINAL_US nominally (twin)."""
TAU_SYN_MAX_US = 100.0
"""Longest synaptic time constant (calix tau_syn_range upper)."""
SYN_GAIN_NOMINAL_NA = 0.3
"""Synaptic current jump per weight LSB at SYNIN_GM_NOMINAL_CODE, nA (twin)."""
SYNIN_GM_NOMINAL_CODE = 500
"""i_bias_synin_{exc,inh}_gm default (calix NeuronCalibTarget.i_synin_gm = 500)."""
MEM_OFFSET_NA_PER_CODE = 0.002
"""Membrane offset current per i_mem_offset code, nA (twin)."""
DELTA_T_MV_PER_CODE = 0.02
"""Slope factor of the exponential term per i_bias_exp code, mV (twin: 10 mV at 500)."""
ADAPT_A_NS_PER_CODE = 0.06
"""Subthreshold adaptation conductance per i_bias_adapt_a code, nS (twin: 30 nS at 500,
about 14 % of the leak conductance at 10 µs)."""
ADAPT_B_NA_PER_CODE = 0.005
"""Spike-triggered adaptation increment per i_bias_adapt_b code, nA (twin)."""
TAU_W_NOMINAL_US = 100.0
"""Adaptation time constant at ADAPT_TAU_NOMINAL_CODE (twin)."""
ADAPT_TAU_NOMINAL_CODE = 300
"""i_bias_adapt_tau code giving TAU_W_NOMINAL_US nominally (twin)."""
TAU_W_MAX_US = 2000.0
"""Longest adaptation time constant (twin, as TAU_MEM_MAX_US)."""
SYNIN_READOUT_BASE_MV = 400.0
SYNIN_READOUT_MV_PER_NA = 10.0
"""Voltage of the synaptic input line as seen by the readout: base + k * i_syn (twin)."""

# --- deviations left after calibration (twin assumptions; docs/bss2.md, "Sources") ------

SYN_GAIN_DRIVER_SPREAD = 0.05
"""Log-std of each driver's strength before the STP offset calibration. Twin assumption:
no published figure (searched: Billaudelle 2020, Göltz 2021, Cramer 2022, Pehle 2022)."""

# --- driver STP offset calibration: calix ``spiking.synapse_driver.STPOffsetCalib`` (in
# ``calix.spiking.calibrate``), haldls ``SynapseDriverConfig::Offset``, halco -----------
STP_OFFSET_MAX = 15
"""Largest STP offset code of a driver (4 bit); a larger code, a smaller amplitude."""
STP_OFFSET_REFERENCE = STP_OFFSET_MAX // 2
"""Code of calix' per-CapMem-block target (the block's median amplitude there); a twin
driver has its drawn factor at it."""
STP_OFFSET_STEP = 0.025
"""Relative amplitude change per offset code (factor ``exp(-step * (offset - 7))``). Twin
assumption: the range spans -18 % .. +19 %; half a step (1.25 %) remains at most."""
STP_CALIB_AMPLITUDE_LSB = 30.0
"""Nominal amplitude in that measurement, LSB (twin assumption: VMM_DRIVER_AMPLITUDE_LSB)."""
STP_CALIB_COLUMNS = 8
"""Columns read per driver; their median is its amplitude (``measure_syndrv_amplitudes``)."""
STP_CALIB_RUNS = 5
"""Repetitions averaged per amplitude (``measure_syndrv_amplitudes``' ``n_runs``)."""
STP_CALIB_BLOCK_STD_MAX_LSB = 2.0
"""calix' acceptance (``tests/hw/py/test_stp_calibration.py``): block std < 2 LSB."""


def capmem_block_of_driver(hemisphere: Any, driver: Any) -> np.ndarray:
    """CapMem block (0..3) of a driver (halco ``toCapMemBlockOnDLS``)."""
    return 2 * np.asarray(hemisphere) + np.asarray(driver) % 2


MEMBRANE_NOISE_MV = 1.0
"""Median std of a free membrane's temporal noise, mV (the default of
``Deviations.membrane_noise_mv``). Twin assumption: no published HICANN-X figure in mV
was found (the same sources)."""

# --- CADC (haldls CADCSampleQuad::Value 8 bit; calix.common.cadc defaults) -------------

CADC_BITS = 8
CADC_MAX = (1 << CADC_BITS) - 1
"""Largest CADC read, 255."""
CADC_SAMPLE_PERIOD_US = 1.7
"""Period of continuous CADC sampling of all channels (Pehle 2022: ~1.7-2 µs)."""
CADC_OFFSET_MIN = -128
CADC_OFFSET_MAX = 127
"""Range of the digital per-channel offset (haldls CADCChannelConfig::Offset)."""
CADC_BRANCHES = ("causal", "acausal")
"""Two CADC channels per synapse column and hemisphere (halco CADCChannelType)."""
CALIX_CADC_RANGE_LOW_CODE = 70
CALIX_CADC_READ_LOW = 20
"""calix CADC ramp-offset calibration: CapMem code 70 reads 20 (RampOffsetCalibration)."""
CALIX_CADC_RANGE_HIGH_CODE = 550
CALIX_CADC_READ_HIGH = 220
"""calix CADC ramp-slope calibration: CapMem code 550 reads 220 (RampSlopeCalibration)."""
CALIX_CADC_REFERENCE_CODE = 310
"""Reference voltage of the per-channel offset calibration (calix ChannelOffsetCalibration)."""
CADC_LSB_MV = (
    (CALIX_CADC_RANGE_HIGH_CODE - CALIX_CADC_RANGE_LOW_CODE)
    * CAPMEM_LSB_MV
    / (CALIX_CADC_READ_HIGH - CALIX_CADC_READ_LOW)
)
"""Voltage per CADC LSB of a calibrated CADC, ~2.8 mV."""
CADC_ZERO_MV = CALIX_CADC_RANGE_LOW_CODE * CAPMEM_LSB_MV - CALIX_CADC_READ_LOW * CADC_LSB_MV
"""Voltage at which a calibrated CADC channel starts counting, ~26 mV."""

# --- MADC (haldls MADCConfig; calix.common.madc_base) ---------------------------------

MADC_BITS = 10
MADC_MAX = (1 << MADC_BITS) - 1
"""Largest MADC sample, 1023."""
MADC_CLOCK_MHZ = 500.0
"""MADC input clock after the default ExperimentInit (calix madc_base: PLL DCO output)."""
MADC_CYCLES_PER_SAMPLE = 12
"""Clock cycles per conversion at default MADCConfig (haldls calculate_sample_rate)."""
MADC_SAMPLE_RATE_MHZ = MADC_CLOCK_MHZ / MADC_CYCLES_PER_SAMPLE
"""~41.7 MSa/s (haldls MADC configuration; Pehle 2022)."""
MADC_SAMPLE_PERIOD_US = 1.0 / MADC_SAMPLE_RATE_MHZ
"""24 ns between MADC samples."""
MADC_ZERO_MV = 0.0
MADC_FULL_SCALE_MV = CAPMEM_FULL_SCALE_MV
"""Input range of the MADC (twin: the supply range)."""
MADC_LSB_MV = (MADC_FULL_SCALE_MV - MADC_ZERO_MV) / (MADC_MAX + 1)
"""~1.17 mV per MADC LSB."""

# --- correlation sensors (Pehle 2022 sec. 2.3; Friedmann et al. 2017) -------------------

CORRELATION_TAU_US = 5.0
"""Time constant of the causal and acausal traces (Pehle 2022 sec. 2.3: ~5 µs)."""
CORRELATION_AMPLITUDE_LSB = 0.5
"""Change of a sensor's CADC read for one pair at zero delay, LSB: calix's default
correlation calibration target (ccalix ``CorrelationCalibTarget::amplitude`` = 0.5 "per
correlated event", feasible 0.2..2.0; calix ``spiking/correlation.py`` calibrates it)."""
CORRELATION_ETA_MV = CORRELATION_AMPLITUDE_LSB * CADC_LSB_MV
"""Stored correlation of one pair at zero delay, mV (~1.4 mV: 0.5 CADC LSB)."""
CORRELATION_BASELINE_READ = 210
"""CADC read of an empty (just reset) sensor: ccalix ``CorrelationCalibOptions::v_reset``
(1.85 V) is chosen so that "the baseline read should be near the upper end of the
reliable range of the CADC" (calix.constants ``cadc_reliable_range``: 30..210)."""
CORRELATION_BASELINE_MIN_READ = 120
"""calix ``correlation_measurement.measure_quad`` raises a HardwareError below this
baseline read (a setup without the V_reset fix)."""
CORRELATION_BASELINE_MV = CADC_ZERO_MV + (CORRELATION_BASELINE_READ + 0.5) * CADC_LSB_MV
"""Sensor voltage after a reset, mV: reads ``CORRELATION_BASELINE_READ``."""
CORRELATION_SATURATION_MV = 550.0
"""Largest stored correlation, mV: the read falls from 210 to ~14 LSB (twin)."""

# --- calibration targets (calix.spiking.neuron.NeuronCalibTarget defaults) -------------

CALIX_TARGET_LEAK = 80
"""Target CADC read at the resting (leak) potential."""
CALIX_TARGET_RESET = 70
"""Target CADC read at the reset potential."""
CALIX_TARGET_THRESHOLD = 125
"""Target CADC read near the spike threshold."""
CALIX_TARGET_TAU_MEM_US = 10.0
CALIX_TARGET_TAU_SYN_US = 10.0
CALIX_TARGET_REFRACTORY_US = 2.0
CALIX_TARGET_MEMBRANE_CAPACITANCE = 63
CALIX_CADC_RELIABLE_LOW = 30
CALIX_CADC_RELIABLE_HIGH = 210
"""Reliable read range of the CADC (calix.constants.cadc_reliable_range)."""
CALIX_FEASIBLE_RANGES = {
    "leak": (50.0, 160.0),
    "reset": (50.0, 160.0),
    "threshold": (50.0, 220.0),
    "tau_mem_us": (0.5, 60.0),
    "tau_syn_exc_us": (0.3, 30.0),
    "tau_syn_inh_us": (0.3, 30.0),
    "i_synin_gm": (30.0, 800.0),
}
"""Feasible target ranges (calix NeuronCalibTarget.feasible_ranges; CADC reads, µs, codes)."""
CALIX_TAU_FIT_MIN_US = 0.1
"""Lower bound of calix' time-constant fits (calix.constants tau_*_range)."""


class SaturationWarning(RuntimeWarning):
    """A value hit a hardware limit and was clamped (the chip clamps silently)."""


class QuantizationWarning(RuntimeWarning):
    """Nonzero model values that quantise to 0 on the chip (weights below half an LSB:
    the synapse vanishes)."""


def check_integer_range(name: str, value: Any, low: int, high: int) -> np.ndarray:
    """Return ``value`` as int64 after checking that it holds integers in [low, high].

    Raises
    ------
    ConfigError
        Naming ``name``, the first offending value and the limit it broke.
    """
    arr = np.asarray(value)
    if arr.dtype == bool:
        raise ConfigError(f"{name} must hold integers, got booleans")
    if not np.issubdtype(arr.dtype, np.integer):
        arr = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~np.isfinite(arr) | (arr != np.round(arr))].ravel()[0].item()
            raise ConfigError(f"{name} must hold integers, got {bad!r}")
    arr = arr.astype(np.int64)
    bad = (arr < low) | (arr > high)
    if np.any(bad):
        worst = int(arr[bad].ravel()[0])
        raise ConfigError(f"{name} must lie in [{low}, {high}], got {worst} "
                          f"(limit {high if worst > high else low})")
    return arr


def check_capmem(name: str, codes: Any) -> np.ndarray:
    """Return ``codes`` as int64 after checking the CapMem range 0..1022.

    Raises
    ------
    ConfigError
        If a code is not an integer or lies outside [CAPMEM_MIN, CAPMEM_MAX]; the message
        names the cell and the limit.
    """
    return check_integer_range(f"CapMem cell {name}", codes, CAPMEM_MIN, CAPMEM_MAX)


def check_address(addresses: Any) -> np.ndarray:
    """Return synapse address labels as int64 after checking the 6-bit range 0..63."""
    return check_integer_range("synapse address", addresses, 0, ADDRESS_MAX)


def _warn_saturated(what: str, count: int, total: int, limits: str) -> None:
    warnings.warn(
        f"{count} of {total} {what} saturated at {limits} (clamped as the hardware does)",
        SaturationWarning,
        stacklevel=3,
    )


def quantize_weight(weight_lsb: Any) -> np.ndarray:
    """Round weights given in LSB to the 6-bit synapse weight 0..63.

    Rounding is half up (``floor(w + 0.5)``); values above 63 are clamped to 63 with a
    :class:`SaturationWarning`.

    Parameters
    ----------
    weight_lsb
        Non-negative weights in units of one weight LSB, any shape.

    Returns
    -------
    np.ndarray
        uint8 weights of the same shape.
    """
    w = np.asarray(weight_lsb, dtype=np.float64)
    check_finite("weight", w)
    if np.any(w < 0):
        raise ConfigError(f"weights must be >= 0 (the sign is the row mode), got "
                          f"{w[w < 0].ravel()[0].item()!r}")
    q = np.floor(w + 0.5)
    high = q > WEIGHT_MAX
    if np.any(high):
        _warn_saturated("weights", int(high.sum()), w.size, f"{WEIGHT_MAX}")
    return np.minimum(q, WEIGHT_MAX).astype(np.uint8)


def correlation_voltage(stored_mv: Any) -> np.ndarray:
    """The voltage a correlation sensor presents to the CADC for a stored correlation
    ``S`` (mV): ``CORRELATION_BASELINE_MV - S``. The read falls from the baseline as
    correlation accumulates (calix ``correlation_measurement``: amplitude = baseline read
    - read)."""
    return CORRELATION_BASELINE_MV - np.asarray(stored_mv, dtype=np.float64)


def cadc_read(analog_lsb: Any, digital_offset: Any = 0) -> np.ndarray:
    """Convert analog CADC inputs to 8-bit reads: the CADC's numerics, bit for bit.

    The CADC is a ramp converter: the count is the number of whole LSBs the ramp passed
    before crossing the input, ``floor(x)``, clamped to 0..255 when the input lies
    outside the ramp. The per-channel digital offset (haldls CADCChannelConfig::Offset,
    -128..127) is then added and the sum clamped to 0..255 again. Either clamp warns
    (:class:`SaturationWarning`).

    Parameters
    ----------
    analog_lsb
        Input in CADC LSB above the channel's zero (float, any shape).
    digital_offset
        Integer offsets broadcasting against ``analog_lsb``.

    Returns
    -------
    np.ndarray
        int64 reads, 0..255.
    """
    x = np.asarray(analog_lsb, dtype=np.float64)
    check_finite("CADC input", x)
    offset = check_integer_range("CADC digital offset", digital_offset,
                                  CADC_OFFSET_MIN, CADC_OFFSET_MAX)
    raw = np.floor(x)
    shifted = np.clip(raw, 0, CADC_MAX) + offset
    clamped = (raw < 0) | (raw > CADC_MAX) | (shifted < 0) | (shifted > CADC_MAX)
    if np.any(clamped):
        _warn_saturated("CADC reads", int(clamped.sum()), clamped.size, f"0/{CADC_MAX}")
    return np.clip(shifted, 0, CADC_MAX).astype(np.int64)


def madc_read(analog_lsb: Any) -> np.ndarray:
    """Convert analog MADC inputs to 10-bit samples: ``floor(x)`` clamped to 0..1023.

    The MADC is a successive-approximation converter, whose result is the truncated
    input; inputs outside the range clamp with a :class:`SaturationWarning`.

    Parameters
    ----------
    analog_lsb
        Input in MADC LSB above the converter's zero (float, any shape).

    Returns
    -------
    np.ndarray
        int64 samples, 0..1023.
    """
    x = np.asarray(analog_lsb, dtype=np.float64)
    check_finite("MADC input", x)
    raw = np.floor(x)
    clamped = (raw < 0) | (raw > MADC_MAX)
    if np.any(clamped):
        _warn_saturated("MADC samples", int(clamped.sum()), clamped.size, f"0/{MADC_MAX}")
    return np.clip(raw, 0, MADC_MAX).astype(np.int64)


def refractory_counter(refractory_us: Any) -> np.ndarray:
    """Refractory counter values for refractory times in µs: ``round(t * f_clock)``.

    Raises
    ------
    ConfigError
        If a time is negative or needs more than the 8-bit counter holds
        (255 counts = 25.5 µs at the default 10 MHz clock).
    """
    t = np.asarray(refractory_us, dtype=np.float64)
    check_finite("refractory time", t)
    counts = np.floor(t * REFRACTORY_CLOCK_MHZ + 0.5)
    limit_us = REFRACTORY_COUNTER_MAX / REFRACTORY_CLOCK_MHZ
    bad = (counts < 0) | (counts > REFRACTORY_COUNTER_MAX)
    if np.any(bad):
        raise ConfigError(
            f"refractory time must lie in [0, {limit_us}] µs (8-bit counter at "
            f"{REFRACTORY_CLOCK_MHZ} MHz), got {t[bad].ravel()[0].item()!r} µs"
        )
    return counts.astype(np.int64)


def offset_current_code(current_na: Any) -> np.ndarray:
    """CapMem code(s) of ``i_mem_offset`` for membrane offset current(s) in nA (nominal
    design): ``floor(I / MEM_OFFSET_NA_PER_CODE + 0.5)``.

    Raises
    ------
    ConfigError
        If a current needs a code outside [0, CAPMEM_MAX]: the cell only depolarises and
        holds at most 1022 * 0.002 nA = 2.044 nA.
    """
    i = np.asarray(current_na, dtype=np.float64)
    check_finite("offset current", i)
    codes = np.floor(i / MEM_OFFSET_NA_PER_CODE + 0.5)
    bad = (codes < CAPMEM_MIN) | (codes > CAPMEM_MAX)
    if np.any(bad):
        worst = i[bad].ravel()[0].item()
        raise ConfigError(
            f"offset current {worst:.6g} nA needs i_mem_offset code "
            f"{worst / MEM_OFFSET_NA_PER_CODE:.1f}, outside [{CAPMEM_MIN}, {CAPMEM_MAX}] "
            f"(0 to {CAPMEM_MAX * MEM_OFFSET_NA_PER_CODE:.4g} nA on the chip)")
    return codes.astype(np.int64)


# --- VMM mode (hxtorch.perceptron: the analog core as a vector-matrix multiplier) --------
# Sources: hxtorch ``include/hxtorch/perceptron/constants.h`` (which takes its ranges from
# grenade ``compute::MAC::Weight``, ``signal_flow::UInt5`` and ``signal_flow::Int8``) and
# ``detail/mac.cpp`` (the mock model). The numerics are applied in
# ``neurotwin.bss2.vmm.numerics`` (one function for the inputs, one for the CADC reads).

VMM_INPUT_MIN = 0
"""Smallest input activation: inputs are 5-bit pulse lengths (grenade UInt5; hxtorch
``input_activation_min``)."""
VMM_INPUT_MAX = 31
"""Largest input activation (grenade UInt5; hxtorch ``input_activation_max``)."""
VMM_WEIGHT_MIN = -WEIGHT_MAX
"""Smallest signed weight, -63: the negative part sits in an inhibitory row (grenade
``MAC::Weight``; hxtorch ``synaptic_weight_min``)."""
VMM_WEIGHT_MAX = WEIGHT_MAX
"""Largest signed weight, 63: the positive part sits in an excitatory row (grenade
``MAC::Weight``; hxtorch ``synaptic_weight_max``)."""
VMM_OUTPUT_MIN = -128
"""Smallest CADC result of a VMM (grenade Int8; hxtorch ``output_activation_min``)."""
VMM_OUTPUT_MAX = 127
"""Largest CADC result of a VMM (grenade Int8; hxtorch ``output_activation_max``)."""
VMM_MATRIX_HEIGHT = SYNRAM_ROWS // 2
"""128 signed rows per synapse array: a signed weight takes an excitatory and an
inhibitory row (hxtorch ``hardware_matrix_height``)."""
VMM_MATRIX_WIDTH = SYNRAM_COLUMNS
"""256 columns (output neurons) per synapse array (hxtorch ``hardware_matrix_width``)."""
VMM_WAIT_BETWEEN_EVENTS = 5
"""Default wait between two successive input events, FPGA cycles of 8 ns (hxtorch
``defaults::wait_between_events``)."""
VMM_GAIN = 0.002
"""Default gain of the analog multiplication, CADC LSB per unit of x.W and send
(hxtorch ``defaults::gain``)."""
VMM_NOISE_STD = 2.0
"""Default std of the membrane noise of one read, CADC LSB (hxtorch
``defaults::noise_std``)."""
VMM_SATURATION_LSB_PER_CYCLE = 80.0
"""Twin: level (CADC LSB of membrane) at which the synaptic input saturates, per FPGA
cycle of ``wait_between_events``; at the default wait of 5 cycles 400 LSB, far beyond
the CADC's range, at 1 cycle 80 LSB. No public number exists; it only makes "too short
a wait saturates the synaptic input" (hxtorch's documentation) visible."""
# Measured fixed-pattern figures of the VMM mode. The only public per-circuit figures
# found are the acceptance thresholds and expected values in calix's hardware tests of
# the hagen (VMM) mode calibration (electronicvisions/calix ``tests/hw/py``); Weis et al.
# 2020 (arXiv:2006.13177), Spilger et al. 2020 (hxtorch), Stradmann et al. 2022 and
# Emmel et al. give accuracies, energies and times but no per-synapse or per-column
# spread in their text. The twin's synapse, column and chip spreads stay assumptions
# (``neurotwin.bss2.vmm.VmmDeviations``).
VMM_DRIVER_AMPLITUDE_LSB = 30.0
"""Amplitude (CADC LSB) one event of full activation produces at the neurons after the
hagen-mode calibration, median over columns: "some 30 LSB are expected" (calix
``tests/hw/py/test_hagen_input.py``, which requires > 20)."""
VMM_DRIVER_MISMATCH_LSB = 2.0
"""Std (CADC LSB) of that amplitude between synapse drivers after calibration: "some 2
LSB expected" (calix ``tests/hw/py/test_hagen_input.py``, which requires < 4 LSB and
< 1/8 of the dynamic range). The twin's per-driver (signed row) gain spread is
``VMM_DRIVER_MISMATCH_LSB / VMM_DRIVER_AMPLITUDE_LSB`` = 6.7 %."""
VMM_CADC_CALIBRATED_MISMATCH_MAX_LSB = 3.0
"""Largest std (CADC LSB) between CADC channels that calix's CADC calibration accepts
(calix ``tests/hw/py/test_cadc_calibration.py``); the twin's channel offsets
(``Deviations.cadc_offset_lsb``, 3 LSB) sit at this bound."""
VMM_RESULT_NOISE_MAX_LSB = 5.0
"""Largest trial-to-trial std (CADC LSB) of a VMM result that calix's multiplication
test accepts (30 repetitions, calix ``tests/hw/py/test_hagen_multiplication.py``);
hxtorch's default ``noise_std`` (:data:`VMM_NOISE_STD`, 2 LSB) lies within it."""
VMM_MEMBRANE_RESET_US = 1.0
"""Twin: time to reset the membranes before each vector, µs of hardware time (an
assumption; the CADC read after the vector takes ``CADC_SAMPLE_PERIOD_US``)."""


# --- plasticity processors (PPU) --------------------------------------------------------
# Sources: *libnux* (electronicvisions, the PPU's C++ runtime: ``libnux/vx/vector_*.h``,
# the ``fxv*`` vector instructions of its examples and ``VectorFracSat8``), *haldls /
# halco* (``PPUMemory``, ``PPUOnDLS``), *pynn-brainscales* (``PlasticityRule`` and its
# ``Timer``), *Pehle 2022* (sec. 2.4, the hybrid plasticity architecture), and the issue
# that asked for the PPU twin (#13) where it states a documented figure. The numerics are
# applied in exactly one function, :func:`ppu_saturate`; ``neurotwin.bss2.ppu.vector``
# builds the instructions on it. Cycle costs are twin estimates (no public per-instruction
# table exists); they only make "a program has a duration" checkable.

PPU_COUNT = N_HEMISPHERES
"""Two plasticity processors, one per hemisphere, each next to its synapse array
(halco ``PPUOnDLS``; Pehle 2022 sec. 2.4)."""
PPU_CLOCK_MHZ = 250.0
"""PPU clock, MHz: the documented default frequency named in issue #13 (the chip's PLL
can run it at other frequencies; the twin uses this one)."""
PPU_MEMORY_BYTES = 16 * 1024
"""Memory per PPU, bytes: 16 KiB for instructions and data (halco
``PPUMemoryWordOnPPU``: 4096 words of 32 bit)."""
PPU_VECTOR_BITS = 1024
"""Width of one vector register, bits (libnux ``vx``: ``VectorFracSat8`` holds 128 bytes)."""
PPU_LANES_8 = PPU_VECTOR_BITS // 8
"""128 lanes of 8 bit per vector op (libnux ``VectorFracSat8::size``)."""
PPU_LANES_16 = PPU_VECTOR_BITS // 16
"""64 lanes of 16 bit per vector op (libnux ``VectorFracSat16::size``)."""
PPU_FRACTION_BITS = {8: 7, 16: 15}
"""Fractional bits of a signed lane (Q0.7 / Q0.15): the fractional multiply keeps the
product's bits ``[bits - 1 + fraction, fraction]``. libnux implements its right shift by
``n`` as ``fxvmulbfs`` with the factor ``1 << (7 - n)``, which fixes both the format and
that the multiply truncates towards minus infinity (an arithmetic shift)."""
PPU_SYNAPSE_ROW_VECTORS = SYNRAM_COLUMNS // PPU_LANES_8
"""A 256-synapse row is two 128-lane vector accesses (libnux ``fxvinx``/``fxvoutx`` on
the synapse array's vector bus)."""
PPU_WEIGHT_SHIFT = 1
"""libnux' STDP examples shift the 6-bit weight left by one before signed fractional
arithmetic (``fxvshb w, w, 1``) and back after it: weights live in Q0.7 as ``2 w``."""
PPU_CYCLES = {
    "scalar": 1,           # one integer instruction of the Power core
    "branch": 2,
    "load": 2,             # scalar load/store to the PPU memory
    "vector": 1,           # one fxv arithmetic / compare / select / shift instruction
    "vector_load": 4,      # fxvlax/fxvstax: 128 bytes from / to PPU memory
    "synapse_row_access": 8,   # fxvinx/fxvoutx of one 128-synapse half row
    "correlation_reset": 8,    # one half row's sensors (a write on the same bus)
    "cadc_row_read": 8,    # one half row of CADC channels (causal or acausal)
    "spike_counter_read": 4,   # one neuron's counter over the on-chip bus
    "capmem_write": 8,     # one CapMem cell over the on-chip bus
    "random": 5,           # one xorshift32 number on the scalar core
    "call_overhead": 200,  # timer interrupt, context save/restore, return
}
"""Twin: clock cycles per PPU operation (the cost model; estimates, see docs/ppu.md)."""
PPU_RANDOM = "xorshift32"
"""Random numbers are drawn on the scalar core by software (libnux ``random``:
Marsaglia's xorshift32; shifts 13, 17, 5)."""
PPU_SPIKE_COUNTER_BITS = 8
"""Per-neuron spike counters saturate at 255 (haldls ``SpikeCounterRead::Count``,
8 bit, with an overflow flag)."""
PPU_SPIKE_COUNTER_MAX = (1 << PPU_SPIKE_COUNTER_BITS) - 1


def ppu_saturate(values: Any, bits: int, overwrite: bool = False) -> np.ndarray:
    """The vector unit's saturation: clamp integers to a signed ``bits``-bit lane.

    Every fractional-saturating instruction (``fxv*fs``) ends here: add and subtract
    saturate their exact sum, multiply its truncated fractional product; -1 * -1
    saturates to the largest positive value. Returns int64 in ``[-2**(bits-1),
    2**(bits-1) - 1]``; ``bits`` is 8 or 16. ``overwrite``: ``values`` is a scratch
    array the result may be written into.
    """
    if bits not in PPU_FRACTION_BITS:
        raise ConfigError(f"PPU lanes are 8 or 16 bit, got {bits!r}")
    high = (1 << (bits - 1)) - 1
    arr = np.asarray(values, dtype=np.int64)
    return np.clip(arr, -high - 1, high, out=arr if overwrite or arr is not values else None)
