"""``neurotwin bench vmm``: how fast the VMM mode emulates BrainScaleS-2 matmuls.

For each shape (rows x columns: 128 x 256, one synapse array; 784 x 500, partitioned
into 7 x 2 blocks) and batch (1, 256) the same integer inputs (0..31) and weights
(-63..63) go through

- ``torch_float32``: ``torch.matmul`` in float32 (the reference of every ratio),
- ``torch_int8``: ``torch.matmul`` on int8 tensors (wraps around; a speed reference only),
- ``mock``: :func:`neurotwin.bss2.vmm.matmul` on hxtorch's mock (default gain and noise),
- ``twin``: the same on a :class:`~neurotwin.bss2.vmm.Twin` of chip ``chip_serial``,

all in the same process and run, each timed as the best of ``repeats`` (every repeat
loops until ``min_time_s`` has passed and divides). Ratios are ``time / torch_float32``
(how many times slower than a plain matmul the emulation is). Each entry also holds
the emulated chip's hardware time per vector and the modelled runtime overhead of one
inference (:func:`~neurotwin.bss2.vmm.inference_overhead`). The result goes to
``bench/results/vmm.json`` (keys: :data:`SCHEMA`).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import check_schema, machine_info, write_result
from neurotwin.bss2 import vmm
from neurotwin.errors import check_int, check_positive

__all__ = ["SCHEMA", "SHAPES", "run_vmm", "validate"]

SHAPES = ((128, 256), (784, 500))
"""(rows, columns) measured: one synapse array, and the partitioned MNIST layer."""
BATCHES = (1, 256)
"""Vectors per call."""
SCHEMA_VERSION = 1
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "measurements"),
    "measurements.*": ("rows", "columns", "batch", "times_s", "ratios", "blocks", "runs",
                       "hardware_time_us", "overhead"),
}
"""Required keys of the result, by path ("*": every entry of a mapping)."""


def _best_time(call: Callable[[], Any], repeats: int, min_time_s: float) -> float:
    """Shortest mean time of one call over ``repeats`` loops of at least ``min_time_s``."""
    call()  # first-call costs (thread pools, allocations) are not the steady state
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            call()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / n)
    return best


def validate(result: dict[str, Any]) -> None:
    """Raise :class:`DataError` naming every key of :data:`SCHEMA` missing in ``result``."""
    check_schema(result, SCHEMA)


def _show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="VMM emulation against torch.matmul (same run, seconds per call)")
    for col in ("shape", "batch", "float32", "int8", "mock", "twin", "mock/float",
                "twin/float", "chip µs/vector", "modelled ms/inference"):
        table.add_column(col, justify="right")
    for m in result["measurements"].values():
        t, r = m["times_s"], m["ratios"]
        table.add_row(f"{m['rows']}x{m['columns']}", str(m["batch"]),
                      *(f"{t[k]:.2e}" for k in ("torch_float32", "torch_int8", "mock", "twin")),
                      f"{r['mock']:.1f}", f"{r['twin']:.1f}", f"{m['hardware_time_us']:.1f}",
                      f"{m['overhead']['total'] * 1e3:.3f}")
    Console(width=140).print(table)


@BENCHMARKS.register("vmm")
def run_vmm(
    *,
    repeats: int = 3,
    min_time_s: float = 0.2,
    seed: int = 0,
    chip_serial: int = 7,
    threads: int | None = None,
    quick: bool = False,
    output: str | Path | None = "bench/results/vmm.json",
    show: bool = True,
) -> dict[str, Any]:
    """Run the VMM benchmark (module docstring); write and return the result.

    Parameters
    ----------
    repeats
        Timing loops per measurement; the fastest is kept.
    min_time_s
        Least wall time of one timing loop, s.
    seed
        Seeds the inputs, weights and noise.
    chip_serial
        Serial of the twin's chip (default deviations).
    threads
        torch intra-op threads for the run (None: torch's setting); restored after.
    quick
        One repeat of at least 0.02 s (for tests).
    output
        JSON file to write (None: do not write).
    show
        Print the result table (rich).
    """
    check_int("repeats", repeats, 1)
    check_positive("min_time_s", min_time_s)
    if quick:
        repeats, min_time_s = 1, 0.02
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1))
    try:
        result = _measure(repeats, min_time_s, seed, chip_serial)
    finally:
        torch.set_num_threads(previous_threads)
    validate(result)
    if output is not None:
        write_result(result, Path(output))
        result["output"] = str(output)
    if show:
        _show(result)
    return result


def _measure(repeats: int, min_time_s: float, seed: int, chip_serial: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    mock, twin = vmm.MockParameter(), vmm.Twin.from_serials(chip_serial)
    measurements: dict[str, dict[str, Any]] = {}
    for rows, columns in SHAPES:
        w = torch.randint(-63, 64, (rows, columns), generator=gen)
        schedule = vmm.partition([("w", rows, columns)])
        for batch in BATCHES:
            x = torch.randint(0, 32, (batch, rows), generator=gen)
            xf, wf, x8, w8 = x.float(), w.float(), x.to(torch.int8), w.to(torch.int8)
            calls: dict[str, Callable[[], Any]] = {
                "torch_float32": partial(torch.matmul, xf, wf),
                "torch_int8": partial(torch.matmul, x8, w8),
                "mock": partial(vmm.matmul, xf, wf, target=mock, generator=gen),
                "twin": partial(vmm.matmul, xf, wf, target=twin, generator=gen),
            }
            times = {name: _best_time(call, repeats, min_time_s) for name, call in calls.items()}
            measurements[f"{rows}x{columns}_batch{batch}"] = {
                "rows": rows, "columns": columns, "batch": batch, "times_s": times,
                "ratios": {k: times[k] / times["torch_float32"] for k in times},
                "blocks": len(schedule.blocks), "runs": schedule.runs,
                "hardware_time_us": schedule.hardware_time_us(),
                "overhead": vmm.inference_overhead(schedule, batch).to_dict(),
            }
    return {
        "benchmark": "vmm", "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(("torch",)) | {"torch_threads": torch.get_num_threads()},
        "config": {"repeats": repeats, "min_time_s": min_time_s, "seed": seed,
                   "chip_serial": chip_serial, "mock": {"gain": mock.gain,
                                                        "noise_std": mock.noise_std}},
        "measurements": measurements,
    }
