r"""A trained classifier on several backends: task accuracy, latency, hardware time, energy
and resources side by side (``neurotwin compare <checkpoint>``; see ``docs/compare.md``).

The network is a feed-forward stack of LIF layers as EventProp trains it (every layer the
same neuron, signed weights, time-to-first-spike readout): the class of a sample is the
output neuron that fires first within ``t_max``. Samples run side by side, as separate
copies of the stack (block-diagonal weights ``kron(I_chunk, W)``, every neuron starting
at rest), as many per backend run as the backend holds: the first run of a backend that
raises :class:`~neurotwin.errors.CapacityError` is retried with
``floor(chunk x available / needed)`` samples until it fits (one sample that does not
fit: the backend cannot run the task). Every projection has ``receptor=None`` and a
delay of one step, so layer k's output is ``k + 1`` steps later than the event engine's
(about ``(layers + 1) dt``, see :mod:`neurotwin.experiments.deployment`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from neurotwin.backends.base import Backend
from neurotwin.compare.comparison import (
    CANNOT_RUN,
    check_backends,
    jsonable,
    number,
    text_table,
)
from neurotwin.dynamics.lif import LIF
from neurotwin.errors import CapacityError, ConfigError, check_int, check_multiple_of
from neurotwin.network import Network, Population, SpikeSourceArray
from neurotwin.spikes import SpikeBatch

__all__ = [
    "ClassifierComparison",
    "ClassifierRun",
    "ClassifierTask",
    "classifier_network",
    "compare_classifier",
    "run_duration",
]

DEFAULT_CHUNK = 100
"""Samples per backend run to try first."""

RUN_GRID_MS = 1.0
"""Runs last a whole number of these, ms (where dt divides it): SpiNNaker2 runs whole
ticks (1 ms by default). Output spikes after the decision window do not count."""


def run_duration(window: float, dt: float) -> float:
    """The shortest run, ms, that covers ``window`` ms in whole :data:`RUN_GRID_MS` (or in
    whole ``dt`` where dt does not divide it)."""
    steps_per_grid = RUN_GRID_MS / dt
    grid = RUN_GRID_MS if abs(steps_per_grid - round(steps_per_grid)) < 1e-9 else dt
    return math.ceil(window / grid - 1e-9) * grid


@dataclass(frozen=True, eq=False)
class ClassifierTask:
    """A trained feed-forward LIF stack and labelled test samples.

    Parameters
    ----------
    name
        What was trained, for the table (e.g. ``"yinyang seed 0, epoch 3"``).
    weights
        Weight matrices ``(n_in, n_out)`` of the layers in order, nA (signed).
    neuron
        The neuron of every layer (``tau_refrac = 0``).
    samples
        Input spikes, one sample per row; ``samples.n_sources == weights[0].shape[0]``.
    labels
        Class of each sample, int (n_samples,), in ``[0, n_out)``.
    t_max
        Window of a sample, ms: the first output spike within it decides the class.
    dt
        Time step of the backend runs, ms (``t_max`` a multiple of it).
    event_classes
        The class the exact event engine (training's forward pass) predicts per sample,
        -1 where no output fires; None if not known.
    """

    name: str
    weights: tuple[np.ndarray, ...]
    neuron: LIF
    samples: SpikeBatch
    labels: np.ndarray
    t_max: float
    dt: float
    event_classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.weights:
            raise ConfigError("a classifier needs at least one layer of weights")
        for k, (a, b) in enumerate(zip(self.weights, self.weights[1:], strict=False)):
            if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
                raise ConfigError(
                    f"layer {k} has weights of shape {a.shape}, layer {k + 1} {b.shape}: each "
                    "layer must take as many inputs as the one before has neurons"
                )
        if self.samples.n_sources != self.weights[0].shape[0]:
            raise ConfigError(
                f"the samples have {self.samples.n_sources} input sources, the first layer "
                f"takes {self.weights[0].shape[0]}"
            )
        n, n_out = len(self.samples), self.weights[-1].shape[1]
        for what, values in (("labels", self.labels), ("event_classes", self.event_classes)):
            if values is not None and np.shape(values) != (n,):
                raise ConfigError(f"{what} must have one entry per sample ({n}), got shape "
                                  f"{np.shape(values)}")
        if n and (self.labels.min() < 0 or self.labels.max() >= n_out):
            raise ConfigError(f"labels must lie in [0, {n_out}) (the output layer's neurons), "
                              f"got {self.labels.min()}..{self.labels.max()}")
        check_multiple_of("t_max", self.t_max, self.dt)

    @property
    def n_classes(self) -> int:
        return int(self.weights[-1].shape[1])

    @property
    def neurons_per_sample(self) -> int:
        return sum(int(w.shape[1]) for w in self.weights)


def classifier_network(task: ClassifierTask, indices: slice) -> Network:
    """The stack once per sample of ``task.samples[indices]``, side by side; the output
    layer (``"layer<L-1>"``) records spikes; sample c's neurons are ``c n + k``."""
    part = task.samples.take(indices)
    c = len(part)
    trains: list[np.ndarray] = []
    for s in range(c):
        times, ids = part.times[s], part.ids[s]
        trains.extend(times[ids == k] for k in range(part.n_sources))
    net = Network(dt=task.dt)
    pre = net.add(SpikeSourceArray(trains, label="input"))
    for k, w in enumerate(task.weights):
        post = net.add(Population(c * w.shape[1], task.neuron, label=f"layer{k}"))
        net.connect(pre, post, sp.csr_array(sp.kron(sp.eye_array(c), sp.csr_array(w))),
                    receptor=None, delays=task.dt)
        pre = post
    net.record(pre, "spikes")
    return net


@dataclass(frozen=True)
class ClassifierRun:
    """What one backend made of the task.

    Parameters
    ----------
    backend, options
        Its name and map options.
    cannot_run
        Why it could not (the error's message); None when it ran.
    samples_per_run
        Samples simulated side by side per backend run.
    accuracy
        Fraction of samples whose first output spike is the label's (silent: wrong).
    event_agreement
        Fraction of samples with the event engine's class (None if unknown).
    silent
        Fraction of samples without an output spike.
    latency_ms
        Median time of the deciding (first) output spike over samples that decide, ms.
    map_time_s, run_time_s
        Wall-clock time of all maps and all runs here, s.
    hardware_time_us
        Sum over runs of the time the hardware would take, µs; None for software.
    energy_j
        Sum over runs of the energy estimate, J; None without an energy model.
    resources
        Resource -> (used, available) of the first (largest) run.
    """

    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)
    cannot_run: str | None = None
    samples_per_run: int = 0
    accuracy: float | None = None
    event_agreement: float | None = None
    silent: float | None = None
    latency_ms: float | None = None
    map_time_s: float | None = None
    run_time_s: float | None = None
    hardware_time_us: float | None = None
    energy_j: float | None = None
    resources: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassifierComparison:
    """A trained classifier on several backends (see :func:`compare_classifier`)."""

    task: str
    n_samples: int
    seed: int
    event_accuracy: float | None
    runs: tuple[ClassifierRun, ...]

    ACCURACY = ("backend", "accuracy", "= event engine", "silent", "latency ms",
                "samples/run")
    COST = ("backend", "map s", "run s", "hw µs", "energy J", "most used resource")

    def title(self) -> str:
        event = "" if self.event_accuracy is None else (
            f", event engine accuracy {100 * self.event_accuracy:.2f} %")
        return f"{self.task}: {self.n_samples} test samples, seed {self.seed}{event}"

    def accuracy_rows(self) -> list[tuple[str, ...]]:
        """Rows under :attr:`ACCURACY` (percentages), one per backend."""
        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.2f} %"

        return [
            (r.backend, f"cannot run: {r.cannot_run}", "", "", "", "") if r.cannot_run else
            (r.backend, pct(r.accuracy), pct(r.event_agreement), pct(r.silent),
             number(r.latency_ms), str(r.samples_per_run))
            for r in self.runs
        ]

    def cost_rows(self) -> list[tuple[str, ...]]:
        """Rows under :attr:`COST`, one per backend."""
        rows: list[tuple[str, ...]] = []
        for r in self.runs:
            if r.cannot_run:
                rows.append((r.backend, "cannot run", "", "", "", ""))
                continue
            usable = {k: v for k, v in r.resources.items() if v[1] > 0}
            tight = max(usable, key=lambda k: usable[k][0] / usable[k][1], default="")
            used = f"{tight} {usable[tight][0]:.6g}/{usable[tight][1]:.6g}" if tight else ""
            rows.append((r.backend, number(r.map_time_s, 3), number(r.run_time_s, 3),
                         number(r.hardware_time_us),
                         "no model" if r.energy_j is None else number(r.energy_j, 3), used))
        return rows

    def table(self) -> str:
        """Title, accuracy table and cost table as plain text."""
        return "\n\n".join([self.title(), text_table(self.ACCURACY, self.accuracy_rows()),
                            text_table(self.COST, self.cost_rows())])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (units in key names; undefined numbers null)."""
        return {
            "task": self.task, "n_samples": self.n_samples, "seed": self.seed,
            "event_accuracy": self.event_accuracy,
            "backends": {
                r.backend: {
                    "options": {k: jsonable(v) for k, v in r.options.items()},
                    **{k: jsonable(getattr(r, k)) for k in (
                        "cannot_run", "samples_per_run", "accuracy", "event_agreement",
                        "silent", "latency_ms", "map_time_s", "run_time_s",
                        "hardware_time_us", "energy_j")},
                    "resources": {k: list(v) for k, v in r.resources.items()},
                }
                for r in self.runs
            },
        }


def _fitting_chunk(err: CapacityError, chunk: int) -> int:
    """Fewer samples per run after ``err``, in proportion to what the chip has; 0 when
    even one sample does not fit."""
    if chunk <= 1:
        return 0
    if err.needed > 0 and err.available > 0:
        return max(1, min(chunk - 1, math.floor(chunk * err.available / err.needed)))
    return chunk - 1


def _run_backend(
    task: ClassifierTask, name: str, backend: Backend, seed: int,
    options: Mapping[str, Any], chunk: int,
) -> ClassifierRun:
    """All samples on one backend; first output spike per (sample, class) decides."""
    n, n_out = len(task.samples), task.n_classes
    first = np.full((n, n_out), math.inf)
    window = task.t_max + len(task.weights) * task.dt  # the layers' one-step delays
    duration = run_duration(window, task.dt)
    mapping = running = 0.0
    hardware: float | None = 0.0
    energy: float | None = 0.0
    resources: Mapping[str, tuple[float, float]] = {}
    start = 0
    while start < n:
        stop = min(start + chunk, n)
        net = classifier_network(task, slice(start, stop))
        try:
            began = time.perf_counter()
            artefact = backend.map(net, **options)
            mapped = time.perf_counter()
            result = backend.run(artefact, duration, seed=seed, trials=1)
        except CapacityError as err:
            if start > 0:  # a later, no larger chunk cannot need more than the first
                raise
            chunk = _fitting_chunk(err, chunk)
            if chunk < 1:
                return ClassifierRun(name, dict(options), cannot_run=str(err))
            continue
        except CANNOT_RUN as err:
            return ClassifierRun(name, dict(options), cannot_run=str(err))
        mapping += mapped - began
        running += time.perf_counter() - mapped
        cost = result.cost
        hardware = None if hardware is None or cost.hardware_time_us is None else (
            hardware + cost.hardware_time_us)
        energy = None if energy is None or cost.energy_j is None else energy + cost.energy_j
        resources = resources or dict(cost.resources)
        times, ids = result.spikes(f"layer{len(task.weights) - 1}")
        inside = times <= window + 1e-9
        times, ids = times[inside], ids[inside]
        np.minimum.at(first, (ids // n_out + start, ids % n_out), times)
        start = stop
    decided = np.isfinite(first).any(axis=1)
    classes = np.where(decided, np.argmin(first, axis=1), -1)
    return ClassifierRun(
        name, dict(options), samples_per_run=min(chunk, n),
        accuracy=float(np.mean(classes == task.labels)),
        event_agreement=None if task.event_classes is None else float(
            np.mean(classes == task.event_classes)),
        silent=float(np.mean(~decided)),
        latency_ms=float(np.median(first.min(axis=1)[decided])) if decided.any() else None,
        map_time_s=mapping, run_time_s=running, hardware_time_us=hardware, energy_j=energy,
        resources=resources,
    )


def compare_classifier(
    task: ClassifierTask,
    backends: Sequence[str],
    *,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> ClassifierComparison:
    """Run a trained classifier on several backends; accuracy and cost per backend.

    Parameters
    ----------
    task
        The trained stack and its test samples.
    backends
        Registered backend names, in the order of the table.
    seed
        Seed of every run.
    options
        Backend name -> its map options, checked against the backend's ``map_options``.
    chunk
        Samples per backend run to try first (fewer where a backend cannot hold them).

    Raises
    ------
    ConfigError
        Before any run: an unknown backend, a name given twice, options for a backend
        not compared or that it does not take, a bad seed or chunk. A backend that cannot
        hold even one sample is reported (``cannot_run``), not raised.
    """
    if not backends:
        raise ConfigError("backends must name at least one backend")
    seed = check_int("seed", seed, low=0)
    chunk = check_int("chunk", chunk, low=1)
    options = {} if options is None else options
    chosen = check_backends(backends, backends[0], options)
    runs = tuple(_run_backend(task, name, backend, seed, options.get(name, {}), chunk)
                 for name, backend in chosen)
    event = None if task.event_classes is None else float(
        np.mean(task.event_classes == task.labels))
    return ClassifierComparison(task.name, len(task.samples), seed, event, runs)
