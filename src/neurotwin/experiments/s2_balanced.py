"""A balanced random network (Brunel 2000 style) of 100k LIF neurons on one 48-chip
SpiNNaker2 board: placement, per-PE load, deadlines at 300 and 150 MHz, rates, energy.

Network: ``n_exc`` excitatory and ``n_inh`` inhibitory current-based LIF neurons; every
neuron receives exactly ``fan_in`` recurrent synapses (80 % from excitatory, 20 % from
inhibitory neurons, sources drawn at random) and ``fan_in_ext`` synapses from a population
of ``n_ext`` Poisson sources at ``rate_ext`` Hz. Weights are whole multiples of one LSB
so that they are exact in the ``int4_delay`` format: excitatory ``w_lsb`` LSB, inhibitory
``g * w_lsb`` LSB (<= 15), external ``w_ext_lsb`` LSB; delays of 1..``max_delay`` ticks.

The network is mapped (:func:`~neurotwin.spinnaker2.map_network`), compiled and run on
the ``spinnaker2`` backend once per clock in ``clocks_mhz`` (the same spikes each time:
the clock changes the deadline budget, how far late ticks stretch the run, and the energy
per cycle through the level's supply voltage).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from neurotwin.dynamics import LIF
from neurotwin.errors import ConfigError, check_int, check_positive
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import Network, Population, SpikeSourcePoisson, fixed_fan_in
from neurotwin.spinnaker2 import Machine, Placement, map_network
from neurotwin.spinnaker2.cost import S2Cost
from neurotwin.spinnaker2.draw import draw_placement
from neurotwin.spinnaker2.machine import check_clock
from neurotwin.spinnaker2.program import compile_program
from neurotwin.spinnaker2.report import utilisation
from neurotwin.spinnaker2.runtime import run_program
from neurotwin.spinnaker2.specs import CHIP_PES

__all__ = ["S2BalancedConfig", "build_network", "run", "tick_rate"]

RATE_BIN_MS = 5.0
"""Bin width of the population-rate plot, ms."""
TICK_MS = 1.0
"""The tick the network runs with, ms."""


def tick_rate(
    times: np.ndarray, n_neurons: int, duration: float, bin_ms: float, tick_ms: float = TICK_MS
) -> tuple[np.ndarray, np.ndarray]:
    """Population rate in bins of ``bin_ms`` from spikes stamped at the end of their tick.

    A spike of tick j (model time [j, j + 1) * tick_ms) is stamped (j + 1) * tick_ms, so
    binning the stamps would put tick j into the bin of its end: the first bin would hold
    one tick too few and the last (closed) bin one too many. Each spike is binned at the
    start of its tick instead, so a bin of 5 ms holds exactly 5 ticks.

    Returns
    -------
    (centres, rate): bin centres, ms, and the rate, Hz (as
    :func:`~neurotwin.experiments.plots.binned_rate`).
    """
    return plots.binned_rate(np.asarray(times) - tick_ms, n_neurons, duration, bin_ms)


@dataclass(frozen=True)
class S2BalancedConfig:
    """Parameters of the balanced network and its SpiNNaker2 run.

    Parameters
    ----------
    n_exc, n_inh
        Excitatory / inhibitory neurons.
    fan_in
        Recurrent synapses per neuron (80 % excitatory, 20 % inhibitory sources).
    n_ext, fan_in_ext, rate_ext
        Poisson sources, synapses per neuron from them, their rate (Hz).
    scale_na
        Weight of one LSB, nA.
    w_lsb, g, w_ext_lsb
        Excitatory weight (LSB), relative inhibition (inhibitory = g * w_lsb LSB) and
        external weight (LSB); all within the int4 limit of 15.
    max_delay
        Recurrent delays are drawn uniformly from 1..max_delay ticks (<= 8).
    duration
        Model time, ms (tick 1 ms).
    n_boards
        48-chip boards of the machine.
    clocks_mhz
        PE clocks to run at (each a DVFS level: 150, 300).
    raster_neurons
        Neurons per population shown in the raster.
    """

    n_exc: int = 80_000
    n_inh: int = 20_000
    fan_in: int = 100
    n_ext: int = 10_000
    fan_in_ext: int = 50
    rate_ext: float = 10.0
    scale_na: float = 0.05
    w_lsb: int = 2
    g: int = 5
    w_ext_lsb: int = 3
    max_delay: int = 4
    duration: float = 1000.0
    n_boards: int = 1
    clocks_mhz: tuple[float, ...] = (300.0, 150.0)
    raster_neurons: int = 400
    tau_mem: float = 20.0
    tau_syn: float = 5.0
    tau_refrac: float = 2.0

    def __post_init__(self) -> None:
        for name in ("n_exc", "n_inh", "n_ext", "fan_in", "fan_in_ext", "w_lsb", "g",
                     "w_ext_lsb", "max_delay", "raster_neurons"):
            value = getattr(self, name)
            check_int(name, value, low=1)
        if max(self.w_lsb * self.g, self.w_ext_lsb, self.w_lsb) > 15:
            raise ConfigError(f"weights must fit int4 (<= 15 LSB): g * w_lsb = "
                              f"{self.g * self.w_lsb}, w_ext_lsb = {self.w_ext_lsb}")
        if self.max_delay > 8:
            raise ConfigError(f"max_delay must be <= 8 ticks (int4_delay), got {self.max_delay}")
        if self.n_exc_in > self.n_exc or self.n_inh_in > self.n_inh:
            raise ConfigError("fan_in needs more sources than the populations hold")
        if self.fan_in_ext > self.n_ext:
            raise ConfigError(f"fan_in_ext must be <= n_ext = {self.n_ext}")
        for name in ("rate_ext", "scale_na", "duration", "tau_mem", "tau_syn"):
            check_positive(name, getattr(self, name))
        object.__setattr__(self, "clocks_mhz", tuple(check_clock(c) for c in self.clocks_mhz))
        if not self.clocks_mhz:
            raise ConfigError("clocks_mhz must name at least one clock")

    @property
    def n_exc_in(self) -> int:
        """Excitatory synapses per neuron (80 % of fan_in)."""
        return round(0.8 * self.fan_in)

    @property
    def n_inh_in(self) -> int:
        """Inhibitory synapses per neuron."""
        return self.fan_in - self.n_exc_in

    def model(self) -> LIF:
        """Neuron parameters (threshold 20 mV above rest, reset to rest)."""
        return LIF(tau_mem=self.tau_mem, tau_syn_exc=self.tau_syn, tau_syn_inh=self.tau_syn,
                   cm=0.25, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
                   tau_refrac=self.tau_refrac)


def build_network(config: S2BalancedConfig, seed: int = 0) -> Network:
    """Populations "exc", "inh", Poisson source "ext", five projections, spikes recorded."""
    rng = np.random.default_rng(seed)
    net = Network(dt=1.0)
    model = config.model()
    sizes = {"exc": config.n_exc, "inh": config.n_inh}
    for label, n in sizes.items():
        v0 = -65.0 + 15.0 * rng.random(n)
        net.add(Population(n, model, label=label, initial={"v": v0}))
    net.add(SpikeSourcePoisson(config.n_ext, rate=config.rate_ext, label="ext"))
    w = config.scale_na
    inputs: dict[str, tuple[int, float, Literal["exc", "inh"]]] = {
        "exc": (config.n_exc_in, w * config.w_lsb, "exc"),
        "inh": (config.n_inh_in, w * config.w_lsb * config.g, "inh"),
    }
    for pre, (k, weight, receptor) in inputs.items():
        for post, n_post in sizes.items():
            m = fixed_fan_in(sizes[pre], n_post, k, weight, rng)
            delays = rng.integers(1, config.max_delay + 1, m.nnz).astype(float)
            net.connect(pre, post, m, receptor=receptor, delays=delays)
    for post, n_post in sizes.items():
        m = fixed_fan_in(config.n_ext, n_post, config.fan_in_ext, w * config.w_ext_lsb, rng)
        net.connect("ext", post, m, receptor="exc", delays=1.0)
    for label in sizes:
        net.record(label, "spikes")
    return net


def _load_plot(placement: Placement, costs: dict[float, S2Cost], path: Path) -> Figure:
    """Per PE: neurons, data memory, cycles per tick (mean and max) against the budgets."""
    x = placement.slice_chip * CHIP_PES + placement.slice_pe
    order = np.argsort(x)
    idx = np.arange(order.size)
    fig = Figure(figsize=(10.0, 7.5), layout="constrained")
    ax_n, ax_m, ax_c = fig.subplots(3, 1, sharex=True)
    ax_n.plot(idx, (placement.slice_hi - placement.slice_lo)[order], ".", markersize=2)
    ax_n.set_ylabel("neurons / sources")
    ax_m.plot(idx, placement.slice_bytes[order] / 1024, ".", markersize=2)
    ax_m.axhline(96, color="0.4", linestyle=":", label="96 KiB data SRAM")
    ax_m.set_ylabel("data memory (KiB)")
    ax_m.legend(loc="lower right", fontsize="small")
    cost = next(iter(costs.values()))
    ax_c.plot(idx, cost.pe_max_cycles[order], ".", markersize=2, label="max over ticks")
    ax_c.plot(idx, cost.pe_mean_cycles[order], ".", markersize=2, label="mean")
    for (clock, c), colour in zip(costs.items(), ("tab:red", "tab:purple", "tab:brown"),
                                  strict=False):
        ax_c.axhline(c.budget_cycles, linestyle="--", linewidth=0.8, color=colour,
                     label=f"budget at {clock:g} MHz")
    ax_c.set_ylabel("cycles per tick")
    ax_c.set_xlabel("PE (in chip order)")
    ax_c.legend(loc="upper right", fontsize="small")
    fig.suptitle(f"Per-PE load: {placement.n_slices} PEs on "
                 f"{len(np.unique(placement.slice_chip))} chips")
    plots.save(fig, path)
    return fig


def _tables(placement: Placement) -> dict[str, Any]:
    chip = utilisation(placement)["chip"]
    used = chip["pes_used"] > 0
    before, after = chip["entries_before"][used], chip["entries_after"][used]
    return {"entries_before_max": int(before.max()), "entries_before_mean": float(before.mean()),
            "entries_after_max": int(after.max()), "entries_after_mean": float(after.mean()),
            "entries_total_before": int(chip["entries_before"].sum()),
            "entries_total_after": int(chip["entries_after"].sum()),
            "capacity": placement.machine.router_entries}


@register_experiment("s2-balanced", S2BalancedConfig, runs_on="spinnaker2")
def run(
    config: S2BalancedConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Balanced 100k-neuron LIF network on a 48-chip SpiNNaker2 board: load, deadlines, rates.

    Always runs on the SpiNNaker2 twin (``backend`` is not used). Writes
    ``placement.png``, ``load.png``, ``raster.png`` and ``rate.png``; returns wall times
    (network, mapping, compilation, run per clock), PEs/chips used, router-table sizes,
    deadline misses, rates, and per clock the hardware time and the energy estimate.
    """
    start = time.perf_counter()
    net = build_network(config, seed)
    network_s = time.perf_counter() - start
    machine = Machine(n_boards=config.n_boards)
    placement = map_network(net, machine, tick_ms=TICK_MS)
    draw_placement(placement, out_dir / "placement.png",
                   title=f"s2-balanced: {config.n_exc + config.n_inh} LIF neurons")
    start = time.perf_counter()
    prog = compile_program(net, placement, tick_ms=TICK_MS, clock_mhz=config.clocks_mhz[0],
                           weight_format="int4_delay", weight_scale=config.scale_na,
                           rounding="exact")
    compile_s = time.perf_counter() - start
    costs: dict[float, S2Cost] = {}
    result = None
    run_s: dict[str, float] = {}
    for clock in config.clocks_mhz:
        res = run_program(dataclasses.replace(prog, clock_mhz=clock), config.duration,
                          seed=seed, progress=progress)
        assert isinstance(res.cost, S2Cost)
        costs[clock] = res.cost
        run_s[f"{clock:g}"] = res.cost.wall_time_s
        result = result or res
    assert result is not None
    _load_plot(placement, costs, out_dir / "load.png")

    labels = ("exc", "inh")
    sizes = {label: net.nodes[label].size for label in labels}
    spikes = {label: result.spikes(label) for label in labels}
    shown = {}
    for label in labels:
        times, ids = spikes[label]
        keep = ids < config.raster_neurons
        shown[label] = (times[keep], ids[keep])
    plots.raster(shown, {label: min(config.raster_neurons, sizes[label]) for label in labels},
                 config.duration, out_dir / "raster.png",
                 title=f"first {config.raster_neurons} neurons of each population")
    binned = {label: tick_rate(spikes[label][0], sizes[label], config.duration, RATE_BIN_MS)
              for label in labels}
    plots.rate(binned["exc"][0], {label: r for label, (_, r) in binned.items()},
               out_dir / "rate.png", title=f"Population rate ({RATE_BIN_MS:g} ms bins)")

    first = costs[config.clocks_mhz[0]]
    deadline = {
        f"{clock:g}": {"budget_cycles": c.budget_cycles, "misses": c.deadline_miss_count,
                       "pes_missing": int((c.pe_max_cycles > c.budget_cycles).sum()),
                       "max_pe_cycles": c.max_pe_cycles, "max_over_us": c.max_over_us,
                       "late_us": c.late_us}
        for clock, c in costs.items()
    }
    counts = {label: int(spikes[label][0].size) for label in labels}
    return {
        "n_neurons": config.n_exc + config.n_inh,
        "n_synapses": int(sum(p.synapses().pre.size for p in net.projections)),
        "wall_time_s": {"network": network_s, "map": placement.map_time_s,
                        "compile": compile_s, "run": run_s},
        "pes": placement.n_slices,
        "chips": len(np.unique(placement.slice_chip)),
        "boards": config.n_boards,
        "pe_data_bytes_max": int(placement.slice_bytes.max()),
        "router_tables": _tables(placement),
        "deadline": deadline,
        "rate_hz": {label: result.mean_rate(label) for label in labels},
        "spike_count": counts,
        "packets_sent": first.packets_sent,
        "packets_delivered": first.packets_delivered,
        "energy_j": {f"{clock:g}": c.energy_j for clock, c in costs.items()},
        "energy_breakdown_j": {f"{clock:g}": dict(c.energy_breakdown)
                               for clock, c in costs.items()},
        "hardware_time_us": {f"{clock:g}": c.hardware_time_us for clock, c in costs.items()},
        "files": ["placement.png", "load.png", "raster.png", "rate.png"],
    }
