"""What every benchmark result shares: where it was measured, repeated timing of a call,
the check that it holds every key its schema names, and the atomic write to
``bench/results/<name>.json``."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from neurotwin.errors import DataError

__all__ = ["check_schema", "machine_info", "peers_that_ran", "ratio", "time_ratios", "timed",
           "write_result"]

T = TypeVar("T")


def timed(call: Callable[[], T], repeats: int) -> tuple[list[float], list[float], T]:
    """Wall times and CPU times (all threads of this process), s, of ``repeats`` calls of
    ``call`` (>= 1), and the last call's result."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = call()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return times, cpu, result


def machine_info(packages: Iterable[str]) -> dict[str, Any]:
    """The machine and the versions of ``packages`` (None where not installed), with the
    1-minute load average, which says how quiet the machine was."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "load_avg_1min": os.getloadavg()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def check_schema(result: Mapping[str, Any], schema: Mapping[str, Iterable[str]]) -> None:
    """Raise :class:`DataError` naming every key of ``schema`` missing in ``result``.

    ``schema`` maps a dotted path (``"*"`` matches every key or list item; ``""`` is the
    top level) to the keys each node there must hold. A node with ``enabled: false`` needs
    no keys; one with ``status`` "skipped" or "error" needs only ``status`` and ``reason``.
    """
    missing: list[str] = []

    def nodes(obj: Any, parts: list[str], where: str) -> list[tuple[str, Any]]:
        if not parts:
            return [(where, obj)]
        head, rest = parts[0], parts[1:]
        if head == "*":
            if not isinstance(obj, dict | list):
                return []
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            return [n for k, v in items for n in nodes(v, rest, f"{where}.{k}")]
        if not isinstance(obj, dict) or head not in obj:
            return []
        return nodes(obj[head], rest, f"{where}.{head}" if where else head)

    for path, keys in schema.items():
        for where, node in nodes(result, path.split(".") if path else [], ""):
            if isinstance(node, dict) and node.get("enabled") is False:
                continue
            need = tuple(keys)
            if isinstance(node, dict) and node.get("status") in ("skipped", "error"):
                need = ("status", "reason")
            missing += [
                f"{where}.{k}" if where else k
                for k in need
                if not isinstance(node, dict) or k not in node
            ]
    if missing:
        raise DataError(f"benchmark result lacks keys: {', '.join(missing)}")


def write_result(result: Mapping[str, Any], path: Path) -> None:
    """Write ``result`` as indented JSON to ``path``, atomically (temporary file, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def ratio(ours: float, peer: float) -> float | None:
    """``ours / peer``; None where the peer's figure is not positive."""
    return ours / peer if peer > 0 else None


def peers_that_ran(tools: Mapping[str, Mapping[str, Any]], ours: str = "neurotwin") -> list[str]:
    """The tools besides ``ours`` whose status is "ok"; none when ``ours`` did not run."""
    if tools.get(ours, {}).get("status") != "ok":
        return []
    return [name for name, tool in tools.items() if name != ours and tool["status"] == "ok"]


def time_ratios(ours: Mapping[str, Any], peer: Mapping[str, Any]) -> dict[str, float | None]:
    """Our simulate time over the peer's: wall clock (``simulate_time_ratio``), and CPU
    time where both report it (``simulate_cpu_ratio``: Brian2 standalone's own figure is
    the CPU time of its run loop, so on a loaded machine only this one is like for like)."""
    cpu = (ratio(ours["simulate_cpu_s"], peer["simulate_cpu_s"])
           if ours.get("simulate_cpu_s") and peer.get("simulate_cpu_s") else None)
    return {"simulate_time_ratio": ratio(ours["simulate_time_s"], peer["simulate_time_s"]),
            "simulate_cpu_ratio": cpu}
