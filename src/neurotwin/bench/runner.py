"""Start one measurement per process (:mod:`neurotwin.bench.child`) and collect it.

Every tool runs in a fresh Python process, so its peak RSS is its own and no tool's
global state (Brian2's device, NEST's kernel, numba's compiled functions) leaks into the
next. A missing package is a skipped tool; a crash, a timeout or a missing result is an
error entry with the end of the process's log, never an exception that ends the benchmark.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurotwin.bench.child import TOOLS
from neurotwin.errors import unknown_name

__all__ = ["CHILD", "check_tools", "run_tool", "skip_reason"]

CHILD = Path(__file__).with_name("child.py")
"""The script each measurement process runs."""

_LOG_TAIL = 2000
"""Characters of a failed process's log kept in the error reason."""


def check_tools(names: Any) -> tuple[str, ...]:
    """``names`` as a tuple of known tool names; ConfigError listing the known ones."""
    names = tuple(names)
    for name in names:
        if name not in TOOLS:
            raise unknown_name("benchmark tool", name, TOOLS)
    return names


def skip_reason(name: str) -> str | None:
    """Why tool ``name`` cannot run here (its package is not installed), or None."""
    package = TOOLS[name].requires
    if importlib.util.find_spec(package) is None:
        return f"ImportError: No module named {package!r}"
    return None


def run_tool(
    name: str,
    spec: Mapping[str, Any],
    arrays_path: Path,
    duration: float,
    workdir: Path,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Measure tool ``name`` on a saved flat network in a new process.

    Parameters
    ----------
    name
        A key of :data:`neurotwin.bench.child.TOOLS`.
    spec, arrays_path
        ``FlatNetwork.spec()`` and the ``.npz`` written by ``FlatNetwork.save``.
    duration
        Simulated time, ms.
    workdir
        Directory for the job, result and log files.
    options
        Extra keyword arguments of the tool's runner.
    env
        Environment of the process (default: this one's).
    timeout_s
        Wall-clock limit, s; the process group is killed after it.

    Returns
    -------
    The child's outcome (``status``, ``reason``, ``peak_rss_mb`` and the runner's fields)
    plus ``tool``, ``label``, ``process_time_s`` (wall time of the whole process) and
    ``load_avg_1min`` (the machine's load average when it started: other work on a small
    machine slows every tool, multi-threaded ones most).
    """
    tool = TOOLS[name]
    base = {"tool": name, "label": tool.label}
    reason = skip_reason(name)
    if reason is not None:
        return {**base, "status": "skipped", "reason": reason}
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{time.monotonic_ns()}"
    job_path, result_path, log_path = (workdir / f"{stem}.{ext}" for ext in
                                       ("job.json", "result.json", "log"))
    job = {
        "tool": name,
        "spec": dict(spec),
        "arrays_path": str(arrays_path),
        "duration": float(duration),
        "options": dict(options or {}),
        "result_path": str(result_path),
    }
    job_path.write_text(json.dumps(job))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # own process group: a timeout also ends its compilers
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {**base, "status": "error",
                    "reason": f"timed out after {timeout_s:g} s\n{_tail(log_path)}"}
    elapsed = time.perf_counter() - start
    if code != 0 or not result_path.exists():
        return {**base, "status": "error",
                "reason": f"measurement process exited with {code}\n{_tail(log_path)}"}
    outcome = json.loads(result_path.read_text())
    if outcome["status"] == "error":
        outcome["reason"] += f"\n{_tail(log_path)}"
    return {**base, **outcome, "process_time_s": elapsed, "load_avg_1min": load}


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-_LOG_TAIL:]
