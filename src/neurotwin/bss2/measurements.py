r"""Measurements of neuron circuits through the chip's own readouts.

Each protocol configures the circuits under test (changing only the cells it needs, as a
calix calibration's prelude does), emulates them, and evaluates what the readouts
return: CADC reads, MADC samples, spike times. None of them looks at the chip's hidden
deviations. All are vectorised over the circuits of the given :class:`NeuronConfig`
(on the chip, MADC recordings are taken one circuit after the other; every circuit's
trace is independent, so the twin takes them in one emulation).

===================  ===========================================================
quantity             protocol
===================  ===========================================================
resting potential    threshold off, membrane at rest; mean of 128 CADC reads
reset potential      membrane clamped to reset (reset override); mean of 128 reads
tau_mem              threshold off, membrane released from a reset below the leak
                     potential; exponential fit to 50 µs of MADC samples
tau_syn              one input event (weight 63); exponential fit to 30 µs of MADC
                     samples of the synaptic input line (exc and inh at once)
synaptic strength    regular input (weight 16 every 4 µs, cycling through all 128
                     drivers); mean CADC shift of the membrane over baseline
threshold            leak potential far above threshold, short refractory time:
                     regular firing; from the mean free interval T between reset and
                     spike, the resting and reset reads V_L, V_R and tau_mem,
                     V_T = V_L - (V_L - V_R) exp(-T / tau_mem)
driver amplitude     every synapse driver in turn integrates its events (weight 63)
                     on 8 synaptic-input columns; CADC read after minus before, median
                     over the columns, mean of 5 runs (calix'
                     ``measure_syndrv_amplitudes``)
===================  ===========================================================

Potentials come out in CADC reads (LSB), the unit of calix' targets; time constants in
µs (hardware); synaptic strength in CADC LSB of shift.

calix measures the threshold as the largest of many CADC reads of a regularly firing
membrane (``ThresholdCalibCADC``). The twin uses the equivalent spike-time protocol
above because the maximum-read protocol needs ~10^5 fine emulation steps per
measurement; both return the threshold in CADC reads.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, NamedTuple

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.adc import (
    cadc_membrane,
    cadc_sample,
    madc_sample,
    membrane_channels,
    synin_line_voltage,
)
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.config import NeuronConfig, nominal_potential_code
from neurotwin.bss2.neuron import emulate
from neurotwin.errors import ConfigError

__all__ = [
    "ExponentialFit",
    "fit_exponential",
    "measure_driver_amplitudes",
    "measure_synaptic_strength",
    "measure_tau_mem",
    "measure_tau_syn",
    "measure_threshold",
    "read_cadc_reference",
    "read_reset",
    "read_resting",
]

Receptor = Literal["exc", "inh"]

CADC_SAMPLES = 128
"""CADC reads averaged per static measurement (twin protocol)."""
TAU_MEM_WINDOW_US = 50.0
"""MADC recording after the release from reset (twin protocol: 5 target tau_mem)."""
TAU_MEM_LEAK_READ = 200
TAU_MEM_RESET_READ = 20
"""Leak and reset potentials (CADC reads, nominal codes) while measuring tau_mem."""
TAU_SYN_WINDOW_US = 30.0
"""MADC recording of the synaptic input line after the event (twin protocol: 3 target
tau_syn; the input line carries no correlated noise, so the fit is precise early)."""
TAU_SYN_EVENT_US = 1.0
"""Time of the input event in the tau_syn recording."""
TAU_SYN_WEIGHT = specs.WEIGHT_MAX
"""Weight of the input event in the tau_syn recording."""
STRENGTH_WEIGHT = 16
"""Weight of each input event of the synaptic strength measurement."""
STRENGTH_PERIOD_US = 4.0
"""Interval between input events of the synaptic strength measurement."""
STRENGTH_SETTLE_US = 50.0
"""Time to reach the driven steady state before sampling."""
STRENGTH_SAMPLES = 40
"""CADC reads averaged in the driven steady state."""
STRENGTH_DT_US = 0.1
"""Emulation step of the synaptic strength measurement (divides period and CADC period)."""
THRESHOLD_LEAK_READ = 180
"""Leak potential (CADC read, nominal code) of the firing membrane."""
THRESHOLD_REFRACTORY_COUNTER = 5
"""Refractory counter while measuring the threshold (0.5 µs)."""
THRESHOLD_DT_US = 0.02
"""Emulation step of the threshold measurement: the spike-time resolution."""
THRESHOLD_WINDOW_US = 80.0
"""Duration of the threshold measurement (~10 intervals at the calix targets)."""


class ExponentialFit(NamedTuple):
    """Least-squares fit of ``y(t) = offset + amplitude * exp(-t / tau)``, per column."""

    tau: np.ndarray
    """Time constant, in the unit of t."""
    offset: np.ndarray
    amplitude: np.ndarray


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched small solves (n, k, k) x = (n, k), with a tiny ridge for degenerate columns."""
    k = a.shape[-1]
    ridge = np.einsum("nii->n", a)[:, None, None] * 1e-12 + 1e-300
    return np.linalg.solve(a + ridge * np.eye(k), b[..., None])[..., 0]


def _gram(columns: list[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of per-column regressions of y (T, n) on ``columns`` (each (T, n)
    or (T, 1)): (n, k, k) and (n, k)."""
    k, n = len(columns), y.shape[1]
    a = np.empty((n, k, k))
    for i in range(k):
        for j in range(i, k):
            a[:, i, j] = a[:, j, i] = np.broadcast_to(
                (columns[i] * columns[j]).sum(axis=0), (n,))
    b = np.stack([np.broadcast_to((c * y).sum(axis=0), (n,)) for c in columns], axis=-1)
    return a, b


def fit_exponential(t: Any, y: Any, tau_min: float = specs.CALIX_TAU_FIT_MIN_US,
                    tau_max: float = specs.TAU_MEM_MAX_US, iterations: int = 6
                    ) -> ExponentialFit:
    """Fit ``offset + amplitude * exp(-(t - t[0]) / tau)`` to every column of ``y``.

    The start comes from the integral method (regressing y on 1, t and the running
    integral of y, whose coefficient is -1/tau: linear and robust to noise); Gauss-Newton
    iterations on 1/tau, with offset and amplitude solved exactly for every rate
    (variable projection), then reach the least-squares optimum.

    Parameters
    ----------
    t
        Sample times, shape (T,), increasing.
    y
        Samples, shape (T, n).
    tau_min, tau_max
        Bounds of the fitted time constant (calix' fit ranges by default).
    iterations
        Gauss-Newton iterations.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or t.shape != (y.shape[0],) or t.size < 4:
        raise ConfigError(f"fit_exponential needs t (T,) and y (T, n) with T >= 4, got "
                          f"{t.shape} and {y.shape}")
    t = (t - t[0])[:, None]
    ones = np.ones_like(t)
    integral = np.concatenate([np.zeros((1, y.shape[1])),
                               np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t, axis=0), axis=0)])
    beta = _solve(*_gram([ones, t, integral], y))
    rate = np.clip(-beta[:, 2], 1.0 / tau_max, 1.0 / tau_min)
    for iteration in range(iterations + 1):
        decay = np.exp(-t * rate)
        # linear in offset and amplitude: solve them exactly for this rate
        offset, amplitude = _solve(*_gram([ones, decay], y)).T
        if iteration == iterations:
            break
        residual = y - offset - amplitude * decay
        step = _solve(*_gram([ones, decay, -t * amplitude * decay], residual))[:, 2]
        rate = np.clip(rate + step, 1.0 / tau_max, 1.0 / tau_min)
    return ExponentialFit(tau=1.0 / rate, offset=offset, amplitude=amplitude)


def _silent(config: NeuronConfig) -> NeuronConfig:
    return replace(config, enable_threshold=False)


def read_cadc_reference(chip: Chip, rng: np.random.Generator,
                        code: int = specs.CALIX_CADC_REFERENCE_CODE) -> np.ndarray:
    """Mean CADC reads of every channel connected to one common reference voltage
    (a CapMem cell at ``code`` on the CADC debug line), shape (2, 2, 256)."""
    shape = (specs.N_HEMISPHERES, len(specs.CADC_BRANCHES), specs.N_NEURON_COLUMNS)
    channels = tuple(np.ravel(a) for a in np.indices(shape))
    volts = np.full((CADC_SAMPLES, channels[0].size), code * specs.CAPMEM_LSB_MV)
    reads = cadc_sample(chip, volts, (channels[0], channels[1], channels[2]), rng)
    return reads.mean(axis=0).reshape(shape)


def read_resting(chip: Chip, config: NeuronConfig, rng: np.random.Generator,
                 cadc_offset: Any = None) -> np.ndarray:
    """Mean CADC read of each membrane at rest (threshold off), shape (n,)."""
    params = chip.circuit_parameters(_silent(config))
    period = specs.CADC_SAMPLE_PERIOD_US
    em = emulate(params, (CADC_SAMPLES - 1) * period, period, rng)
    return cadc_membrane(chip, em, config.circuits, rng, cadc_offset).mean(axis=0)


def read_reset(chip: Chip, config: NeuronConfig, rng: np.random.Generator,
               cadc_offset: Any = None) -> np.ndarray:
    """Mean CADC read of each membrane clamped to its reset potential, shape (n,)."""
    params = chip.circuit_parameters(_silent(config))
    period = specs.CADC_SAMPLE_PERIOD_US
    em = emulate(params, (CADC_SAMPLES - 1) * period, period, rng, hold_reset=True)
    return cadc_membrane(chip, em, config.circuits, rng, cadc_offset).mean(axis=0)


def measure_tau_mem(chip: Chip, config: NeuronConfig, rng: np.random.Generator) -> np.ndarray:
    """Membrane time constant of each circuit from an MADC trace fit, µs, shape (n,)."""
    test = _silent(config).with_cells(v_leak=nominal_potential_code(TAU_MEM_LEAK_READ),
                                      v_reset=nominal_potential_code(TAU_MEM_RESET_READ))
    params = chip.circuit_parameters(test)
    dt = specs.MADC_SAMPLE_PERIOD_US
    steps = round(TAU_MEM_WINDOW_US / dt)
    em = emulate(params, steps * dt, dt, rng, initial_v=params.v_reset)
    assert em.v is not None
    samples = madc_sample(chip, em.v, rng)
    return fit_exponential(dt * np.arange(steps + 1), samples).tau


def _driver_gains(chip: Chip, circuits: np.ndarray, events: int) -> np.ndarray:
    """Driver factor of event j (sent through driver j mod 128) for each circuit, (events, n)."""
    hemisphere = circuits // specs.N_NEURON_COLUMNS
    drivers = np.arange(events) % specs.N_SYNAPSE_DRIVERS
    return chip.fixed_pattern.syn_gain_driver[hemisphere[None, :], drivers[:, None]]


def measure_tau_syn(chip: Chip, config: NeuronConfig, rng: np.random.Generator) -> np.ndarray:
    """Synaptic time constants of each circuit from MADC fits of its excitatory and
    inhibitory input lines after one input event on each, µs, shape (2, n) (exc, inh).

    The two lines of a circuit are separate circuits; the twin emulates both recordings
    at once.
    """
    params = chip.circuit_parameters(_silent(config))
    dt = specs.MADC_SAMPLE_PERIOD_US
    event = round(TAU_SYN_EVENT_US / dt)
    steps = event + round(TAU_SYN_WINDOW_US / dt)
    driver = _driver_gains(chip, config.circuits, 1)[0]
    jumps = []
    for gain in (params.syn_gain_exc, params.syn_gain_inh):
        jump = np.zeros((steps, config.n))
        jump[event] = TAU_SYN_WEIGHT * gain * driver
        jumps.append(jump)
    em = emulate(params, steps * dt, dt, rng, input_exc=jumps[0], input_inh=jumps[1],
                 record=("i_exc", "i_inh"))
    taus = []
    for current in (em.i_exc, em.i_inh):
        assert current is not None
        samples = madc_sample(chip, synin_line_voltage(current[event + 1:]), rng)
        taus.append(fit_exponential(dt * np.arange(samples.shape[0]), samples,
                                    tau_max=specs.TAU_SYN_MAX_US).tau)
    return np.stack(taus)


def measure_synaptic_strength(chip: Chip, config: NeuronConfig, receptor: Receptor,
                              rng: np.random.Generator, cadc_offset: Any = None,
                              baseline: np.ndarray | None = None) -> np.ndarray:
    """Mean shift of each membrane (CADC LSB, >= 0 for both receptors) under regular
    input through ``receptor``, shape (n,).

    ``baseline`` (the resting reads of ``config``) is measured when not given.
    """
    if receptor not in ("exc", "inh"):
        raise ConfigError(f"receptor must be 'exc' or 'inh', got {receptor!r}")
    if baseline is None:
        baseline = read_resting(chip, config, rng, cadc_offset)
    params = chip.circuit_parameters(_silent(config))
    dt = STRENGTH_DT_US
    period = specs.CADC_SAMPLE_PERIOD_US
    duration = STRENGTH_SETTLE_US + (STRENGTH_SAMPLES - 1) * period
    steps = round(duration / dt)
    every = round(STRENGTH_PERIOD_US / dt)
    event_steps = np.arange(0, steps, every)
    gain = params.syn_gain_exc if receptor == "exc" else params.syn_gain_inh
    jump = np.zeros((steps, config.n))
    jump[event_steps] = STRENGTH_WEIGHT * gain[None, :] \
        * _driver_gains(chip, config.circuits, event_steps.size)
    em = emulate(params, steps * dt, dt, rng, input_exc=jump if receptor == "exc" else None,
                 input_inh=jump if receptor == "inh" else None)
    assert em.v is not None
    sample_steps = np.rint((STRENGTH_SETTLE_US + period * np.arange(STRENGTH_SAMPLES))
                           / dt).astype(np.int64)
    reads = cadc_sample(chip, em.v[sample_steps], membrane_channels(config.circuits), rng,
                        cadc_offset)
    shift = reads.mean(axis=0) - baseline
    return shift if receptor == "exc" else -shift


def measure_threshold(chip: Chip, config: NeuronConfig, tau_mem: np.ndarray,
                      rng: np.random.Generator, cadc_offset: Any = None,
                      leak_read: float = THRESHOLD_LEAK_READ) -> np.ndarray:
    """Spike threshold of each circuit in CADC reads, from spike times, shape (n,).

    ``tau_mem`` (µs, (n,)) is the measured membrane time constant of ``config``;
    ``leak_read`` the (nominal) resting read of the firing membrane, which must lie
    above the threshold. Circuits that do not fire read +inf.
    """
    test = replace(config.with_cells(v_leak=nominal_potential_code(leak_read)),
                   refractory_counter=THRESHOLD_REFRACTORY_COUNTER, enable_threshold=True)
    v_leak = read_resting(chip, test, rng, cadc_offset)
    v_reset = read_reset(chip, test, rng, cadc_offset)
    params = chip.circuit_parameters(test)
    dt = THRESHOLD_DT_US
    em = emulate(params, THRESHOLD_WINDOW_US, dt, rng, initial_v=params.v_reset, record=())
    refrac = round(THRESHOLD_REFRACTORY_COUNTER / specs.REFRACTORY_CLOCK_MHZ / dt)
    free = np.full(config.n, np.inf)
    for i in range(config.n):
        stamps = np.flatnonzero(em.spikes[:, i]) + 1  # spike stamped (k + 1) * dt
        if stamps.size == 0:
            continue
        # released from reset at t = 0, then after every spike once refractory ends;
        # the crossing lies within the detecting step: on average half a step earlier
        intervals = np.concatenate([stamps[:1], np.diff(stamps) - refrac])
        free[i] = (intervals.mean() - 0.5) * dt
    fired = np.isfinite(free)
    estimate = v_leak - (v_leak - v_reset) * np.exp(-np.where(fired, free, 0.0)
                                                    / np.asarray(tau_mem))
    return np.where(fired, estimate, np.inf)


def measure_driver_amplitudes(chip: Chip, offsets: Any, rng: np.random.Generator
                              ) -> np.ndarray:
    """Output amplitude of every synapse driver at STP offset codes ``offsets`` (2, 128),
    CADC LSB, shape (2, 128).

    Driver ``d`` is read on the causal channels of columns ``8 d .. 8 d + 7`` (mod 256)
    of its hemisphere; each amplitude is the median over those columns of the read
    after its events minus the read before, averaged over ``specs.STP_CALIB_RUNS``
    runs; a nominal driver at the reference code shows ``specs.STP_CALIB_AMPLITUDE_LSB``.
    """
    shape = (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)
    h, d = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    amplitude_mv = specs.STP_CALIB_AMPLITUDE_LSB * specs.CADC_LSB_MV \
        * chip.driver_gain(h, d, offsets)
    columns = (specs.STP_CALIB_COLUMNS * d[..., None]
               + np.arange(specs.STP_CALIB_COLUMNS)) % specs.SYNRAM_COLUMNS
    channels = (np.broadcast_to(h[..., None], columns.shape).ravel(),
                np.zeros(columns.size, np.int64), columns.ravel())
    # the synaptic input lines rest mid-range of the CADC before the events
    base_mv = specs.CADC_ZERO_MV + specs.CADC_MAX / 2 * specs.CADC_LSB_MV
    after = np.repeat(base_mv + amplitude_mv.ravel(), specs.STP_CALIB_COLUMNS)
    runs = []
    for _ in range(specs.STP_CALIB_RUNS):
        before = cadc_sample(chip, np.full(after.size, base_mv), channels, rng)
        shift = cadc_sample(chip, after, channels, rng) - before
        runs.append(np.median(shift.reshape(*shape, specs.STP_CALIB_COLUMNS), axis=-1))
    return np.mean(runs, axis=0)
