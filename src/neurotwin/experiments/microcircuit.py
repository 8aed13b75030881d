"""The Potjans & Diesmann (2014) cortical microcircuit: per-population rates, irregularity
and synchrony against NEST's reference, and its mapping onto the SpiNNaker2 twin.

The network (:mod:`neurotwin.experiments.microcircuit_model`) is built at ``scale`` (a
fraction of the 77,169 neurons, in-degrees scaled by ``k_scale`` with NEST's DC
compensation) and run with ``nt.simulate`` on the backend given (``ideal`` by default)
for ``t_presim + duration`` ms; the statistics (:mod:`neurotwin.experiments.spike_stats`)
cover the last ``duration`` ms, as NEST's example does (500 ms pre-simulation, 1 s).

References, stated with their source (never results of this code):

* :data:`REFERENCE_NEST_SCALE_0P1`: rate, CV of ISIs and synchrony computed by
  :func:`~neurotwin.experiments.spike_stats.activity_stats` from the spikes of NEST's
  example reference data (``Potjans_2014/reference_data``, NEST master@7c40d9e9a,
  N_scaling = K_scaling = 0.1, Poisson background, seed 55, window 500-1500 ms). The rates
  equal the means of that directory's ``rate*.dat`` files (NEST's own count).
* :data:`~neurotwin.experiments.microcircuit_model.FULL_MEAN_RATES_HZ`: full-scale rates
  of the same example (one run, 4 threads).

The SpiNNaker2 twin gets the same model at ``s2_scale`` (default: ``scale``), mapped with
1-ms ticks (delays on the tick grid, 1..8 ticks; the hardware's synapse word) and run for
``s2_duration`` ms when ``s2_run``; ``s2_full_map`` also maps the full-size model without
running it (about 0.3 billion synapses, built with weights and delays at their means and
the DC background; about 8 bytes per synapse, CapacityError recorded where that does
not fit).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

import neurotwin as nt
from neurotwin.backends import get_backend
from neurotwin.errors import CapacityError, ConfigError, MappingError, check_positive
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.microcircuit_model import (
    FULL_MEAN_RATES_HZ,
    POPULATIONS,
    V0_TYPES,
    build_network,
    scaled_params,
)
from neurotwin.experiments.spike_stats import activity_stats
from neurotwin.spinnaker2 import map_network
from neurotwin.spinnaker2.cost import S2Cost
from neurotwin.spinnaker2.report import utilisation
from neurotwin.spinnaker2.specs import MAX_DELAY_TICKS

__all__ = ["REFERENCE_NEST_SCALE_0P1", "MicrocircuitConfig", "population_stats", "run"]

REFERENCE_NEST_SCALE_0P1 = {
    "rate_hz": (0.402, 2.017, 3.880, 4.958, 6.575, 7.726, 0.831, 6.983),
    "cv_isi": (0.590, 0.554, 0.578, 0.589, 0.601, 0.621, 0.510, 0.619),
    "synchrony": (2.18, 2.59, 2.91, 2.16, 5.95, 1.27, 1.62, 1.09),
}
"""NEST's reference run at scale 0.1 (module docstring), per population in
:data:`POPULATIONS` order."""
S2_TICK_MS = 1.0
"""Tick of the SpiNNaker2 mapping, ms (real time: one tick per ms)."""


@dataclass(frozen=True)
class MicrocircuitConfig:
    """Parameters of the microcircuit run.

    Parameters
    ----------
    scale
        Fraction of the neurons, in (0, 1]; 0.1 is NEST's example default (7,717 neurons),
        1 the full 77,169.
    k_scale
        Fraction of the in-degrees, in (0, 1]; None: ``scale`` (as NEST's example).
    background
        "poisson" (8 Hz x K_ext per neuron) or "dc" (its mean as a current).
    t_presim
        Simulated before the analysed window (initial transient), ms.
    duration
        The analysed window, ms.
    dt
        Time step, ms.
    v0
        Initial potentials: "optimized" or "original".
    bg_source_rate_max_hz
        Largest rate of one background source, Hz (see the model's docstring).
    raster_ms
        Length of the raster plot's window (its end is the run's end), ms.
    s2_map
        Map the model onto the SpiNNaker2 twin.
    s2_scale
        Scale of the SpiNNaker2 mapping (None: ``scale``).
    s2_run
        Also run the mapped model on the twin for ``s2_duration`` ms.
    s2_duration
        Model time of the twin's run, ms.
    s2_full_map
        Also map the full-size model (mapping only).
    """

    scale: float = 0.1
    k_scale: float | None = None
    background: str = "poisson"
    t_presim: float = 500.0
    duration: float = 1000.0
    dt: float = 0.1
    v0: str = "optimized"
    bg_source_rate_max_hz: float = 500.0
    raster_ms: float = 200.0
    s2_map: bool = True
    s2_scale: float | None = None
    s2_run: bool = True
    s2_duration: float = 100.0
    s2_full_map: bool = False

    def __post_init__(self) -> None:
        scaled_params(self.scale, self.k_scale, self.background)  # checks all three
        if self.s2_scale is not None:
            scaled_params(self.s2_scale, None, "dc")
        for name in ("duration", "dt", "raster_ms", "s2_duration", "bg_source_rate_max_hz"):
            check_positive(name, getattr(self, name))
        check_positive("t_presim", self.t_presim, "ms", allow_zero=True)
        if self.v0 not in V0_TYPES:
            raise ConfigError(f"v0 must be one of {', '.join(V0_TYPES)}, got {self.v0!r}")


def _number(x: float) -> float | None:
    """NaN (no data) as None: JSON has no NaN."""
    return None if math.isnan(x) else x


def population_stats(result: Any, net: nt.Network, t_start: float,
                     t_stop: float) -> dict[str, dict[str, Any]]:
    """Per population: rate (Hz), CV of ISIs, synchrony in [t_start, t_stop) (None where
    no neuron has enough spikes)."""
    out = {}
    for name in POPULATIONS:
        times, ids = result.spikes(name)
        s = activity_stats(times, ids, net.nodes[name].size, t_start, t_stop)
        out[name] = {"rate_hz": s.rate_hz, "cv_isi": _number(s.cv_isi),
                     "cv_neurons": s.cv_neurons, "synchrony": _number(s.synchrony)}
    return out


def _rate_plot(stats: dict[str, dict[str, Any]], scale: float, path: Path) -> Figure:
    fig = Figure(figsize=(8.0, 3.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(POPULATIONS))
    ax.bar(x - 0.27, [stats[p]["rate_hz"] for p in POPULATIONS], 0.27,
           label=f"neurotwin, scale {scale:g}")
    if math.isclose(scale, 0.1):
        ax.bar(x, REFERENCE_NEST_SCALE_0P1["rate_hz"], 0.27, label="NEST reference, scale 0.1")
    ax.bar(x + 0.27, FULL_MEAN_RATES_HZ, 0.27, label="NEST, full scale", color="0.6")
    ax.set_xticks(x, POPULATIONS)
    ax.set_ylabel("rate (Hz)")
    ax.set_title("Microcircuit: mean rate per population")
    ax.legend(fontsize="small")
    plots.save(fig, path)
    return fig


def _raster(result: Any, net: nt.Network, t_end: float, window: float, path: Path) -> None:
    """Raster of the last ``window`` ms, L23E at the top as in PD14's figures."""
    t0 = max(t_end - window, 0.0)
    spikes, sizes = {}, {}
    for name in reversed(POPULATIONS):
        times, ids = result.spikes(name)
        keep = times >= t0
        spikes[name] = (times[keep] - t0, ids[keep])
        sizes[name] = net.nodes[name].size
    plots.raster(spikes, sizes, t_end - t0, path,
                 title=f"Microcircuit raster, {t0:g}-{t_end:g} ms (time from {t0:g} ms)")


def _s2_entry(placement: Any) -> dict[str, Any]:
    chip = utilisation(placement)["chip"]
    used = chip["pes_used"] > 0
    return {"boards": placement.machine.n_boards, "chips": int(used.sum()),
            "pes": placement.n_slices, "map_s": placement.map_time_s,
            "router_entries_max": int(chip["entries_after"][used].max()),
            "router_entries_mean": float(chip["entries_after"][used].mean()),
            "router_entries_before_compression_max": int(chip["entries_before"][used].max())}


def _s2(config: MicrocircuitConfig, seed: int) -> dict[str, Any]:
    """Map (and run) the model on the SpiNNaker2 twin at ``s2_scale``; errors recorded."""
    scale = config.scale if config.s2_scale is None else config.s2_scale
    params = scaled_params(scale, None, config.background)
    out: dict[str, Any] = {"scale": scale, "tick_ms": S2_TICK_MS,
                           "n_neurons": params.n_neurons, "n_synapses": params.n_synapses}
    # the same spikes per step from a background source as on the dt grid: its largest
    # rate scaled by dt / tick (a source emits at most one spike per tick)
    rate_max = config.bg_source_rate_max_hz * config.dt / S2_TICK_MS
    try:
        net = build_network(params, seed, config.dt, config.v0, rate_max,
                            max_delay_ms=MAX_DELAY_TICKS * S2_TICK_MS)
        backend = get_backend("spinnaker2")
        program = backend.map(net, tick_ms=S2_TICK_MS)
        out.update(_s2_entry(program.placement))
        if config.s2_run:
            res = backend.run(program, config.s2_duration, seed=seed, trials=1, progress=None)
            cost = res.cost
            assert isinstance(cost, S2Cost) and cost.hardware_time_us and cost.energy_j
            out.update({
                "run_duration_ms": config.s2_duration,
                "hardware_time_us": cost.hardware_time_us,
                "real_time_ratio": cost.hardware_time_us * 1e-3 / config.s2_duration,
                "energy_j": cost.energy_j,
                "energy_per_bio_second_j": cost.energy_j / (config.s2_duration * 1e-3),
                "deadline_misses": cost.deadline_miss_count,
                "wall_time_s": cost.wall_time_s,
                "rate_hz": {p: res.mean_rate(p) for p in POPULATIONS},
            })
        out["status"] = "ok"
    except (CapacityError, MappingError, ConfigError) as err:
        out.update(status=type(err).__name__, reason=str(err))
    if config.s2_full_map:
        # DC background: a PE would draw Poisson input itself; 30 million routed sources
        # would not describe the hardware. Synapse values do not change the mapping.
        full = scaled_params(1.0, None, "dc")
        entry: dict[str, Any] = {"n_neurons": full.n_neurons, "n_synapses": full.n_synapses,
                                 "background": "dc", "weights_delays": "means"}
        try:
            net = build_network(full, seed, config.dt, config.v0, rate_max,
                                max_delay_ms=MAX_DELAY_TICKS * S2_TICK_MS, mean_only=True)
            entry.update(_s2_entry(map_network(net, tick_ms=S2_TICK_MS)), status="ok")
        except (CapacityError, MappingError) as err:
            entry.update(status=type(err).__name__, reason=str(err))
        out["full_size_mapping"] = entry
    return out


@register_experiment("microcircuit", MicrocircuitConfig, sharded=True)
def run(
    config: MicrocircuitConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """The cortical microcircuit at ``config.scale`` on ``backend``: rates, CV of ISIs and
    synchrony per population against NEST's; ``raster.png``, ``rates.png``; SpiNNaker2
    mapping (chips, boards, router entries) and, when run, real-time ratio and energy."""
    params = scaled_params(config.scale, config.k_scale, config.background)
    start = time.perf_counter()
    net = build_network(params, seed, config.dt, config.v0, config.bg_source_rate_max_hz)
    build_s = time.perf_counter() - start
    t_end = config.t_presim + config.duration
    start = time.perf_counter()
    result = nt.simulate(net, t_end, backend=backend, seed=seed, progress=progress)
    run_s = time.perf_counter() - start
    stats = population_stats(result, net, config.t_presim, t_end)
    _raster(result, net, t_end, config.raster_ms, out_dir / "raster.png")
    _rate_plot(stats, config.scale, out_dir / "rates.png")
    metrics: dict[str, Any] = {
        "scale": config.scale,
        "k_scale": config.scale if config.k_scale is None else config.k_scale,
        "background": config.background,
        "n_neurons": params.n_neurons,
        "n_synapses": params.n_synapses,
        "n_background_sources": sum(s.size for s in net.sources),
        "window_ms": [config.t_presim, t_end],
        "wall_time_s": {"build": build_s, "simulate": run_s},
        "real_time_factor": run_s / (t_end * 1e-3),
        "populations": stats,
        "reference": {
            "nest_scale_0.1": {p: {k: v[i] for k, v in REFERENCE_NEST_SCALE_0P1.items()}
                               for i, p in enumerate(POPULATIONS)},
            "nest_full_scale_rate_hz": dict(zip(POPULATIONS, FULL_MEAN_RATES_HZ.tolist(),
                                                strict=True)),
        },
        "files": ["raster.png", "rates.png"],
    }
    if config.s2_map:
        metrics["spinnaker2"] = _s2(config, seed)
    return metrics
