"""The experiment contract and registry, config loading, and the common runner.

An experiment is a config dataclass plus a ``run`` function registered under a name::

    @register_experiment("cuba", CubaConfig)
    def run(config, seed, backend, out_dir, progress) -> dict: ...

``run`` builds and simulates its networks, writes its plots into ``out_dir`` and returns
its metrics as a JSON-able dict. :func:`run_experiment` is what the CLI calls: it loads
and checks the config, runs the experiment and writes ``out_dir/metrics.json`` (metrics
plus what produced them: experiment, version, backend, seed, config).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

import neurotwin
from neurotwin.backends import BACKENDS
from neurotwin.engines.distributed import world_from_env
from neurotwin.engines.distributed.launch import launch
from neurotwin.errors import ConfigError, DataError, check_int
from neurotwin.registry import Registry

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ProgressCallback",
    "RunFunction",
    "config_from_dict",
    "load_config",
    "register_experiment",
    "run_experiment",
    "run_on_ranks",
    "writable_folder",
    "write_json",
]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done_steps, total_steps)`` while a simulation runs."""


class RunFunction(Protocol):
    """What an experiment's ``run`` looks like."""

    def __call__(
        self,
        config: Any,
        seed: int,
        backend: str,
        out_dir: Path,
        progress: ProgressCallback | None,
    ) -> dict[str, Any]:
        """Run with ``config``; write plots into ``out_dir``; return JSON-able metrics."""
        ...


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Parameters
    ----------
    name
        The name used on the command line (``neurotwin run NAME``).
    config_type
        The config dataclass; every field has a default, JSON files override some.
    run
        The experiment itself (see :class:`RunFunction`).
    description
        One line saying what it does (the first line of ``run``'s docstring).
    runs_on
        Where the experiment always runs when the backend is not the user's choice
        (``"bss2"``, ``"spinnaker2"``, ``"event engine"``); None when it runs on the
        backend it is given.
    sharded
        True when its run simulates with ``nt.simulate`` on the backend it is given, so
        that on the ``ideal`` backend it can run over several ranks
        (``neurotwin run NAME --ranks N``, :func:`run_on_ranks`).
    """

    name: str
    config_type: type[Any]
    run: RunFunction
    description: str
    runs_on: str | None = None
    sharded: bool = False

    def backend_for(self, backend: str | None) -> str:
        """The backend a run uses: ``backend`` (default ``"ideal"``) for an experiment
        that takes one; its own for one that does not, where naming another is an error."""
        if self.runs_on is None:
            name = "ideal" if backend is None else backend
            BACKENDS.get(name)  # fail before any work if the name is unknown
            return name
        if backend is not None and backend != self.runs_on:
            raise ConfigError(
                f"experiment {self.name!r} always runs on {self.runs_on}; a backend "
                f"({backend!r}) does not apply to it"
            )
        return self.runs_on


EXPERIMENTS: Registry[Experiment] = Registry("experiment")
"""Experiments by name, filled by :func:`register_experiment`."""

F = TypeVar("F", bound=RunFunction)


def register_experiment(
    name: str, config_type: type[Any], runs_on: str | None = None, sharded: bool = False
) -> Callable[[F], F]:
    """Decorator registering a ``run`` function as experiment ``name`` with its config;
    ``runs_on`` names where it always runs if the backend is not the user's choice;
    ``sharded`` says it may run over several ranks (:attr:`Experiment.sharded`)."""
    if not dataclasses.is_dataclass(config_type):
        raise ConfigError(f"config of experiment {name!r} must be a dataclass")

    def add(run: F) -> F:
        doc = (run.__doc__ or "").strip()
        description = doc.splitlines()[0] if doc else name
        EXPERIMENTS.register(name)(
            Experiment(name, config_type, run, description, runs_on, sharded)
        )
        return run

    return add


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against the annotation ``tp`` (JSON types only: bool, int, float,
    str, None and unions of them); ints are accepted for floats. Other annotations pass
    through unchanged and are left to the dataclass's own validation."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(key, value, option)
            except ConfigError:
                continue
        names = " or ".join(_type_name(a) for a in typing.get_args(tp)).replace("NoneType", "null")
        raise ConfigError(f"config key {key!r} must be {names}, got {value!r}")
    ok: bool
    if tp is type(None):
        ok = value is None
    elif tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        return value
    if not ok:
        raise ConfigError(f"config key {key!r} must be {_type_name(tp)}, got {value!r}")
    return value


def config_from_dict(config_type: type[Any], data: Mapping[str, Any]) -> Any:
    """Build ``config_type`` from ``data``: defaults for missing keys, types checked.

    Raises
    ------
    ConfigError
        For a key that is not a field (the message lists the valid ones), a value of the
        wrong type, or a value the config's own validation rejects.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"config must be a JSON object (key: value), got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(config_type) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)} for {config_type.__name__}; "
            f"valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(config_type)
    values = {key: _coerce(key, value, hints[key]) for key, value in data.items()}
    return config_type(**values)


def load_config(config_type: type[Any], source: str | Path) -> Any:
    """Build ``config_type`` from JSON overrides: a file's path, or the JSON object itself
    (a string starting with ``{``, as in ``--config '{"iterations": 2000}'``).

    Raises
    ------
    DataError
        If the file cannot be read or the JSON is not valid.
    ConfigError
        As :func:`config_from_dict`.
    """
    inline = isinstance(source, str) and source.lstrip().startswith("{")
    where = "--config JSON" if inline else f"config file {str(source)!r}"
    if inline:
        text = str(source)
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise DataError(f"cannot read {where}: {err.strerror}") from None
        except UnicodeDecodeError as err:
            raise DataError(
                f"{where} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
                f"{err.start}); write the JSON as UTF-8"
            ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{where} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    try:
        return config_from_dict(config_type, data)
    except ConfigError as err:
        raise ConfigError(f"{'--config' if inline else source}: {err}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON (numpy scalars and arrays converted)."""
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def writable_folder(path: str | Path) -> Path:
    """``path`` created if missing and checked to take new files, before any work is done.

    Raises
    ------
    ConfigError
        If the folder cannot be created (a file in the way, no permission) or written.
    """
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".neurotwin-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"output folder {str(out)!r} cannot be written: {err.strerror or err}; "
            f"choose another with --out"
        ) from None
    return out


def run_experiment(
    name: str,
    config: Any = None,
    seed: int = 0,
    backend: str | None = None,
    out_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Run experiment ``name`` and write ``out_dir/metrics.json``; return what was written.

    Parameters
    ----------
    name
        A registered experiment (``EXPERIMENTS.names()``).
    config
        None (defaults), a mapping of overrides, or an instance of the experiment's config.
    seed
        Seed of every random draw (network construction and simulation), >= 0.
    backend
        A registered backend name (default ``"ideal"``), for experiments that run on the
        backend they are given; None for the others, which name their own
        (:attr:`Experiment.runs_on`, recorded in ``metrics.json``).
    out_dir
        Where metrics and plots go; default ``results/<name>`` in the working directory;
        checked to be writable before the run starts.
    progress
        Optional ``progress(done_steps, total_steps)`` callback for the simulation.

    Returns
    -------
    dict with keys ``experiment``, ``version``, ``backend``, ``seed``, ``config``,
    ``metrics`` (the experiment's own) and ``out_dir``.
    """
    exp = EXPERIMENTS.get(name)
    if config is None:
        config = exp.config_type()
    elif isinstance(config, Mapping):
        config = config_from_dict(exp.config_type, config)
    elif not isinstance(config, exp.config_type):
        raise ConfigError(
            f"config of {name!r} must be a {exp.config_type.__name__} or a mapping, "
            f"got {type(config).__name__}"
        )
    check_int("seed", seed, low=0)
    backend = exp.backend_for(backend)
    out = writable_folder(Path("results") / name if out_dir is None else Path(out_dir))
    metrics = exp.run(config, seed=seed, backend=backend, out_dir=out, progress=progress)
    record = {
        "experiment": name,
        "version": neurotwin.__version__,
        "backend": backend,
        "seed": seed,
        "config": dataclasses.asdict(config),
        "metrics": metrics,
    }
    write_json(out / "metrics.json", record)
    return {**record, "out_dir": str(out)}


def run_on_ranks(
    name: str,
    ranks: int,
    config: Any = None,
    seed: int = 0,
    backend: str | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """:func:`run_experiment` over ``ranks`` processes on this machine: each runs the
    experiment as one rank of its simulations (``nt.simulate`` finds the ranks in the
    environment, as under torchrun, docs/distributed.md); rank 0 writes ``out_dir``.

    Raises
    ------
    ConfigError
        For an experiment that is not :attr:`Experiment.sharded`, or a backend other
        than ``"ideal"``.
    """
    exp = EXPERIMENTS.get(name)
    check_int("ranks", ranks, low=1)
    if not exp.sharded:
        runs = [n for n in EXPERIMENTS.names() if EXPERIMENTS.get(n).sharded]
        raise ConfigError(
            f"experiment {name!r} cannot run over several ranks (its run does not simulate "
            f"with nt.simulate on the backend it is given); those that can: "
            f"{', '.join(runs) or '(none)'}"
        )
    if exp.backend_for(backend) != "ideal":
        raise ConfigError(f"--ranks runs the 'ideal' backend only, got backend {backend!r}")
    out = writable_folder(Path("results") / name if out_dir is None else Path(out_dir))
    return launch(_experiment_rank, ranks, (name, config, seed, out))


def _experiment_rank(name: str, config: Any, seed: int, out_dir: Path) -> dict[str, Any]:
    """One rank of :func:`run_on_ranks`: rank 0 writes ``out_dir``, the others a scratch
    folder (their results are the same)."""
    world = world_from_env()
    if world is None or world[0] == 0:
        return run_experiment(name, config, seed=seed, backend="ideal", out_dir=out_dir)
    with tempfile.TemporaryDirectory(prefix=f"neurotwin-rank{world[0]}-") as scratch:
        return run_experiment(name, config, seed=seed, backend="ideal", out_dir=scratch)
