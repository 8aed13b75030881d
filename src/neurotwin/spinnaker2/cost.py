"""The ``spinnaker2`` backend's cost: ticks, deadline misses, packets per link, energy::

    hardware_time_us = ticks * tick_ms * 1000 * trials      (real time: one tick per tick_ms;
                                                             trials one after the other)
                     + late cycles / clock_mhz               (late ticks, below)
    energy_j = CHIP_IDLE_POWER_W * chips of the machine * hardware time   (SpiNNaker1 figure)
             + E_cycle(V) * active PE cycles (all PEs, all ticks)           (assumption)
             + ENERGY_PER_BIT_ROUTED_J * PACKET_BITS * link traversals    (SpiNNaker1 figure)
    E_cycle(V) = ENERGY_PER_CYCLE_J * (V / ENERGY_REFERENCE_V) ** 2, V = DVFS_SUPPLY_V[clock]

**Late ticks.** A PE cannot run more than ``clock_mhz`` cycles per µs. A tick ends when
its slowest PE finishes (:mod:`.tick`): a tick whose busiest PE needs more than the budget
lasts longer, and the run's hardware time grows by the cycles over, divided by the clock.
So every cycle charged was run within the hardware time, and no run reports more PE-cycle
energy than ``E_cycle(V) * clock_mhz * hardware_time_us * PEs used``. ``late_us`` says by
how much the run fell behind real time; the misses say where.

**Idle power** is drawn by every chip of the machine (``Machine.n_chips``), used or not:
the machine is powered as a whole.

Packets per link are counted from the packets actually routed: every spike of a unit
crosses the links its key's route uses (followed through the router tables).
No energy figure per event is published for SpiNNaker2; the SpiNNaker1 constants
over-estimate a 22 nm SpiNNaker2 chip and are labelled as such (see ``docs/spinnaker2.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurotwin.engines.result import Cost
from neurotwin.spinnaker2.program import S2Program
from neurotwin.spinnaker2.report import resources as placement_resources
from neurotwin.spinnaker2.specs import (
    CHIP_IDLE_POWER_W,
    DVFS_SUPPLY_V,
    ENERGY_PER_BIT_ROUTED_J,
    ENERGY_PER_CYCLE_J,
    ENERGY_REFERENCE_V,
    LINKS_PER_CHIP,
    PACKET_BITS,
)

__all__ = ["DeadlineMiss", "S2Cost", "energy_per_cycle", "estimate_cost"]


def energy_per_cycle(clock_mhz: float) -> float:
    """Energy of one active PE cycle at the DVFS level ``clock_mhz``, J: the reference
    energy scaled by the square of the level's supply voltage (see ``specs.DVFS_SUPPLY_V``)."""
    return ENERGY_PER_CYCLE_J * (DVFS_SUPPLY_V[clock_mhz] / ENERGY_REFERENCE_V) ** 2


@dataclass(frozen=True)
class DeadlineMiss:
    """A PE that would not finish a tick's work in time.

    Parameters
    ----------
    trial, tick
        Where in the run (tick j covers model time [j, j + 1) * tick_ms).
    chip
        (x, y) of the chip.
    pe
        PE index on the chip (0..151).
    node
        Label of the node whose slice runs there.
    cycles, budget_cycles
        Cycles the tick needed and the cycles a tick has at the clock.
    over_us
        By how much the PE is late, µs: (cycles - budget) / clock.
    """

    trial: int
    tick: int
    chip: tuple[int, int]
    pe: int
    node: str
    cycles: int
    budget_cycles: int
    over_us: float


@dataclass(frozen=True)
class S2Cost(Cost):
    """:class:`~neurotwin.engines.result.Cost` plus the SpiNNaker2 specifics.

    Parameters
    ----------
    ticks
        Ticks per trial.
    tick_ms, clock_mhz
        Tick length (ms) and PE clock (MHz) of the run.
    budget_cycles
        Cycles per tick and PE at that clock.
    deadline_misses
        The misses (at most ``runtime.MISS_CAPACITY`` kept), in order of occurrence.
    deadline_miss_count
        All misses (PE-ticks over the budget), all trials.
    max_over_us
        By how much the latest PE-tick of all misses (kept or not) is late, µs (0 without
        misses).
    late_us
        Time the late ticks add to the run, µs (included in ``hardware_time_us``; 0 when
        the run keeps real time).
    max_pe_cycles
        Largest cycles any PE needed in one tick.
    packets_sent
        Multicast packets sent by PEs, all trials.
    packets_delivered
        Packets handed to PEs (to PEs without a slice included), all trials.
    link_packets
        (n_chips, 6) packets that crossed each outgoing link, all trials.
    energy_breakdown
        Energy per term of the model, J ("idle", "pe_cycles", "links").
    pe_max_cycles, pe_mean_cycles
        (n_slices,) per PE (slice order of the placement): largest cycles in one tick,
        and cycles per tick averaged over ticks and trials.
    """

    ticks: int = 0
    tick_ms: float = 1.0
    clock_mhz: float = 0.0
    budget_cycles: int = 0
    deadline_misses: tuple[DeadlineMiss, ...] = ()
    deadline_miss_count: int = 0
    max_over_us: float = 0.0
    late_us: float = 0.0
    max_pe_cycles: int = 0
    packets_sent: int = 0
    packets_delivered: int = 0
    link_packets: np.ndarray = field(
        default_factory=lambda: np.zeros((0, LINKS_PER_CHIP), np.int64), compare=False, repr=False
    )
    energy_breakdown: dict[str, float] = field(default_factory=dict, compare=False)
    pe_max_cycles: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64), compare=False, repr=False
    )
    pe_mean_cycles: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.float64), compare=False, repr=False
    )


def estimate_cost(
    prog: S2Program,
    ticks: int,
    trials: int,
    wall_time_s: float,
    unit_spikes: np.ndarray,
    total_cycles: np.ndarray,
    max_cycles: np.ndarray,
    late_cycles: int,
    misses: tuple[DeadlineMiss, ...],
    miss_count: int,
    duration: float,
) -> S2Cost:
    """Cost of a run of ``prog`` (see the module docstring for the model).

    Parameters
    ----------
    prog
        The program that ran.
    ticks, trials
        Ticks per trial, number of trials.
    wall_time_s
        Wall-clock time of the emulation here, s.
    unit_spikes
        (n_units,) spikes of every unit, summed over trials.
    total_cycles, max_cycles
        (n_slices,) cycles of every PE summed over ticks and trials / largest in a tick.
    late_cycles
        Cycles by which the slowest PE of each tick ran over the budget, summed over ticks
        and trials.
    misses, miss_count
        Recorded deadline misses and their total number.
    duration
        Model time per trial, ms.
    """
    pl = prog.placement
    sent = unit_spikes * prog.sends
    per_class = np.bincount(prog.unit_class, weights=sent, minlength=prog.hops.shape[0])
    link = np.rint(prog.hops.T @ per_class).astype(np.int64)
    n_deliv = np.diff(prog.class_ptr)[prog.unit_class]
    late_us = late_cycles / prog.clock_mhz
    hardware_us = ticks * prog.tick_ms * 1e3 * trials + late_us
    worst = int(max_cycles.max(initial=0))
    breakdown = {
        "idle": CHIP_IDLE_POWER_W * pl.machine.n_chips * hardware_us * 1e-6,
        "pe_cycles": energy_per_cycle(prog.clock_mhz) * float(total_cycles.sum()),
        "links": ENERGY_PER_BIT_ROUTED_J * PACKET_BITS * float(link.sum()),
    }
    resources = placement_resources(pl)
    resources["PE cycles per tick, max"] = (float(worst), float(prog.budget_cycles))
    return S2Cost(
        bio_time_ms=duration,
        wall_time_s=wall_time_s,
        hardware_time_us=hardware_us,
        energy_j=float(sum(breakdown.values())),
        resources=resources,
        ticks=ticks,
        tick_ms=prog.tick_ms,
        clock_mhz=prog.clock_mhz,
        budget_cycles=prog.budget_cycles,
        deadline_misses=misses,
        deadline_miss_count=miss_count,
        max_over_us=max(worst - prog.budget_cycles, 0) / prog.clock_mhz,
        late_us=late_us,
        max_pe_cycles=worst,
        packets_sent=int(sent.sum()),
        packets_delivered=int((sent * n_deliv).sum()),
        link_packets=np.asarray(link, np.int64).reshape(-1, LINKS_PER_CHIP),
        energy_breakdown=breakdown,
        pe_max_cycles=np.asarray(max_cycles, np.int64),
        pe_mean_cycles=np.asarray(total_cycles, np.float64) / max(ticks * trials, 1),
    )
