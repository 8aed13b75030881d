"""``neurotwin bench s2-mapping``: the SpiNNaker2 mapper against sPyNNaker's host-side mapping.

The network, for both tools: one recurrent population of current-based LIF neurons
(``IF_curr_exp`` in sPyNNaker) with a fixed random fan-in (``FixedNumberPreConnector``;
neurotwin: :func:`neurotwin.network.fixed_fan_in`, the same distribution),
at 10k, 100k and 1M neurons, fan-in 100. Every measurement runs in its own process,
wrapped by :mod:`neurotwin.bench.rusage_exec` for its peak RSS.

Two paths are timed (wall-clock seconds):

(a) **mapping**: partitioning, placement, key allocation, routing, table generation and
    compression. neurotwin: :func:`~neurotwin.spinnaker2.map_network` (its
    ``Placement.map_time_s``). sPyNNaker: the non-report algorithms of its "Mapping
    Stage" plus its table compressor, from its own ``FecTimer`` provenance records
    (:mod:`neurotwin.bench.peers_spynnaker` lists them).
(b) **mapping + per-PE synaptic data**. neurotwin: (a) plus
    :func:`~neurotwin.spinnaker2.rows.build_rows` (every synapse quantised into the
    16-bit word of its synaptic row, rows grouped per PE; ``rows_s``). sPyNNaker: (a)
    plus its data generation ("Graph data specification writer": every core's data,
    synaptic matrices included; on a virtual board the connector draws the connections
    there). neurotwin draws its connections when building the network, reported as
    ``build_network_s`` and not part of (b); ``path_b_with_network_s`` adds it.
    Separately, up to :data:`COMPILE_SYNAPSE_LIMIT` synapses, ``compile_s`` times the
    runtime's whole :func:`~neurotwin.spinnaker2.program.compile_program` (rows, every key
    followed through the router tables, simulation arrays); it is not part of (b).

Before timing, each neurotwin process maps a 300-neuron network (``warmup_s``), once with
default options and once with one neuron per PE (300 slices on two chips, so that the
routing-tree kernel runs too), and builds its rows: that loads the compiled numba kernels
from their on-disk cache (or compiles them after a code change), as sPyNNaker's import
and setup are not timed either. Nothing computed for the warm-up network is reused.

A sPyNNaker run that fails in its data generation (MemoryError at the address-space limit
while drawing the connections, as at 100k here) after its mapping stage is "partial": its
(a) counts, its (b) is unknown and ``path_b_ratio_at_most`` bounds our (b) ratio by the
time it had spent in (b) when it failed.

Targets (issue "SpiNNaker2 twin"): neurotwin's (a) <= 1/5 and (b) <= 1/20 of sPyNNaker's
at every size; 1M neurons with fan-in 1000 through (b) in <= 60 s with peak RSS well
under 24 GB (:data:`BIG_RSS_TARGET_MB`). sPyNNaker lives in its own virtual environment
(:data:`SPYNNAKER_PYTHON`, made by ``make bench/envs/spynnaker/.installed`` or
``python3 -m venv bench/envs/spynnaker && bench/envs/spynnaker/bin/pip install sPyNNaker``);
without it the peer is "skipped" with the reason. Result: ``bench/results/s2-mapping.json``
(keys: :data:`SCHEMA`).
"""

from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import check_schema, machine_info, write_result
from neurotwin.errors import ConfigError, check_int

__all__ = ["SCHEMA", "SPYNNAKER_PYTHON", "TARGETS", "child_main", "run_s2_mapping", "validate"]

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)
FAN_IN = 100
BIG_N, BIG_FAN_IN = 1_000_000, 1000
"""The large case: 1M neurons, fan-in 1000, neurotwin only."""
TARGETS = {"path_a_ratio": 1 / 5, "path_b_ratio": 1 / 20, "big_path_b_s": 60.0}
BIG_RSS_TARGET_MB = 12 * 1024
"""Peak RSS the large case must stay under ("well under 24 GB": half of it), MiB."""
SPYNNAKER_PYTHON = Path("bench/envs/spynnaker/bin/python")
"""sPyNNaker's interpreter, relative to the working directory."""
NEURONS_PER_CORE_GUESS = 200
"""Neurons per sPyNNaker core assumed when sizing its virtual machine (it packs up to 256)."""
MEMORY_LIMIT_MB = 16 * 1024
"""Address-space limit of every measurement process (``RLIMIT_AS``), MiB: a process that
would exceed it fails with MemoryError instead of pushing the machine into swap or the
OOM killer."""
RUSAGE = Path(__file__).with_name("rusage_exec.py")
PEER = Path(__file__).with_name("peers_spynnaker.py")
COMPILE_SYNAPSE_LIMIT = 20_000_000
"""Largest network (synapses) whose runtime ``compile_program`` is timed (``compile_s``);
larger ones would measure the runtime's memory, not the mapper."""
SCHEMA_VERSION = 2
PACKAGES = ("neurotwin", "numpy", "scipy", "numba")

SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "sizes", "big",
         "targets", "targets_met"),
    "machine": ("platform", "cpu", "cpu_count", "python", "versions", "load_avg_1min"),
    "sizes.*": ("n_neurons", "fan_in", "neurotwin", "spynnaker", "path_a_ratio",
                "path_b_ratio"),
    "sizes.*.neurotwin": ("status", "reason", "warmup_s", "build_network_s", "path_a_s",
                          "rows_s", "path_b_s", "path_b_with_network_s", "compile_s", "pes",
                          "chips", "boards", "entries_after_max", "peak_rss_mb"),
    "sizes.*.spynnaker": ("status", "reason", "path_a_s", "path_b_s", "run_wall_s",
                          "cores", "chips", "peak_rss_mb"),
    "big": ("enabled",),
    "big.neurotwin": ("status", "reason", "path_a_s", "rows_s", "path_b_s", "peak_rss_mb"),
}
"""Required keys of the result, by path ("*": every entry)."""


def validate(result: dict[str, Any]) -> None:
    """DataError naming every key of :data:`SCHEMA` missing in ``result``."""
    check_schema(result, SCHEMA)


def _words(value: Any) -> tuple[int, ...]:
    """Sizes given as a sequence or as comma-separated text ("10000,100000")."""
    items = value.split(",") if isinstance(value, str) else (
        [value] if isinstance(value, int) else list(value))
    out = []
    for item in items:
        try:
            n = int(str(item).strip())
        except ValueError:
            raise ConfigError(f"sizes must be integers, got {item!r}") from None
        if n < 200:
            raise ConfigError(f"sizes must be >= 200 neurons, got {n}")
        out.append(n)
    return tuple(out)


def child_main(job_path: str) -> None:
    """neurotwin's measurement in its own process: warm up, build, map, rows; write JSON."""
    import numpy as np

    from neurotwin.errors import CapacityError, MappingError
    from neurotwin.experiments.s2_scale import build_network
    from neurotwin.spinnaker2 import map_network
    from neurotwin.spinnaker2.program import compile_program
    from neurotwin.spinnaker2.rows import build_rows

    job = json.loads(Path(job_path).read_text())
    out: dict[str, Any] = {"status": "ok", "reason": None}
    try:
        start = time.perf_counter()
        warm = build_network(300, 10, 0.1, 1.0, job["seed"])
        build_rows(warm, map_network(warm), tick_ms=1.0)
        map_network(warm, neurons_per_pe=1)  # slices on two chips: the tree kernel too
        out["warmup_s"] = time.perf_counter() - start
        del warm
        start = time.perf_counter()
        net = build_network(job["n_neurons"], job["fan_in"], 0.1, 1.0, job["seed"])
        out["build_network_s"] = time.perf_counter() - start
        placement = map_network(net)
        out["path_a_s"] = placement.map_time_s
        used = np.unique(placement.slice_chip)
        out.update(pes=placement.n_slices, chips=int(used.size),
                   boards=placement.machine.n_boards,
                   neurons_per_pe_max=int((placement.slice_hi - placement.slice_lo).max()),
                   entries_before_max=int(placement.entries_before.max()),
                   entries_after_max=int(placement.tables.sizes.max()),
                   entries_after_mean=float(placement.tables.sizes[used].mean()),
                   sram_bytes_max=int(placement.slice_bytes.max()),
                   dram_bytes_max_per_chip=int(np.bincount(
                       placement.slice_chip, weights=placement.slice_dram_bytes).max()))
        start = time.perf_counter()
        rows = build_rows(net, placement, tick_ms=1.0)
        out["rows_s"] = time.perf_counter() - start
        out["rows_mb"] = rows.nbytes / 2**20
        out["path_b_s"] = out["path_a_s"] + out["rows_s"]
        out["path_b_with_network_s"] = out["path_b_s"] + out["build_network_s"]
        del rows
        synapses = job["n_neurons"] * job["fan_in"]
        out["compile_s"] = None
        if job["compile"] and synapses <= COMPILE_SYNAPSE_LIMIT:
            start = time.perf_counter()
            compile_program(net, placement, tick_ms=1.0, clock_mhz=300.0)
            out["compile_s"] = time.perf_counter() - start
        elif job["compile"]:
            out["compile_skipped"] = f"{synapses} synapses > COMPILE_SYNAPSE_LIMIT"
    except (CapacityError, MappingError) as err:
        out.update(status="capacity_error", reason=str(err),
                   resource=getattr(err, "resource", None))
    except MemoryError:
        out.update(status="error", reason=f"MemoryError: over the {job['memory_limit_mb']} MiB "
                   f"address-space limit (after {sorted(out)})")
    Path(job["result_path"]).write_text(json.dumps(out))


def _limit_memory(limit_mb: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))


def _measure(cmd: list[str], job: dict[str, Any], workdir: Path, timeout_s: float,
             memory_limit_mb: int = MEMORY_LIMIT_MB) -> dict[str, Any]:
    """Run ``cmd + [job.json]`` under :mod:`rusage_exec` with an address-space limit;
    its outcome plus peak RSS."""
    stem = f"job-{time.monotonic_ns()}"
    job_path, result, usage, log = (workdir / f"{stem}.{ext}" for ext in
                                    ("json", "result.json", "rusage.json", "log"))
    job_path.write_text(json.dumps({**job, "result_path": str(result),
                                    "memory_limit_mb": memory_limit_mb}))
    full = [sys.executable, str(RUSAGE), str(usage), *cmd, str(job_path)]
    with open(log, "wb") as fh:
        try:
            code = subprocess.run(full, stdout=fh, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout_s,
                                  preexec_fn=lambda: _limit_memory(memory_limit_mb)).returncode
        except subprocess.TimeoutExpired:
            return {"status": "error", "reason": f"timed out after {timeout_s:g} s",
                    "peak_rss_mb": None}
    tail = log.read_text(errors="replace")[-1500:]
    if not result.exists():
        return {"status": "error", "reason": f"process exited with {code}\n{tail}",
                "peak_rss_mb": None}
    out = json.loads(result.read_text())
    out["peak_rss_mb"] = json.loads(usage.read_text())["peak_rss_mb"] if usage.exists() else None
    return out


def _spynnaker_machine(n: int) -> tuple[int, int]:
    """Width and height (chips) of a torus of 48-chip boards with room for ``n`` neurons."""
    chips = math.ceil(n / NEURONS_PER_CORE_GUESS / 10)
    side = 12 * max(1, math.ceil(math.sqrt(chips / 144)))
    return side, side


def _spynnaker(n: int, fan_in: int, seed: int, workdir: Path, timeout_s: float,
               skip: bool, memory_limit_mb: int = MEMORY_LIMIT_MB) -> dict[str, Any]:
    if skip:
        return {"status": "skipped", "reason": "skip_spynnaker=True"}
    python = SPYNNAKER_PYTHON.absolute()  # not resolve(): the venv link must stay
    if not python.exists():
        return {"status": "skipped",
                "reason": f"sPyNNaker's environment {SPYNNAKER_PYTHON} is missing; make it "
                          "with `make bench/envs/spynnaker/.installed`"}
    width, height = _spynnaker_machine(n)
    run_dir = workdir / f"spynnaker-{n}"
    job = {"n_neurons": n, "fan_in": fan_in, "seed": seed, "workdir": str(run_dir),
           "width": width, "height": height}
    out = _measure([str(python), str(PEER)], job, workdir, timeout_s, memory_limit_mb)
    out.pop("algorithms", None) if out.get("status") != "ok" else None
    return out


def _neurotwin(n: int, fan_in: int, seed: int, workdir: Path, timeout_s: float,
               compile_program: bool = True,
               memory_limit_mb: int = MEMORY_LIMIT_MB) -> dict[str, Any]:
    job = {"n_neurons": n, "fan_in": fan_in, "seed": seed, "compile": compile_program}
    code = "import sys; from neurotwin.bench.s2_mapping import child_main; child_main(sys.argv[1])"
    out = _measure([sys.executable, "-c", code], job, workdir, timeout_s, memory_limit_mb)
    fields = SCHEMA["sizes.*.neurotwin"]
    return {**dict.fromkeys(fields), **out}


def _ratio(ours: dict[str, Any], peer: dict[str, Any], key: str) -> float | None:
    """ours / peer for ``key`` where both measured it: a "partial" sPyNNaker run (it
    failed in data generation, after its mapping stage) has (a) but no (b)."""
    if ours.get("status") != "ok" or peer.get("status") not in ("ok", "partial"):
        return None
    a, b = ours.get(key), peer.get(key)
    return a / b if a is not None and b else None


def _bound(ours: dict[str, Any], peer: dict[str, Any]) -> float | None:
    """Upper bound of the (b) ratio where sPyNNaker failed in data generation: ours over
    the time it had spent in (b) before failing."""
    if ours.get("status") != "ok" or peer.get("status") != "partial":
        return None
    a, b = ours.get("path_b_s"), peer.get("path_b_at_least_s")
    return a / b if a is not None and b else None


def _show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="SpiNNaker2 mapping: neurotwin vs sPyNNaker (wall s)")
    for col in ("neurons", "nt (a)", "nt (b)", "nt RSS MB", "sPyN (a)", "sPyN (b)",
                "sPyN RSS MB", "(a) ratio", "(b) ratio"):
        table.add_column(col, justify="right")

    def fmt(x: Any) -> str:
        return "-" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)

    for row in result["sizes"]:
        nt, sp_ = row["neurotwin"], row["spynnaker"]
        table.add_row(str(row["n_neurons"]), fmt(nt.get("path_a_s")), fmt(nt.get("path_b_s")),
                      fmt(nt.get("peak_rss_mb")), fmt(sp_.get("path_a_s")),
                      fmt(sp_.get("path_b_s")), fmt(sp_.get("peak_rss_mb")),
                      fmt(row["path_a_ratio"]), fmt(row["path_b_ratio"]))
    Console().print(table)


@BENCHMARKS.register("s2-mapping")
def run_s2_mapping(
    sizes: Sequence[int] | str = DEFAULT_SIZES,
    fan_in: int = FAN_IN,
    quick: bool = False,
    skip_spynnaker: bool = False,
    big: bool = True,
    seed: int = 1,
    timeout_s: float = 3600.0,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
    output: str | None = "bench/results/s2-mapping.json",
    show: bool = True,
) -> dict[str, Any]:
    """Time neurotwin's SpiNNaker2 mapping against sPyNNaker's (module docstring).

    Parameters
    ----------
    sizes
        Network sizes (neurons), also as text "10000,100000".
    fan_in
        Synapses per neuron of the comparison.
    quick
        Only 10k neurons and no large case (``sizes`` and ``big`` ignored).
    skip_spynnaker
        Do not run sPyNNaker (recorded as skipped).
    big
        Also run 1M neurons with fan-in 1000 through (b) (neurotwin only).
    seed
        Seed of the connectivity (each tool draws its own).
    timeout_s
        Wall-clock limit of each measurement process, s.
    memory_limit_mb
        Address-space limit of each measurement process, MiB (default 16 GiB): keep it
        below the free memory, or the kernel's OOM killer ends a process instead of a
        MemoryError (sPyNNaker at 100k fills any limit while drawing its connections).
    output
        Where the JSON goes (None: not written).
    show
        Print a table.
    """
    size_list = QUICK_SIZES if quick else _words(sizes)
    if quick:
        big = False
    check_int("fan_in", fan_in, low=1)
    if any(fan_in > n for n in size_list):
        raise ConfigError(f"fan_in {fan_in} exceeds the smallest size {min(size_list)}")
    machine = machine_info(PACKAGES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="neurotwin-s2-mapping-") as tmp:
        workdir = Path(tmp)
        for n in size_list:
            nt = _neurotwin(n, fan_in, seed, workdir, timeout_s,
                            memory_limit_mb=memory_limit_mb)
            peer = _spynnaker(n, fan_in, seed, workdir, timeout_s, skip_spynnaker,
                              memory_limit_mb)
            rows.append({"n_neurons": n, "fan_in": fan_in, "neurotwin": nt, "spynnaker": peer,
                         "path_a_ratio": _ratio(nt, peer, "path_a_s"),
                         "path_b_ratio": _ratio(nt, peer, "path_b_s"),
                         "path_b_ratio_at_most": _bound(nt, peer)})
        big_entry: dict[str, Any] = {"enabled": False}
        if big:
            entry = _neurotwin(BIG_N, BIG_FAN_IN, seed, workdir, timeout_s,
                               memory_limit_mb=memory_limit_mb)
            big_entry = {"enabled": True, "n_neurons": BIG_N, "fan_in": BIG_FAN_IN,
                         "neurotwin": entry}
    def all_met(key: str) -> bool | None:
        """Whether every size meets the ratio target; None if a ratio is missing. Where
        sPyNNaker failed in (b), the upper bound of the (b) ratio stands in for it."""
        ratios = [cast(float | None, r[key] if r[key] is not None
                       else r.get("path_b_ratio_at_most") if key == "path_b_ratio" else None)
                  for r in rows]
        if any(x is None for x in ratios):
            return None
        return all(x is not None and x <= TARGETS[key] for x in ratios)

    met: dict[str, bool | None] = {
        "path_a_ratio": all_met("path_a_ratio"),
        "path_b_ratio": all_met("path_b_ratio"),
        "big_path_b_s": None,
        "big_peak_rss": None,
    }
    if big_entry["enabled"]:
        e = big_entry["neurotwin"]
        ok = e["status"] == "ok"
        met["big_path_b_s"] = ok and e["path_b_s"] <= TARGETS["big_path_b_s"]
        met["big_peak_rss"] = (ok and e["peak_rss_mb"] is not None
                               and e["peak_rss_mb"] <= BIG_RSS_TARGET_MB)
    result = {
        "benchmark": "s2-mapping",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {"sizes": list(size_list), "fan_in": fan_in, "seed": seed, "quick": quick,
                   "skip_spynnaker": skip_spynnaker, "big": big, "timeout_s": timeout_s,
                   "memory_limit_mb": memory_limit_mb,
                   "spynnaker_python": str(SPYNNAKER_PYTHON)},
        "sizes": rows,
        "big": big_entry,
        "targets": {**TARGETS, "big_peak_rss_mb": BIG_RSS_TARGET_MB},
        "targets_met": met,
    }
    validate(result)
    if output is not None:
        write_result(result, Path(output))
        result["output"] = str(output)
    if show:
        _show(result)
    return result
