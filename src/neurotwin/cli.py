"""The ``neurotwin`` command: ``info``, ``run <experiment>``, ``bench <name>``,
``compare <file.nir | checkpoint>``.

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
from neurotwin.compare import (
    ClassifierComparison,
    Comparison,
    classifier_figure,
    compare,
    compare_classifier,
    comparison_figure,
)
from neurotwin.errors import ConfigError, NeurotwinError
from neurotwin.experiments import EXPERIMENTS, load_config, run_experiment, run_on_ranks
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
    if args.ranks is not None:
        record = run_on_ranks(args.experiment, args.ranks, config, seed=args.seed,
                              backend=args.backend, out_dir=out_dir)
        _print_record(console, experiment.description, record, out_dir)
        return
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
    _print_record(console, experiment.description, record, out_dir)


def _print_record(console: Console, description: str, record: dict[str, Any], out_dir: Path
                  ) -> None:
    console.print(f"[bold]{record['experiment']}[/bold]: {description}")
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


def backend_options(words: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``BACKEND.KEY=VALUE`` words into ``{backend: {key: value}}``, values read as
    JSON where they parse (``1.0``, ``true``) and kept as text otherwise.

    Raises
    ------
    ConfigError
        For a word not of that form.
    """
    options: dict[str, dict[str, Any]] = {}
    for word in words:
        target, has_value, value = word.partition("=")
        backend, dot, key = target.partition(".")
        if not (has_value and dot and backend and key):
            raise ConfigError(f"--option must look like BACKEND.KEY=VALUE (e.g. "
                              f"spinnaker2.tick_ms=1.0), got {word!r}")
        try:
            options.setdefault(backend, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            options.setdefault(backend, {})[key] = value
    return options


def comparison_tables(comparison: Comparison | ClassifierComparison) -> list[Table]:
    """The tables of :meth:`Comparison.table` (agreement, cost) or of
    :meth:`ClassifierComparison.table` (accuracy, cost) as rich tables."""
    tables = []
    first = ((comparison.AGREEMENT, comparison.agreement_rows())
             if isinstance(comparison, Comparison)
             else (comparison.ACCURACY, comparison.accuracy_rows()))
    for header, rows in (first, (comparison.COST, comparison.cost_rows())):
        table = Table()
        for k, name in enumerate(header):
            # Numbers never wrap; text (a resource, a "cannot run" reason) may.
            is_number = 0 < k and name not in ("population", "most used resource")
            table.add_column(name, justify="right" if is_number else "left",
                             no_wrap=is_number or k == 0)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return tables


CHECKPOINT_SUFFIX = ".pt"
"""A ``compare`` argument ending so (or a folder) is a trained experiment's checkpoint."""


def _compare_checkpoint(args: argparse.Namespace) -> ClassifierComparison:
    from neurotwin.experiments.trained import load_trained  # torch and the data sets

    for flag, value in (("--duration", args.duration), ("--dt", args.dt),
                        ("--time-unit", args.time_unit),
                        ("--discretisation", args.discretisation)):
        if value is not None:
            raise ConfigError(f"{flag} applies to a NIR file; a checkpoint runs its test "
                              "samples for the experiment's t_max at its deploy_dt")
    task = load_trained(args.network, samples=args.samples)
    return compare_classifier(
        task, [name.strip() for name in args.backends.split(",") if name.strip()],
        seed=args.seed, options=backend_options(args.option),
    )


def compare_command(args: argparse.Namespace, console: Console) -> None:
    """``neurotwin compare``: one NIR network or trained checkpoint on several backends;
    write compare.json and compare.png, print the tables."""
    out_dir = writable_folder(args.out)
    if args.network.suffix == CHECKPOINT_SUFFIX or args.network.is_dir():
        trained = _compare_checkpoint(args)
        (out_dir / "compare.json").write_text(json.dumps(trained.to_dict(), indent=2) + "\n")
        classifier_figure(trained, out_dir / "compare.png")
        console.print(trained.title())
        for table in comparison_tables(trained):
            console.print(table)
        console.print(f"results in {out_dir}/ (compare.json, compare.png)")
        return
    if args.duration is None:
        raise ConfigError("--duration (ms) is required for a NIR file")
    comparison = compare(
        args.network,
        args.duration,
        [name.strip() for name in args.backends.split(",") if name.strip()],
        seed=args.seed,
        reference=args.reference,
        window_ms=args.window,
        options=backend_options(args.option),
        dt=args.dt,
        time_unit=args.time_unit,
        discretisation=args.discretisation,
    )
    (out_dir / "compare.json").write_text(json.dumps(comparison.to_dict(), indent=2) + "\n")
    comparison_figure(comparison, out_dir / "compare.png")
    console.print(comparison.title())
    for table in comparison_tables(comparison):
        console.print(table)
    console.print(f"results in {out_dir}/ (compare.json, compare.png)")


def _add_compare_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compare",
        help="run one NIR network or trained checkpoint on several backends; write "
        "DIR/compare.json and .png",
        description="Run a NIR network on several backends and compare each with the "
        "reference: spike agreement (coincidence factor), rates, time, energy, resources. "
        "Given a trained experiment's checkpoint (best.pt, checkpoint.pt or its folder), "
        "run its test samples and report task accuracy per backend instead.",
    )
    parser.add_argument("network", type=Path,
                        help="NIR file (HDF5), or a trained experiment's best.pt / "
                        "checkpoint.pt / run folder")
    parser.add_argument("--duration", type=float,
                        help="model time, ms (required for a NIR file)")
    parser.add_argument("--samples", type=int, default=50,
                        help="test samples of a checkpoint (default: 50)")
    parser.add_argument("--backends", default="ideal,bss2,spinnaker2",
                        help="comma-separated backend names (default: ideal,bss2,spinnaker2)")
    parser.add_argument("--reference", default="ideal",
                        help="backend the others are compared with (default: ideal)")
    parser.add_argument("--out", type=Path, default=Path("results/compare"),
                        help="output directory (default: results/compare)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--window", type=float, default=2.0,
                        help="coincidence window, ms (default: 2)")
    parser.add_argument("--option", action="append", default=[], metavar="BACKEND.KEY=VALUE",
                        help="a map option of one backend, e.g. spinnaker2.tick_ms=1.0 "
                        "(repeatable)")
    parser.add_argument("--dt", type=float, help="time step, ms (default: from the file)")
    parser.add_argument("--time-unit", type=float,
                        help="ms per NIR time unit (default: nir.read's; docs/nir.md)")
    parser.add_argument("--discretisation",
                        help="how NIR's ODEs are stepped (default: nir.read's; docs/nir.md)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neurotwin`` command."""
    parser = argparse.ArgumentParser(
        prog="neurotwin",
        description="Software twins of BrainScaleS-2 and SpiNNaker2: run experiments "
        "and benchmarks, compare backends.",
    )
    parser.add_argument("--version", action="version", version=neurotwin.__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "info", help="versions, registered backends, models, experiments, benchmarks, devices"
    )
    run_parser = commands.add_parser("run", help="run an experiment; write results/<experiment>/")
    run_parser.add_argument("experiment", help="experiment name (see `neurotwin info`)")
    run_parser.add_argument(
        "--config",
        help='config overrides: a JSON file, or the JSON itself, e.g. \'{"n_neurons": 200}\'',
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
    run_parser.add_argument(
        "--ranks", type=int,
        help="run over N processes on this machine (the ideal backend's sharded engine; "
        "experiments that simulate with nt.simulate only; docs/distributed.md)",
    )
    bench_parser = commands.add_parser(
        "bench",
        help="run a benchmark; write bench/results/<name>.json",
        description="Run a benchmark. Options after the name (--key value, --flag) are "
        "passed to it as keyword arguments.",
    )
    bench_parser.add_argument("name", help="benchmark name (see `neurotwin info`)")
    bench_parser.add_argument("options", nargs=argparse.REMAINDER, help="--key value ...")
    _add_compare_parser(commands)
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
        "compare": lambda: compare_command(args, console),
    }
    try:
        commands[args.command]()
    except NeurotwinError as err:
        errors.print(f"neurotwin: error: {err}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
