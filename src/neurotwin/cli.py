"""The ``neurotwin`` command: ``info``, ``run <experiment>``, ``bench <name>``.

Errors neurotwin raises on purpose (:class:`~neurotwin.errors.NeurotwinError`) are printed
as one line, ``neurotwin: error: ...``, with exit status 2, as argparse does for bad
arguments; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import neurotwin
from neurotwin.errors import ConfigError, NeurotwinError
from neurotwin.experiments import EXPERIMENTS, load_config, run_experiment
from neurotwin.experiments.base import writable_folder
from neurotwin.registry import Registry

__all__ = ["main", "parse_options"]

EXIT_ERROR = 2


def _benchmarks() -> tuple[Registry[Any] | None, Callable[..., dict[str, Any]] | None, str]:
    """``neurotwin.bench``'s registry and runner, or (None, None, why not): it is optional."""
    try:
        from neurotwin.bench import BENCHMARKS, run_benchmark
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.startswith("neurotwin.bench"):
            return None, None, "neurotwin.bench is not part of this installation"
        return None, None, f"{err} (install the bench extra: pip install -e '.[bench]')"
    except ImportError as err:
        return None, None, f"neurotwin.bench is incomplete: {err}"
    return BENCHMARKS, run_benchmark, ""


def _devices() -> str:
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [
            f"cuda:{k} ({torch.cuda.get_device_name(k)})" for k in range(torch.cuda.device_count())
        ]
    else:
        found.append("no CUDA device")
    return ", ".join(found)


def _version_of(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except ImportError:
        return "not installed"


def info(console: Console) -> None:
    """Print version, registries, torch devices and the versions that matter."""
    registry, _, why = _benchmarks()
    benchmarks = ", ".join(registry.names()) if registry is not None else f"({why})"
    rows = {
        "neurotwin": neurotwin.__version__,
        "python": platform.python_version(),
        "backends": ", ".join(neurotwin.BACKENDS.names()),
        "neuron models": ", ".join(neurotwin.MODELS.names()),
        "experiments": ", ".join(EXPERIMENTS.names()),
        "benchmarks": benchmarks or "(none registered)",
        "torch": torch.__version__,
        "devices": _devices(),
        "numba": _version_of("numba"),
        "numpy": _version_of("numpy"),
    }
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every scalar leaf of a nested mapping; lists become text."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        elif isinstance(value, list | tuple):
            yield name, ", ".join(str(v) for v in value)
        else:
            yield name, value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_table(data: Mapping[str, Any]) -> Table:
    """A two-column table of the scalar leaves of ``data`` (nested keys joined by dots)."""
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in _flatten(data):
        table.add_row(key, _format(value))
    return table


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def run(args: argparse.Namespace, console: Console, errors: Console) -> None:
    """``neurotwin run``: run an experiment, write its results, print a summary."""
    experiment = EXPERIMENTS.get(args.experiment)
    backend = experiment.backend_for(args.backend)
    config = (
        experiment.config_type()
        if args.config is None
        else load_config(experiment.config_type, args.config)
    )
    if args.resume:
        if not any(f.name == "resume" for f in dataclasses.fields(config)):
            raise ConfigError(f"experiment {args.experiment!r} does not checkpoint; --resume "
                              "applies to training experiments only")
        config = dataclasses.replace(config, resume=True)
    out_dir = writable_folder(
        Path("results") / args.experiment if args.out is None else Path(args.out)
    )
    with _progress_bar(errors) as bar:
        task = bar.add_task(f"{args.experiment} ({backend})", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        record = run_experiment(
            args.experiment,
            config,
            seed=args.seed,
            backend=args.backend,
            out_dir=out_dir,
            progress=progress,
        )
    console.print(f"[bold]{args.experiment}[/bold]: {experiment.description}")
    console.print(summary_table(record["metrics"]))
    console.print(f"results in {out_dir}/ (metrics.json and plots)")


def parse_options(words: Sequence[str]) -> dict[str, Any]:
    """Turn ``--key value``, ``--key=value`` and bare ``--flag`` into keyword arguments.

    Dashes in keys become underscores; values are read as JSON where they parse
    (``3``, ``0.5``, ``true``, ``[1, 2]``) and kept as text otherwise; a bare flag is True.

    Raises
    ------
    ConfigError
        For a word that is neither an option nor the value of one.
    """
    options: dict[str, Any] = {}
    k = 0
    while k < len(words):
        word = words[k]
        if not word.startswith("--") or word == "--":
            raise ConfigError(f"benchmark options must look like --key value, got {word!r}")
        key, has_value, value = word[2:].partition("=")
        if not has_value:
            if k + 1 < len(words) and not words[k + 1].startswith("--"):
                value = words[k + 1]
                k += 1
            else:
                value = "true"
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
        k += 1
    return options


def bench(args: argparse.Namespace, console: Console) -> None:
    """``neurotwin bench``: run a registered benchmark, print where its results went."""
    registry, run_benchmark, why = _benchmarks()
    if registry is None or run_benchmark is None:
        raise ConfigError(f"benchmarks are not available: {why}")
    registry.get(args.name)
    options = parse_options(args.options)
    result = run_benchmark(args.name, **options)  # prints its own tables
    output = result.get("output", f"bench/results/{args.name}.json")
    console.print(f"results in {output}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neurotwin`` command."""
    parser = argparse.ArgumentParser(
        prog="neurotwin",
        description="Software twins of BrainScaleS-2 and SpiNNaker2: run experiments "
        "and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=neurotwin.__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "info", help="versions, registered backends, models, experiments, benchmarks, devices"
    )
    run_parser = commands.add_parser("run", help="run an experiment; write results/<experiment>/")
    run_parser.add_argument("experiment", help="experiment name (see `neurotwin info`)")
    run_parser.add_argument(
        "--config", type=Path, help='JSON file of config overrides, e.g. {"n_neurons": 200}'
    )
    run_parser.add_argument(
        "--backend",
        help="backend name (default: ideal) for experiments that take one; the others run "
        "where they must (bss2, spinnaker2, the event engine) and refuse another",
    )
    run_parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run_parser.add_argument(
        "--out", type=Path, help="output directory (default: results/<experiment>)"
    )
    run_parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in the output directory"
    )
    bench_parser = commands.add_parser(
        "bench",
        help="run a benchmark; write bench/results/<name>.json",
        description="Run a benchmark. Options after the name (--key value, --flag) are "
        "passed to it as keyword arguments.",
    )
    bench_parser.add_argument("name", help="benchmark name (see `neurotwin info`)")
    bench_parser.add_argument("options", nargs=argparse.REMAINDER, help="--key value ...")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``neurotwin`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    console = Console()
    errors = Console(stderr=True)
    commands: dict[str, Callable[[], None]] = {
        "info": lambda: info(console),
        "run": lambda: run(args, console, errors),
        "bench": lambda: bench(args, console),
    }
    try:
        commands[args.command]()
    except NeurotwinError as err:
        errors.print(f"neurotwin: error: {err}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
