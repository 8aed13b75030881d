"""Running a hybrid program on the twin, and what one inference costs.

Per sample: the front end runs on its PEs (:func:`~neurotwin.spinnaker2.dnn.run_dnn`,
bit-exact with torch's int8 model); its output codes become spike trains
(:class:`.RateCode`), sent by the last DNN stage's PEs tick by tick as multicast packets
through the router tables to the readout's PEs, where the spiking stage runs in the
twin's tick loop (:func:`~neurotwin.spinnaker2.runtime.run_program`, one run per sample:
the readout starts from rest every time).

Cost per inference (means over the samples)::

    dnn_us     = sum over DNN stages of (input transfer + compute)   (dnn.estimate_dnn_cost,
                 without its final DMA to DRAM: the last stage's PEs send the result)
    snn_us     = run_ticks x tick + late ticks                       (spinnaker2.cost)
    latency_us = dnn_us + snn_us
    energy     = DNN PE cycles, DRAM and NoC bytes (dnn.cost)  + SNN PE cycles and link
                 hops (spinnaker2.cost) + CHIP_IDLE_POWER_W x chips x latency

Cycles per PE: the MAC-array and ARM cycles of each DNN PE per inference, and the cycles
of each SNN PE summed over the inference's ticks (the senders, which are DNN PEs, have
both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from neurotwin.engines.plan import SourcePlan
from neurotwin.engines.poisson import poisson_nodes
from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.cost import S2Cost
from neurotwin.spinnaker2.dnn.cost import estimate_dnn_cost
from neurotwin.spinnaker2.dnn.run import run_dnn
from neurotwin.spinnaker2.hybrid.program import SNN_LABEL, HybridProgram
from neurotwin.spinnaker2.hybrid.readout import decide
from neurotwin.spinnaker2.runtime import run_program
from neurotwin.spinnaker2.specs import CHIP_IDLE_POWER_W, ENERGY_PER_DRAM_BYTE_J

__all__ = ["HybridCost", "HybridRun", "run_hybrid", "source_plan_of"]


@dataclass(frozen=True)
class HybridCost:
    """Cost of one inference, averaged over the samples run (module docstring).

    Parameters
    ----------
    latency_us, dnn_us, snn_us
        Input in DRAM to the readout's decision; its DNN and spiking parts, µs.
    energy_j
        Energy per inference, J; ``energy_breakdown`` per term (dnn_pe, dram, noc,
        snn_pe, links, idle).
    pe_cycles
        (n_pes, 4) int64 per PE used: chip, PE, DNN cycles per inference (MAC + ARM),
        SNN cycles per inference (rounded mean); DNN PEs first, then the readout's.
    packets_sent, packets_delivered, link_hops
        Multicast packets sent by the senders, handed to PEs, and chip-to-chip link
        traversals, per inference.
    router_entries, router_entries_before
        Router table entries of all chips after and before compression.
    deadline_misses
        PE-ticks over the budget, all samples; ``max_pe_cycles`` the largest cycles of
        a PE in one tick, ``budget_cycles`` the budget.
    """

    latency_us: float
    dnn_us: float
    snn_us: float
    energy_j: float
    energy_breakdown: dict[str, float]
    pe_cycles: np.ndarray = field(repr=False)
    packets_sent: float
    packets_delivered: float
    link_hops: float
    router_entries: int
    router_entries_before: int
    deadline_misses: int
    max_pe_cycles: int
    budget_cycles: int

    def summary(self) -> dict[str, float]:
        """The headline figures as plain numbers (for JSON and tables)."""
        return {"latency_us": self.latency_us, "dnn_us": self.dnn_us, "snn_us": self.snn_us,
                "energy_j": self.energy_j, "packets_sent": self.packets_sent,
                "packets_delivered": self.packets_delivered, "link_hops": self.link_hops,
                "router_entries": float(self.router_entries),
                "router_entries_before_compression": float(self.router_entries_before),
                "pes": float(len(self.pe_cycles)), "deadline_misses": float(self.deadline_misses),
                "max_pe_cycles_per_tick": float(self.max_pe_cycles),
                "budget_cycles_per_tick": float(self.budget_cycles),
                **{f"energy_{k}_j": v for k, v in self.energy_breakdown.items()}}


@dataclass(frozen=True, eq=False)
class HybridRun:
    """What the twin computed for a batch of samples.

    Parameters
    ----------
    features
        (N, F) uint8 codes of the DNN stage.
    spikes
        Per sample the readout's spikes as (tick, neuron) int64 arrays, sorted.
    counts
        (N, n_out) spikes per readout neuron.
    v_last
        (N, n_out) float32 membrane at the start of the last tick, mV.
    cost
        Per-inference cost.
    """

    features: np.ndarray
    spikes: tuple[tuple[np.ndarray, np.ndarray], ...]
    counts: np.ndarray
    v_last: np.ndarray
    cost: HybridCost

    @property
    def predictions(self) -> np.ndarray:
        """(N,) class of each sample (:func:`.readout.decide`)."""
        return decide(self.counts, self.v_last)


def source_plan_of(spikes: np.ndarray) -> SourcePlan:
    """The senders' emissions of one sample: ``spikes`` (F, ticks) spikes of feature
    (= source index) f in tick t, as the runtime's plan (sorted by tick, then source)."""
    feature, tick = np.nonzero(spikes)
    repeats = spikes[feature, tick].astype(np.int64)
    order = np.lexsort((feature, tick))
    return SourcePlan(np.repeat(tick[order], repeats[order]).astype(np.int64),
                      np.repeat(feature[order], repeats[order]).astype(np.int64),
                      poisson_nodes([]))


def _cost(program: HybridProgram, costs: list[S2Cost]) -> HybridCost:
    dnn = estimate_dnn_cost(program.dnn)
    out_bytes = program.dnn.stages[-1].out_bytes
    dnn_us = sum(a + b for a, b in dnn.stage_us)
    snn_us = float(np.mean([c.hardware_time_us for c in costs]))
    latency = dnn_us + snn_us
    pl = program.snn.placement
    snn_cycles = np.mean([c.pe_mean_cycles * c.ticks for c in costs], axis=0)
    slot = {(int(c), int(p)): i for i, (c, p) in enumerate(zip(pl.slice_chip, pl.slice_pe,
                                                                strict=True))}
    rows = []
    for chip, pe, _, mac, arm in dnn.pe_cycles.tolist():
        s = slot.pop((chip, pe), None)
        rows.append((chip, pe, mac + arm, 0 if s is None else round(snn_cycles[s])))
    rows += [(c, p, 0, round(snn_cycles[s])) for (c, p), s in slot.items()]
    breakdown = {
        "dnn_pe": dnn.energy_breakdown["pe"],
        "dram": ENERGY_PER_DRAM_BYTE_J * (dnn.dram_bytes - out_bytes),
        "noc": dnn.energy_breakdown["noc"],
        "snn_pe": float(np.mean([c.energy_breakdown["pe_cycles"] for c in costs])),
        "links": float(np.mean([c.energy_breakdown["links"] for c in costs])),
        "idle": CHIP_IDLE_POWER_W * pl.machine.n_chips * latency * 1e-6,
    }
    return HybridCost(
        latency_us=latency, dnn_us=dnn_us, snn_us=snn_us,
        energy_j=float(sum(breakdown.values())), energy_breakdown=breakdown,
        pe_cycles=np.array(rows, np.int64),
        packets_sent=float(np.mean([c.packets_sent for c in costs])),
        packets_delivered=float(np.mean([c.packets_delivered for c in costs])),
        link_hops=float(np.mean([c.link_packets.sum() for c in costs])),
        router_entries=int(pl.tables.sizes.sum()),
        router_entries_before=int(pl.entries_before.sum()),
        deadline_misses=sum(c.deadline_miss_count for c in costs),
        max_pe_cycles=max(c.max_pe_cycles for c in costs),
        budget_cycles=program.snn.budget_cycles)


def run_hybrid(program: HybridProgram, codes: np.ndarray,
               progress: Callable[[int, int], None] | None = None) -> HybridRun:
    """Run ``program`` on input codes, one inference per sample.

    Parameters
    ----------
    program
        From :func:`.program.deploy_hybrid`.
    codes
        ``(N, *in_shape)`` uint8 input codes
        (:func:`~neurotwin.spinnaker2.dnn.quantise_input`), N >= 1.
    progress
        Called with (samples done, N).

    Raises
    ------
    ConfigError
        Codes that are not uint8 of the front end's input shape, or no sample.
    """
    codes = np.asarray(codes)
    if codes.ndim < 1 or codes.shape[0] == 0:
        raise ConfigError("run_hybrid needs at least one sample")
    features = run_dnn(program.dnn, codes)
    if features.shape[1] != program.snn.n_sources:  # guards the compiled tick loop
        raise ConfigError(f"{features.shape[1]} features for {program.snn.n_sources} "
                          "senders' sources: the program is inconsistent")
    spikes = program.code.spikes(features, program.zero_point)
    tick = program.tick_ms
    per_sample, costs, v_last = [], [], []
    counts = np.zeros((features.shape[0], program.readout.n_out), np.int64)
    for n in range(features.shape[0]):
        snn = replace(program.snn, sources=source_plan_of(spikes[n]))
        res = run_program(snn, program.run_ticks * tick)
        times, ids = res.spikes(SNN_LABEL)
        ticks = np.rint(times / tick).astype(np.int64) - 1
        order = np.lexsort((ids, ticks))
        per_sample.append((ticks[order], ids[order].astype(np.int64)))
        np.add.at(counts[n], ids, 1)
        v_last.append(res.trace(SNN_LABEL, "v")[-1].numpy())
        assert isinstance(res.cost, S2Cost)
        costs.append(res.cost)
        if progress is not None:
            progress(n + 1, features.shape[0])
    return HybridRun(features, tuple(per_sample), counts, np.array(v_last, np.float32),
                     _cost(program, costs))
