"""``bss2-synfire``: a synfire chain with feed-forward inhibition on one virtual HICANN-X.

The network of the BrainScaleS-2 synfire-chain tutorial (brainscales2-demos, "A simple
feedforward network"; Pfeil et al. 2013, Front. Neurosci. 7:11): ``n_groups`` links, each
an excitatory group of ``n_exc`` and an inhibitory group of ``n_inh`` neurons. All
projections are all-to-all between groups::

    stimulus -> exc_0, inh_0          (excitatory; n_exc sources firing once at t_stim)
    exc_g    -> exc_{g+1}, inh_{g+1}  (excitatory)
    inh_g    -> exc_g                 (inhibitory: feed-forward inhibition)

The inhibitory group receives the same volley as its excitatory partner but weaker, fires
a little later and silences the excitatory group after its first spike, so a single sharp
pulse travels down the chain. Weights are given in 6-bit LSB, as in the tutorial; the
model's LSB is the chip's nominal synaptic current per LSB (``i_bias_synin_gm`` = 500)
in model units, so a weight of 63 is the strongest synapse of the calibrated chip.

The chain runs on the ``bss2`` backend (``Chip(chip_serial)``, calibrated for the circuits
it uses unless ``calibrated`` is False). The ``backend`` argument names a reference the same
network also runs on (default ``ideal``: the exact LIF network); ``bss2`` skips the
reference. Reported: which groups fired and when (latency of each group's first spikes
after the stimulus), hardware time and energy of the emulation (the cost model of
:mod:`neurotwin.bss2.cost`), the chip resources and an occupancy picture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurotwin.backends import simulate
from neurotwin.bss2 import specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.calibration import calibrate
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.draw import draw_mapping
from neurotwin.bss2.mapping import map_network
from neurotwin.dynamics import LIF
from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError, check_multiple_of, check_positive
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import Network, Population, SpikeSourceArray

__all__ = ["Bss2SynfireConfig", "build_network", "group_activity", "run", "weight_lsb_na"]

FIRED_FRACTION = 0.5
"""A group counts as having fired when at least this fraction of its excitatory neurons
spiked."""


@dataclass(frozen=True)
class Bss2SynfireConfig:
    """Parameters of the synfire chain (model units: ms, mV, nA, nF).

    Parameters
    ----------
    n_groups
        Chain links.
    n_exc, n_inh
        Excitatory and inhibitory neurons per link.
    w_stim_exc, w_stim_inh, w_exc_exc, w_exc_inh, w_inh_exc
        Weights in 6-bit LSB (0..63; w_inh_exc is the magnitude of the inhibition).
    t_stim
        Time of the stimulus volley, ms.
    duration
        Emulated time, ms of model time (µs on the chip).
    dt
        Time step, ms; every synapse has a delay of one step.
    trials
        Trials (independent membrane noise); the raster shows trial 0.
    chip_serial
        Serial number of the virtual chip.
    calibrated
        Calibrate the circuits in use before mapping (else nominal settings).
    tau_mem, tau_syn, v_rest, v_reset, v_thresh, tau_refrac, cm
        Neuron parameters of every neuron.
    """

    n_groups: int = 16
    n_exc: int = 16
    n_inh: int = 8
    w_stim_exc: float = 63.0
    w_stim_inh: float = 63.0
    w_exc_exc: float = 45.0
    w_exc_inh: float = 35.0
    w_inh_exc: float = 40.0
    t_stim: float = 5.0
    duration: float = 60.0
    dt: float = 0.1
    trials: int = 4
    chip_serial: int = 7
    calibrated: bool = True
    tau_mem: float = 10.0
    tau_syn: float = 5.0
    v_rest: float = -65.0
    v_reset: float = -70.0
    v_thresh: float = -50.0
    tau_refrac: float = 5.0
    cm: float = 1.0

    def __post_init__(self) -> None:
        for name, low in (("n_groups", 2), ("n_exc", 1), ("n_inh", 1), ("trials", 1)):
            specs.check_integer_range(name, getattr(self, name), low, specs.N_NEURONS)
        needed = self.n_groups * (self.n_exc + self.n_inh)
        if needed > specs.N_NEURONS:
            raise ConfigError(f"the chain needs {needed} neurons, the chip has "
                              f"{specs.N_NEURONS} circuits (n_groups * (n_exc + n_inh))")
        for name in ("w_stim_exc", "w_stim_inh", "w_exc_exc", "w_exc_inh", "w_inh_exc"):
            value = getattr(self, name)
            if not 0 <= value <= specs.WEIGHT_MAX:
                raise ConfigError(f"{name} must lie in [0, {specs.WEIGHT_MAX}] LSB, got {value}")
        check_positive("dt", self.dt, "ms")
        check_positive("duration", self.duration, "ms")
        check_multiple_of("duration", self.duration, self.dt)
        if not 0 <= self.t_stim < self.duration:
            raise ConfigError(f"t_stim must lie in [0, duration = {self.duration}) ms, "
                              f"got {self.t_stim}")

    def model(self) -> LIF:
        """The neuron parameters."""
        return LIF(tau_mem=self.tau_mem, tau_syn_exc=self.tau_syn, tau_syn_inh=self.tau_syn,
                   cm=self.cm, v_rest=self.v_rest, v_reset=self.v_reset,
                   v_thresh=self.v_thresh, tau_refrac=self.tau_refrac)


def weight_lsb_na(config: Bss2SynfireConfig) -> float:
    """Model current (nA) of one weight LSB: the chip's nominal synaptic current per LSB,
    ``SYN_GAIN_NOMINAL_NA`` hardware nA, divided by the population's current scale."""
    probe = Network(dt=config.dt)
    probe.add(Population(1, config.model(), label="probe"))
    return specs.SYN_GAIN_NOMINAL_NA / map_network(probe).populations["probe"].current_scale


def _blocks(n_groups: int, n_pre: int, n_post: int, shift: int, weight: float) -> np.ndarray:
    """All-to-all blocks from group g of the pre side to group g + shift of the post side."""
    w = np.zeros((n_groups * n_pre, n_groups * n_post))
    for g in range(n_groups - shift):
        h = g + shift
        w[g * n_pre:(g + 1) * n_pre, h * n_post:(h + 1) * n_post] = weight
    return w


def build_network(config: Bss2SynfireConfig) -> Network:
    """The chain: populations "exc" (groups one after the other), "inh", source "stim";
    spikes of all three recorded."""
    lsb = weight_lsb_na(config)
    g, e, i = config.n_groups, config.n_exc, config.n_inh
    net = Network(dt=config.dt)
    model = config.model()
    exc = net.add(Population(g * e, model, label="exc"))
    inh = net.add(Population(g * i, model, label="inh"))
    stim = net.add(SpikeSourceArray([[config.t_stim]] * e, label="stim"))
    stim_exc = np.zeros((e, g * e))
    stim_exc[:, :e] = config.w_stim_exc * lsb
    stim_inh = np.zeros((e, g * i))
    stim_inh[:, :i] = config.w_stim_inh * lsb
    net.connect(stim, exc, stim_exc, receptor="exc")
    net.connect(stim, inh, stim_inh, receptor="exc")
    net.connect(exc, exc, _blocks(g, e, e, 1, config.w_exc_exc * lsb), receptor="exc")
    net.connect(exc, inh, _blocks(g, e, i, 1, config.w_exc_inh * lsb), receptor="exc")
    net.connect(inh, exc, _blocks(g, i, e, 0, config.w_inh_exc * lsb), receptor="inh")
    for node in (exc, inh, stim):
        net.record(node, "spikes")
    return net


def group_activity(result: Result, config: Bss2SynfireConfig) -> dict[str, Any]:
    """Per group and trial: fraction of excitatory neurons that fired, latency (ms after
    the stimulus) and width (std, ms) of their first spikes; NaN where none fired.

    Returns
    -------
    dict with ``fired_fraction``, ``latency_ms``, ``width_ms`` (each (trials, n_groups)
    lists), ``spikes_per_neuron`` (mean over fired neurons, (trials, n_groups)),
    ``propagated`` (per trial: every group reached ``FIRED_FRACTION``) and
    ``groups_reached`` (per trial: how many consecutive groups from the first did).
    """
    g, e = config.n_groups, config.n_exc
    shape = (result.n_trials, g)
    fired, latency, width, per_neuron = (np.full(shape, np.nan) for _ in range(4))
    for trial in range(result.n_trials):
        times, ids = result.spikes("exc", trial)
        earliest = np.full(g * e, np.inf)
        np.minimum.at(earliest, ids, times)
        counts = np.bincount(ids, minlength=g * e).reshape(g, e)
        first = earliest.reshape(g, e)
        for group in range(g):
            ok = np.isfinite(first[group])
            fired[trial, group] = ok.mean()
            if ok.any():
                latency[trial, group] = first[group][ok].mean() - config.t_stim
                width[trial, group] = first[group][ok].std()
                per_neuron[trial, group] = counts[group][ok].mean()
    reached = fired >= FIRED_FRACTION
    consecutive = [int(np.argmin(np.append(row, False))) for row in reached]

    def listed(a: np.ndarray) -> list[list[float | None]]:
        return [[None if np.isnan(x) else float(x) for x in row] for row in a]

    return {"fired_fraction": listed(fired), "latency_ms": listed(latency),
            "width_ms": listed(width), "spikes_per_neuron": listed(per_neuron),
            "propagated": [bool(row.all()) for row in reached],
            "groups_reached": consecutive}


def _summary(activity: dict[str, Any]) -> dict[str, Any]:
    """Trial means of the per-group numbers (None where no trial has a value)."""
    out: dict[str, Any] = {"propagated_trials": int(sum(activity["propagated"])),
                           "groups_reached": activity["groups_reached"]}
    for key in ("fired_fraction", "latency_ms", "width_ms", "spikes_per_neuron"):
        arr = np.array([[np.nan if x is None else x for x in row] for row in activity[key]])
        means = []
        for column in arr.T:
            finite = column[np.isfinite(column)]
            means.append(float(finite.mean()) if finite.size else None)
        out[f"mean_{key}"] = means
    latency = [x for x in out["mean_latency_ms"] if x is not None]
    out["latency_per_group_ms"] = (float(np.polyfit(np.arange(len(latency)), latency, 1)[0])
                                   if len(latency) > 1 else None)
    return out


def _raster(result: Result, config: Bss2SynfireConfig, path: Path, title: str) -> None:
    spikes = {label: result.spikes(label, 0) for label in ("exc", "inh")}
    sizes = {"exc": config.n_groups * config.n_exc, "inh": config.n_groups * config.n_inh}
    fig = plots.raster(spikes, sizes, config.duration, title=title)
    ax = fig.axes[0]
    for group in range(1, config.n_groups):
        ax.axhline(group * config.n_exc, color="0.85", linewidth=0.4, zorder=0)
    ax.axvline(config.t_stim, color="C3", linestyle="--", linewidth=0.6)
    ax.set_ylabel("neuron (exc groups, then inh groups)")
    plots.save(fig, path)


def _latency_plot(summaries: dict[str, dict[str, Any]], config: Bss2SynfireConfig,
                  path: Path) -> None:
    """Mean first-spike latency (and pulse width as error bars) of every group, per run."""
    fig = Figure(figsize=(6.0, 3.5), layout="constrained")
    ax = fig.add_subplot()
    groups = np.arange(config.n_groups)
    for name, s in summaries.items():
        latency = np.array([np.nan if x is None else x for x in s["mean_latency_ms"]])
        width = np.array([np.nan if x is None else x for x in s["mean_width_ms"]])
        ax.errorbar(groups, latency, yerr=width, marker=".", linewidth=0.8, capsize=2,
                    label=name)
    ax.set_xlabel("group")
    ax.set_ylabel("latency after stimulus (ms)")
    ax.set_title("first spikes of each excitatory group (bars: pulse width, std)",
                 fontsize="small")
    ax.legend()
    plots.save(fig, path)


@register_experiment("bss2-synfire", Bss2SynfireConfig)
def run(
    config: Bss2SynfireConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """A synfire chain with feed-forward inhibition on the BrainScaleS-2 twin.

    Writes ``raster.png`` (trial 0 on the chip), ``raster_reference.png`` (the reference
    backend, unless it is ``bss2``), ``latency.png`` and ``occupancy.png`` (bss2.draw)
    into ``out_dir`` and returns the metrics: per group fired fraction, latency and pulse
    width and spikes per neuron (means over trials), how many groups each trial's pulse
    reached and whether it reached the last one, hardware time,
    energy estimate, chip resources and wall times.
    """
    net = build_network(config)
    chip = Chip(config.chip_serial)
    n_used = net.nodes["exc"].size + net.nodes["inh"].size
    calibration = (calibrate(chip, circuits=np.arange(n_used), seed=seed)
                   if config.calibrated else None)
    bss2 = Bss2Backend()
    start = time.perf_counter()
    mapping = bss2.map(net, chip=chip, calibration=calibration,
                       weight_scale=weight_lsb_na(config))
    map_s = time.perf_counter() - start
    result = bss2.run(mapping, config.duration, seed=seed, trials=config.trials,
                      progress=progress)
    draw_mapping(mapping, out_dir / "occupancy.png")
    _raster(result, config, out_dir / "raster.png",
            f"synfire chain on BrainScaleS-2 twin (chip {config.chip_serial}"
            f"{', calibrated' if calibration is not None else ', uncalibrated'})")
    activity = group_activity(result, config)
    files = ["raster.png", "latency.png", "occupancy.png"]
    runs: dict[str, tuple[Result, dict[str, Any]]] = {"bss2": (result, activity)}
    if backend != "bss2":
        ref = simulate(net, config.duration, backend=backend, seed=seed, trials=config.trials)
        _raster(ref, config, out_dir / "raster_reference.png",
                f"synfire chain, reference backend {backend!r}")
        runs[backend] = (ref, group_activity(ref, config))
        files.insert(1, "raster_reference.png")
    summaries = {name: _summary(act) for name, (_, act) in runs.items()}
    _latency_plot(summaries, config, out_dir / "latency.png")
    cost = result.cost
    return {
        "n_neurons": n_used,
        "n_synapses": int(sum(p.synapses().pre.size for p in net.projections)),
        "weight_lsb_na": mapping.populations["exc"].weight_lsb_na,
        "calibrated": calibration is not None,
        "calibration_time_s": None if calibration is None else calibration.report.elapsed_s,
        "propagated": {name: s["propagated_trials"] == config.trials
                       for name, s in summaries.items()},
        "groups": summaries,
        "hardware_time_us": cost.hardware_time_us,
        "energy_j": cost.energy_j,
        "host_overhead_s": getattr(cost, "host_overhead_s", None),
        "spikes": int(getattr(cost, "spikes", 0)),
        "resources": {name: {"used": used, "available": avail}
                      for name, (used, avail) in cost.resources.items()},
        "wall_time_s": {"map": map_s, "emulate": cost.wall_time_s,
                        **({backend: runs[backend][0].cost.wall_time_s}
                           if backend in runs and backend != "bss2" else {})},
        "files": files,
    }
