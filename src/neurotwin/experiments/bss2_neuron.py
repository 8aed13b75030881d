"""``bss2-neuron``: the neuron circuits of one virtual HICANN-X, before and after calibration.

What the BrainScaleS-2 single-neuron tutorials show, on the twin (hardware units: time
µs, CADC/MADC reads in LSB, model rates in Hz with 1 µs of hardware = 1 ms of model time):

1. **Leak over threshold.** One circuit with its leak potential set above its threshold
   fires regularly; its membrane is recorded by the MADC (10 bit, 41.7 MSa/s), once with
   the nominal (uncalibrated) settings and once with the calibrated ones.
2. **Spread across the chip.** Leak, reset and threshold potentials (CADC reads),
   tau_mem and tau_syn (µs, MADC fits) of every calibrated circuit, measured through the
   readouts (:func:`neurotwin.bss2.calibration.measure_all`) with the nominal settings
   and with the calibration: histograms and std/mean.
3. **f-I curve.** Output rate of a few circuits against the rate of Poisson input events
   of one fixed weight on their excitatory input, uncalibrated against calibrated: the
   calibration collapses the circuits' curves onto one.

The chip is ``Chip(chip_serial)`` with default deviations; the calibration is
:func:`neurotwin.bss2.calibrate` with calix' default targets and the experiment's seed.
The ``backend`` argument is not used: everything here runs on the twin's circuits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurotwin.bss2 import specs
from neurotwin.bss2.adc import madc_trace
from neurotwin.bss2.calibration import Calibration, calibrate, measure_all
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.config import NeuronConfig
from neurotwin.bss2.neuron import CircuitParameters, emulate
from neurotwin.errors import ConfigError, check_positive
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment

__all__ = ["Bss2NeuronConfig", "run"]

HISTOGRAM_QUANTITIES = ("leak", "reset", "threshold", "tau_mem", "tau_syn_exc", "tau_syn_inh")
"""Quantities drawn as histograms (all measured quantities go into the metrics)."""
UNITS = {"leak": "LSB", "reset": "LSB", "threshold": "LSB", "tau_mem": "µs",
         "tau_syn_exc": "µs", "tau_syn_inh": "µs", "strength_exc": "LSB",
         "strength_inh": "LSB"}
FI_DT_US = 0.1
"""Emulation step of the f-I measurement, µs (the spike-time resolution)."""
FI_DRIVER = 0
"""Synapse driver that carries the f-I input events (its fixed-pattern gain applies)."""


@dataclass(frozen=True)
class Bss2NeuronConfig:
    """Parameters of the ``bss2-neuron`` experiment.

    Parameters
    ----------
    chip_serial
        Serial number of the virtual chip (fixes its deviations).
    n_circuits
        Circuits 0 .. n_circuits - 1 are calibrated and measured (512: the whole chip).
    trace_circuit
        Circuit of the leak-over-threshold MADC recording (< n_circuits).
    trace_duration_us
        Length of that recording, µs of hardware time.
    trace_leak_read
        Leak potential of the recording, CADC read (the calibrated threshold is 125).
    fi_circuits
        Circuits (0 .. fi_circuits - 1) of the f-I curve.
    fi_points
        Input rates of the f-I curve, evenly spaced from 0 to ``fi_rate_max_hz``.
    fi_rate_max_hz
        Largest input event rate, Hz of model time (x 1000 on the chip).
    fi_weight
        6-bit weight of every input event.
    fi_duration_us
        Emulated time per f-I point, µs of hardware time.
    """

    chip_serial: int = 7
    n_circuits: int = specs.N_NEURONS
    trace_circuit: int = 0
    trace_duration_us: float = 60.0
    trace_leak_read: float = 180.0
    fi_circuits: int = 4
    fi_points: int = 16
    fi_rate_max_hz: float = 2000.0
    fi_weight: int = 16
    fi_duration_us: float = 1000.0

    def __post_init__(self) -> None:
        Chip(self.chip_serial)  # checks the serial
        specs.check_integer_range("n_circuits", self.n_circuits, 1, specs.N_NEURONS)
        specs.check_integer_range("trace_circuit", self.trace_circuit, 0, self.n_circuits - 1)
        specs.check_integer_range("fi_circuits", self.fi_circuits, 1, self.n_circuits)
        specs.check_integer_range("fi_points", self.fi_points, 2, 1000)
        specs.check_integer_range("fi_weight", self.fi_weight, 1, specs.WEIGHT_MAX)
        for name in ("trace_duration_us", "fi_rate_max_hz", "fi_duration_us"):
            check_positive(name, getattr(self, name))
        low, high = specs.CALIX_CADC_RELIABLE_LOW, specs.CALIX_CADC_RELIABLE_HIGH
        if not specs.CALIX_TARGET_THRESHOLD < self.trace_leak_read <= high:
            raise ConfigError(f"trace_leak_read must lie above the threshold target "
                              f"{specs.CALIX_TARGET_THRESHOLD} and at most {high} (the CADC's "
                              f"reliable range is {low}..{high}), got {self.trace_leak_read}")


def _subset(config: NeuronConfig, positions: Any) -> NeuronConfig:
    """The settings of the circuits at ``positions`` (indices into ``config.circuits``)."""
    pos = np.atleast_1d(np.asarray(positions))
    return NeuronConfig(
        circuits=config.circuits[pos],
        capmem=config.capmem[:, pos],
        membrane_capacitance=config.membrane_capacitance[pos],
        refractory_counter=config.refractory_counter[pos],
        **{f: getattr(config, f)[pos] for f in ("enable_threshold", "enable_exponential",
                                                  "enable_adaptation")},
    )


def _concat(params: list[CircuitParameters]) -> CircuitParameters:
    """Several circuit sets as one (the same circuit may appear more than once: each copy
    is an independent emulation with the same analog parameters)."""
    return CircuitParameters(**{f.name: np.concatenate([getattr(p, f.name) for p in params])
                                for f in fields(CircuitParameters)})


def _leak_codes(read_shift: float) -> int:
    """CapMem codes that move a potential up by ``read_shift`` CADC reads (nominally)."""
    return round(read_shift * specs.CADC_LSB_MV / specs.CAPMEM_LSB_MV)


def _stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else float("nan")
    std = float(finite.std()) if finite.size else float("nan")
    return {"mean": mean, "std": std, "std_over_mean": std / abs(mean) if mean else float("nan"),
            "n_finite": int(finite.size)}


def _histograms(before: dict[str, np.ndarray], after: dict[str, np.ndarray],
                targets: dict[str, float], path: Path, n: int) -> Figure:
    """One panel per quantity: the circuits' values before (grey) and after (colour)."""
    fig = Figure(figsize=(10.0, 6.0), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    for ax, name in zip(axes, HISTOGRAM_QUANTITIES, strict=True):
        b = before[name][np.isfinite(before[name])]
        a = after[name][np.isfinite(after[name])]
        both = np.concatenate([a, b])
        edges = np.linspace(both.min(), both.max(), 41) if both.size else 10
        ax.hist(b, bins=edges, color="0.6",
                label=f"uncalibrated ({_stats(b)['std_over_mean']:.1%})")
        ax.hist(a, bins=edges, color="C0", alpha=0.8,
                label=f"calibrated ({_stats(a)['std_over_mean']:.1%})")
        ax.axvline(targets[name], color="C3", linestyle="--", linewidth=0.8)
        ax.set_xlabel(f"{name} ({UNITS[name]})")
        ax.set_ylabel("circuits")
        ax.legend(fontsize="x-small", title="std/mean", title_fontsize="x-small")
    fig.suptitle(f"{n} neuron circuits, before and after calibration (dashed: target)")
    plots.save(fig, path)
    return fig


def _trace_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], threshold_read: float,
                path: Path, circuit: int) -> Figure:
    """MADC samples of the leak-over-threshold circuit, one panel per setting."""
    fig = Figure(figsize=(8.0, 4.5), layout="constrained")
    axes = fig.subplots(len(curves), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, (t, samples)) in zip(axes, curves.items(), strict=True):
        ax.plot(t, samples, linewidth=0.7)
        ax.set_ylabel("MADC (LSB)")
        ax.set_title(label, fontsize="small", loc="left")
    axes[-1].set_xlabel("hardware time (µs)")
    fig.suptitle(f"circuit {circuit}: leak potential above threshold (CADC target "
                 f"{threshold_read:g}), MADC at {specs.MADC_SAMPLE_RATE_MHZ:.1f} MSa/s")
    plots.save(fig, path)
    return fig


def _fi_plot(rates_hz: np.ndarray, out: dict[str, np.ndarray], circuits: np.ndarray,
             weight: int, path: Path) -> Figure:
    """Output rate against input rate, one line per circuit, one panel per setting."""
    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    axes = fig.subplots(1, len(out), sharey=True, squeeze=False)[0]
    for ax, (label, curves) in zip(axes, out.items(), strict=True):
        for column, circuit in enumerate(circuits):
            ax.plot(rates_hz, curves[:, column], marker=".", linewidth=0.8,
                    label=f"circuit {circuit}")
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("input rate (Hz, model time)")
    axes[0].set_ylabel("output rate (Hz, model time)")
    axes[-1].legend(fontsize="x-small")
    fig.suptitle(f"f-I curves: Poisson input of weight {weight} on the excitatory input "
                 "(hardware rates are 1000x)")
    plots.save(fig, path)
    return fig


def _leak_over_threshold(chip: Chip, config: NeuronConfig, leak_read: float, leak_target: float,
                         duration: float, rng: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray, int]:
    """MADC trace (times µs, samples) and spike count of one circuit whose leak potential
    sits ``leak_read - leak_target`` reads above its setting."""
    shifted = config.with_cells(
        v_leak=np.minimum(config.cell("v_leak") + _leak_codes(leak_read - leak_target),
                          specs.CAPMEM_MAX))
    params = chip.circuit_parameters(shifted)
    dt = specs.MADC_SAMPLE_PERIOD_US
    steps = round(duration / dt)
    em = emulate(params, steps * dt, dt, rng, initial_v=params.v_reset)
    times, samples = madc_trace(chip, em, 0, rng)
    return times, samples, int(em.spikes.sum())


def _fi_curves(chip: Chip, configs: dict[str, NeuronConfig], config: Bss2NeuronConfig,
               rng: np.random.Generator, driver_offsets: dict[str, np.ndarray]
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output rates (Hz of model time), (points, fi_circuits) per setting, all in one
    emulation: every (setting, rate, circuit) is its own copy of the circuit; the input
    driver of each setting at its STP offset codes (``driver_offsets[label]``, (2, 128):
    nominal or calibrated)."""
    rates_hz = np.linspace(0.0, config.fi_rate_max_hz, config.fi_points)
    sets = list(configs.values())
    k = config.fi_circuits
    params = [chip.circuit_parameters(c) for c in sets]
    copies = _concat([p for p in params for _ in rates_hz])
    steps = round(config.fi_duration_us / FI_DT_US)
    # frozen input: every circuit and setting sees the same events at a given rate, so
    # the curves differ by the circuits alone (and their membrane noise)
    per_rate = rng.poisson(rates_hz * 1e-3 * FI_DT_US, (steps, rates_hz.size))
    counts = np.tile(np.repeat(per_rate, k, axis=1), (1, len(sets)))
    hemisphere = np.concatenate([c.circuits for c in sets for _ in rates_hz]) \
        // specs.N_NEURON_COLUMNS
    offset = np.concatenate([driver_offsets[label][c.circuits // specs.N_NEURON_COLUMNS,
                                                   FI_DRIVER]
                             for label, c in configs.items() for _ in rates_hz])
    jump = config.fi_weight * copies.syn_gain_exc * chip.driver_gain(hemisphere, FI_DRIVER,
                                                                     offset)
    em = emulate(copies, steps * FI_DT_US, FI_DT_US, rng, input_exc=counts * jump, record=())
    rate = em.spikes.sum(axis=0) / (config.fi_duration_us * 1e-3)  # per ms of hw = per s model
    per_set = rate.reshape(len(sets), config.fi_points, k)
    return rates_hz, {label: per_set[s] for s, label in enumerate(configs)}


@register_experiment("bss2-neuron", Bss2NeuronConfig, runs_on="bss2")
def run(
    config: Bss2NeuronConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """BrainScaleS-2 neuron circuits: MADC trace, spreads before/after calibration, f-I.

    Writes ``madc_trace.png``, ``calibration_histograms.png`` and ``fi_curve.png`` into
    ``out_dir`` and returns the metrics: per quantity mean, std and std/mean before and
    after calibration, the calibration's wall time (s), the spike counts of the MADC
    recordings, and the f-I curves (rates in Hz of model time) with their spread across
    circuits.
    """
    chip = Chip(config.chip_serial)
    circuits = np.arange(config.n_circuits)
    steps_total = 4
    if progress is not None:
        progress(0, steps_total)
    calibration: Calibration = calibrate(chip, circuits=circuits, seed=seed)
    if progress is not None:
        progress(1, steps_total)
    targets = calibration.targets
    nominal = NeuronConfig.default(circuits, membrane_capacitance=targets.membrane_capacitance,
                                   refractory_counter=specs.refractory_counter(
                                       targets.refractory_us))
    settings = {"uncalibrated": nominal, "calibrated": calibration.neurons}
    rng = np.random.default_rng([seed, 1])
    measured = {label: measure_all(chip, cfg, targets, rng, calibration.cadc_offset)
                for label, cfg in settings.items()}
    if progress is not None:
        progress(2, steps_total)
    target_values = {"leak": targets.leak, "reset": targets.reset,
                     "threshold": targets.threshold, "tau_mem": targets.tau_mem_us,
                     "tau_syn_exc": targets.tau_syn_exc_us, "tau_syn_inh": targets.tau_syn_inh_us}
    _histograms(measured["uncalibrated"], measured["calibrated"], target_values,
                out_dir / "calibration_histograms.png", config.n_circuits)

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    trace_spikes: dict[str, int] = {}
    for label, cfg in settings.items():
        t, samples, count = _leak_over_threshold(
            chip, _subset(cfg, config.trace_circuit), config.trace_leak_read, targets.leak,
            config.trace_duration_us, rng)
        curves[f"{label}: {count} spikes"] = (t, samples)
        trace_spikes[label] = count
    _trace_plot(curves, targets.threshold, out_dir / "madc_trace.png", config.trace_circuit)
    if progress is not None:
        progress(3, steps_total)

    fi_positions = np.arange(config.fi_circuits)
    nominal_offset = np.full_like(calibration.driver_offset, specs.STP_OFFSET_REFERENCE)
    rates_hz, fi = _fi_curves(chip, {label: _subset(cfg, fi_positions)
                                     for label, cfg in settings.items()}, config, rng,
                              {"uncalibrated": nominal_offset,
                               "calibrated": calibration.driver_offset})
    _fi_plot(rates_hz, fi, circuits[fi_positions], config.fi_weight, out_dir / "fi_curve.png")
    if progress is not None:
        progress(4, steps_total)

    spreads = {
        name: {"unit": unit, "target": target_values.get(name),
               "before": _stats(measured["uncalibrated"][name]),
               "after": _stats(measured["calibrated"][name])}
        for name, unit in UNITS.items()
    }
    # across-circuit spread of the output rate where the calibrated circuits fire
    firing = fi["calibrated"].mean(axis=1) > 0
    fi_spread = {label: float(np.mean(curve[firing].std(axis=1) / curve[firing].mean(axis=1)))
                 if firing.any() else None for label, curve in fi.items()}
    return {
        "chip_serial": config.chip_serial,
        "n_circuits": config.n_circuits,
        "calibration_time_s": calibration.report.elapsed_s,
        "spread": spreads,
        "madc_trace": {"circuit": config.trace_circuit, "spikes": trace_spikes,
                       "duration_us": config.trace_duration_us,
                       "rate_hz_model": {k: v / (config.trace_duration_us * 1e-3)
                                         for k, v in trace_spikes.items()}},
        "fi_curve": {"circuits": circuits[fi_positions].tolist(),
                     "input_rate_hz": rates_hz.tolist(),
                     "output_rate_hz": {label: curve.tolist() for label, curve in fi.items()},
                     "mean_relative_spread": fi_spread},
        "files": ["madc_trace.png", "calibration_histograms.png", "fi_curve.png"],
    }
