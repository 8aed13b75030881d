r"""Calibration: per-circuit CapMem codes that make every circuit hit common targets,
found by measuring the chip through its own readouts.

The algorithm is calix' (``calix.spiking.neuron.calibrate``), vectorised over all
circuits: for each parameter in turn, a binary search over the parameter's CapMem code
(:func:`binary_search`, a port of ``calix.common.algorithms.BinarySearch``), in which
every step configures all circuits, measures them (:mod:`neurotwin.bss2.measurements`)
and moves each circuit's code up or down. Order (each step relies on the earlier ones):

1. CADC channel offsets: all channels read one reference voltage; each channel's digital
   offset moves its read to the median (calix ``ChannelOffsetCalibration``).
2. tau_syn (exc, inh) via ``i_bias_synin_{exc,inh}_tau``: MADC fits of the input lines
   (one search over both inputs of all circuits).
3. tau_mem via ``i_bias_leak``: MADC fits of the membrane released from reset.
4. leak potential via ``v_leak``: mean CADC reads at rest.
5. reset potential via ``v_reset``: mean CADC reads in reset.
6. synaptic strength via ``i_bias_synin_{exc,inh}_gm``: every circuit is moved to the
   median strength that the circuits show at the target code (calix' meaning of a
   scalar ``i_synin_gm`` target).
7. threshold via ``v_threshold``: spike-time measurement (needs 3-5).
8. refractory time: digital, ``counter = round(t * 10 MHz)``.
9. synapse drivers' STP offsets (all 2 x 128, as calix' ``calibrate`` runs
   ``calix.spiking.synapse_driver.STPOffsetCalib`` after the neurons): the 4-bit offset of
   each driver is searched (inverted: a larger code, a smaller amplitude) until its output
   amplitude (:func:`~neurotwin.bss2.measurements.measure_driver_amplitudes`) meets the
   median of the drivers of its CapMem block at the reference code
   (``specs.capmem_block_of_driver``). What remains is the offset's step (at most half of
   ``specs.STP_OFFSET_STEP``), the measurement's error, and drivers whose deviation
   exceeds the offset's range (their code stops at 0 or 15, as on the chip).

Before and after, every quantity is measured once more; the :class:`CalibrationReport`
gives mean, std and std/mean of both. The hidden deviations of the chip are never read.
A :class:`Calibration` belongs to one chip: it is saved as JSON keyed by the serial, and
loading it for another serial raises :class:`~neurotwin.errors.DataError`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.bss2 import measurements as m
from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.config import SWITCHES, ChipConfig, NeuronConfig
from neurotwin.errors import ConfigError, DataError, check_in_range

__all__ = [
    "Calibration",
    "CalibrationReport",
    "CalibrationTargets",
    "Spread",
    "binary_search",
    "calibrate",
    "calibrate_drivers",
    "measure_all",
]

FORMAT = "neurotwin.bss2.calibration"
VERSION = 2
"""Version 2 added the synapse drivers' STP offsets."""
THRESHOLD_PROTOCOL_MARGIN = 55
"""CADC LSB between the threshold target and the leak potential of the firing membrane."""
THRESHOLD_PROTOCOL_LEAK_MAX = 235
"""Highest leak read of the threshold protocol (keeps clear of the CADC's 255)."""
THRESHOLD_TAU_REPEATS = 8
"""tau_mem measurements averaged for the threshold protocol, whose result depends on it."""


@dataclass(frozen=True)
class CalibrationTargets:
    """What every circuit should show after calibration (calix defaults).

    Parameters
    ----------
    leak, reset, threshold
        Mean CADC read at the resting potential, the reset potential, and the spike
        threshold, LSB.
    tau_mem_us, tau_syn_exc_us, tau_syn_inh_us
        Membrane and synaptic time constants, µs of hardware time.
    refractory_us
        Refractory time, µs.
    i_synin_gm
        Synaptic strength: the median strength of the circuits at this ``i_bias_synin_gm``
        code becomes every circuit's target (calix' scalar ``i_synin_gm``).
    membrane_capacitance
        Membrane capacitor setting 0..63.
    """

    leak: float = specs.CALIX_TARGET_LEAK
    reset: float = specs.CALIX_TARGET_RESET
    threshold: float = specs.CALIX_TARGET_THRESHOLD
    tau_mem_us: float = specs.CALIX_TARGET_TAU_MEM_US
    tau_syn_exc_us: float = specs.CALIX_TARGET_TAU_SYN_US
    tau_syn_inh_us: float = specs.CALIX_TARGET_TAU_SYN_US
    refractory_us: float = specs.CALIX_TARGET_REFRACTORY_US
    i_synin_gm: int = specs.SYNIN_GM_NOMINAL_CODE
    membrane_capacitance: int = specs.CALIX_TARGET_MEMBRANE_CAPACITANCE

    def __post_init__(self) -> None:
        for name, (low, high) in specs.CALIX_FEASIBLE_RANGES.items():
            unit = "µs" if name.endswith("_us") else ""
            check_in_range(name, getattr(self, name), low, high, unit)
        if not self.reset < self.threshold:
            raise ConfigError(f"reset ({self.reset}) must lie below threshold "
                              f"({self.threshold})")
        specs.refractory_counter(self.refractory_us)
        specs.check_integer_range("i_synin_gm", self.i_synin_gm, specs.CAPMEM_MIN,
                                  specs.CAPMEM_MAX)
        specs.check_integer_range("membrane_capacitance", self.membrane_capacitance, 0,
                                  specs.MEMBRANE_CAPACITANCE_MAX)


def binary_search(
    measure: Callable[[np.ndarray], np.ndarray],
    target: Any,
    n: int,
    inverted: bool,
    low: int = specs.CAPMEM_MIN,
    high: int = specs.CAPMEM_MAX,
) -> np.ndarray:
    """Per-instance binary search over integer codes (calix ``BinarySearch``).

    Starts in the middle of [low, high], halves the step every iteration
    (ceil(log2(range)) steps), then tests the neighbour on the other side of the last
    step and returns, per instance, the best of the last three codes tested.

    Parameters
    ----------
    measure
        Maps codes (n,) int64 to results (n,).
    target
        Target result, scalar or (n,).
    n
        Number of instances.
    inverted
        False if the result grows with the code (a potential), True if it falls
        (a time constant against its bias current).
    low, high
        Code range.

    Returns
    -------
    np.ndarray
        Best codes, (n,) int64.
    """
    possibilities = high - low + 1
    n_steps = math.ceil(math.log2(possibilities)) + 2
    n_best = 3
    if n_steps < n_best:
        raise ConfigError(f"code range [{low}, {high}] is too small for a binary search")
    increments = [math.ceil(possibilities / 2 ** (step + 2)) for step in range(n_steps)]
    codes = np.full(n, possibilities // 2 + low, dtype=np.int64)
    tested = np.empty((n_best, n), dtype=np.int64)
    deviation = np.empty((n_best, n))
    for step, increment in enumerate(increments):
        results = np.asarray(measure(codes), dtype=np.float64)
        steps_left = n_steps - step - 1
        if steps_left < n_best:
            tested[steps_left] = codes
            deviation[steps_left] = np.abs(results - target)
        if steps_left > 1:
            up = (results > target) if inverted else ~(results > target)
            codes = np.where(up, codes + increment, codes - increment)
        elif steps_left == 1:
            codes = 2 * tested[2] - tested[1]
            stuck = tested[2] == tested[1]
            codes[stuck & (tested[2] == low)] += 1
            codes[stuck & (tested[2] == high)] -= 1
        codes = np.clip(codes, low, high)
    return tested[np.argmin(deviation, axis=0), np.arange(n)]


@dataclass(frozen=True)
class Spread:
    """Statistics of one quantity over the calibrated circuits, before and after."""

    unit: str
    target: float | None
    before_mean: float
    before_std: float
    after_mean: float
    after_std: float
    after_max_error: float | None
    """Largest ``|measured - target|`` after calibration (None without a fixed target)."""

    @property
    def before_relative(self) -> float:
        """std/mean before calibration."""
        return self.before_std / abs(self.before_mean)

    @property
    def after_relative(self) -> float:
        """std/mean after calibration."""
        return self.after_std / abs(self.after_mean)


@dataclass(frozen=True)
class CalibrationReport:
    """Measured spreads before and after calibration, and the time it took."""

    spreads: Mapping[str, Spread]
    """By quantity: leak, reset, threshold (CADC reads), tau_mem, tau_syn_exc,
    tau_syn_inh (µs), strength_exc, strength_inh (CADC LSB of shift), and over the 256
    synapse drivers driver_amplitude (CADC LSB; each CapMem block has its own target)."""
    elapsed_s: float
    """Wall-clock time of the calibration here, s."""
    n_circuits: int

    def table(self) -> str:
        """The report as a plain-text table."""
        lines = [f"{'quantity':<14}{'unit':<6}{'target':>8}{'before':>18}{'after':>18}"
                 f"{'std/mean':>16}",
                 ]
        for name, s in self.spreads.items():
            target = "" if s.target is None else f"{s.target:g}"
            lines.append(
                f"{name:<14}{s.unit:<6}{target:>8}"
                f"{s.before_mean:>10.3f}±{s.before_std:<7.3f}"
                f"{s.after_mean:>10.3f}±{s.after_std:<7.3f}"
                f"{s.before_relative:>8.2%} ->{s.after_relative:>6.2%}"
            )
        lines.append(f"{self.n_circuits} circuits in {self.elapsed_s:.1f} s")
        return "\n".join(lines)


_QUANTITIES = {
    "leak": "LSB", "reset": "LSB", "threshold": "LSB", "tau_mem": "µs",
    "tau_syn_exc": "µs", "tau_syn_inh": "µs", "strength_exc": "LSB", "strength_inh": "LSB",
}


@dataclass(frozen=True, eq=False)
class Calibration:
    """A chip's calibration: the calibrated neuron settings and CADC offsets.

    Parameters
    ----------
    serial
        Serial number of the chip it belongs to.
    targets
        What was calibrated for.
    neurons
        Calibrated settings of the calibrated circuits.
    cadc_offset
        Digital offsets of all CADC channels, (2, 2, 256).
    report
        Measured spreads before and after.
    driver_offset
        STP offset codes of all synapse drivers, (2, 128).
    """

    serial: int
    targets: CalibrationTargets
    neurons: NeuronConfig
    cadc_offset: np.ndarray
    report: CalibrationReport
    driver_offset: np.ndarray

    def apply(self, config: ChipConfig | None = None) -> ChipConfig:
        """``config`` (default: a nominal chip configuration) with the calibrated circuits'
        settings, the CADC offsets and the drivers' STP offsets replaced."""
        config = ChipConfig() if config is None else config
        neurons = config.neurons
        idx = self.neurons.circuits
        capmem = np.array(neurons.capmem, copy=True)
        capmem[:, idx] = self.neurons.capmem
        digital = {}
        for name in ("membrane_capacitance", "refractory_counter", *SWITCHES):
            arr = np.array(getattr(neurons, name), copy=True)
            arr[idx] = getattr(self.neurons, name)
            digital[name] = arr
        return replace(config, neurons=replace(neurons, capmem=capmem, **digital),
                       cadc_offset=self.cadc_offset, driver_offset=self.driver_offset)

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON to ``path``."""
        data = {
            "format": FORMAT,
            "version": VERSION,
            "serial": self.serial,
            "targets": asdict(self.targets),
            "circuits": self.neurons.circuits.tolist(),
            "capmem": {name: self.neurons.cell(name).tolist() for name in specs.CAPMEM_CELLS},
            "membrane_capacitance": self.neurons.membrane_capacitance.tolist(),
            "refractory_counter": self.neurons.refractory_counter.tolist(),
            **{name: getattr(self.neurons, name).tolist() for name in SWITCHES},
            "cadc_offset": np.asarray(self.cadc_offset).tolist(),
            "driver_offset": np.asarray(self.driver_offset).tolist(),
            "report": {
                "elapsed_s": self.report.elapsed_s,
                "n_circuits": self.report.n_circuits,
                "spreads": {k: asdict(v) for k, v in self.report.spreads.items()},
            },
        }
        Path(path).write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: str | Path, serial: int) -> Calibration:
        """Read a calibration saved by :meth:`save` for the chip with ``serial``.

        Raises
        ------
        DataError
            If the file is not a calibration, is corrupt, or belongs to another serial.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read calibration {str(path)!r}: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{str(path)!r} is not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise DataError(f"{str(path)!r} has version {data.get('version')!r}, "
                            f"this neurotwin reads version {VERSION}")
        if data.get("serial") != serial:
            raise DataError(f"{str(path)!r} calibrates chip serial {data.get('serial')!r}, "
                            f"not chip serial {serial!r}")
        try:
            neurons = NeuronConfig(
                circuits=np.asarray(data["circuits"]),
                capmem=np.asarray([data["capmem"][name] for name in specs.CAPMEM_CELLS]),
                membrane_capacitance=np.asarray(data["membrane_capacitance"]),
                refractory_counter=np.asarray(data["refractory_counter"]),
                **{name: np.asarray(data[name], dtype=bool) for name in SWITCHES},
            )
            chip_config = ChipConfig(cadc_offset=np.asarray(data["cadc_offset"]),
                                     driver_offset=np.asarray(data["driver_offset"]))
            report = data["report"]
            spreads = {k: Spread(**v) for k, v in report["spreads"].items()}
            return cls(
                serial=serial,
                targets=CalibrationTargets(**data["targets"]),
                neurons=neurons,
                cadc_offset=chip_config.cadc_offset,
                driver_offset=chip_config.driver_offset,
                report=CalibrationReport(spreads=spreads, elapsed_s=float(report["elapsed_s"]),
                                         n_circuits=int(report["n_circuits"])),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            raise DataError(f"corrupt calibration {str(path)!r}: {err}") from None


def _calibrate_cadc(chip: Chip, rng: np.random.Generator) -> np.ndarray:
    """Digital CADC offsets moving every channel's read of one reference to the median."""
    reads = m.read_cadc_reference(chip, rng)
    offset = np.rint(np.median(reads) - reads)
    return np.clip(offset, specs.CADC_OFFSET_MIN, specs.CADC_OFFSET_MAX).astype(np.int64)


def _calibrate_strength(chip: Chip, config: NeuronConfig, receptor: m.Receptor,
                        reference_code: int, resting: np.ndarray, rng: np.random.Generator,
                        cadc_offset: np.ndarray) -> NeuronConfig:
    """Move every circuit's synaptic strength to the circuits' median at ``reference_code``."""
    cell = f"i_bias_synin_{receptor}_gm"

    def strength(codes: Any) -> np.ndarray:
        return m.measure_synaptic_strength(chip, config.with_cells(**{cell: codes}), receptor,
                                           rng, cadc_offset, baseline=resting)

    target = float(np.median(strength(reference_code)))
    codes = binary_search(strength, target, config.n, inverted=False)
    return config.with_cells(**{cell: codes})


def measure_all(chip: Chip, config: NeuronConfig, targets: CalibrationTargets,
                rng: np.random.Generator, cadc_offset: np.ndarray) -> dict[str, np.ndarray]:
    """Measure every calibrated quantity of the circuits of ``config`` through the readouts.

    What :func:`calibrate` measures before and after; the threshold protocol uses the
    leak read that belongs to ``targets``.

    Parameters
    ----------
    chip
        The chip.
    config
        Settings of the circuits to measure (n circuits).
    targets
        Calibration targets (they fix the threshold protocol's leak potential).
    rng
        Source of the temporal noise.
    cadc_offset
        Digital CADC offsets, (2, 2, 256).

    Returns
    -------
    dict
        By quantity (the keys of :attr:`CalibrationReport.spreads`): (n,) arrays, CADC
        reads (LSB) for leak, reset, threshold and the strengths, µs for time constants.
    """
    out = {
        "leak": m.read_resting(chip, config, rng, cadc_offset),
        "reset": m.read_reset(chip, config, rng, cadc_offset),
        "tau_mem": m.measure_tau_mem(chip, config, rng),
    }
    out["tau_syn_exc"], out["tau_syn_inh"] = m.measure_tau_syn(chip, config, rng)
    for receptor in ("exc", "inh"):
        out[f"strength_{receptor}"] = m.measure_synaptic_strength(
            chip, config, receptor, rng, cadc_offset, baseline=out["leak"])
    out["threshold"] = m.measure_threshold(chip, config, out["tau_mem"], rng, cadc_offset,
                                           leak_read=_threshold_leak_read(targets))
    return out


def _threshold_leak_read(targets: CalibrationTargets) -> float:
    return min(targets.threshold + THRESHOLD_PROTOCOL_MARGIN, THRESHOLD_PROTOCOL_LEAK_MAX)


def _stats(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.inf, math.nan
    return float(finite.mean()), float(finite.std())


def calibrate(
    chip: Chip,
    targets: CalibrationTargets | None = None,
    circuits: Any = None,
    seed: int = 0,
) -> Calibration:
    """Calibrate ``circuits`` (default all 512) of ``chip`` for ``targets``.

    Parameters
    ----------
    chip
        The chip to calibrate.
    targets
        Calibration targets (default: calix' defaults).
    circuits
        Indices of the circuits to calibrate.
    seed
        Seed of the temporal noise in all measurements.

    Returns
    -------
    Calibration
        Calibrated settings, CADC offsets and the before/after report.
    """
    start = time.perf_counter()
    targets = CalibrationTargets() if targets is None else targets
    rng = np.random.default_rng(seed)
    config = NeuronConfig.default(
        circuits,
        membrane_capacitance=targets.membrane_capacitance,
        refractory_counter=specs.refractory_counter(targets.refractory_us),
    )
    n = config.n
    cadc_offset = _calibrate_cadc(chip, rng)
    before = measure_all(chip, config, targets, rng, cadc_offset)

    # both synaptic inputs at once: instances 0..n-1 are exc, n..2n-1 inh
    base = config
    codes = binary_search(
        lambda c: m.measure_tau_syn(chip, base.with_cells(
            i_bias_synin_exc_tau=c[:n], i_bias_synin_inh_tau=c[n:]), rng).ravel(),
        np.repeat([targets.tau_syn_exc_us, targets.tau_syn_inh_us], n), 2 * n, inverted=True)
    config = config.with_cells(i_bias_synin_exc_tau=codes[:n], i_bias_synin_inh_tau=codes[n:])

    base = config
    codes = binary_search(
        lambda c: m.measure_tau_mem(chip, base.with_cells(i_bias_leak=c), rng),
        targets.tau_mem_us, n, inverted=True)
    config = config.with_cells(i_bias_leak=codes)

    base = config
    codes = binary_search(
        lambda c: m.read_resting(chip, base.with_cells(v_leak=c), rng, cadc_offset),
        targets.leak, n, inverted=False)
    config = config.with_cells(v_leak=codes)

    base = config
    codes = binary_search(
        lambda c: m.read_reset(chip, base.with_cells(v_reset=c), rng, cadc_offset),
        targets.reset, n, inverted=False)
    config = config.with_cells(v_reset=codes)

    resting = m.read_resting(chip, config, rng, cadc_offset)
    for receptor in ("exc", "inh"):
        config = _calibrate_strength(chip, config, receptor, targets.i_synin_gm, resting, rng,
                                     cadc_offset)

    tau_mem = np.mean([m.measure_tau_mem(chip, config, rng)
                       for _ in range(THRESHOLD_TAU_REPEATS)], axis=0)
    base = config
    codes = binary_search(
        lambda c: m.measure_threshold(chip, base.with_cells(v_threshold=c), tau_mem, rng,
                                      cadc_offset, leak_read=_threshold_leak_read(targets)),
        targets.threshold, n, inverted=False)
    config = config.with_cells(v_threshold=codes)

    after = measure_all(chip, config, targets, rng, cadc_offset)
    fixed_targets = {"leak": targets.leak, "reset": targets.reset,
                     "threshold": targets.threshold, "tau_mem": targets.tau_mem_us,
                     "tau_syn_exc": targets.tau_syn_exc_us,
                     "tau_syn_inh": targets.tau_syn_inh_us}
    spreads = {}
    for name, unit in _QUANTITIES.items():
        target = fixed_targets.get(name)
        error = None if target is None else float(np.max(np.abs(after[name] - target)))
        b_mean, b_std = _stats(before[name])
        a_mean, a_std = _stats(after[name])
        spreads[name] = Spread(unit=unit, target=target, before_mean=b_mean, before_std=b_std,
                               after_mean=a_mean, after_std=a_std, after_max_error=error)
    driver_offset, spreads["driver_amplitude"] = calibrate_drivers(chip, rng)
    report = CalibrationReport(spreads=spreads, elapsed_s=time.perf_counter() - start,
                               n_circuits=n)
    return Calibration(serial=chip.serial, targets=targets, neurons=config,
                       cadc_offset=cadc_offset, report=report, driver_offset=driver_offset)


def calibrate_drivers(chip: Chip, rng: np.random.Generator) -> tuple[np.ndarray, Spread]:
    """STP offsets moving every synapse driver's amplitude to the median of its CapMem
    block's drivers at the reference code (calix ``STPOffsetCalib``; step 9 of
    :func:`calibrate`).

    Parameters
    ----------
    chip
        The chip.
    rng
        Source of the readout noise.

    Returns
    -------
    tuple
        The offset codes, (2, 128) int64 (hemisphere, driver), and the :class:`Spread`
        of the measured amplitudes (CADC LSB) before (all at
        ``specs.STP_OFFSET_REFERENCE``) and after.
    """
    shape = (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)
    before = m.measure_driver_amplitudes(
        chip, np.full(shape, specs.STP_OFFSET_REFERENCE), rng)
    h, d = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    block = specs.capmem_block_of_driver(h, d)
    target = np.zeros(shape)
    for b in np.unique(block):
        target[block == b] = np.median(before[block == b])
    codes = binary_search(
        lambda c: m.measure_driver_amplitudes(chip, c.reshape(shape), rng).ravel(),
        target.ravel(), target.size, inverted=True, low=0, high=specs.STP_OFFSET_MAX
    ).reshape(shape)
    after = m.measure_driver_amplitudes(chip, codes, rng)
    spread = Spread(unit="LSB", target=None, before_mean=float(before.mean()),
                    before_std=float(before.std()), after_mean=float(after.mean()),
                    after_std=float(after.std()), after_max_error=None)
    return codes, spread

