"""How the SpiNNaker2 mapper scales: one recurrent LIF population with a fixed fan-in, from
10 thousand to 10 million neurons, mapped (not run) onto the fewest 48-chip boards that
hold it, in two series: sources drawn from the whole population ("random") and from a
window of neighbours on a ring ("local", the spatially structured connectivity of
large-scale models).

For every size the network is built (:func:`neurotwin.network.fixed_fan_in`), then
:func:`~neurotwin.spinnaker2.map_network` partitions, places, allocates keys, routes and
compresses; its wall time, the PEs, chips and boards used and the router-table sizes
(max and mean over used chips, before and after compression) are recorded. A size that
does not fit (``CapacityError``: router entries, PEs, keys) is recorded with the error's
message; the larger sizes of that series are then skipped (with a fixed fan-in the
demand on every resource grows with the size), unless ``stop_at_capacity_error`` is off.
A size whose network would exceed ``max_synapses`` is recorded as skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurotwin.dynamics import LIF
from neurotwin.errors import CapacityError, ConfigError, MappingError, check_int
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import Network, Population, fixed_fan_in
from neurotwin.spinnaker2 import Machine, map_network
from neurotwin.spinnaker2.report import utilisation
from neurotwin.spinnaker2.specs import ROUTER_ENTRIES

__all__ = ["CONNECTIVITY", "S2ScaleConfig", "build_network", "run"]

CONNECTIVITY = ("random", "local")
"""Series of the experiment (see :class:`S2ScaleConfig`)."""


@dataclass(frozen=True)
class S2ScaleConfig:
    """Parameters of the scaling series.

    Parameters
    ----------
    sizes
        Network sizes (neurons), in the order they are mapped.
    fan_in
        Synapses per neuron, from distinct sources of the same population.
    connectivity
        The series: "random" (sources drawn from the whole population) and/or "local"
        (from the ``local_window`` neurons around the target on a ring:
        ``fixed_fan_in(..., window=local_window)``).
    local_window
        Candidate sources per target of the "local" series (sizes below it are random).
    weight
        Synaptic weight, nA (mapping does not depend on it).
    max_synapses
        Sizes with more synapses are skipped. Building the network peaks at about 8 bytes
        per synapse (4 stay: int32 indices, one stored weight): 10M x 100 local peaks at
        8.5 GB, mapping adds little. Random connectivity beyond ~1M neurons needs slices
        narrower than 250 neurons (the master table, one entry per incoming source slice)
        and then has about one (source slice, target slice) pair per synapse (12 bytes
        each while mapping: 3M x 100 peaks at 9.1 GB).
    stop_at_capacity_error
        After a size of a series that does not fit, skip that series' larger sizes.
    time_limit_s
        After a size whose build + mapping took longer than this, the larger sizes of its
        series are skipped.
    dt
        Time step of the network, ms (delays are one step).
    """

    sizes: tuple[int, ...] = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000,
                              10_000_000)
    fan_in: int = 100
    connectivity: tuple[str, ...] = ("random", "local")
    local_window: int = 10_000
    weight: float = 0.1
    max_synapses: int = 1_000_000_000
    stop_at_capacity_error: bool = True
    time_limit_s: float = 240.0
    dt: float = 1.0
    neurons_per_pe: int = field(default=250)
    router_entries: int | None = None
    """Router-table capacity per chip for what-if studies (None: the hardware's 16,384;
    then the machine has ``n_boards`` boards, default 1)."""
    n_boards: int | None = None
    """Boards of the machine (None: the fewest that hold the network)."""

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes)
        if not sizes:
            raise ConfigError("sizes must name at least one network size")
        for n in sizes:
            check_int("sizes", n, low=1)
        object.__setattr__(self, "sizes", sizes)
        if self.fan_in < 1 or self.fan_in > min(sizes):
            raise ConfigError(f"fan_in must lie in [1, smallest size {min(sizes)}], "
                              f"got {self.fan_in}")
        series = tuple(self.connectivity)
        if not series or any(c not in CONNECTIVITY for c in series):
            raise ConfigError(f"connectivity must be a non-empty list of {CONNECTIVITY}, "
                              f"got {self.connectivity!r}")
        object.__setattr__(self, "connectivity", series)
        if "local" in series and not self.fan_in <= self.local_window:
            raise ConfigError(f"local_window must be at least fan_in {self.fan_in}, "
                              f"got {self.local_window}")


def build_network(
    n: int, fan_in: int, weight: float, dt: float, seed: int, window: int | None = None
) -> Network:
    """One recurrent LIF population ``"pop"`` of ``n`` neurons with fixed fan-in, sources
    from the whole population (``window`` None) or from a ring window around each target."""
    rng = np.random.default_rng(seed)
    net = Network(dt=dt)
    pop = net.add(Population(n, LIF(), label="pop"))
    window = None if window is None or window >= n else window
    conn = fixed_fan_in(n, n, fan_in, weight, rng, window=window)
    net.connect(pop, pop, conn, receptor="exc", delays=dt)
    return net


def _entry(net_s: float, placement: Any) -> dict[str, Any]:
    util = utilisation(placement)["chip"]
    used = util["pes_used"] > 0
    before, after = util["entries_before"][used], util["entries_after"][used]
    return {
        "status": "ok",
        "build_network_s": net_s,
        "map_s": placement.map_time_s,
        "boards": placement.machine.n_boards,
        "pes": placement.n_slices,
        "chips": int(used.sum()),
        "neurons_per_pe_max": int((placement.slice_hi - placement.slice_lo).max()),
        "neurons_per_pe_mean": float((placement.slice_hi - placement.slice_lo).mean()),
        "entries_before_max": int(before.max()),
        "entries_before_mean": float(before.mean()),
        "entries_after_max": int(after.max()),
        "entries_after_mean": float(after.mean()),
        "router_entries_available": placement.machine.router_entries,
    }


def _plot(rows: list[dict[str, Any]], path: Path, config: S2ScaleConfig) -> Figure:
    fig = Figure(figsize=(13.0, 4.0), layout="constrained")
    ax_t, ax_c, ax_r = fig.subplots(1, 3)
    colours = {"random": "tab:blue", "local": "tab:green"}
    for series in config.connectivity:
        ok = [r for r in rows if r["connectivity"] == series and r["status"] == "ok"]
        n = np.array([r["n_neurons"] for r in ok], float)
        c = colours[series]
        ax_t.loglog(n, [r["map_s"] for r in ok], "o-", color=c, label=f"{series}: map")
        ax_t.loglog(n, [r["build_network_s"] for r in ok], "s:", color=c,
                    label=f"{series}: build network")
        ax_c.loglog(n, [r["chips"] for r in ok], "o-", color=c, label=f"{series}: chips")
        ax_c.loglog(n, [r["pes"] for r in ok], "s:", color=c, label=f"{series}: PEs")
        ax_r.loglog(n, [max(r["entries_before_max"], 0.5) for r in ok], "o:", color=c,
                    label=f"{series}: max, before")
        ax_r.loglog(n, [max(r["entries_after_max"], 0.5) for r in ok], "o-", color=c,
                    label=f"{series}: max, after")
        for r in rows:
            if r["connectivity"] == series and r["status"] == "capacity_error":
                for ax in (ax_t, ax_c, ax_r):
                    ax.axvline(r["n_neurons"], color=c, alpha=0.4, linestyle="--")
    available = [r["router_entries_available"] for r in rows if r["status"] == "ok"]
    if available:
        ax_r.axhline(available[0], color="0.4", linestyle=":", label="capacity")
    ax_t.set_ylabel("wall time (s)")
    ax_c.set_ylabel("used")
    ax_r.set_ylabel("router entries per chip")
    for ax in (ax_t, ax_c, ax_r):
        ax.set_xlabel("neurons")
        ax.legend(fontsize="small")
    fig.suptitle(f"SpiNNaker2 mapping, fixed fan-in {config.fan_in}, local window "
                 f"{config.local_window} (dashed: first size that does not fit)")
    plots.save(fig, path)
    return fig


@register_experiment("s2-scale", S2ScaleConfig, runs_on="spinnaker2 (mapping only)")
def run(
    config: S2ScaleConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """SpiNNaker2 mapping from 10k to 10M neurons: mapping time, chips, router tables.

    Mapping only (``backend`` is not used). Writes ``scale.png`` and returns under
    ``sizes`` one entry per series and size (``sizes[series][str(n)]``, so that the summary
    prints one line per field), with ``status``: "ok" (with times, PEs, chips, boards,
    table sizes), "capacity_error" (with the error's resource and message) or "skipped"
    (reason).
    """
    rows: list[dict[str, Any]] = []
    steps = len(config.sizes) * len(config.connectivity)
    for j, series in enumerate(config.connectivity):
        window = config.local_window if series == "local" else None
        stop: str | None = None
        for k, n in enumerate(config.sizes):
            base = {"connectivity": series, "n_neurons": n, "n_synapses": n * config.fan_in}
            if n * config.fan_in > config.max_synapses:
                rows.append({**base, "status": "skipped",
                             "reason": f"{n * config.fan_in} synapses > max_synapses "
                                       f"{config.max_synapses} (memory of this machine)"})
                continue
            if stop is not None:
                rows.append({**base, "status": "skipped", "reason": stop})
                continue
            row = _map_size(config, n, window, seed)
            rows.append({**base, **row})
            if row["status"] == "capacity_error" and config.stop_at_capacity_error:
                stop = (f"{n} neurons did not fit ({row['resource']}); a larger network of "
                        "this series needs more")
            elapsed = row["build_network_s"] + row["map_s"]
            if elapsed > config.time_limit_s:
                stop = (f"the previous size took {elapsed:.0f} s > time_limit_s "
                        f"{config.time_limit_s:g} s")
            if progress is not None:
                progress(j * len(config.sizes) + k + 1, steps)
    _plot(rows, out_dir / "scale.png", config)
    by_series: dict[str, dict[str, Any]] = {series: {} for series in config.connectivity}
    for row in rows:
        entry = {k: v for k, v in row.items() if k not in ("connectivity", "n_neurons")}
        by_series[row["connectivity"]][str(row["n_neurons"])] = entry
    return {"fan_in": config.fan_in, "local_window": config.local_window, "sizes": by_series,
            "files": ["scale.png"]}


def _map_size(config: S2ScaleConfig, n: int, window: int | None, seed: int) -> dict[str, Any]:
    """Build and map one size; the entry of :func:`run` (without the size fields)."""
    start = time.perf_counter()
    net = build_network(n, config.fan_in, config.weight, config.dt, seed, window)
    net_s = time.perf_counter() - start
    machine = None
    if config.n_boards is not None or config.router_entries is not None:
        entries = config.router_entries or ROUTER_ENTRIES
        machine = Machine(n_boards=config.n_boards or 1, router_entries=entries)
    start = time.perf_counter()
    try:
        return _entry(net_s, map_network(net, machine, neurons_per_pe=config.neurons_per_pe))
    except (CapacityError, MappingError) as err:
        return {"status": "capacity_error", "build_network_s": net_s,
                "map_s": time.perf_counter() - start,
                "resource": getattr(err, "resource", None), "reason": str(err)}
    except MemoryError:
        return {"status": "skipped", "build_network_s": net_s,
                "map_s": time.perf_counter() - start, "reason": "MemoryError while mapping"}
