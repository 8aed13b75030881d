"""The ``ideal`` backend: the network in floating point on the time-stepped engine, with
no hardware constraints. The reference every hardware twin is compared against."""

from __future__ import annotations

from typing import Any

from neurotwin.backends.base import BACKENDS, Backend
from neurotwin.engines.distributed import (
    DEFAULT_TIMEOUT_S,
    ShardedProgram,
    resolve_ranks,
    run_sharded,
    shard_program,
)
from neurotwin.engines.result import Result
from neurotwin.engines.step import StepProgram, compile_network, run_program
from neurotwin.network import Network

__all__ = ["IdealBackend"]

SHARD_OPTIONS = ("ranks", "exchange_ms", "timeout_s")
"""The ``map`` options of a run over several processes (docs/distributed.md)."""


@BACKENDS.register("ideal")
class IdealBackend(Backend):
    """Float simulation of the network as described (see :mod:`neurotwin.engines.step`).

    ``map`` options: ``dtype`` ("float64" default, or "float32"), ``device`` ("cpu",
    "cuda", ...), ``kernel`` ("auto": numba on CPU, torch elsewhere; or "numba", "torch");
    and for a run over several processes (:mod:`neurotwin.engines.distributed`):
    ``ranks`` (default: torchrun's world size, else 1), ``exchange_ms`` (default: the
    smallest delay between neurons) and ``timeout_s`` (of every collective, default
    300 s).
    """

    name = "ideal"
    map_options = ("dtype", "device", "kernel", *SHARD_OPTIONS)

    def map(self, network: Network, **options: Any) -> StepProgram | ShardedProgram:
        """Compile ``network`` for the time-stepped engine (``options``: :attr:`map_options`);
        a :class:`~neurotwin.engines.distributed.ShardedProgram` for several ranks."""
        self.check_options(options)
        sharding = {key: options.pop(key) for key in SHARD_OPTIONS if key in options}
        sharding.setdefault("timeout_s", DEFAULT_TIMEOUT_S)
        ranks, _ = resolve_ranks(sharding.get("ranks"), sharding["timeout_s"])
        # over several ranks, each rank builds the synapses onto its own neurons
        return shard_program(compile_network(network, synapses=ranks == 1, **options),
                             **sharding)

    def run(
        self,
        artefact: StepProgram | ShardedProgram,
        duration: float,
        seed: int = 0,
        trials: int = 1,
        progress: Any = None,
    ) -> Result:
        """Run the compiled network; ``Result.cost`` has wall time only (no hardware)."""
        if isinstance(artefact, ShardedProgram):
            return run_sharded(artefact, duration, seed=seed, trials=trials, progress=progress)
        return run_program(artefact, duration, seed=seed, trials=trials, progress=progress)
