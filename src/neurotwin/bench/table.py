"""Rich rendering of benchmark progress and results (terminal only; the JSON is the record)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = ["live_progress", "show_cuba"]


@contextmanager
def live_progress(total: int, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar over ``total`` measurements; yields ``start(description)``, called
    as each measurement begins (the previous one then counts as done)."""
    if not enabled:
        yield lambda _description: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(),
        transient=True,
    ) as bar:
        task = bar.add_task("benchmark", total=total)
        begun = 0

        def start(description: str) -> None:
            nonlocal begun
            if begun:
                bar.advance(task)
            begun += 1
            bar.update(task, description=description)

        yield start


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def show_cuba(result: dict[str, Any], console: Console | None = None) -> None:
    """Print the comparison, cold-start and scaling tables of a CUBA result."""
    if console is None:
        console = Console()
        if not console.is_terminal:  # pipes and files: room for the whole table
            console = Console(width=max(console.width, 120))
    cmp = result["comparison"]
    table = Table(title=f"CUBA, N={result['n_neurons']}, {result['n_synapses']} synapses, "
                        f"{result['config']['duration']:g} ms")
    # neurotwin/peer: CPU time against CPU time where the peer reports it (Brian2
    # standalone times its loop with std::clock), else wall time against wall time
    for col in ("tool", "build s", "simulate s", "neurotwin/peer", "spikes", "rate Hz",
                "Δrate", "peak RSS MB"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    for name, r in result["tools"].items():
        if r["status"] != "ok":
            reason = (r["reason"] or "").splitlines()[0] if r["reason"] else ""
            table.add_row(name, f"[yellow]{r['status']}[/]: {reason}")
            continue
        c = cmp.get(name, {})
        diff = c.get("rate_rel_diff")
        style = "" if diff is None or c["rate_within_tolerance"] else "[red]"
        table.add_row(
            name,
            _num(r["build_time_s"], ".2f"),
            _num(r["simulate_time_s"], ".3f"),
            _num(c.get("simulate_cpu_ratio") or c.get("simulate_time_ratio"), ".2f")
            + (" cpu" if c.get("simulate_cpu_ratio") else ""),
            str(r["total_spikes"]),
            _num(r["mean_rate_hz"], ".3f"),
            "" if diff is None else f"{style}{diff:+.2%}",
            _num(r["peak_rss_mb"], ".0f")
            + (f" (binary {r['binary_peak_rss_mb']:.0f})" if r.get("binary_peak_rss_mb") else ""),
        )
    console.print(table)
    cold = result["cold_start"]
    if cold.get("enabled") and cold.get("status") == "ok":
        first, second = cold["empty_cache_first_run"], cold["same_process_second_run"]
        cached = cold["new_process_filled_cache"]
        console.print(
            f"neurotwin cold start: first run {first['total_s']:.2f} s with an empty numba "
            f"cache, {cached['total_s']:.2f} s in a new process with the cache filled, "
            f"{second['total_s']:.2f} s warm (compile overhead {cold['compile_overhead_s']:.2f} s)"
        )
    elif cold.get("enabled"):
        console.print(f"neurotwin cold start: [yellow]{cold['status']}[/]: {cold['reason']}")
    scale = result["scaling"]
    if scale.get("enabled"):
        names = list(scale["exponent"])
        st = Table(title=f"Scaling, fan-in {scale['fan_in']}, {scale['duration_ms']:g} ms: "
                         "simulate s (ns per synapse) [CPU s]")
        st.add_column("N", justify="right")
        st.add_column("synapses", justify="right")
        for name in names:
            st.add_column(name, justify="right")
        for row in scale["sizes"]:
            cells = []
            for name in names:
                cell = row["tools"][name]
                cpu = cell.get("simulate_cpu_s")
                cells.append(
                    f"{cell['simulate_time_s']:.3f} ({cell['time_per_synapse_ns']:.2f})"
                    + (f" [{cpu:.3f}]" if cpu is not None else "")
                    if cell["status"] == "ok" else str(cell["status"])
                )
            st.add_row(str(row["n_neurons"]), str(row["n_synapses"]), *cells)
        st.add_row("slope", "log-log", *(_num(scale["exponent"][n], ".2f") for n in names))
        console.print(st)
    if "output" in result:
        console.print(f"written to {result['output']}")
