"""``neurotwin bench microcircuit``: the Potjans & Diesmann (2014) microcircuit, neurotwin
against NEST (2 threads) and Brian2 C++ standalone in the same run.

Every tool runs the same network (:mod:`neurotwin.experiments.microcircuit_model` at
``scale``: the same neurons, initial potentials, synapses with their weights and delays
and DC currents, handed to the peers as flat arrays and checked by fingerprint), each in
its own process, for ``duration`` ms of model time (1 s by default). The Poisson
background is each tool's own (NEST's ``poisson_generator``, Brian2's ``PoissonInput``,
neurotwin's sources; :mod:`neurotwin.bench.flat`), so the tools agree in rates, not spike
by spike: the result records each population's rate per tool and its relative difference
to neurotwin's.

Per tool: build time, simulate time (compilation excluded for every tool, as in
:mod:`neurotwin.bench.cuba`), peak resident memory of its process (for Brian2 standalone
also of its binary) and rates. A tool whose package is absent is recorded as skipped
(NEST comes from the ``nest-simulator`` wheel: ``make bench`` installs it). neurotwin
runs in one process (``neurotwin``) and sharded over two (``neurotwin_2r``,
docs/distributed.md), each rank's peak memory recorded.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
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
from neurotwin.errors import ConfigError
from neurotwin.experiments.microcircuit import MicrocircuitConfig
from neurotwin.experiments.microcircuit_model import (
    BG_RATE_HZ,
    POPULATIONS,
    build_network,
    scaled_params,
)
from neurotwin.network import Network, SpikeSourcePoisson

__all__ = ["DEFAULT_TOOLS", "SCHEMA", "flatten_microcircuit", "network_from_dict",
           "run_microcircuit"]

DEFAULT_TOOLS = ("neurotwin", "neurotwin_2r", "nest_2t", "brian2_cpp_standalone")
"""Tools of the comparison, neurotwin (one process, one rank) first."""
PACKAGES = ("numpy", "numba", "torch", "brian2", "nest-simulator")
SCHEMA_VERSION = 1
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "seed",
         "fingerprint", "n_neurons", "n_synapses", "duration_ms", "tools", "comparison"),
    "tools.*": ("tool", "label", "status", "reason", "build_time_s", "simulate_time_s",
                "real_time_factor", "peak_rss_mb", "rates_hz", "load_avg_1min"),
}
"""Required keys of the result, by path ("*": every entry of a mapping)."""

_FACTORY = "neurotwin.bench.microcircuit:network_from_dict"
_FLATTEN = {"arrays": "neurotwin.bench.microcircuit:flatten_microcircuit",
            "rules": "neurotwin.bench.microcircuit:flatten_microcircuit_rules"}
PEER_SYNAPSES = ("arrays", "rules")
"""How the peers get the recurrent synapses: the drawn ones as arrays (the same synapses
in every tool), or the rules to draw their own (the same model; full size, where the
arrays would take about 10 GB in every process). Tools that cannot draw (Brian2) are
skipped with "rules"."""
DRAWING_TOOLS = ("peers_neurotwin.py", "peers_nest.py")


def network_from_dict(config: dict[str, Any], seed: int) -> Network:
    """The microcircuit of ``MicrocircuitConfig(**config)``: the factory neurotwin's
    runner calls."""
    c = MicrocircuitConfig(**config)
    return build_network(scaled_params(c.scale, c.k_scale, c.background), seed, c.dt, c.v0,
                         c.bg_source_rate_max_hz)


def flatten_microcircuit_rules(net: Network) -> FlatNetwork:
    """:func:`flatten_microcircuit` with the recurrent synapses as rules the peers draw
    (``FlatNetwork.rules``; nothing is drawn here)."""
    return flatten_microcircuit(net, as_rules=True)


def flatten_microcircuit(net: Network, as_rules: bool = False) -> FlatNetwork:
    """The peers' flat network: the recurrent part as arrays (or, ``as_rules``, as the
    rules the peers draw), the background sources ``bg_<pop>`` (one-to-one, ``m`` sources
    per neuron) as the Poisson background entries (first, size, K_ext, 8 Hz, weight,
    delay steps)."""
    recurrent = Network(dt=net.dt)
    for pop in net.populations:
        recurrent.nodes[str(pop.label)] = pop
    recurrent.projections = [p for p in net.projections if p.pre in recurrent.nodes]
    rules = []
    if as_rules:
        first_of = dict(zip(recurrent.nodes, np.cumsum([0] + [p.size for p in
                                                             net.populations]), strict=False))
        for proj in recurrent.projections:
            r = proj.rule
            if r is None:
                raise ConfigError(f"{proj.pre}->{proj.post} holds stored synapses, not a rule")
            rules.append((proj.receptor, int(first_of[proj.pre]), r.n_pre,
                          int(first_of[proj.post]), r.n_post, r.n_total, r.weight,
                          r.weight_rel_std, r.delay, r.delay_rel_std))
        recurrent.projections = []
    background = []
    first = 0
    for pop in net.populations:
        label = f"bg_{pop.label}"
        if label in net.nodes:
            src = net.nodes[label]
            assert isinstance(src, SpikeSourcePoisson)
            proj = next(p for p in net.projections if p.pre == label)
            csr = proj.csr()
            inputs = round(float(np.sum(src.rate)) / pop.size / BG_RATE_HZ)
            steps = round(float(csr.delay) / net.dt)
            background.append((first, pop.size, inputs, BG_RATE_HZ,
                               float(np.max(csr.weight)), steps))
        first += pop.size
    return replace(flatten(recurrent, tuple(background)), rules=tuple(rules))


def _rates(outcome: dict[str, Any], flat: FlatNetwork, duration: float) -> dict[str, float]:
    return {label: outcome["spikes"][label] / (size * duration * 1e-3)
            for label, _, size in flat.populations}


def _entry(outcome: dict[str, Any], flat: FlatNetwork, duration: float) -> dict[str, Any]:
    entry: dict[str, Any] = dict.fromkeys(SCHEMA["tools.*"])
    entry.update(outcome)
    if outcome.get("status") == "ok":
        entry["rates_hz"] = _rates(outcome, flat, duration)
        entry["real_time_factor"] = outcome["simulate_time_s"] / (duration * 1e-3)
        binary = outcome.get("binary_peak_rss_mb")
        if binary is not None:  # Brian2 standalone: the binary is its own process
            entry["peak_rss_mb"] = max(entry["peak_rss_mb"] or 0.0, binary)
    return entry


def _compare(tools: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """neurotwin's simulate time and rates against every peer that ran."""
    out = {}
    for name in peers_that_ran(tools):
        ours, peer = tools["neurotwin"], tools[name]
        out[name] = {
            **time_ratios(ours, peer),
            "peak_rss_ratio": ratio(ours["peak_rss_mb"], peer["peak_rss_mb"]),
            "rate_rel_diff": {p: (ours["rates_hz"][p] - r) / r if r else None
                              for p, r in peer["rates_hz"].items()},
        }
    return out


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(w.strip() for w in value.split(",") if w.strip())
    return tuple(value)


@BENCHMARKS.register("microcircuit")
def run_microcircuit(
    *,
    scale: float = 0.1,
    k_scale: float | None = None,
    background: str = "poisson",
    duration: float = 1000.0,
    seed: int = 0,
    tools: Sequence[str] = DEFAULT_TOOLS,
    output: str | Path | None = "bench/results/microcircuit.json",
    timeout_s: float = 3600.0,
    show: bool = True,
    peer_synapses: str = "arrays",
) -> dict[str, Any]:
    """Run the microcircuit benchmark; write and return the result.

    Parameters
    ----------
    scale
        Fraction of the neurons (and, with ``k_scale`` None, of the in-degrees); 1 is the
        full model (about 0.3 billion synapses: tens of GB per tool).
    k_scale
        Fraction of the in-degrees (None: ``scale``).
    background
        "poisson" or "dc".
    duration
        Model time of every run, ms.
    seed
        Seed of the network (every tool gets the same one).
    tools
        Tools (names in :data:`neurotwin.bench.child.TOOLS`), also as comma-separated text.
    output
        JSON file to write (None: do not write).
    timeout_s
        Wall-clock limit of each measurement process, s.
    show
        Print progress and a table of the result.
    peer_synapses
        "arrays" (every tool runs the same synapses) or "rules" (the peers draw their
        own from the same table: for full size; Brian2 is skipped), :data:`PEER_SYNAPSES`.
    """
    if peer_synapses not in PEER_SYNAPSES:
        raise ConfigError(f"peer_synapses must be one of {', '.join(PEER_SYNAPSES)}, "
                          f"got {peer_synapses!r}")
    tools = check_tools(_words(tools))
    config = MicrocircuitConfig(scale=scale, k_scale=k_scale, background=background,
                                s2_map=False)
    config_dict = {k: v for k, v in asdict(config).items() if not k.startswith("s2_")}
    machine = machine_info(PACKAGES)
    net = network_from_dict(config_dict, seed)
    flat = flatten_microcircuit(net, as_rules=peer_synapses == "rules")
    del net
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="neurotwin-bench-") as tmp:
        workdir = Path(tmp)
        arrays = workdir / "net.npz"
        flat.save(arrays)
        for name in tools:
            if show:
                print(f"microcircuit bench: {TOOLS[name].label} ...", flush=True)
            if flat.rules and TOOLS[name].module not in DRAWING_TOOLS:
                results[name] = _entry({"tool": name, "label": TOOLS[name].label,
                                        "status": "skipped", "reason": "peer_synapses="
                                        "'rules': this tool needs the synapses as arrays"},
                                       flat, duration)
                continue
            options: dict[str, Any] = {}
            if TOOLS[name].module == "peers_neurotwin.py":
                options = {"network": {"factory": _FACTORY, "config": config_dict,
                                       "seed": seed},
                           "fingerprint": flat.fingerprint(),
                           "flatten": _FLATTEN[peer_synapses],
                           "warmup_config": {**config_dict, "scale": min(scale, 0.02),
                                             "k_scale": None}}
            elif TOOLS[name].function == "run_cpp_standalone":
                options = {"directory": str(workdir / f"{name}-project")}
            outcome = run_tool(name, flat.spec(), arrays, duration, workdir, options=options,
                               timeout_s=timeout_s)
            results[name] = _entry(outcome, flat, duration)
    result = {
        "benchmark": "microcircuit",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": config_dict,
        "peer_synapses": peer_synapses,
        "seed": seed,
        "fingerprint": flat.fingerprint(),
        "n_neurons": flat.n_neurons,
        "n_synapses": flat.n_synapses,
        "duration_ms": duration,
        "tools": results,
        "comparison": _compare(results),
    }
    check_schema(result, SCHEMA)
    if output is not None:
        write_result(result, Path(output))
        result["output"] = str(output)
    if show:
        _show(result)
    return result


def _show(result: dict[str, Any]) -> None:
    print(f"microcircuit, {result['n_neurons']} neurons, {result['n_synapses']} synapses, "
          f"{result['duration_ms']:g} ms")
    for t in result["tools"].values():
        if t["status"] != "ok":
            print(f"  {t['label']}: {t['status']} ({str(t['reason']).splitlines()[0]})")
            continue
        rates = " ".join(f"{p} {t['rates_hz'][p]:.2f}" for p in POPULATIONS)
        print(f"  {t['label']}: build {t['build_time_s']:.1f} s, simulate "
              f"{t['simulate_time_s']:.2f} s, peak {t['peak_rss_mb']:.0f} MiB; Hz: {rates}")
