"""The ``ideal`` backend: the network in floating point on the time-stepped engine, with
no hardware constraints. The reference every hardware twin is compared against."""

from __future__ import annotations

from typing import Any

from neurotwin.backends.base import BACKENDS, Backend
from neurotwin.engines.result import Result
from neurotwin.engines.step import StepProgram, compile_network, run_program
from neurotwin.network import Network

__all__ = ["IdealBackend"]


@BACKENDS.register("ideal")
class IdealBackend(Backend):
    """Float simulation of the network as described (see :mod:`neurotwin.engines.step`).

    ``map`` options: ``dtype`` ("float64" default, or "float32"), ``device`` ("cpu",
    "cuda", ...), ``kernel`` ("auto": numba on CPU, torch elsewhere; or "numba", "torch").
    """

    name = "ideal"
    map_options = ("dtype", "device", "kernel")

    def map(self, network: Network, **options: Any) -> StepProgram:
        """Compile ``network`` for the time-stepped engine (``options``: :attr:`map_options`)."""
        self.check_options(options)
        return compile_network(network, **options)

    def run(
        self,
        artefact: StepProgram,
        duration: float,
        seed: int = 0,
        trials: int = 1,
        progress: Any = None,
    ) -> Result:
        """Run the compiled network; ``Result.cost`` has wall time only (no hardware)."""
        return run_program(artefact, duration, seed=seed, trials=trials, progress=progress)
