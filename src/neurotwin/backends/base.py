"""The backend contract, the backend registry and :func:`simulate`.

A backend turns a :class:`~neurotwin.network.Network` into an inspectable artefact
(``map``) and runs that artefact (``run``). ``map`` never mutates the network; the
artefact can be kept, saved (where the backend supports it) and run many times.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError, check_int
from neurotwin.network import Network
from neurotwin.registry import Registry

__all__ = ["BACKENDS", "Backend", "get_backend", "simulate"]


class Backend(ABC):
    """What every backend implements."""

    name: ClassVar[str]
    map_options: ClassVar[tuple[str, ...]] = ()
    """The keyword options ``map`` takes (what :func:`simulate` passes on to it)."""

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` naming every option ``map`` does not take, with the
        ones it does: the same error whatever the backend."""
        unknown = sorted(set(options) - set(self.map_options))
        if unknown:
            raise ConfigError(
                f"unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(k) for k in unknown)} for backend {self.name!r}; known: "
                f"{', '.join(self.map_options) or '(none)'}"
            )

    @abstractmethod
    def map(self, network: Network, **options: Any) -> Any:
        """Translate ``network`` into this backend's artefact (validated, inspectable)."""

    @abstractmethod
    def run(
        self,
        artefact: Any,
        duration: float,
        seed: int = 0,
        trials: int = 1,
        progress: Any = None,
    ) -> Result:
        """Run ``artefact`` for ``duration`` ms, ``trials`` independent trials.

        ``progress``, if given, is called as ``progress(done_steps, total_steps)``.
        """


BACKENDS: Registry[type[Backend]] = Registry("backend")
"""Backend classes by name, filled by ``@BACKENDS.register``."""


def get_backend(backend: str | Backend) -> Backend:
    """A backend instance from a registered name, or the instance itself."""
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise ConfigError(f"backend must be a name or a Backend, got {type(backend).__name__}")
    return BACKENDS.get(backend)()


def simulate(
    network: Network,
    duration: float,
    backend: str | Backend = "ideal",
    seed: int = 0,
    trials: int = 1,
    progress: Any = None,
    **options: Any,
) -> Result:
    """Map ``network`` onto ``backend`` and run it for ``duration`` ms.

    Parameters
    ----------
    network
        The network to run.
    duration
        Model time in ms, a multiple of ``network.dt``.
    backend
        A registered backend name (see ``neurotwin info``) or a :class:`Backend`.
    seed
        Seed of every random draw in the run (Poisson sources, noise).
    trials
        Number of independent trials run as one batch.
    progress
        Optional callback ``progress(done_steps, total_steps)``.
    **options
        Passed to the backend's ``map`` (e.g. ``device``, ``dtype`` for "ideal"; each
        backend's ``map_options``).

    Raises
    ------
    ConfigError
        Before any work: a bad duration, trial count or seed, an unknown backend or an
        option the backend does not take.
    """
    check_int("trials", trials, low=1)
    check_int("seed", seed, low=0)
    if not isinstance(network, Network):
        raise ConfigError(f"network must be a Network, got {type(network).__name__}")
    network.steps(duration)  # checks the duration (a number, a multiple of dt)
    chosen = get_backend(backend)
    chosen.check_options(options)
    start = time.perf_counter()
    artefact = chosen.map(network, **options)
    build = time.perf_counter() - start
    result = chosen.run(artefact, duration, seed=seed, trials=trials, progress=progress)
    return replace(result, cost=replace(result.cost, build_time_s=build))
