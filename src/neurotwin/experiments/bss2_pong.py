"""``bss2-pong``: the BrainScaleS-2 Pong pilot study, learned on the chip with R-STDP.

The network and learning rule of electronicvisions/model-sw-pong (the NEST replica of the
chip experiment, stated there to be equivalent to it): 32 input units, one per ball row,
all-to-all onto 32 action neurons (LIF, tau_m 28.53 ms, t_ref 3.98 ms; tau_syn 5 ms:
model-sw-pong's 1.8 ms is out of the twin's reach;
6-bit weights initialised round(N(14, 2)), at least 1, plus model-sw-pong's weight
offset of 32 LSB through a static row of an offset unit sent with every input event;
reset, and the drive of the input train, as model-sw-pong's), background noise (a
Poisson source per action neuron; the chip's temporal membrane noise on top). The game, the
decision and the weight updates run as one PPU program
(:class:`~neurotwin.bss2.ppu.pong.PongProgram`) while the analog core emulates; the
correlation sensors are set to model-sw-pong's STDP kernel (amplitude 36 CADC LSB per
pair, tau 64 µs hardware = 64 ms model, saturation 128 LSB).

Per chip serial: the learning curve (reward per iteration), the same network with
learning off for the untrained reward, the learned weights against each neuron's measured
excitability (:func:`measure_excitability`: its spike count per window under the input
train with every input weight equal, learning off), hardware time and energy per
iteration (200 µs at the chip's 57 mW) and the twin's wall time per iteration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
from matplotlib.figure import Figure
from scipy.stats import pearsonr, rankdata

from neurotwin.bss2 import specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.calibration import calibrate
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.mapping import Mapping, map_network
from neurotwin.bss2.ppu.pong import GRID, ExcitabilityProbe, PongProgram
from neurotwin.bss2.ppu.program import PlasticityProgram, PPURuntime
from neurotwin.dynamics import LIF
from neurotwin.errors import ConfigError, check_int, check_positive
from neurotwin.experiments import pong_nest
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import Network, Population, SpikeSourceArray, SpikeSourcePoisson

__all__ = ["Bss2PongConfig", "background_std", "build_network", "owned_rows",
           "pang_noise_std", "pang_noise_weight", "pooled_owned_correlation", "run"]

STDP_AMPLITUDE_LSB = 36.0
"""model-sw-pong ``STDP_AMPLITUDE``: sensor increment per pair at zero lag (CADC LSB)."""
STDP_TAU_US = 64.0
"""model-sw-pong ``STDP_TAU`` (64 ms model = 64 µs hardware)."""
STDP_SATURATION_LSB = 128.0
"""model-sw-pong ``STDP_SATURATION``."""


@dataclass(frozen=True)
class Bss2PongConfig:
    """Parameters of the Pong experiment (model units: ms, mV, nA).

    ``iterations`` learning iterations per serial on chips ``serials``; the untrained
    reward from ``untrained_iterations`` (default a tenth of ``iterations``, at least
    100) with learning off; ``calibrated`` calibrates the 32 circuits first.
    ``drive`` sets the weight scale: the mean depolarisation of a neuron under the
    input train at the initial mean weight (plus ``weight_offset``), as a fraction of
    threshold - rest; None: model-sw-pong's (:func:`pang_drive`, about 0.96).
    ``weight_offset`` (LSB) is model-sw-pong's ``dls2nest`` offset: the active input
    reaches every action neuron with ``w + weight_offset`` through a static synapse row
    of an offset unit sent with each input event (0: none).
    Background: a Poisson source of ``noise_rate_hz`` per action neuron, its weight
    ``noise_weight`` a fraction of the mean initial input synapse (``weight_mean +
    weight_offset`` LSB); ``noise_balanced`` adds an inhibitory source of the same rate
    and weight, so that the background has zero mean as model-sw-pong's Gaussian current.
    ``noise_weight`` None (default): the weight at which a free membrane fluctuates as
    much as under model-sw-pong's current (:func:`pang_noise_weight`; about 0.33 at
    200 Hz balanced). Before 2026-12-05 the default was ``noise_balanced`` false with
    ``noise_weight`` 0.1: a fifth of that fluctuation, with a mean drive of 0.19 of the
    threshold gap (:func:`background_std`).
    ``software_peer`` ``"nest"`` also plays ``software_iterations`` iterations of the
    same network in NEST (:mod:`~neurotwin.experiments.pong_nest`) and reports time
    and energy per iteration against the chip's (skipped, with the reason in the
    metrics, where NEST is not installed).
    ``excitability_windows`` windows (a multiple of 32: every ball row equally often)
    measure each neuron's excitability (:func:`measure_excitability`) at the weight
    ``round(weight_mean)``.
    """

    iterations: int = 2000
    serials: tuple[int, ...] = (1, 2, 3, 4, 5)
    calibrated: bool = True
    untrained_iterations: int | None = None
    weight_mean: float = 14.0
    weight_std: float = 2.0
    drive: float | None = None
    weight_offset: float = pong_nest.WEIGHT_OFFSET
    noise_rate_hz: float = 200.0
    noise_weight: float | None = None
    noise_balanced: bool = True
    dt: float = 0.1
    software_peer: str | None = None
    software_iterations: int = 200
    excitability_windows: int = 640

    def __post_init__(self) -> None:
        check_int("iterations", self.iterations, low=1)
        if not self.serials:
            raise ConfigError("serials must name at least one chip serial")
        for s in self.serials:
            check_int("serial", s, low=0)
        if self.untrained_iterations is not None:
            check_int("untrained_iterations", self.untrained_iterations, low=1)
        for name in ("weight_mean", "dt"):
            check_positive(name, getattr(self, name))
        if self.noise_weight is not None:
            check_positive("noise_weight", self.noise_weight)
        if self.drive is not None:
            check_positive("drive", self.drive)
        check_positive("weight_offset", self.weight_offset, "LSB", allow_zero=True)
        if self.weight_offset > specs.WEIGHT_MAX:
            raise ConfigError(f"weight_offset must be at most {specs.WEIGHT_MAX} LSB (a 6-bit "
                              f"weight), got {self.weight_offset:g}")
        check_positive("weight_std", self.weight_std, allow_zero=True)
        check_positive("noise_rate_hz", self.noise_rate_hz, "Hz", allow_zero=True)
        if self.software_peer not in (None, "nest"):
            raise ConfigError(f"software_peer must be 'nest' or null, got "
                              f"{self.software_peer!r}")
        check_int("software_iterations", self.software_iterations, low=1)
        check_int("excitability_windows", self.excitability_windows, low=GRID)
        if self.excitability_windows % GRID:
            raise ConfigError(f"excitability_windows must be a multiple of {GRID} (every "
                              f"ball row equally often), got {self.excitability_windows}")


_V_REST, _V_THRESH = -65.0, -50.0
MODEL = LIF(tau_mem=pong_nest.NEURON_DICT["tau_m"], tau_syn_exc=5.0, tau_syn_inh=5.0,
            tau_refrac=pong_nest.NEURON_DICT["t_ref"], v_rest=_V_REST,
            v_reset=_V_REST - (pong_nest.NEURON_DICT["E_L"] - pong_nest.NEURON_DICT["V_reset"])
            / (pong_nest.NEURON_DICT["V_th"] - pong_nest.NEURON_DICT["E_L"])
            * (_V_THRESH - _V_REST),
            v_thresh=_V_THRESH)
"""The action neurons: model-sw-pong's ``NEURON_DICT`` tau_m and t_ref, and its reset as
the same fraction of threshold - rest below rest (0.39: -70.9 mV here); its tau_syn of
1.8 ms is below what the twin's synaptic-input bias reaches on every calibrated circuit
(about 4.2 ms on chip 1), so 5 ms; potentials on the chip's calibratable scale."""
WINDOW_MS = 200.0
SPIKES = 20
ISI_MS = 10.0


def pang_drive(config: Bss2PongConfig) -> float:
    """model-sw-pong's drive: the mean depolarisation under the input train at the mean
    initial weight, ``(w + offset) 400/63 pA tau_syn rate tau_m / C_m``, over its
    ``V_th - E_L`` (``NEURON_DICT``; about 0.96)."""
    nd = pong_nest.NEURON_DICT
    current_pa = (config.weight_mean + pong_nest.WEIGHT_OFFSET) * pong_nest.WEIGHT_SCALE_PA
    depolarisation_mv = current_pa * nd["tau_syn_ex"] / ISI_MS * nd["tau_m"] / nd["C_m"]
    return depolarisation_mv / (nd["V_th"] - nd["E_L"])


def drive_of(config: Bss2PongConfig) -> float:
    """The input train's mean depolarisation at the mean initial weight, a fraction of
    the threshold gap: ``config.drive``, or :func:`pang_drive` where it is None."""
    return pang_drive(config) if config.drive is None else config.drive


def weight_lsb_na(config: Bss2PongConfig) -> float:
    """Model nA per weight LSB such that the input train at the mean initial weight plus
    the offset depolarises a neuron by ``drive * (v_thresh - v_rest)`` on average
    (``w q tau_syn rate tau_mem / C``)."""
    rate = 1.0 / ISI_MS
    gap = MODEL.v_thresh - MODEL.v_rest
    per_lsb = MODEL.tau_syn_exc * rate * MODEL.tau_mem / MODEL.cm
    return drive_of(config) * gap / ((config.weight_mean + config.weight_offset) * per_lsb)


def build_network(config: Bss2PongConfig, seed: int) -> tuple[Network, np.ndarray]:
    """The network and its initial 6-bit weights (32 inputs x 32 neurons)."""
    rng = np.random.default_rng([seed, 13])
    lsb = np.clip(np.rint(rng.normal(config.weight_mean, config.weight_std, (GRID, GRID))),
                  1, specs.WEIGHT_MAX)
    net = Network(dt=config.dt)
    ball = net.add(SpikeSourceArray([[] for _ in range(GRID)], label="ball"))
    action = net.add(Population(GRID, MODEL, label="action"))
    scale = weight_lsb_na(config)
    net.connect(ball, action, lsb * scale, receptor="exc")
    if config.weight_offset > 0:
        offset = net.add(SpikeSourceArray([[]], label="offset"))
        net.connect(offset, action, np.full((1, GRID), config.weight_offset * scale),
                    receptor="exc")
    if config.noise_rate_hz > 0:
        noise_na = np.eye(GRID) * noise_weight(config) * scale * (config.weight_mean
                                                                 + config.weight_offset)
        noise = net.add(SpikeSourcePoisson(GRID, rate=config.noise_rate_hz, label="noise"))
        net.connect(noise, action, noise_na, receptor="exc")
        if config.noise_balanced:
            inhibitory = net.add(SpikeSourcePoisson(GRID, rate=config.noise_rate_hz,
                                                    label="noise_inh"))
            net.connect(inhibitory, action, noise_na, receptor="inh")
    return net, lsb


def pang_noise_std() -> float:
    """Std of a free membrane under model-sw-pong's background, as a fraction of its
    threshold gap ``V_th - E_L``: a Gaussian current of ``NOISE_STD_PA`` held for
    NEST's ``noise_generator`` interval of 1 ms, filtered by the membrane
    (``sigma_I sqrt(h tau_m / 2) / C_m``, h << tau_m; about 0.24)."""
    nd = pong_nest.NEURON_DICT
    std_mv = pong_nest.NOISE_STD_PA * np.sqrt(pong_nest.NOISE_INTERVAL_MS * nd["tau_m"] / 2.0) \
        / nd["C_m"]
    return float(std_mv / (nd["V_th"] - nd["E_L"]))


def background_std(config: Bss2PongConfig) -> float:
    """Std of a free membrane under the twin's Poisson background (shot noise, Campbell's
    theorem: ``rate * integral of the PSP squared``, doubled with ``noise_balanced``), as
    a fraction of the threshold gap; the chip's temporal membrane noise not counted."""
    if config.noise_rate_hz == 0:
        return 0.0
    tau_m, tau_s = MODEL.tau_mem, MODEL.tau_syn_exc
    # the area of one noise PSP (gap x ms): the input synapse's area, drive x gap at the
    # input rate, times noise_weight
    area = noise_weight(config) * drive_of(config) * ISI_MS
    squared = area ** 2 * ((tau_m + tau_s) / 2 - 2 * tau_m * tau_s / (tau_m + tau_s)) \
        / (tau_m - tau_s) ** 2
    sources = 2 if config.noise_balanced else 1
    return float(np.sqrt(sources * config.noise_rate_hz * 1e-3 * squared))


def pang_noise_weight(config: Bss2PongConfig) -> float:
    """The ``noise_weight`` at which the Poisson background of ``config``'s rate (and
    balance) fluctuates a free membrane as much as model-sw-pong's Gaussian current
    (:func:`pang_noise_std`)."""
    check_positive("noise_rate_hz", config.noise_rate_hz, "Hz")
    return pang_noise_std() / background_std(replace(config, noise_weight=1.0))


def noise_weight(config: Bss2PongConfig) -> float:
    """The background's weight, a fraction of the mean initial input synapse:
    ``config.noise_weight``, or :func:`pang_noise_weight` where it is None."""
    return pang_noise_weight(config) if config.noise_weight is None else config.noise_weight


@dataclass(frozen=True)
class PongPlacement:
    """Where the mapped Pong network sits on the chip."""

    input_units: np.ndarray
    """(32,) synapse-table rows of the input units, one per ball row."""
    neurons: np.ndarray
    """(32,) logical neurons of the action population."""
    rows: np.ndarray
    """(32,) synapse row of each input unit (hemisphere ``hemisphere``)."""
    columns: np.ndarray
    """(32,) synapse column of each action neuron."""
    hemisphere: int
    offset_unit: int | None
    """Synapse-table row of the offset unit (None: no offset)."""

    def weights(self, runtime: PPURuntime) -> np.ndarray:
        """(32, 32) the 6-bit weights in ``runtime`` from input (ball row) i to action
        neuron j, LSB."""
        return runtime.weights[self.hemisphere][np.ix_(self.rows, self.columns)]


def placement(mapping: Mapping) -> PongPlacement:
    """The chip's rows and columns of a mapped :func:`build_network`."""
    table = mapping.tables.synapses
    n = mapping.n_neurons
    first, _ = mapping.source_slices["ball"]
    units = n + first + np.arange(GRID)
    action = mapping.populations["action"]
    neurons = np.arange(action.first_neuron, action.first_neuron + GRID)
    circuits = mapping.circuits[mapping.member_ptr[neurons]]
    offset = mapping.source_slices.get("offset")
    return PongPlacement(units, neurons, table.placement[table.indptr[units], 1],
                         circuits % specs.SYNRAM_COLUMNS,
                         int(table.placement[table.indptr[units[0]], 0]),
                         None if offset is None else n + offset[0])


def _emulate(mapping: Mapping, runtime: PPURuntime, windows: int, seed: int
             ) -> tuple[float, float]:
    """Run ``windows`` Pong windows with ``runtime``'s programs: (wall s, CPU s)."""
    start, cpu = time.perf_counter(), time.process_time()
    # one trial stepped 100 steps at a time between program calls: a parallel region per
    # call costs more than it gains (10x slower on a loaded 2-core machine); the thread
    # count changes no result
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        # one step past the last window: its decision is the program's call at its end
        Bss2Backend().run(mapping, windows * WINDOW_MS + mapping.dt, seed=seed,
                          programs=runtime.periodic())
    finally:
        numba.set_num_threads(threads)
    return time.perf_counter() - start, time.process_time() - cpu


def _runtime(mapping: Mapping, program: PlasticityProgram, seed: int) -> PPURuntime:
    """A runtime of ``program`` with model-sw-pong's correlation sensors."""
    return PPURuntime(mapping, (program,),
                      sensor_eta_mv=STDP_AMPLITUDE_LSB * specs.CADC_LSB_MV,
                      sensor_tau_us=STDP_TAU_US,
                      sensor_saturation_mv=STDP_SATURATION_LSB * specs.CADC_LSB_MV,
                      seed=seed + 1)


def _play(mapping: Mapping, iterations: int, learning: bool, seed: int
          ) -> tuple[PongProgram, PPURuntime, tuple[float, float]]:
    """Run ``iterations`` Pong iterations on the mapped chip: (game record, runtime,
    (wall s, CPU s))."""
    where = placement(mapping)
    game = PongProgram(where.input_units, where.neurons, where.rows, where.hemisphere,
                       learning=learning, spikes=SPIKES, isi_us=ISI_MS,
                       offset_unit=where.offset_unit)
    runtime = _runtime(mapping, game.program(), seed)
    return game, runtime, _emulate(mapping, runtime, iterations, seed)


@dataclass(frozen=True)
class Excitability:
    """Each action neuron's excitability: its spike count per window under the input
    train with every input weight equal (:func:`measure_excitability`)."""

    counts: np.ndarray
    """(windows, 32) spike counts of each window."""
    weight_lsb: int

    @property
    def mean(self) -> np.ndarray:
        """(32,) mean spike count per window."""
        return self.counts.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        """(32,) standard error of :attr:`mean` (std over windows / sqrt(windows); the
        rows' differences counted as noise, so an upper bound for the balanced design)."""
        return self.counts.std(axis=0, ddof=1) / np.sqrt(self.counts.shape[0])

    @property
    def spread(self) -> float:
        """Standard deviation of :attr:`mean` between the neurons (spikes per window)."""
        return float(self.mean.std(ddof=1))


def measure_excitability(mapping: Mapping, weight_lsb: int, windows: int, seed: int
                         ) -> Excitability:
    """Each action neuron's response to a fixed stimulus with all its input weights
    equal: the pilot study's excitability (Wunderlich et al. 2019, Front. Neurosci. 13:260,
    "adapting synaptic weights to match respective excitability of individual neurons").

    On ``mapping`` (the chip and calibration of the learning run) every synapse from
    the 32 inputs onto the action neurons is set to ``weight_lsb`` and the Pong stimulus
    (20 input events 10 ms apart per 200 ms window, with the offset unit, background
    noise on) is played for ``windows`` windows, ball rows in turn (0, 1, ..., 31, 0,
    ...), learning off (:class:`~neurotwin.bss2.ppu.pong.ExcitabilityProbe`); each
    neuron's spikes are counted per window. The mapping's own weights are unchanged.
    """
    check_int("weight_lsb", weight_lsb, low=0, high=specs.WEIGHT_MAX)
    check_int("windows", windows, low=2)
    where = placement(mapping)
    probe = ExcitabilityProbe(where.input_units, where.neurons, where.rows, where.columns,
                              weight_lsb, where.hemisphere, SPIKES, ISI_MS, where.offset_unit)
    _emulate(mapping, _runtime(mapping, probe.program(), seed), windows, seed)
    return Excitability(np.asarray(probe.counts[:windows], np.float64), weight_lsb)


def _serial(config: Bss2PongConfig, serial: int, seed: int) -> dict[str, Any]:
    net, lsb = build_network(config, seed)
    chip = Chip(serial)
    calibration = calibrate(chip, circuits=np.arange(GRID), seed=seed) \
        if config.calibrated else None
    mapping = map_network(net, chip=chip, calibration=calibration,
                          weight_scale=weight_lsb_na(config))
    untrained_n = config.untrained_iterations or max(100, config.iterations // 10)
    off, _, _ = _play(mapping, untrained_n, False, seed)
    game, runtime, (wall, cpu) = _play(mapping, config.iterations, True, seed)
    rewards = np.asarray(game.rewards[:config.iterations])
    tail = max(1, config.iterations // 10)
    where = placement(mapping)
    learned = where.weights(runtime)
    excitability = measure_excitability(mapping, round(config.weight_mean),
                                        config.excitability_windows, seed)
    hits = np.asarray(game.targets[:config.iterations]) == np.asarray(
        game.balls[:config.iterations])
    report = runtime.report()[0]
    hw_us = WINDOW_MS  # 1 ms model = 1 µs hardware
    return {
        "mean_reward_last_10pct": float(rewards[-tail:].mean()),
        "mean_reward_untrained": float(np.mean(off.rewards[:untrained_n])),
        "mean_reward_first_10pct": float(rewards[:tail].mean()),
        "learning_curve": _curve(rewards),
        "weight_mean_initial": float(lsb.mean()),
        "weight_mean_learned": float(learned.mean()),
        "diagonal_weight_mean_learned": float(np.diag(learned).mean()),
        "hit_fraction_last_10pct": float(hits[-tail:].mean()),
        "learned_weights_at_0_fraction": float(np.mean(learned == 0)),
        "learned_weights_at_63_fraction": float(np.mean(learned == specs.WEIGHT_MAX)),
        "learned_weight_histogram": np.bincount(learned.ravel(),
                                                minlength=specs.WEIGHT_MAX + 1).tolist(),
        "learned_diagonal": np.diag(learned).tolist(),
        "excitability_weight_lsb": excitability.weight_lsb,
        "excitability_windows": int(excitability.counts.shape[0]),
        "excitability_spikes": excitability.mean.tolist(),
        "excitability_sem": excitability.sem.tolist(),
        "excitability_spread": excitability.spread,
        "excitability_sem_mean": float(excitability.sem.mean()),
        **diagonal_correlations(learned, excitability.mean),
        "pearson_offdiagonal_vs_excitability": _pearson(_offdiagonal_mean(learned),
                                                        excitability.mean),
        "learned_weights": learned.tolist(),
        "ppu_overruns": report.overruns,
        "ppu_worst_call_us": report.worst_cycles / specs.PPU_CLOCK_MHZ,
        "ppu_busy_fraction": report.busy_us / (len(game.rewards) * hw_us + hw_us),
        "hardware_time_per_iteration_us": hw_us,
        "energy_per_iteration_j": specs.CHIP_POWER_W * hw_us * 1e-6,
        "twin_wall_per_iteration_s": wall / max(len(game.rewards), 1),
        "twin_cpu_per_iteration_s": cpu / max(len(game.rewards), 1),
        "calibrated": config.calibrated,
        "drive": drive_of(config),
        "noise_weight": noise_weight(config) if config.noise_rate_hz > 0 else 0.0,
        "background_std": background_std(config),
        "pang_background_std": pang_noise_std(),
        "_rewards": rewards,
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r; None where either is constant or fewer than 3 points."""
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _offdiagonal_mean(weights: np.ndarray) -> np.ndarray:
    """(32,) mean weight onto each action neuron from the other 31 ball rows, LSB."""
    n = weights.shape[0]
    return (weights.sum(axis=0) - np.diag(weights)) / (n - 1)


def owned_rows(weights: np.ndarray) -> np.ndarray:
    """(32,) whether ball row k's largest learned weight is its own neuron's (ties
    included): the rows where learning has made the diagonal carry the decision, the
    state of every row after the pilot study's near-perfect learning."""
    return np.diag(weights) >= weights.max(axis=1)


def diagonal_correlations(weights: np.ndarray, excitability: np.ndarray
                          ) -> dict[str, float | int | None]:
    """Pearson's r and Spearman's rho of the learned diagonal (the weight from ball row k
    to action neuron k, LSB; ``weights`` is input row by action neuron) against the
    neurons' excitability: over all 32 neurons; over those whose diagonal weight is below
    the 6-bit cap (``_unsaturated``: 63 LSB says only "at least 63"); and over the
    neurons that own their row (``_owned``, :func:`owned_rows`)."""
    diagonal = np.diag(weights).astype(np.float64)
    free = diagonal < specs.WEIGHT_MAX
    owned = owned_rows(weights)
    out: dict[str, float | int | None] = {"diagonal_saturated_count": int((~free).sum()),
                                          "owned_row_count": int(owned.sum())}
    for suffix, keep in (("", np.ones_like(free)), ("_unsaturated", free), ("_owned", owned)):
        d, e = diagonal[keep], excitability[keep]
        out[f"pearson_diagonal_vs_excitability{suffix}"] = _pearson(d, e)
        out[f"spearman_diagonal_vs_excitability{suffix}"] = (
            _pearson(rankdata(d), rankdata(e)) if d.size >= 3 else None)
    return out


def pooled_owned_correlation(per_serial: dict[str, Any]) -> dict[str, float | int | None]:
    """The learned diagonal against excitability over the owned rows (:func:`owned_rows`)
    of all serials: both standardised within each serial (its own mean and std, so that
    chips with other excitability levels pool), then Pearson's r, its two-sided p-value
    (``scipy.stats.pearsonr``; the per-serial standardisation is not counted in its
    degrees of freedom) and the number of neurons and serials pooled. Serials with fewer
    than 3 owned rows, or a constant diagonal or excitability there, are left out."""
    d_all, e_all, serials = [], [], 0
    for s in per_serial.values():
        weights = np.asarray(s["learned_weights"], dtype=np.float64)
        owned = owned_rows(weights)
        d, e = np.diag(weights)[owned], np.asarray(s["excitability_spikes"])[owned]
        if d.size < 3 or np.std(d) == 0 or np.std(e) == 0:
            continue
        d_all.append((d - d.mean()) / d.std())
        e_all.append((e - e.mean()) / e.std())
        serials += 1
    if not serials:
        return {"r": None, "p": None, "neurons": 0, "serials": 0}
    d_pooled, e_pooled = np.concatenate(d_all), np.concatenate(e_all)
    r, p = pearsonr(d_pooled, e_pooled)
    return {"r": float(r), "p": float(p), "neurons": int(d_pooled.size), "serials": serials}


def _curve(rewards: np.ndarray, points: int = 50) -> list[float]:
    """Mean reward over ``points`` consecutive blocks of iterations."""
    blocks = np.array_split(rewards, min(points, rewards.size))
    return [float(b.mean()) for b in blocks]


@register_experiment("bss2-pong", Bss2PongConfig, runs_on="bss2")
def run(config: Bss2PongConfig, seed: int, backend: str, out_dir: Path,
        progress: ProgressCallback | None) -> dict[str, Any]:
    """Pong learned with R-STDP on the PPUs of virtual HICANN-X chips (learning curves)."""
    per_serial: dict[str, Any] = {}
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for k, serial in enumerate(config.serials):
        result = _serial(config, serial, seed)
        rewards = result.pop("_rewards")
        per_serial[str(serial)] = result
        window = max(1, rewards.size // 50)
        smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(smooth.size) + window, smooth, label=f"serial {serial}")
        ax.axhline(result["mean_reward_untrained"], color=f"C{k}", ls=":", lw=0.8)
        if progress is not None:
            progress(k + 1, len(config.serials))
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"mean reward (running, {max(1, config.iterations // 50)} iterations)")
    ax.set_title("bss2-pong: R-STDP on the PPU (dotted: learning off)")
    ax.legend(fontsize=7)
    fig.savefig(out_dir / "learning_curves.png", dpi=120)
    _scatter(per_serial, config.calibrated).savefig(out_dir / "weights_vs_excitability.png",
                                                    dpi=120)
    ratios = [s["mean_reward_last_10pct"] / s["mean_reward_untrained"]
              for s in per_serial.values() if s["mean_reward_untrained"] > 0]
    out: dict[str, Any] = {"serials": per_serial,
                           "min_ratio_trained_untrained": float(min(ratios)) if ratios else None,
                           "owned_diagonal_vs_excitability_pooled":
                               pooled_owned_correlation(per_serial)}
    if config.software_peer is not None:
        out["software_peer"] = _software_peer(config, seed, per_serial)
    return out


def _scatter(per_serial: dict[str, Any], calibrated: bool) -> Figure:
    """Learned diagonal weight against excitability (± its standard error), one colour
    per serial; neurons that own their row (:func:`owned_rows`) filled, the others
    hollow."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()

    def r_text(r: float | None) -> str:
        return "-" if r is None else f"{r:.2f}"

    for k, (serial, s) in enumerate(per_serial.items()):
        x, y = np.asarray(s["excitability_spikes"]), np.asarray(s["learned_diagonal"])
        owned = owned_rows(np.asarray(s["learned_weights"]))
        label = (f"serial {serial}: r {r_text(s['pearson_diagonal_vs_excitability'])}, "
                 f"owned {r_text(s['pearson_diagonal_vs_excitability_owned'])} "
                 f"({int(owned.sum())})")
        ax.errorbar(x, y, xerr=s["excitability_sem"], fmt="none", ecolor=f"C{k}",
                    alpha=0.4, lw=0.8)
        ax.scatter(x[owned], y[owned], color=f"C{k}", s=14, label=label)
        ax.scatter(x[~owned], y[~owned], facecolors="none", edgecolors=f"C{k}", s=14)
    ax.set_xlabel("excitability: spikes per window, all input weights equal")
    ax.set_ylabel("learned diagonal weight (LSB)")
    ax.set_title(f"bss2-pong: {'calibrated' if calibrated else 'uncalibrated'} chips\n"
                 "filled: the row's largest weight is the diagonal (owned), r over those")
    ax.legend(fontsize=7)
    return fig


def _software_peer(config: Bss2PongConfig, seed: int,
                   per_serial: dict[str, Any]) -> dict[str, Any]:
    """The same network in NEST, from the same initial weights: time and energy per
    iteration, and their ratios to the chip's (hardware time, 57 mW) and the twin's."""
    if not pong_nest.nest_available():
        return {"name": "nest", "skipped": "NEST is not installed (`import nest` fails; "
                "pip install nest-simulator, in the 'bench' extra)"}
    _, lsb = build_network(config, seed)
    peer = pong_nest.play_nest(lsb, config.software_iterations, seed)
    n = peer.iterations
    chip_s = WINDOW_MS * 1e-6  # 1 ms model = 1 µs hardware
    chip_j = specs.CHIP_POWER_W * chip_s
    energy = pong_nest.CPU_CORE_POWER_W * peer.cpu_s / n
    twin_cpu = float(np.mean([s["twin_cpu_per_iteration_s"] for s in per_serial.values()]))
    return {
        "name": "nest", "version": peer.version, "iterations": n,
        "mean_reward": float(np.mean(peer.rewards)),
        "wall_per_iteration_s": peer.wall_s / n,
        "cpu_per_iteration_s": peer.cpu_s / n,
        "simulate_wall_per_iteration_s": peer.simulate_wall_s / n,
        "cpu_core_power_w_assumed": pong_nest.CPU_CORE_POWER_W,
        "energy_per_iteration_j": energy,
        "time_ratio_vs_chip": peer.cpu_s / n / chip_s,
        "energy_ratio_vs_chip": energy / chip_j,
        "time_ratio_vs_twin": peer.cpu_s / n / twin_cpu,
    }
