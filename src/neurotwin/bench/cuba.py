"""``neurotwin bench cuba``: the Vogels–Abbott CUBA network against Brian2 and NEST.

Every tool runs exactly the same network (:func:`neurotwin.experiments.cuba.build_network`:
same parameters, synapses and initial potentials, handed to the peers as flat arrays and
checked by fingerprint), each in its own process. Four parts, all in one invocation:

1. **Comparison** at ``n_neurons`` (default 4000, p = 0.02): per tool the build time
   (construction and compilation), simulate time, spike count, mean rate and peak RSS;
   neurotwin's simulate time divided by each peer's, and the relative difference of the
   mean rates (target: within :data:`RATE_TOLERANCE`).
2. **Cold start** of neurotwin: a first run in a fresh process with an empty numba cache
   (``NUMBA_CACHE_DIR`` set to a new directory), a second run in that process, and a run
   in a new process that finds the cache filled.
3. **Scaling**: N = 4k, 16k, 64k, 256k with a fixed fan-in of 80 synapses per neuron; simulate
   time per neuron and per synapse, and the log-log slope of time against synapses.
4. The result is written to ``bench/results/cuba.json`` (schema: :data:`SCHEMA`) and shown
   as tables.

Times are wall-clock seconds, except Brian2 standalone's simulate time, which its binary
takes from ``std::clock`` (CPU time of its one thread); ``simulate_cpu_s`` is the CPU time
of the run for neurotwin and Brian2 standalone, the like-for-like comparison on a loaded
machine. Simulate times exclude compilation for every tool (neurotwin
warms its kernel up on 10 steps first; Brian2 standalone's is the binary's own timing of
its run loop; Brian2 runtime compiles in a 0 ms run; NEST's excludes ``nest.Prepare``).
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.bench.child import TOOLS
from neurotwin.bench.flat import FlatNetwork, flatten
from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import (
    check_schema,
    machine_info,
    peers_that_ran,
    ratio,
    time_ratios,
    write_result,
)
from neurotwin.bench.runner import check_tools, run_tool
from neurotwin.errors import ConfigError, check_int
from neurotwin.experiments.cuba import CubaConfig, build_network
from neurotwin.network import Network

__all__ = [
    "DEFAULT_SCALING_TOOLS",
    "DEFAULT_SIZES",
    "DEFAULT_TOOLS",
    "RATE_TOLERANCE",
    "SCHEMA",
    "network_from_dict",
    "run_cuba",
    "validate",
]

DEFAULT_TOOLS = ("neurotwin", "brian2_cpp_standalone", "brian2_cython", "nest_1t", "nest_2t")
"""Tools of the comparison, neurotwin first."""
DEFAULT_SCALING_TOOLS = ("neurotwin", "brian2_cpp_standalone", "nest_2t")
"""Tools of the scaling series."""
DEFAULT_SIZES = (4000, 16000, 64000, 256000)
"""Network sizes N of the scaling series."""
RATE_TOLERANCE = 0.10
"""Largest accepted relative difference of neurotwin's mean rate to a peer's."""
SCHEMA_VERSION = 1

SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "seed",
         "fingerprint", "n_neurons", "n_synapses", "tools", "comparison", "cold_start",
         "scaling"),
    "machine": ("platform", "cpu", "cpu_count", "python", "versions", "load_avg_1min"),
    "tools.*": ("tool", "label", "status", "reason", "version", "build_time_s",
                "simulate_time_s", "simulate_times_s", "total_spikes", "spikes",
                "mean_rate_hz", "rates_hz", "peak_rss_mb", "load_avg_1min"),
    "comparison.*": ("simulate_time_ratio", "build_time_ratio", "rate_rel_diff",
                     "rate_within_tolerance", "spike_count_equal"),
    "scaling": ("enabled", "fan_in", "duration_ms", "sizes", "exponent"),
    "scaling.sizes.*": ("n_neurons", "n_synapses", "fingerprint", "tools"),
    "scaling.sizes.*.tools.*": ("status", "reason", "simulate_time_s", "simulate_times_s",
                                "build_time_s", "time_per_neuron_us", "time_per_synapse_ns",
                                "mean_rate_hz", "peak_rss_mb", "load_avg_1min"),
    "cold_start": ("enabled", "empty_cache_first_run", "same_process_second_run",
                   "new_process_filled_cache", "compile_overhead_s"),
}
"""Required keys of the result, by path ("*": every entry of a mapping or list)."""

_FACTORY = "neurotwin.bench.cuba:network_from_dict"

Progress = Callable[[str], None]


def _words(value: Any) -> tuple[Any, ...]:
    """A sequence option, also given as comma-separated text (``"4000,16000"``)."""
    if isinstance(value, str):
        return tuple(w.strip() for w in value.split(",") if w.strip())
    if isinstance(value, int | float):
        return (value,)
    return tuple(value)


def network_from_dict(config: dict[str, Any], seed: int) -> Network:
    """The CUBA network of ``CubaConfig(**config)``; the factory neurotwin's runner calls."""
    return build_network(CubaConfig(**config), seed)


def _rates(spikes: dict[str, int], layout: Sequence[Sequence[Any]], duration: float) -> dict:
    seconds = duration * 1e-3
    total = sum(spikes.values())
    n = sum(int(size) for _, _, size in layout)
    return {
        "total_spikes": total,
        "mean_rate_hz": total / (n * seconds),
        "rates_hz": {label: spikes[label] / (int(size) * seconds) for label, _, size in layout},
    }


def _complete(outcome: dict[str, Any], flat: FlatNetwork, duration: float) -> dict[str, Any]:
    """Add spike totals and rates; fill absent fields with None."""
    entry: dict[str, Any] = dict.fromkeys(SCHEMA["tools.*"])
    entry.update(outcome)
    if outcome.get("status") == "ok":
        entry.update(_rates(outcome["spikes"], flat.spec()["populations"], duration))
    return entry


class _Session:
    """Everything one invocation shares: the work directory, limits and progress."""

    def __init__(self, workdir: Path, timeout_s: float, progress: Progress) -> None:
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.progress = progress
        self._saved: dict[str, Path] = {}

    def save(self, flat: FlatNetwork) -> Path:
        """Write ``flat`` once; return its .npz path."""
        key = flat.fingerprint()
        if key not in self._saved:
            path = self.workdir / f"net-{key[:16]}.npz"
            flat.save(path)
            self._saved[key] = path
        return self._saved[key]

    def measure(
        self,
        tool: str,
        flat: FlatNetwork,
        config: CubaConfig,
        seed: int,
        neurotwin_options: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        repeats: int = 1,
    ) -> dict[str, Any]:
        """Run ``tool`` on ``flat`` (built from ``config``, ``seed``), each of ``repeats``
        times in a new process; keep the run with the shortest simulate time (the one least
        disturbed by other load), the build time of the first (a fresh build), and the
        largest peak RSS."""
        options: dict[str, Any] = {}
        if tool == "neurotwin":
            options = {
                "network": {"factory": _FACTORY, "config": asdict(config), "seed": seed},
                "fingerprint": flat.fingerprint(),
                **(neurotwin_options or {}),
            }
        elif TOOLS[tool].function == "run_cpp_standalone":
            options = {"directory": str(self.workdir / f"{tool}-project")}
        runs = []
        for k in range(repeats):
            self.progress(f"{tool}, N={flat.n_neurons}"
                          + (f", run {k + 1}/{repeats}" if repeats > 1 else ""))
            outcome = run_tool(tool, flat.spec(), self.save(flat), config.duration,
                               self.workdir, options=options, env=env,
                               timeout_s=self.timeout_s)
            if outcome["status"] != "ok":
                return _complete(outcome, flat, config.duration)
            runs.append(outcome)
        best = dict(min(runs, key=lambda r: r["simulate_time_s"]))
        cpu = [r["simulate_cpu_s"] for r in runs if r.get("simulate_cpu_s") is not None]
        best["simulate_cpu_s"] = min(cpu, default=None)
        best["simulate_cpu_times_s"] = [r.get("simulate_cpu_s") for r in runs]
        best["build_time_s"] = runs[0]["build_time_s"]
        best["peak_rss_mb"] = max((r["peak_rss_mb"] for r in runs
                                   if r["peak_rss_mb"] is not None), default=None)
        best["simulate_times_s"] = [r["simulate_time_s"] for r in runs]
        best["load_avg_1min"] = [r["load_avg_1min"] for r in runs]
        return _complete(best, flat, config.duration)


def _compare(tools: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """neurotwin against every peer that ran."""
    out = {}
    for name in peers_that_ran(tools):
        ours, peer = tools["neurotwin"], tools[name]
        ours_rate, peer_rate = ours["mean_rate_hz"], peer["mean_rate_hz"]
        if peer_rate:
            diff: float | None = (ours_rate - peer_rate) / peer_rate
        else:  # a silent peer: equal only if neurotwin is silent too
            diff = 0.0 if ours_rate == 0 else None
        out[name] = {
            **time_ratios(ours, peer),
            "build_time_ratio": ratio(ours["build_time_s"], peer["build_time_s"]),
            "rate_rel_diff": diff,
            "rate_within_tolerance": diff is not None and abs(diff) <= RATE_TOLERANCE,
            "spike_count_equal": ours["total_spikes"] == peer["total_spikes"],
        }
    return out


def _cold_start(session: _Session, flat: FlatNetwork, config: CubaConfig,
                seed: int) -> dict[str, Any]:
    """neurotwin's first run with an empty numba cache vs. warm runs."""
    cache = session.workdir / "numba-cache"
    cache.mkdir(exist_ok=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    first = session.measure("neurotwin", flat, config, seed,
                            {"warmup": False, "repeats": 2}, env=env)
    again = session.measure("neurotwin", flat, config, seed, {"warmup": False}, env=env)
    if first["status"] != "ok" or again["status"] != "ok":
        bad = first if first["status"] != "ok" else again
        return {"enabled": True, "status": bad["status"], "reason": bad["reason"],
                **dict.fromkeys(SCHEMA["cold_start"][1:])}
    cold, warm = first["runs"]
    return {
        "enabled": True,
        "status": "ok",
        "reason": None,
        "numba_cache_dir": "empty temporary directory",
        "empty_cache_first_run": {**cold, "peak_rss_mb": first["peak_rss_mb"]},
        "same_process_second_run": warm,
        "new_process_filled_cache": again["runs"][0],
        "compile_overhead_s": cold["total_s"] - warm["total_s"],
    }


def _slope(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Least-squares slope of log(y) against log(x); None below two points."""
    if len(x) < 2:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _scaling(session: _Session, sizes: Sequence[int], tools: Sequence[str], fan_in: int,
             duration: float, seed: int, repeats: int) -> dict[str, Any]:
    """Simulate time against network size at fixed fan-in."""
    entries = []
    for n in sizes:
        config = CubaConfig(n_neurons=n, fan_in=fan_in, duration=duration)
        flat = flatten(build_network(config, seed))
        row: dict[str, Any] = {"n_neurons": n, "n_synapses": flat.n_synapses,
                               "fingerprint": flat.fingerprint(), "tools": {}}
        for tool in tools:
            res = session.measure(tool, flat, config, seed, repeats=repeats)
            cell = {k: res.get(k) for k in SCHEMA["scaling.sizes.*.tools.*"]}
            cell["simulate_cpu_s"] = res.get("simulate_cpu_s")
            cell["simulate_cpu_times_s"] = res.get("simulate_cpu_times_s")
            if res["status"] == "ok":
                cell["time_per_neuron_us"] = res["simulate_time_s"] / n * 1e6
                cell["time_per_synapse_ns"] = res["simulate_time_s"] / flat.n_synapses * 1e9
            row["tools"][tool] = cell
        entries.append(row)
    exponent = {}
    for tool in tools:
        ok = [r for r in entries if r["tools"][tool]["status"] == "ok"]
        exponent[tool] = _slope([r["n_synapses"] for r in ok],
                                [r["tools"][tool]["simulate_time_s"] for r in ok])
    return {"enabled": True, "fan_in": fan_in, "duration_ms": duration, "sizes": entries,
            "exponent": exponent}


PACKAGES = ("numpy", "numba", "torch", "brian2", "nest-simulator")
"""Packages whose versions the result records."""


def validate(result: dict[str, Any]) -> None:
    """Raise :class:`DataError` naming every key of :data:`SCHEMA` missing in ``result``
    (a part with ``enabled: false`` needs no further keys)."""
    check_schema(result, SCHEMA)


@BENCHMARKS.register("cuba")
def run_cuba(
    *,
    n_neurons: int = 4000,
    duration: float = 1000.0,
    seed: int = 0,
    repeats: int = 3,
    tools: Sequence[str] = DEFAULT_TOOLS,
    peers: bool = True,
    cold_start: bool = True,
    scaling: bool = True,
    sizes: Sequence[int] = DEFAULT_SIZES,
    fan_in: int = 80,
    scaling_tools: Sequence[str] = DEFAULT_SCALING_TOOLS,
    scaling_duration: float | None = None,
    scaling_repeats: int = 2,
    quick: bool = False,
    output: str | Path | None = "bench/results/cuba.json",
    timeout_s: float = 1800.0,
    show: bool = True,
) -> dict[str, Any]:
    """Run the CUBA benchmark; write and return the result.

    Parameters
    ----------
    n_neurons
        Size of the comparison network (random connectivity, p = 0.02).
    duration
        Simulated time of every run, ms.
    seed
        Seed of connectivity and initial potentials (every tool gets the same network).
    repeats
        Processes per tool in the comparison; the shortest simulate time is kept.
    tools
        Tools of the comparison (names in :data:`neurotwin.bench.child.TOOLS`); sequences
        may also be given as comma-separated text, as the command line passes them.
    peers
        If False, only neurotwin runs (comparison and scaling).
    cold_start
        Measure neurotwin's first run with an empty numba cache.
    scaling
        Run the scaling series.
    sizes
        Network sizes N of the scaling series.
    fan_in
        Synapses per neuron in the scaling series.
    scaling_tools
        Tools of the scaling series.
    scaling_duration
        Simulated time of the scaling runs, ms (default: ``duration``).
    scaling_repeats
        Processes per tool and size in the scaling series.
    quick
        Comparison only: no cold start, no scaling series.
    output
        JSON file to write (None: do not write).
    timeout_s
        Wall-clock limit of each measurement process, s.
    show
        Print progress and the result tables (rich) to stdout.

    Returns
    -------
    The result as written to ``output`` (keys: :data:`SCHEMA`).
    """
    tools = check_tools(_words(tools))
    scaling_tools = check_tools(_words(scaling_tools))
    if not peers:
        tools = tuple(t for t in tools if t == "neurotwin") or ("neurotwin",)
        scaling_tools = ("neurotwin",)
    if quick:
        cold_start = scaling = False
    sizes = tuple(int(n) if isinstance(n, str) and n.isdigit() else n for n in _words(sizes))
    for n in sizes:
        check_int("sizes", n, low=5)
    if not sizes and scaling:
        raise ConfigError("sizes must name at least one network size for the scaling series")
    config = CubaConfig(n_neurons=n_neurons, duration=duration)
    scaling_duration = duration if scaling_duration is None else scaling_duration
    for name, value in (("repeats", repeats), ("scaling_repeats", scaling_repeats)):
        check_int(name, value, low=1)
    n_jobs = (len(tools) * repeats + 2 * ("neurotwin" in tools and cold_start)
              + len(sizes) * len(scaling_tools) * scaling_repeats * scaling)

    from neurotwin.bench.table import live_progress, show_cuba

    machine = machine_info(PACKAGES)  # load average before this benchmark adds its own
    with (tempfile.TemporaryDirectory(prefix="neurotwin-bench-") as tmp,
          live_progress(n_jobs, enabled=show) as progress):
        session = _Session(Path(tmp), timeout_s, progress)
        net = build_network(config, seed)
        flat = flatten(net)
        results = {name: session.measure(name, flat, config, seed, repeats=repeats)
                   for name in tools}
        cold: dict[str, Any] = {"enabled": False}
        if cold_start and "neurotwin" in tools:
            cold = _cold_start(session, flat, config, seed)
        scale: dict[str, Any] = {"enabled": False}
        if scaling:
            scale = _scaling(session, sizes, scaling_tools, fan_in, scaling_duration, seed,
                             scaling_repeats)
    result = {
        "benchmark": "cuba",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": asdict(config),
        "seed": seed,
        "repeats": repeats,
        "fingerprint": flat.fingerprint(),
        "n_neurons": flat.n_neurons,
        "n_synapses": flat.n_synapses,
        "rate_tolerance": RATE_TOLERANCE,
        "tools": results,
        "comparison": _compare(results),
        "cold_start": cold,
        "scaling": scale,
    }
    validate(result)
    if output is not None:
        write_result(result, Path(output))
        result["output"] = str(output)
    if show:
        show_cuba(result)
    return result
