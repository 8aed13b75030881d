"""One benchmark measurement in its own process: ``python child.py JOB.json``.

The benchmark starts this file by path, once per (tool, network), so that every tool's
peak resident memory is its own: the process imports the standard library and numpy,
then only the runner module of the tool it measures (Brian2's and NEST's runners never
import neurotwin or torch). It reads the job, runs the tool, adds its own peak RSS and
writes the outcome as JSON; a tool whose package is missing is reported as skipped with
the ImportError, never as a failure.

Job (JSON object):

    tool           a name in :data:`TOOLS`
    spec           FlatNetwork.spec() of the network (neurotwin.bench.flat)
    arrays_path    the .npz with FlatNetwork.arrays()
    duration       simulated time, ms
    options        extra keyword arguments of the runner (e.g. ``directory``)
    result_path    where to write the outcome

Outcome: the runner's dict plus ``status`` ("ok", "skipped", "error"), ``reason``
(None when ok) and ``peak_rss_mb`` (this process's peak RSS, MiB: :func:`peak_rss_mb`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

__all__ = ["TOOLS", "Tool", "main", "peak_rss_mb", "run_job"]


class Tool(NamedTuple):
    """How to run one tool: a runner function in a module beside this file."""

    module: str
    """File name of the runner module, e.g. "peers_nest.py"."""
    function: str
    """Runner ``f(spec, arrays, duration, **kwargs) -> dict``."""
    kwargs: dict[str, Any]
    """Fixed keyword arguments (threads, target)."""
    requires: str
    """Top-level package the tool needs (checked before starting a process)."""
    label: str
    """Human-readable name for tables."""


TOOLS: dict[str, Tool] = {
    "neurotwin": Tool("peers_neurotwin.py", "run_neurotwin", {}, "numba",
                      "neurotwin (ideal, numba)"),
    "neurotwin_2r": Tool("peers_neurotwin.py", "run_neurotwin", {"ranks": 2}, "numba",
                         "neurotwin (ideal, numba), 2 ranks"),
    "brian2_cpp_standalone": Tool("peers_brian2.py", "run_cpp_standalone", {"threads": 1},
                                  "brian2", "Brian2 cpp_standalone"),
    "brian2_cpp_standalone_2t": Tool("peers_brian2.py", "run_cpp_standalone", {"threads": 2},
                                     "brian2", "Brian2 cpp_standalone, 2 OpenMP threads"),
    "brian2_cython": Tool("peers_brian2.py", "run_runtime", {"target": "cython"}, "brian2",
                          "Brian2 runtime (cython)"),
    "nest_1t": Tool("peers_nest.py", "run_nest", {"threads": 1}, "nest", "NEST, 1 thread"),
    "nest_2t": Tool("peers_nest.py", "run_nest", {"threads": 2}, "nest", "NEST, 2 threads"),
}
"""Every tool the benchmarks can measure, by name."""


def _load(filename: str) -> ModuleType:
    """Import a module beside this file by path (not as part of the neurotwin package)."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"_neurotwin_bench_{path.stem}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - file is part of the package
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a live process since its last exec, MiB.

    Linux's ``VmHWM`` of the process's own address space. ``ru_maxrss`` is no use here: it
    survives exec, so a process started by a large parent (the benchmark has torch
    loaded) reports at least the parent's size. None where /proc is unavailable.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (see the module docstring) in this process and return its outcome."""
    tool = TOOLS[job["tool"]]
    try:
        runner = getattr(_load(tool.module), tool.function)
        with np.load(job["arrays_path"]) as data:
            arrays = {name: data[name] for name in data.files}
        out = runner(job["spec"], arrays, job["duration"], **tool.kwargs, **job["options"])
        out.update(status="ok", reason=None)
    except ImportError as err:
        out = {"status": "skipped", "reason": f"ImportError: {err}"}
    except Exception as err:
        tail = "".join(traceback.format_exception(err)[-3:])
        out = {"status": "error", "reason": f"{type(err).__name__}: {err}\n{tail}"}
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv: list[str]) -> int:
    """Entry point: ``argv = [JOB.json]``; writes the outcome to the job's result_path."""
    if len(argv) != 1:
        print("usage: child.py JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(argv[0]).read_text())
    outcome = run_job(job)
    Path(job["result_path"]).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
