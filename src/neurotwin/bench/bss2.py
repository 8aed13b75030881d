"""``neurotwin bench bss2``: how fast the BrainScaleS-2 twin emulates a full chip.

The network (:func:`full_chip_network`) uses every neuron circuit and every synapse row of
one HICANN-X: 448 excitatory and 64 inhibitory LIF neurons (512 circuits); 192 Poisson
background sources project densely onto all 512 neurons (one excitatory row per source
and hemisphere: 192 rows), and every inhibitory neuron projects densely onto all 512
(one inhibitory row each: 64 rows), so 256 of 256 rows per hemisphere, all 256 synapse
drivers and 131,072 synapses (weights 1..63 LSB) are in use.

Measured (wall-clock seconds on this machine, best of ``repeats``; the numba kernel is
compiled or loaded from its cache by a warm-up run first):

============================  ===============================================  ==========
measurement                   what                                             target
============================  ===============================================  ==========
``bss2_single``               ``Bss2Backend.run``: 1 trial, 1 s of model time  <= 1 s
                              (1 ms of hardware time)
``bss2_batched``              the same, 32 trials in one batch                 <= 5 s
``calibration``               :func:`neurotwin.bss2.calibrate`, 512 circuits   <= 60 s
``ideal_single``,             the ``ideal`` backend's ``run`` on the same      reference
``ideal_batched``             network
``bss2_plastic``              ``bss2_single`` with ``stdp`` on every row of    <= 2x
                              both hemispheres every 10 µs (hardware time);    single
                              ``plain_ratio``: wall and CPU time over
                              ``bss2_single``'s
============================  ===============================================  ==========

Mapping times (``map``) are reported separately. Where a target is missed (or with
``profile=True``), the run is profiled with :mod:`cProfile` and the functions taking the
most time are written to the result (``profile``); the numba kernel appears as ``_chunk``.
The result goes to ``bench/results/bss2.json`` (keys: :data:`SCHEMA`).
"""

from __future__ import annotations

import cProfile
import datetime
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import neurotwin as nt
from neurotwin.backends import Backend, get_backend
from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import check_schema, machine_info, timed, write_result
from neurotwin.bss2 import specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.calibration import Calibration, calibrate
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.mapping import Mapping
from neurotwin.bss2.ppu import PPURuntime, Timer
from neurotwin.bss2.ppu.rules import stdp
from neurotwin.engines.result import Result
from neurotwin.errors import check_int

__all__ = ["SCHEMA", "TARGETS_S", "full_chip_network", "run_bss2", "validate"]

N_EXC = 448
N_INH = 64
N_BACKGROUND = 192
"""Sources, neurons: 192 + 64 presynaptic units with dense rows fill 256 rows a hemisphere."""
BACKGROUND_RATE_HZ = 10.0
"""Rate of every background source, Hz of model time."""
WEIGHT_SCALE_NA = 0.006
"""Model nA per weight LSB (background and inhibition are whole multiples of it)."""
INH_WEIGHT_LSB = 30
"""Weight of every inhibitory synapse, LSB."""
MODEL = nt.LIF(tau_mem=10.0, tau_syn_exc=5.0, tau_syn_inh=5.0, cm=1.0, v_rest=-65.0,
               v_reset=-70.0, v_thresh=-50.0, tau_refrac=2.0)
"""Neuron parameters of every neuron (time constants on whole CapMem codes)."""
TARGETS_S = {"bss2_single": 1.0, "bss2_batched": 5.0, "calibration": 60.0}
"""Wall-time targets, s (issue "BrainScaleS-2 twin")."""
PLASTIC_RATIO_TARGET = 2.0
"""A plastic run's wall time over the plain run's (issue "plasticity processors")."""
PLASTIC_PERIOD_US = 10.0
"""Period of the plastic run's STDP program, hardware µs."""
PROFILE_TOP = 12
"""Functions listed in a profile."""
SCHEMA_VERSION = 1

SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "network",
         "measurements", "targets_met", "profile"),
    "machine": ("platform", "cpu", "cpu_count", "python", "versions", "load_avg_1min"),
    "network": ("n_neurons", "n_sources", "n_synapses", "resources"),
    "measurements.*": ("backend", "trials", "duration_ms", "wall_time_s", "wall_times_s",
                       "cpu_time_s",
                       "map_time_s", "target_s", "target_met", "spikes", "mean_rate_hz",
                       "hardware_time_us", "energy_j"),
}
"""Required keys of the result, by path ("*": every entry of a mapping)."""

Runner = Callable[[], Result]


def full_chip_network(seed: int = 0, background_rate: float = BACKGROUND_RATE_HZ
                      ) -> nt.Network:
    """The full-chip network (module docstring); weights drawn from ``seed``.

    Populations "exc" (448) and "inh" (64), source "background" (192 Poisson sources at
    ``background_rate`` Hz); spikes of both populations recorded.
    """
    rng = np.random.default_rng(seed)
    net = nt.Network(dt=0.1)
    exc = net.add(nt.Population(N_EXC, MODEL, label="exc"))
    inh = net.add(nt.Population(N_INH, MODEL, label="inh"))
    bg = net.add(nt.SpikeSourcePoisson(N_BACKGROUND, rate=background_rate, label="background"))
    for post, n in ((exc, N_EXC), (inh, N_INH)):
        w = rng.integers(1, specs.WEIGHT_MAX + 1, (N_BACKGROUND, n)) * WEIGHT_SCALE_NA
        net.connect(bg, post, w, receptor="exc")
        net.connect(inh, post, np.full((N_INH, n), INH_WEIGHT_LSB * WEIGHT_SCALE_NA),
                    receptor="inh")
    net.record(exc, "spikes")
    net.record(inh, "spikes")
    return net


def _profile(runner: Runner) -> list[dict[str, Any]]:
    """The functions that take the most time in one call of ``runner`` (cProfile)."""
    profiler = cProfile.Profile()
    profiler.enable()
    runner()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(path).name}:{line}({name})", "calls": calls,
                     "own_s": tottime, "cumulative_s": cumtime})
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:PROFILE_TOP]


def _entry(backend: str, trials: int, duration: float, times: list[float], map_s: float,
           result: Result, target: float | None, n_neurons: int) -> dict[str, Any]:
    spikes = sum(int(result.spikes(label, b)[0].size) for label in ("exc", "inh")
                 for b in range(result.n_trials))
    best = min(times)
    return {
        "backend": backend,
        "trials": trials,
        "duration_ms": duration,
        "wall_time_s": best,
        "wall_times_s": times,
        "map_time_s": map_s,
        "target_s": target,
        "target_met": None if target is None else best <= target,
        "spikes": spikes,
        "mean_rate_hz": spikes / (n_neurons * trials * duration * 1e-3),
        "hardware_time_us": result.cost.hardware_time_us,
        "energy_j": result.cost.energy_j,
    }


def _plastic_runner(mapping: Mapping, duration: float, seed: int) -> Runner:
    """One trial with ``stdp`` on every used row of both hemispheres (fresh weights each
    run: a new runtime)."""
    rows = {h: sorted(set(mapping.tables.synapses.placement[
        mapping.tables.synapses.placement[:, 0] == h, 1].tolist())) for h in range(2)}

    def run() -> Result:
        programs = tuple(stdp(rows[h], Timer(0.0, PLASTIC_PERIOD_US), 0.4, 0.3, hemisphere=h)
                         for h in range(2) if rows[h])
        runtime = PPURuntime(mapping, programs)
        return Bss2Backend().run(mapping, duration, seed=seed, programs=runtime.periodic())

    return run


def _plastic_ratio(measurements: dict[str, dict[str, Any]], duration: float) -> None:
    """The plastic run against the plain one measured in the same run: ``plain_ratio``
    (wall, CPU) and the target (2x the plain wall time, for 1 s of model time)."""
    plain, plastic = measurements["bss2_single"], measurements["bss2_plastic"]
    plastic["plain_ratio"] = {
        "wall": plastic["wall_time_s"] / plain["wall_time_s"],
        "cpu": plastic["cpu_time_s"] / max(plain["cpu_time_s"], 1e-9)}
    if duration == 1000.0:
        plastic["target_s"] = PLASTIC_RATIO_TARGET * plain["wall_time_s"]
        plastic["target_met"] = plastic["wall_time_s"] <= plastic["target_s"]


def validate(result: dict[str, Any]) -> None:
    """Raise :class:`DataError` naming every key of :data:`SCHEMA` missing in ``result``."""
    check_schema(result, SCHEMA)


def _show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # pipes and files: room for the whole table
        console = Console(width=max(console.width, 120))
    net = result["network"]
    table = Table(title=f"BrainScaleS-2 twin, full chip: {net['n_neurons']} neurons, "
                        f"{net['n_synapses']} synapses, "
                        f"{result['config']['duration']:g} ms of model time")
    for col in ("measurement", "backend", "trials", "wall s", "cpu s", "target s", "met",
                "map s", "rate Hz"):
        table.add_column(col, justify="left" if col in ("measurement", "backend") else "right")
    for name, m in result["measurements"].items():
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[m["target_met"]]
        table.add_row(name, m["backend"], "" if m["trials"] is None else str(m["trials"]),
                      f"{m['wall_time_s']:.3f}",
                      f"{m['cpu_time_s']:.3f}",
                      "" if m["target_s"] is None else f"{m['target_s']:g}", met,
                      "" if m["map_time_s"] is None else f"{m['map_time_s']:.2f}",
                      "" if m["mean_rate_hz"] is None else f"{m['mean_rate_hz']:.2f}")
    console.print(table)
    for name, rows in result["profile"].items():
        console.print(f"profile of {name} (own time, s):")
        for row in rows[:6]:
            console.print(f"  {row['own_s']:8.3f}  {row['function']}")
    if "output" in result:
        console.print(f"written to {result['output']}")


@BENCHMARKS.register("bss2")
def run_bss2(
    *,
    duration: float = 1000.0,
    trials: int = 32,
    repeats: int = 3,
    seed: int = 0,
    chip_serial: int = 7,
    calibration_circuits: int = specs.N_NEURONS,
    ideal: bool = True,
    plastic: bool = True,
    profile: bool = False,
    quick: bool = False,
    output: str | Path | None = "bench/results/bss2.json",
    show: bool = True,
) -> dict[str, Any]:
    """Run the BrainScaleS-2 twin benchmark; write and return the result.

    Parameters
    ----------
    duration
        Model time of every run, ms (1000 ms = 1 ms of hardware time).
    trials
        Trials of the batched run.
    repeats
        Runs per measurement; the shortest wall time is kept.
    seed
        Seed of the weights, the Poisson input, the noise and the calibration.
    chip_serial
        Serial number of the virtual chip (default deviations).
    calibration_circuits
        Circuits calibrated in the calibration measurement (0 skips it); the target
        applies to all 512.
    ideal
        Also run the ``ideal`` backend on the same network.
    plastic
        Also run ``bss2_plastic`` (the single run with an STDP program on every row).
    profile
        Profile the bss2 runs even where they meet their targets.
    quick
        One repeat per measurement.
    output
        JSON file to write (None: do not write).
    show
        Print the result table (rich).

    Returns
    -------
    The result as written to ``output`` (keys: :data:`SCHEMA`).
    """
    for name, value, low in (("trials", trials, 1), ("repeats", repeats, 1),
                             ("calibration_circuits", calibration_circuits, 0)):
        check_int(name, value, low=low)
    specs.check_integer_range("calibration_circuits", calibration_circuits, 0, specs.N_NEURONS)
    if quick:
        repeats = 1
    machine = machine_info(("numpy", "numba", "torch"))
    net = full_chip_network(seed)
    n_neurons = N_EXC + N_INH
    chip = Chip(chip_serial)
    calibration: Calibration | None = None
    calibration_entry: dict[str, Any] | None = None
    if calibration_circuits:
        times, cpu_times = [], []
        for _ in range(repeats if calibration_circuits < specs.N_NEURONS else 1):
            start_cpu = time.process_time()
            cal = calibrate(chip, circuits=np.arange(calibration_circuits), seed=seed)
            times.append(cal.report.elapsed_s)
            cpu_times.append(time.process_time() - start_cpu)
        full = calibration_circuits == specs.N_NEURONS
        target = TARGETS_S["calibration"] if full else None
        calibration = cal if full else None
        calibration_entry = {
            "backend": "bss2", "trials": None, "duration_ms": None,
            "wall_time_s": min(times), "wall_times_s": times, "cpu_time_s": min(cpu_times),
            "map_time_s": None,
            "target_s": target, "target_met": None if target is None else min(times) <= target,
            "spikes": None, "mean_rate_hz": None, "hardware_time_us": None, "energy_j": None,
            "circuits": calibration_circuits,
            "spreads_after": {k: s.after_relative for k, s in cal.report.spreads.items()},
        }
    bss2 = get_backend("bss2")
    start = time.perf_counter()
    mapping: Mapping = bss2.map(net, chip=chip, calibration=calibration,
                                weight_scale=WEIGHT_SCALE_NA)
    map_s = time.perf_counter() - start
    bss2.run(mapping, 1.0, seed=seed, trials=2)  # compile or load the numba kernel

    def runner(backend: Backend, artefact: Any, n: int) -> Runner:
        return lambda: backend.run(artefact, duration, seed=seed, trials=n)

    runners: dict[str, tuple[str, int, Runner, float]] = {}
    for label, n in (("single", 1), ("batched", trials)):
        runners[f"bss2_{label}"] = ("bss2", n, runner(bss2, mapping, n), map_s)
    if plastic:
        runners["bss2_plastic"] = ("bss2", 1, _plastic_runner(mapping, duration, seed), map_s)
    if ideal:
        ideal_backend = get_backend("ideal")
        start = time.perf_counter()
        artefact = ideal_backend.map(net)
        ideal_map_s = time.perf_counter() - start
        ideal_backend.run(artefact, 1.0, seed=seed, trials=2)
        for label, n in (("single", 1), ("batched", trials)):
            runners[f"ideal_{label}"] = ("ideal", n, runner(ideal_backend, artefact, n),
                                         ideal_map_s)
    measurements: dict[str, dict[str, Any]] = {}
    profiles: dict[str, list[dict[str, Any]]] = {}
    for name, (backend_name, n, run_once, m_s) in runners.items():
        times, cpu, res = timed(run_once, repeats)
        # the targets are for 1 s of model time, and 32 trials in the batch
        target = (TARGETS_S.get(name) if duration == 1000.0
                  and (name != "bss2_batched" or n == 32) else None)
        measurements[name] = _entry(backend_name, n, duration, times, m_s, res, target,
                                    n_neurons)
        measurements[name]["cpu_time_s"] = min(cpu)
        if backend_name == "bss2" and (profile or measurements[name]["target_met"] is False):
            profiles[name] = _profile(run_once)

    if plastic:
        _plastic_ratio(measurements, duration)
    if calibration_entry is not None:
        measurements["calibration"] = calibration_entry
    usage = mapping.usage()
    result: dict[str, Any] = {
        "benchmark": "bss2",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {"duration": duration, "trials": trials, "repeats": repeats, "seed": seed,
                   "chip_serial": chip_serial, "calibration_circuits": calibration_circuits,
                   "background_rate_hz": BACKGROUND_RATE_HZ, "dt": net.dt,
                   "calibrated_mapping": calibration is not None},
        "network": {
            "n_neurons": n_neurons,
            "n_sources": N_BACKGROUND,
            "n_synapses": int(sum(p.synapses().pre.size for p in net.projections)),
            "resources": {k: {"used": u, "available": a} for k, (u, a) in usage.items()},
        },
        "measurements": measurements,
        "targets_met": {name: m["target_met"] for name, m in measurements.items()
                        if m["target_met"] is not None},
        "profile": profiles,
    }
    validate(result)
    if output is not None:
        path = Path(output)
        write_result(result, path)
        result["output"] = str(path)
    if show:
        _show(result)
    return result
