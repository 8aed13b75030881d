r"""One virtual HICANN-X chip: its serial number fixes its fixed-pattern deviations.

Analog circuits never come out of the fab as designed: every neuron circuit, synapse
driver, ADC channel and correlation sensor deviates a little, in a pattern that is fixed
for a given chip (fixed-pattern noise) and different on the next. :class:`Chip` draws
that pattern from its ``seed`` (the chip's serial number): the same serial always gives
the same chip. :class:`Deviations` holds the magnitudes; all zero is an ideal chip.

Transfer from settings to analog parameters (per circuit ``i``; codes are CapMem values,
``u = CAPMEM_LSB_MV``; ``xi`` are independent standard normal draws fixed by the serial)::

    potential  V(code) = code * u * (1 + potential_gain * xi) + potential_offset_mv * xi
               (each voltage cell of each circuit has its own gain and offset; clamped to
               the rails 0..1200 mV)
    capacitance  C = C_max * (setting + 1) / 64 * exp(capacitance_spread * xi)
    leak         g = g_nominal * exp(tau_mem_spread * xi) * max(code - bias_offset * xi, 0)
                 tau_mem = C / max(g, C / TAU_MEM_MAX_US),   g_nominal such that a
                 nominal circuit has tau_mem = 10 µs at code 300 and full capacitance
    synapse tau  tau_syn = 10 µs * 300 / (exp(tau_syn_spread * xi)
                          * max(code - bias_offset * xi, 0)),  at most TAU_SYN_MAX_US
    synapse gain per weight LSB  0.3 nA * code / 500 * exp(syn_gain_column_spread * xi)
                 per driver (2 x 128) a further factor exp(syn_gain_driver_spread * xi)
                 * exp(-STP_OFFSET_STEP * (offset - STP_OFFSET_REFERENCE)), offset the
                 driver's 4-bit STP offset code (set by the calibration)
    offset current  I = 0.002 nA * code * exp(offset_current_spread * xi)
    refractory time = counter / 10 MHz (digital, exact)
    AdEx (where enabled)  V_T = potential of v_exp;  delta_T = 0.02 mV * code,
                 a = 0.06 nS * code,  b = 0.005 nA * code,  tau_w = 100 µs * 300 / code
                 (at most TAU_W_MAX_US), each times exp(adex_spread * xi); the spike
                 comparator's threshold is AdEx' v_spike

Readout channels: every CADC channel (2 hemispheres x causal/acausal x 256 columns) has
an analog offset (``cadc_offset_lsb * xi`` LSB) and gain (``1 + cadc_gain_spread * xi``);
the one MADC has one offset and gain. Correlation sensors: per synapse and branch, the
amplitude and the time constant scale by ``exp(correlation_*_spread * xi)``.

Temporal noise statistics (also fixed by the serial): circuit ``i`` has membrane noise of
standard deviation ``membrane_noise_mv * exp(membrane_noise_spread * xi)``; every ADC
sample has white noise of ``cadc_noise_lsb`` / ``madc_noise_lsb``. The noise itself is
drawn at run time from the run's own seed.

Each deviation array is drawn from its own stream, seeded by (serial, name): adding a new
kind of deviation never changes the existing ones of a serial.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.config import NeuronConfig
from neurotwin.bss2.neuron import CircuitParameters
from neurotwin.errors import ConfigError, check_int, check_positive

__all__ = ["Chip", "Deviations", "FixedPattern"]


@dataclass(frozen=True)
class Deviations:
    """Magnitudes of a chip's deviations from its design; all zero is an ideal chip.

    Defaults are uncalibrated spreads of the order seen on HICANN-X (10-20 % in time
    constants, a few CADC LSB in potentials); see ``docs/bss2.md``. Relative spreads are
    standard deviations of the logarithm (for gains: of the relative error).

    Parameters
    ----------
    potential_offset_mv
        Std of the offset of every voltage cell's potential, mV (15 mV ~ 5 CADC LSB).
    potential_gain
        Relative std of the mV-per-code slope of every voltage cell.
    tau_mem_spread
        Spread of the leak conductance per code (hence of tau_mem).
    tau_syn_spread
        Spread of the synaptic-input resistor conductance per code (hence of tau_syn).
    bias_offset_codes
        Std of the code offset of the leak and synaptic time-constant bias currents.
    capacitance_spread
        Spread of the membrane capacitance.
    syn_gain_column_spread
        Spread of the synaptic input strength of each circuit (per receptor).
    syn_gain_driver_spread
        Spread of the output strength of each synapse driver at the reference STP offset,
        before the drivers' calibration (an assumption: ``specs.SYN_GAIN_DRIVER_SPREAD``).
    offset_current_spread
        Spread of the membrane offset current per code.
    cadc_offset_lsb, cadc_gain_spread
        Std of each CADC channel's analog offset (LSB) and relative gain.
    madc_offset_lsb, madc_gain_spread
        Std of the MADC's offset (LSB) and relative gain.
    correlation_eta_spread, correlation_tau_spread
        Spread of each correlation sensor's amplitude and time constant.
    adex_spread
        Spread of the AdEx slope factor, adaptation strengths and time constant.
    membrane_noise_mv
        Median std of a free membrane's temporal noise, mV (an assumption:
        ``specs.MEMBRANE_NOISE_MV``).
    membrane_noise_spread
        Spread of the membrane noise across circuits.
    cadc_noise_lsb, madc_noise_lsb
        Std of the white noise of every CADC / MADC sample, LSB.
    """

    potential_offset_mv: float = 15.0
    potential_gain: float = 0.02
    tau_mem_spread: float = 0.15
    tau_syn_spread: float = 0.15
    bias_offset_codes: float = 5.0
    capacitance_spread: float = 0.02
    syn_gain_column_spread: float = 0.10
    syn_gain_driver_spread: float = specs.SYN_GAIN_DRIVER_SPREAD
    offset_current_spread: float = 0.10
    cadc_offset_lsb: float = 3.0
    cadc_gain_spread: float = 0.005
    madc_offset_lsb: float = 5.0
    madc_gain_spread: float = 0.01
    correlation_eta_spread: float = 0.10
    correlation_tau_spread: float = 0.10
    adex_spread: float = 0.15
    membrane_noise_mv: float = specs.MEMBRANE_NOISE_MV
    membrane_noise_spread: float = 0.2
    cadc_noise_lsb: float = 0.5
    madc_noise_lsb: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive(f.name, getattr(self, f.name), allow_zero=True)

    @classmethod
    def ideal(cls) -> Deviations:
        """No deviations and no noise: every circuit behaves as designed."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def to_dict(self) -> dict[str, float]:
        """Magnitudes by name (inverse: ``Deviations(**d)``)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class FixedPattern:
    """The realised deviations of one chip (read-only arrays; factors are 1 when ideal)."""

    potential_offset_mv: np.ndarray
    """(8, 512): offset of each voltage cell (rows as ``specs.CAPMEM_VOLTAGE_CELLS``), mV."""
    potential_gain: np.ndarray
    """(8, 512): slope factor of each voltage cell."""
    leak_factor: np.ndarray
    """(512,): leak conductance per code, relative to nominal."""
    leak_bias_offset: np.ndarray
    """(512,): code offset of the leak bias current."""
    capacitance_factor: np.ndarray
    """(512,): membrane capacitance relative to nominal."""
    synin_tau_factor: np.ndarray
    """(2, 512): synaptic resistor conductance per code (exc, inh) relative to nominal."""
    synin_bias_offset: np.ndarray
    """(2, 512): code offset of the synaptic time-constant bias (exc, inh)."""
    syn_gain_column: np.ndarray
    """(2, 512): synaptic input strength (exc, inh) relative to nominal."""
    syn_gain_driver: np.ndarray
    """(2, 128): output strength of each synapse driver (hemisphere, driver)."""
    offset_current_factor: np.ndarray
    """(512,): offset current per code relative to nominal."""
    adex_factor: np.ndarray
    """(4, 512): delta_T, a, b and the adaptation conductance per code, relative to nominal."""
    membrane_noise_mv: np.ndarray
    """(512,): std of each circuit's membrane noise, mV."""
    cadc_offset_lsb: np.ndarray
    """(2, 2, 256): analog offset of each CADC channel (hemisphere, branch, column), LSB."""
    cadc_gain: np.ndarray
    """(2, 2, 256): gain factor of each CADC channel."""
    madc_offset_lsb: float
    """Analog offset of the MADC, LSB."""
    madc_gain: float
    """Gain factor of the MADC."""
    correlation_eta: np.ndarray
    """(2, 2, 256, 256): amplitude factor per (branch, hemisphere, row, column)."""
    correlation_tau: np.ndarray
    """(2, 2, 256, 256): time-constant factor per (branch, hemisphere, row, column)."""


def _normal(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws of the stream (serial, name): independent of other names."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.standard_normal(shape)


def _realise(seed: int, d: Deviations) -> FixedPattern:
    n, cells = specs.N_NEURONS, len(specs.CAPMEM_VOLTAGE_CELLS)
    cadc_shape = (specs.N_HEMISPHERES, len(specs.CADC_BRANCHES), specs.N_NEURON_COLUMNS)
    corr_shape = (len(specs.CADC_BRANCHES), specs.N_HEMISPHERES, specs.SYNRAM_ROWS,
                  specs.SYNRAM_COLUMNS)

    def lognormal(name: str, spread: float, shape: tuple[int, ...]) -> np.ndarray:
        return np.exp(spread * _normal(seed, name, shape))

    def relative(name: str, spread: float, shape: tuple[int, ...]) -> np.ndarray:
        return 1.0 + spread * _normal(seed, name, shape)

    def absolute(name: str, std: float, shape: tuple[int, ...]) -> np.ndarray:
        return std * _normal(seed, name, shape)

    values: dict[str, Any] = {
        "potential_offset_mv": absolute("potential_offset", d.potential_offset_mv, (cells, n)),
        "potential_gain": relative("potential_gain", d.potential_gain, (cells, n)),
        "leak_factor": lognormal("leak", d.tau_mem_spread, (n,)),
        "leak_bias_offset": absolute("leak_bias_offset", d.bias_offset_codes, (n,)),
        "capacitance_factor": lognormal("capacitance", d.capacitance_spread, (n,)),
        "synin_tau_factor": lognormal("synin_tau", d.tau_syn_spread, (2, n)),
        "synin_bias_offset": absolute("synin_bias_offset", d.bias_offset_codes, (2, n)),
        "syn_gain_column": lognormal("syn_gain_column", d.syn_gain_column_spread, (2, n)),
        "syn_gain_driver": lognormal("syn_gain_driver", d.syn_gain_driver_spread,
                                     (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)),
        "offset_current_factor": lognormal("offset_current", d.offset_current_spread, (n,)),
        "adex_factor": lognormal("adex", d.adex_spread, (4, n)),
        "membrane_noise_mv": d.membrane_noise_mv
        * lognormal("membrane_noise", d.membrane_noise_spread, (n,)),
        "cadc_offset_lsb": absolute("cadc_offset", d.cadc_offset_lsb, cadc_shape),
        "cadc_gain": relative("cadc_gain", d.cadc_gain_spread, cadc_shape),
        "madc_offset_lsb": float(absolute("madc_offset", d.madc_offset_lsb, (1,))[0]),
        "madc_gain": float(relative("madc_gain", d.madc_gain_spread, (1,))[0]),
        "correlation_eta": lognormal("correlation_eta", d.correlation_eta_spread, corr_shape),
        "correlation_tau": lognormal("correlation_tau", d.correlation_tau_spread, corr_shape),
    }
    for value in values.values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return FixedPattern(**values)


@dataclass(frozen=True, eq=False)
class Chip:
    """A virtual HICANN-X chip: 512 neuron circuits, 2 x 256 x 256 synapses, CapMem,
    CADC and MADC, with the fixed-pattern deviations of serial number ``seed``.

    Parameters
    ----------
    seed
        The chip's serial number (integer >= 0). It fixes every deviation and the
        statistics of the temporal noise; nothing else is random about a chip.
    deviations
        Magnitudes of the deviations (:meth:`Deviations.ideal` for an ideal chip).
    """

    seed: int
    deviations: Deviations = field(default_factory=Deviations)
    fixed_pattern: FixedPattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_int("seed (the chip serial)", self.seed, 0, 2**63 - 1)
        if not isinstance(self.deviations, Deviations):
            raise ConfigError(f"deviations must be a Deviations, got "
                              f"{type(self.deviations).__name__}")
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "fixed_pattern", _realise(self.seed, self.deviations))

    @property
    def serial(self) -> int:
        """The chip's serial number (its seed)."""
        return self.seed

    @property
    def is_ideal(self) -> bool:
        """True where the chip has no fixed-pattern deviations and no noise
        (:meth:`Deviations.ideal`): every circuit is exactly its design."""
        return all(v == 0.0 for v in self.deviations.to_dict().values())

    def potential(self, cell: str, codes: Any, circuits: Any) -> np.ndarray:
        """Actual potential (mV) of voltage cell ``cell`` at ``codes`` on ``circuits``."""
        if cell not in specs.CAPMEM_VOLTAGE_CELLS:
            raise ConfigError(f"{cell!r} is not a voltage cell; voltage cells: "
                              f"{', '.join(specs.CAPMEM_VOLTAGE_CELLS)}")
        row = specs.CAPMEM_VOLTAGE_CELLS.index(cell)
        idx = np.asarray(circuits)
        code = specs.check_capmem(cell, codes)
        fp = self.fixed_pattern
        volts = code * specs.CAPMEM_LSB_MV * fp.potential_gain[row, idx] \
            + fp.potential_offset_mv[row, idx]
        return np.clip(volts, specs.MEMBRANE_RAIL_LOW_MV, specs.MEMBRANE_RAIL_HIGH_MV)

    def offset_current(self, codes: Any, circuits: Any) -> np.ndarray:
        """Actual membrane offset current (nA) of ``i_mem_offset`` at ``codes`` on
        ``circuits`` (broadcasting)."""
        code = specs.check_capmem("i_mem_offset", codes)
        return specs.MEM_OFFSET_NA_PER_CODE * code \
            * self.fixed_pattern.offset_current_factor[np.asarray(circuits)]

    def circuit_parameters(self, config: NeuronConfig) -> CircuitParameters:
        """What the settings ``config`` produce on this chip: the circuits' actual
        analog parameters (equations in the module docstring)."""
        idx = config.circuits
        fp = self.fixed_pattern
        c_full = specs.MEMBRANE_CAPACITANCE_MAX_PF
        c_mem = c_full * (config.membrane_capacitance + 1) \
            / (specs.MEMBRANE_CAPACITANCE_MAX + 1) * fp.capacitance_factor[idx]
        g_per_code = c_full / (specs.TAU_MEM_NOMINAL_US * specs.LEAK_BIAS_NOMINAL_CODE)
        g_leak = g_per_code * fp.leak_factor[idx] \
            * np.maximum(config.cell("i_bias_leak") - fp.leak_bias_offset[idx], 0.0)
        tau_mem = c_mem / np.maximum(g_leak, c_mem / specs.TAU_MEM_MAX_US)
        tau_syn = []
        gain = []
        for r, receptor in enumerate(("exc", "inh")):
            effective = fp.synin_tau_factor[r, idx] * np.maximum(
                config.cell(f"i_bias_synin_{receptor}_tau") - fp.synin_bias_offset[r, idx], 0.0)
            nominal = specs.TAU_SYN_NOMINAL_US * specs.SYNIN_TAU_NOMINAL_CODE
            tau_syn.append(np.minimum(nominal / np.maximum(effective, 1e-300),
                                      specs.TAU_SYN_MAX_US))
            gain.append(specs.SYN_GAIN_NOMINAL_NA * config.cell(f"i_bias_synin_{receptor}_gm")
                        / specs.SYNIN_GM_NOMINAL_CODE * fp.syn_gain_column[r, idx])
        v_thresh = np.where(config.enable_threshold,
                            self.potential("v_threshold", config.cell("v_threshold"), idx),
                            np.inf)
        return CircuitParameters(
            v_leak=self.potential("v_leak", config.cell("v_leak"), idx),
            v_reset=self.potential("v_reset", config.cell("v_reset"), idx),
            v_thresh=v_thresh,
            tau_mem=tau_mem,
            tau_syn_exc=tau_syn[0],
            tau_syn_inh=tau_syn[1],
            c_mem=c_mem,
            syn_gain_exc=gain[0],
            syn_gain_inh=gain[1],
            i_offset=self.offset_current(config.cell("i_mem_offset"), idx),
            tau_refrac=config.refractory_counter / specs.REFRACTORY_CLOCK_MHZ,
            noise_mv=fp.membrane_noise_mv[idx],
            **self._adex_parameters(config),
        )

    def _adex_parameters(self, config: NeuronConfig) -> dict[str, np.ndarray]:
        idx = config.circuits
        factor = self.fixed_pattern.adex_factor[:, idx]
        exponential, adaptation = config.enable_exponential, config.enable_adaptation
        effective = factor[3] * config.cell("i_bias_adapt_tau")
        nominal = specs.TAU_W_NOMINAL_US * specs.ADAPT_TAU_NOMINAL_CODE
        return {
            "v_exp": self.potential("v_exp", config.cell("v_exp"), idx),
            "delta_t": np.where(exponential, specs.DELTA_T_MV_PER_CODE
                                * config.cell("i_bias_exp") * factor[0], 0.0),
            "a": np.where(adaptation, specs.ADAPT_A_NS_PER_CODE
                          * config.cell("i_bias_adapt_a") * factor[1], 0.0),
            "b": np.where(adaptation, specs.ADAPT_B_NA_PER_CODE
                          * config.cell("i_bias_adapt_b") * factor[2], 0.0),
            "tau_w": np.minimum(nominal / np.maximum(effective, 1e-300), specs.TAU_W_MAX_US),
        }

    def driver_gain(self, hemisphere: Any, driver: Any,
                    offset: Any = specs.STP_OFFSET_REFERENCE) -> np.ndarray:
        """Output strength factor of synapse driver(s) ``driver`` in ``hemisphere`` at
        STP offset code(s) ``offset`` (0..15, broadcasting)."""
        h = specs.check_integer_range("hemisphere", hemisphere, 0, specs.N_HEMISPHERES - 1)
        d = specs.check_integer_range("driver", driver, 0, specs.N_SYNAPSE_DRIVERS - 1)
        code = specs.check_integer_range("STP offset", offset, 0, specs.STP_OFFSET_MAX)
        return self.fixed_pattern.syn_gain_driver[h, d] * np.exp(
            -specs.STP_OFFSET_STEP * (code - specs.STP_OFFSET_REFERENCE))

    def correlation_factors(self, hemisphere: Any, row: Any, column: Any
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Amplitude and time-constant factors of the correlation sensors of synapses
        (hemisphere, row, column): two arrays of shape (2, ...) for (causal, acausal)."""
        h = specs.check_integer_range("hemisphere", hemisphere, 0, specs.N_HEMISPHERES - 1)
        r = specs.check_integer_range("row", row, 0, specs.SYNRAM_ROWS - 1)
        c = specs.check_integer_range("column", column, 0, specs.SYNRAM_COLUMNS - 1)
        fp = self.fixed_pattern
        return fp.correlation_eta[:, h, r, c], fp.correlation_tau[:, h, r, c]

