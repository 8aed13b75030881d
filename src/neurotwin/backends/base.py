"""The backend contract, the backend registry and :func:`simulate`.

A backend turns a :class:`~neurotwin.network.Network` into an inspectable artefact
(``map``) and runs that artefact (``run``). ``map`` never mutates the network; the
artefact can be kept, saved (where the backend supports it) and run many times.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError
from neurotwin.network import Network
from neurotwin.registry import Registry

__all__ = ["BACKENDS", "Backend", "get_backend", "simulate"]


class Backend(ABC):
    """What every backend implements."""

    name: ClassVar[str]

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
        Passed to the backend's ``map`` (e.g. ``device``, ``dtype`` for "ideal").
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    chosen = get_backend(backend)
    start = time.perf_counter()
    artefact = chosen.map(network, **options)
    build = time.perf_counter() - start
    result = chosen.run(artefact, duration, seed=seed, trials=trials, progress=progress)
    return replace(result, cost=replace(result.cost, build_time_s=build))
