"""One network on several backends: spike agreement, time, energy and resources side by
side (``neurotwin compare``; see ``docs/compare.md``)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from neurotwin.backends.base import Backend, get_backend
from neurotwin.compare.agreement import population_coincidence
from neurotwin.engines.result import Result
from neurotwin.errors import (
    CapacityError,
    ConfigError,
    MappingError,
    check_int,
    check_positive,
)
from neurotwin.network import Network, Population
from neurotwin.network import nir as ntnir

__all__ = ["BackendRun", "Comparison", "PopulationAgreement", "compare"]

DEFAULT_BACKENDS = ("ideal", "bss2", "spinnaker2")
CANNOT_RUN = (CapacityError, MappingError, ConfigError)
"""What a backend raises for a network it cannot hold or express: reported, not raised."""


@dataclass(frozen=True)
class PopulationAgreement:
    """One recorded population on one backend, against the reference backend.

    Parameters
    ----------
    label
        The population.
    rate_hz
        Mean firing rate, Hz: spikes / (neurons x duration).
    rate_ratio
        ``rate_hz`` / the reference backend's rate; None when the reference is silent or
        could not run.
    coincidence
        Mean coincidence factor Gamma against the reference (dimensionless, 1 = the same
        spikes; :func:`~neurotwin.compare.agreement.population_coincidence`); None when
        the reference could not run or Gamma is undefined for every active neuron.
    """

    label: str
    rate_hz: float
    rate_ratio: float | None
    coincidence: float | None


@dataclass(frozen=True, eq=False)
class BackendRun:
    """What one backend did with the network.

    Parameters
    ----------
    backend
        Its registered name.
    options
        The map options it was given.
    cannot_run
        Why the backend could not map or run the network (the error's message); None
        when it ran, and then every field below is set.
    map_time_s, run_time_s
        Wall-clock time of ``map`` and of ``run`` here, s (numba's first compilation
        included).
    hardware_time_us
        Time the hardware would take, µs; None for software backends.
    energy_j
        Energy estimate, J; None where the backend has no energy model.
    resources
        Resource name -> (used, available), from ``Result.cost``.
    populations
        Agreement of each compared population, in the order of ``Comparison.populations``.
    result
        The run itself (spikes for the figure); not part of :meth:`Comparison.to_dict`.
    """

    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)
    cannot_run: str | None = None
    map_time_s: float | None = None
    run_time_s: float | None = None
    hardware_time_us: float | None = None
    energy_j: float | None = None
    resources: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    populations: tuple[PopulationAgreement, ...] = ()
    result: Result | None = None

    def tightest_resource(self) -> str:
        """The resource closest to its limit, as ``name used/available``; '' if none."""
        usable = {k: v for k, v in self.resources.items() if v[1] > 0}
        if not usable:
            return ""
        name = max(usable, key=lambda k: usable[k][0] / usable[k][1])
        used, available = usable[name]
        return f"{name} {used:.6g}/{available:.6g}"


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns two spaces apart under a dashed rule."""
    # A "cannot run" reason flows past the columns rather than widening them.
    fitted = [header, *(r for r in rows if not r[1].startswith("cannot run: "))]
    widths = [max(len(line[c]) for line in fitted) for c in range(len(header))]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     .rstrip() for line in lines)


def jsonable(value: Any) -> Any:
    """Numbers, text and None as they are; anything else (a Chip, a Machine) as its repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return repr(value)


@dataclass(frozen=True, eq=False)
class Comparison:
    """One network run on several backends (see :func:`compare`).

    Parameters
    ----------
    duration
        Model time of every run, ms.
    seed
        Seed of every run.
    reference
        The backend the others are compared with.
    window_ms
        Coincidence window Delta, ms.
    populations
        Labels of the compared (spike-recorded) populations.
    runs
        One per backend, in the order asked for.
    """

    duration: float
    seed: int
    reference: str
    window_ms: float
    populations: tuple[str, ...]
    runs: tuple[BackendRun, ...]

    AGREEMENT = ("backend", "population", "rate Hz", "x ref", "Gamma")
    COST = ("backend", "map s", "run s", "hw µs", "energy J", "most used resource")

    def title(self) -> str:
        """One line: duration, seed, reference and window."""
        return (f"{self.duration:g} ms, seed {self.seed}, reference {self.reference}, "
                f"Gamma window {self.window_ms:g} ms")

    def agreement_rows(self) -> list[tuple[str, ...]]:
        """Rows under :attr:`AGREEMENT`, as text: one per backend and population, one
        ``cannot run: <reason>`` row per backend that could not run."""
        rows: list[tuple[str, ...]] = []
        for run in self.runs:
            if run.cannot_run is not None:
                rows.append((run.backend, f"cannot run: {run.cannot_run}", "", "", ""))
            for k, pop in enumerate(run.populations):
                rows.append((run.backend if k == 0 else "", pop.label, number(pop.rate_hz),
                             number(pop.rate_ratio, 3), number(pop.coincidence, 3)))
        return rows

    def cost_rows(self) -> list[tuple[str, ...]]:
        """Rows under :attr:`COST`, as text: one per backend."""
        return [
            (run.backend, "cannot run", "", "", "", "") if run.cannot_run is not None else
            (run.backend, number(run.map_time_s, 3), number(run.run_time_s, 3),
             number(run.hardware_time_us),
             "no model" if run.energy_j is None else number(run.energy_j, 3),
             run.tightest_resource())
            for run in self.runs
        ]

    def table(self) -> str:
        """The comparison as plain text: the title, the agreement table, the cost table
        (the CLI prints the same rows with rich)."""
        return "\n\n".join([self.title(), text_table(self.AGREEMENT, self.agreement_rows()),
                             text_table(self.COST, self.cost_rows())])

    def to_dict(self) -> dict[str, Any]:
        """Everything but the runs' spikes, as JSON-able values (units in the key names;
        undefined numbers are null)."""
        return {
            "duration_ms": self.duration,
            "seed": self.seed,
            "reference": self.reference,
            "window_ms": self.window_ms,
            "populations": list(self.populations),
            "backends": {
                run.backend: {
                    "options": {k: jsonable(v) for k, v in run.options.items()},
                    "cannot_run": run.cannot_run,
                    "map_time_s": run.map_time_s,
                    "run_time_s": run.run_time_s,
                    "hardware_time_us": run.hardware_time_us,
                    "energy_j": run.energy_j,
                    "resources": {k: list(v) for k, v in run.resources.items()},
                    "populations": {
                        p.label: {"rate_hz": p.rate_hz, "rate_ratio": jsonable(p.rate_ratio),
                                  "coincidence": jsonable(p.coincidence)}
                        for p in run.populations
                    },
                }
                for run in self.runs
            },
        }


def _network(
    network: Network | str | Path, nir_options: Mapping[str, Any]
) -> Network:
    """The network itself, or read from a NIR file with the options given."""
    if isinstance(network, Network):
        if nir_options:
            raise ConfigError(f"{', '.join(sorted(nir_options))} only apply to a NIR file, "
                              "not to a Network")
        return network
    if isinstance(network, str | Path):
        return ntnir.read(network, **nir_options)
    raise ConfigError(f"network must be a Network or the path of a NIR file, got "
                      f"{type(network).__name__}")


def _with_spike_recordings(network: Network) -> tuple[Network, tuple[str, ...]]:
    """The network and the populations whose spikes it records; if it records none, a copy
    recording every population's spikes (the caller's network is left as it is)."""
    labels = tuple(
        label for label, variables in network.recordings.items()
        if "spikes" in variables and isinstance(network.nodes[label], Population)
    )
    if labels:
        return network, labels
    if not network.populations:
        raise ConfigError("the network has no population to compare")
    recording = copy.deepcopy(network)
    for pop in recording.populations:
        recording.record(pop, "spikes")
    return recording, tuple(str(p.label) for p in recording.populations)


def check_backends(
    names: Sequence[str], reference: str, options: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Backend]]:
    """Each backend by name, with its options checked, before anything runs."""
    if isinstance(names, str):
        raise ConfigError(f"backends must be a sequence of names, got the text {names!r}")
    if not names:
        raise ConfigError("backends must name at least one backend")
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise ConfigError(f"backends named more than once: {', '.join(twice)}")
    chosen = [(name, get_backend(name)) for name in names]
    if reference not in names:
        raise ConfigError(f"reference {reference!r} is not among the backends compared: "
                          f"{', '.join(names)}")
    stray = sorted(set(options) - set(names))
    if stray:
        raise ConfigError(f"options given for {', '.join(repr(s) for s in stray)}, not among "
                          f"the backends compared: {', '.join(names)}")
    for name, backend in chosen:
        backend.check_options(options.get(name, {}))
    return chosen


def _run_one(
    name: str, backend: Backend, network: Network, duration: float, seed: int,
    options: Mapping[str, Any],
) -> BackendRun:
    """Map and run on one backend, timing each; a network it cannot hold is reported."""
    try:
        start = time.perf_counter()
        artefact = backend.map(network, **options)
        mapped = time.perf_counter()
        result = backend.run(artefact, duration, seed=seed, trials=1)
        ran = time.perf_counter()
    except CANNOT_RUN as err:
        return BackendRun(name, dict(options), cannot_run=str(err))
    cost = result.cost
    return BackendRun(
        name, dict(options), map_time_s=mapped - start, run_time_s=ran - mapped,
        hardware_time_us=cost.hardware_time_us, energy_j=cost.energy_j,
        resources=dict(cost.resources), result=result,
    )


def _agreement(
    result: Result, reference: Result | None, labels: tuple[str, ...], window_ms: float
) -> tuple[PopulationAgreement, ...]:
    found = []
    for label in labels:
        rate = result.mean_rate(label)
        ratio = coincidence = None
        if reference is not None:
            ref_rate = reference.mean_rate(label)
            ratio = rate / ref_rate if ref_rate > 0 else None
            size = result.network.nodes[label].size
            coincidence = population_coincidence(
                reference.spikes(label), result.spikes(label), size, window_ms,
                result.duration,
            )
        found.append(PopulationAgreement(label, rate, ratio, coincidence))
    return tuple(found)


def compare(
    network: Network | str | Path,
    duration: float,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    *,
    seed: int = 0,
    reference: str = "ideal",
    window_ms: float = 2.0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    dt: float | None = None,
    time_unit: float | None = None,
    discretisation: str | None = None,
) -> Comparison:
    """Run one network on several backends and compare each with ``reference``.

    Every backend maps and runs the same network for ``duration`` ms, one trial, with the
    same seed. Per backend and spike-recorded population (every population, if the
    network records none) the comparison holds the mean rate (Hz), its ratio to the
    reference's, and the coincidence factor Gamma against the reference's spikes within
    ``window_ms`` (Kistler et al. 1997; :mod:`neurotwin.compare.agreement`); per backend
    the wall-clock time of map and run (s), the hardware time (µs), the energy (J, None
    without an energy model) and the resources (used, available) from ``Result.cost``.

    Parameters
    ----------
    network
        A :class:`~neurotwin.network.Network`, or the path of a NIR file (read with
        :func:`neurotwin.network.nir.read`).
    duration
        Model time, ms, a multiple of the network's dt.
    backends
        Registered backend names (``neurotwin info``), in the order of the table.
    seed
        Seed of every run (Poisson sources, noise).
    reference
        The backend the others are compared with; one of ``backends``.
    window_ms
        Coincidence window Delta, ms: Kistler et al. used 2 ms.
    options
        Backend name -> its map options (e.g. ``{"bss2": {"weight_scale": 30.0},
        "spinnaker2": {"tick_ms": 1.0}}``), checked against the backend's ``map_options``.
    dt, time_unit, discretisation
        Passed to :func:`neurotwin.network.nir.read` when ``network`` is a file (dt in ms,
        ms per NIR time unit, "exact" or "euler"; see ``docs/nir.md``); left out, read's
        own defaults apply.

    Raises
    ------
    ConfigError
        Before any run: an unknown backend (listing the known ones), a reference not among
        ``backends``, an option a backend does not take, a bad duration, seed or window.
        A backend that cannot hold the network (``CapacityError``, ``MappingError``,
        ``ConfigError`` from its map or run) does not raise: its run says
        ``cannot_run``.
    """
    nir_options = {k: v for k, v in (("dt", dt), ("time_unit", time_unit),
                                     ("discretisation", discretisation)) if v is not None}
    net, labels = _with_spike_recordings(_network(network, nir_options))
    net.steps(duration)  # checks the duration against dt
    seed = check_int("seed", seed, low=0)
    check_positive("window_ms", window_ms, "ms")
    options = {} if options is None else options
    chosen = check_backends(backends, reference, options)
    done = {name: _run_one(name, backend, net, duration, seed, options.get(name, {}))
            for name, backend in chosen}
    reference_result = done[reference].result
    runs = tuple(
        run if run.result is None else
        replace(run, populations=_agreement(run.result, reference_result, labels, window_ms))
        for run in done.values()
    )
    return Comparison(float(duration), seed, reference, float(window_ms), labels, runs)

