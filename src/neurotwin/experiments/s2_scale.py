"""How the SpiNNaker2 mapper scales: one recurrent LIF population with a fixed random fan-in,
from 10 thousand to 10 million neurons, mapped (not run) onto the fewest 48-chip boards
that hold it.

For every size the network is built (:func:`neurotwin.network.fixed_fan_in`), then
:func:`~neurotwin.spinnaker2.map_network` partitions, places, allocates keys, routes and
compresses; its wall time, the PEs, chips and boards used and the router-table sizes
(max and mean over used chips, before and after compression) are recorded. A size that
does not fit (``CapacityError``: router entries, PEs, keys) is recorded with the error's
message and the series goes on; a size whose network would exceed ``max_synapses`` is
recorded as skipped (the description alone would not fit this machine's memory).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from neurotwin.dynamics import LIF
from neurotwin.errors import CapacityError, ConfigError, MappingError
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import Network, Population, fixed_fan_in
from neurotwin.spinnaker2 import Machine, map_network
from neurotwin.spinnaker2.specs import ROUTER_ENTRIES

__all__ = ["S2ScaleConfig", "build_network", "run"]



@dataclass(frozen=True)
class S2ScaleConfig:
    """Parameters of the scaling series.

    Parameters
    ----------
    sizes
        Network sizes (neurons), in the order they are mapped.
    fan_in
        Synapses per neuron, from distinct random sources of the same population.
    weight
        Synaptic weight, nA (mapping does not depend on it).
    max_synapses
        Sizes with more synapses are skipped. Building the network peaks at about 8 bytes
        per synapse (4 stay: int32 indices, one stored weight) and mapping adds little
        (1M neurons x 100: 1.6 GB peak in all). The default stops at 1M x 100: at 3M x 100
        random sources the master table (one entry per incoming source slice) no longer
        fits 250 neurons per PE, and the partitioner's re-slicing rounds, each counting
        every synapse's row and (source slice, target slice) pair, ran over 5 minutes here.
    time_limit_s
        After a size whose build + mapping took longer than this, larger sizes are skipped.
    dt
        Time step of the network, ms (delays are one step).
    """

    sizes: tuple[int, ...] = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000,
                              10_000_000)
    fan_in: int = 100
    weight: float = 0.1
    max_synapses: int = 100_000_000
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
        if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                            for n in sizes):
            raise ConfigError(f"sizes must be positive integers, got {self.sizes!r}")
        object.__setattr__(self, "sizes", sizes)
        if self.fan_in < 1 or self.fan_in > min(sizes):
            raise ConfigError(f"fan_in must lie in [1, smallest size {min(sizes)}], "
                              f"got {self.fan_in}")


def build_network(n: int, fan_in: int, weight: float, dt: float, seed: int) -> Network:
    """One recurrent LIF population ``"pop"`` of ``n`` neurons with fixed fan-in."""
    rng = np.random.default_rng(seed)
    net = Network(dt=dt)
    pop = net.add(Population(n, LIF(), label="pop"))
    net.connect(pop, pop, fixed_fan_in(n, n, fan_in, weight, rng), receptor="exc", delays=dt)
    return net


def _entry(net_s: float, placement: Any) -> dict[str, Any]:
    util = placement.utilisation()["chip"]
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


def _plot(rows: list[dict[str, Any]], path: Path, fan_in: int) -> Figure:
    ok = [r for r in rows if r["status"] == "ok"]
    n = np.array([r["n_neurons"] for r in ok], float)
    fig = Figure(figsize=(12.0, 3.8), layout="constrained")
    ax_t, ax_c, ax_r = fig.subplots(1, 3)
    ax_t.loglog(n, [r["map_s"] for r in ok], "o-", label="map_network")
    ax_t.loglog(n, [r["build_network_s"] for r in ok], "s--", label="build network")
    ax_t.set_ylabel("wall time (s)")
    ax_t.legend()
    ax_c.loglog(n, [r["chips"] for r in ok], "o-", label="chips")
    ax_c.loglog(n, [r["pes"] for r in ok], "s-", label="PEs")
    ax_c.set_ylabel("used")
    ax_c.legend()
    for key, style, label in (("entries_before_max", "o-", "max, before"),
                              ("entries_after_max", "o--", "max, after"),
                              ("entries_before_mean", "s-", "mean, before"),
                              ("entries_after_mean", "s--", "mean, after")):
        ax_r.loglog(n, [max(r[key], 0.5) for r in ok], style, label=label)
    if ok:
        ax_r.axhline(ok[0]["router_entries_available"], color="0.4", linestyle=":",
                     label="capacity")
    ax_r.set_ylabel("router entries per chip")
    ax_r.legend(fontsize="small")
    failed = [r for r in rows if r["status"] == "capacity_error"]
    for ax in (ax_t, ax_c, ax_r):
        ax.set_xlabel("neurons")
        for r in failed:
            ax.axvline(r["n_neurons"], color="tab:red", alpha=0.4)
    fig.suptitle(f"SpiNNaker2 mapping, fixed fan-in {fan_in} (red: does not fit)")
    plots.save(fig, path)
    return fig


@register_experiment("s2-scale", S2ScaleConfig)
def run(
    config: S2ScaleConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """SpiNNaker2 mapping from 10k to 10M neurons: mapping time, chips, router tables.

    Mapping only (``backend`` is not used). Writes ``scale.png`` and returns one entry per
    size: ``status`` "ok" (with times, PEs, chips, boards, table sizes),
    "capacity_error" (with the error's resource and message) or "skipped" (reason).
    """
    rows: list[dict[str, Any]] = []
    over_time = None
    for k, n in enumerate(config.sizes):
        base = {"n_neurons": n, "n_synapses": n * config.fan_in}
        if n * config.fan_in > config.max_synapses:
            rows.append({**base, "status": "skipped",
                         "reason": f"{n * config.fan_in} synapses > max_synapses "
                                   f"{config.max_synapses} (memory of this machine)"})
            continue
        if over_time is not None:
            rows.append({**base, "status": "skipped",
                         "reason": f"the previous size took {over_time:.0f} s > time_limit_s "
                                   f"{config.time_limit_s:g} s"})
            continue
        start = time.perf_counter()
        net = build_network(n, config.fan_in, config.weight, config.dt, seed)
        net_s = time.perf_counter() - start
        machine = None
        if config.n_boards is not None or config.router_entries is not None:
            entries = config.router_entries or ROUTER_ENTRIES
            machine = Machine(n_boards=config.n_boards or 1, router_entries=entries)
        try:
            placement = map_network(net, machine, neurons_per_pe=config.neurons_per_pe)
            rows.append({**base, **_entry(net_s, placement)})
            del placement
        except (CapacityError, MappingError) as err:
            rows.append({**base, "status": "capacity_error", "build_network_s": net_s,
                         "map_s": time.perf_counter() - start - net_s,
                         "resource": getattr(err, "resource", None), "reason": str(err)})
        except MemoryError:
            rows.append({**base, "status": "skipped", "build_network_s": net_s,
                         "reason": "MemoryError while mapping"})
        del net
        elapsed = time.perf_counter() - start
        if elapsed > config.time_limit_s:
            over_time = elapsed
        if progress is not None:
            progress(k + 1, len(config.sizes))
    _plot(rows, out_dir / "scale.png", config.fan_in)
    return {"fan_in": config.fan_in, "sizes": rows, "files": ["scale.png"]}
