"""The ``spinnaker2`` backend: map a network onto a SpiNNaker2 machine and run it tick by
tick with the chip's numerics, routing every packet through the generated router tables:
``map`` compiles (:mod:`.program`), ``run`` runs (:mod:`.runtime`, the compiled tick loop
of :mod:`.tick`)::

    res = nt.simulate(net, 1000.0, backend="spinnaker2", machine=s2.Machine(1),
                      tick_ms=1.0, weight_format="int4_delay", clock_mhz=300.0)
    res.cost.deadline_misses, res.cost.link_packets, res.cost.energy_j
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from neurotwin.backends.base import BACKENDS, Backend
from neurotwin.engines.distributed.comm import DEFAULT_TIMEOUT_S
from neurotwin.engines.result import Result
from neurotwin.engines.synapse_dynamics import refuse_dynamic
from neurotwin.errors import ConfigError, MappingError
from neurotwin.network import Network
from neurotwin.spinnaker2.distributed import ShardedS2Program, run_s2_sharded, shard_s2_program
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.mapping import map_network
from neurotwin.spinnaker2.partition import check_models
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.program import S2Program, compile_program
from neurotwin.spinnaker2.runtime import run_program
from neurotwin.spinnaker2.specs import DEFAULT_TICK_MS

__all__ = ["SpiNNaker2Backend"]


DYNAMIC_SYNAPSES_NEED = {
    name: "on SpiNNaker2 plasticity is PE software (as sPyNNaker's STDP and short-term "
    "plasticity on SpiNNaker 1): each synaptic row would carry per-synapse state words and "
    "the PE a history of its neurons' spikes, updated at each arriving packet; the twin's "
    "rows (spinnaker2/rows.py) hold a fixed 4- or 8-bit weight and its cycle model "
    "(spinnaker2/cost.py) has no such update"
    for name in ("TsodyksMarkram", "PairSTDP", "Bernoulli")
}
"""Why the SpiNNaker2 twin refuses each dynamic synapse type, and what it would need."""

@BACKENDS.register("spinnaker2")
class SpiNNaker2Backend(Backend):
    """The SpiNNaker2 twin (see :mod:`neurotwin.spinnaker2.program` and :mod:`.tick`)."""

    name = "spinnaker2"
    map_options = ("machine", "tick_ms", "weight_format", "clock_mhz", "weight_scale",
                   "rounding", "deadline", "placement", "neurons_per_pe", "sources_per_pe",
                   "rates", "compress", "ranks", "timeout_s")

    def map(
        self,
        network: Network,
        machine: Machine | None = None,
        tick_ms: float = DEFAULT_TICK_MS,
        weight_format: str = "int4_delay",
        clock_mhz: float | None = None,
        weight_scale: float | Mapping[str, float] | None = None,
        rounding: str = "nearest",
        deadline: str = "report",
        placement: Placement | None = None,
        ranks: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        **mapping_options: Any,
    ) -> S2Program | ShardedS2Program:
        """Place, route and quantise ``network``.

        Parameters
        ----------
        network
            The network (not modified).
        machine
            Target machine; default the fewest 48-chip boards that hold it.
        tick_ms
            Real-time tick, ms of model time (default 1.0; ``network.dt`` for a run on
            the network's own grid). Neuron propagators, delays and source times are
            taken on the tick grid; traces are held on the dt grid.
        weight_format
            "int4_delay" (4-bit weights, 1..8 tick delays) or "int8" (no delays).
        clock_mhz
            PE clock, MHz: a DVFS level (150 or 300), for the cycle budget and the energy
            per cycle (default the machine's level).
        weight_scale
            nA per weight LSB: None (per population and receptor: largest weight maps to
            the format's limit), a float, or population label -> float.
        rounding
            "nearest" or "exact" (ConfigError for any weight off the integer grid).
        deadline
            "report" deadline misses in the cost, or "raise" CapacityError.
        placement
            A ready placement of ``network`` (e.g. with edited router tables); then
            ``machine`` and mapping options must not be given.
        ranks
            Processes to run over, each the PEs of whole chips (docs/distributed.md;
            default torchrun's world size, else 1): a
            :class:`~neurotwin.spinnaker2.distributed.ShardedS2Program` for several.
        timeout_s
            Time-out of every collective of a run over several ranks, s.
        **mapping_options
            Passed to :func:`~neurotwin.spinnaker2.map_network` (``neurons_per_pe``,
            ``sources_per_pe``, ``rates``, ``compress``).
        """
        self.check_options(mapping_options)
        refuse_dynamic(network, "The SpiNNaker2 twin", DYNAMIC_SYNAPSES_NEED, MappingError)
        check_models(network)  # before placing: the LIF application only
        if placement is None:
            placement = map_network(network, machine, tick_ms=tick_ms, **mapping_options)
        elif machine is not None or mapping_options:
            raise ConfigError("give either placement or machine/mapping options, not both")
        if not isinstance(placement, Placement):
            raise ConfigError(f"placement must be a Placement, got {type(placement).__name__}")
        clock = placement.machine.clock_mhz if clock_mhz is None else clock_mhz
        prog = compile_program(network, placement, tick_ms=tick_ms, clock_mhz=clock,
                               weight_format=weight_format, weight_scale=weight_scale,
                               rounding=rounding, deadline=deadline)
        return shard_s2_program(prog, ranks, timeout_s)

    def run(
        self,
        artefact: S2Program | ShardedS2Program,
        duration: float,
        seed: int = 0,
        trials: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> Result:
        """Run the program for ``duration`` ms; ``Result.cost`` is an ``S2Cost``."""
        if isinstance(artefact, ShardedS2Program):
            res = run_s2_sharded(artefact, duration, seed=seed, trials=trials, progress=progress)
            prog = artefact.program
        elif isinstance(artefact, S2Program):
            res = run_program(artefact, duration, seed=seed, trials=trials, progress=progress)
            prog = artefact
        else:
            raise ConfigError(f"artefact must be an S2Program, got {type(artefact).__name__}")
        return replace(res, cost=replace(res.cost, build_time_s=prog.placement.map_time_s))
