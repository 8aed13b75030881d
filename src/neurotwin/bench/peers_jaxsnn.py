"""jaxsnn's Yin-Yang EventProp example, timed per epoch: ``python peers_jaxsnn.py JOB.json``.

Run by file path with the Python of the jaxsnn environment (``bench/envs/jaxsnn``), never
importing neurotwin or torch. It runs the unmodified ``main`` of
``jaxsnn.examples.event.yinyang_layered_event_prop`` (jaxsnn 0.3.0) with the job's
arguments. The example times each epoch's training scan itself
(``jaxsnn.event.training.time_it``) but stops the clock when the scan is dispatched; the
replacement installed here waits for the result (``jax.block_until_ready``) and also
records the process CPU time, so the figure is the epoch's compute, as neurotwin's is.

Job (JSON): ``args`` (command-line words of the example), ``one_core`` (pin the process to
one CPU, default true), ``result_path``.
Outcome: ``status`` ("ok" or "error"), ``reason``, ``epoch_times_s`` and
``epoch_cpu_s`` (one per epoch; the first includes XLA compilation), ``accuracy``,
``versions``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any


def run(args: list[str], one_core: bool = True) -> dict[str, Any]:
    """Run the example with command-line ``args``; return per-epoch times.

    With ``one_core`` the process is pinned to one CPU before jax starts: XLA's thread
    flags alone still let it use more than one core, and neurotwin runs on one thread.
    """
    if one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import jax
    import jaxsnn.event.training as training
    from jaxsnn.examples.event import yinyang_layered_event_prop as example

    wall: list[float] = []
    cpu: list[float] = []

    def time_it(function: Any, *fargs: Any) -> tuple[Any, float]:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function(*fargs)
        jax.block_until_ready(result)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        return result, wall[-1]

    training.time_it = time_it  # the example's epoch() looks it up in this module
    accuracy = example.main(example.get_parser().parse_args(args))
    return {
        "epoch_times_s": wall,
        "epoch_cpu_s": cpu,
        "accuracy": float(accuracy),
        "versions": {p: version(p) for p in ("jaxsnn", "jax", "jaxlib", "optax")},
    }


def main(argv: list[str]) -> int:
    """Entry point: ``argv = [JOB.json]``; writes the outcome to the job's result_path."""
    job = json.loads(Path(argv[0]).read_text())
    try:
        out = {"status": "ok", "reason": None, **run(job["args"], job.get("one_core", True))}
    except Exception as err:  # reported in the benchmark's JSON, never raised there
        tail = "".join(traceback.format_exception(err)[-3:])
        out = {"status": "error", "reason": f"{type(err).__name__}: {err}\n{tail}"}
    Path(job["result_path"]).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
