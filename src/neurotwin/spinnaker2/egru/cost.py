"""Time, data moved and energy of one sequence through a placed EGRU or GRU.

Unlike a dense DNN, an EGRU's cost depends on its input: the events of every step decide
the recurrent and output MAC jobs, the ARM's gather work and the NoC traffic. Per step
``t`` of a sequence (the PEs of the layer in parallel, steps one after the other)::

    input_us[t]   = DMA of the input step (I bytes) from DRAM to every PE, sharing the
                    chip's DRAM rate (accelerators.dram_transfer_us)
    compute_us[t] = max over PEs of (MAC cycles + ARM cycles) / clock   (deploy.step_cycles)
    send_us[t]    = max over PEs of noc_transfer_cycles(bytes it receives) / clock:
                    EGRU: EVENT_BYTES per event of the other PEs; GRU: 1 byte per unit of
                    the other PEs
    latency_us    = sum over t of the three + adding the PEs' output sums on the first PE
                    (NoC, 4 B per class and PE; CYCLES_PER_PARTIAL_SUM each) + logits to DRAM

Energy per sequence (J), as for the DNN twin (:mod:`..dnn.cost`)::

    pe   = E_cycle(V) x all MAC and ARM cycles (cost.energy_per_cycle)
    dram = ENERGY_PER_DRAM_BYTE_J x bytes between DRAM and PEs
    noc  = ENERGY_PER_NOC_BYTE_J x bytes between PEs
    idle = CHIP_IDLE_POWER_W x every chip of the machine x latency

No PE is charged more cycles than ``clock x compute_us`` of its step. ``active`` is
``pe + dram + noc``: the part that the activity of the network changes directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.spinnaker2.accelerators import dram_transfer_us, noc_transfer_cycles
from neurotwin.spinnaker2.cost import energy_per_cycle
from neurotwin.spinnaker2.egru.deploy import RnnProgram, step_cycles
from neurotwin.spinnaker2.egru.run import RnnRun
from neurotwin.spinnaker2.specs import (
    CHIP_IDLE_POWER_W,
    CYCLES_PER_PARTIAL_SUM,
    ENERGY_PER_DRAM_BYTE_J,
    ENERGY_PER_NOC_BYTE_J,
    EVENT_BYTES,
)

__all__ = ["ACCUMULATOR_BYTES", "RnnCost", "estimate_rnn_cost"]

ACCUMULATOR_BYTES = 4
"""One 32-bit output sum or logit."""


@dataclass(frozen=True)
class RnnCost:
    """Mean cost of one sequence over the sequences of a run (module docstring).

    Parameters
    ----------
    clock_mhz
        PE clock, MHz.
    latency_us
        One sequence from its first input step in DRAM to the logits in DRAM, µs.
    mac_cycles, arm_cycles
        MAC-array and ARM cycles of all PEs per sequence.
    macs
        Multiply-accumulates per sequence (input, recurrent, output products).
    noc_bytes, dram_bytes
        Bytes moved per sequence between PEs and between DRAM and PEs.
    energy_j
        Energy per sequence, J; ``energy_breakdown`` splits it into pe, dram, noc, idle.
    activity
        Fraction of units sending per step (1 for the GRU).
    """

    clock_mhz: float
    latency_us: float
    mac_cycles: float
    arm_cycles: float
    macs: tuple[float, float, float]
    noc_bytes: float
    dram_bytes: float
    energy_j: float
    energy_breakdown: dict[str, float]
    activity: float

    @property
    def active_energy_j(self) -> float:
        """PE, DRAM and NoC energy, J (without the idle power of the chips)."""
        return sum(v for k, v in self.energy_breakdown.items() if k != "idle")

    def summary(self) -> dict[str, float]:
        """The figures as plain numbers (for JSON and tables)."""
        return {"latency_us": self.latency_us, "mac_cycles": self.mac_cycles,
                "arm_cycles": self.arm_cycles, "macs": float(sum(self.macs)),
                "macs_input": self.macs[0], "macs_recurrent": self.macs[1],
                "macs_output": self.macs[2], "noc_bytes": self.noc_bytes,
                "dram_bytes": self.dram_bytes, "energy_j": self.energy_j,
                "active_energy_j": self.active_energy_j, "activity": self.activity,
                **{f"energy_{k}_j": v for k, v in self.energy_breakdown.items()}}


def estimate_rnn_cost(program: RnnProgram, run: RnnRun) -> RnnCost:
    """Mean time, data and energy per sequence of the sequences in ``run`` (module docstring),
    at the program's clock."""
    model, clock = program.model, program.clock_mhz
    n, steps, pes = run.own_events.shape
    mac = np.zeros((n, steps, pes), dtype=np.int64)
    arm = np.zeros_like(mac)
    noc = np.zeros_like(mac)
    for p, sl in enumerate(program.slices):
        mac[:, :, p], arm[:, :, p] = step_cycles(model, sl.n_units, run.received[:, :, p],
                                                 run.own_events[:, :, p])
        others = run.own_events.sum(axis=2) - run.own_events[:, :, p]
        noc[:, :, p] = others * (EVENT_BYTES if model.kind == "egru" else 1)
    noc_cycles = np.vectorize(noc_transfer_cycles, otypes=[np.int64])(noc)
    step_us = (dram_transfer_us(pes * model.n_inputs)
               + (mac + arm).max(axis=2) / clock + noc_cycles.max(axis=2) / clock)
    out_bytes = ACCUMULATOR_BYTES * model.n_classes
    final_us = ((noc_transfer_cycles((pes - 1) * out_bytes)
                 + (pes - 1) * model.n_classes * CYCLES_PER_PARTIAL_SUM) / clock
                + dram_transfer_us(out_bytes))
    latency = float(step_us.sum(axis=1).mean()) + final_us
    mac_total = float(mac.sum(axis=(1, 2)).mean())
    arm_total = float(arm.sum(axis=(1, 2)).mean()) + (pes - 1) * model.n_classes \
        * CYCLES_PER_PARTIAL_SUM
    noc_bytes = float(noc.sum(axis=(1, 2)).mean()) + (pes - 1) * out_bytes
    dram_bytes = float(steps * pes * model.n_inputs + out_bytes)
    breakdown = {
        "pe": energy_per_cycle(clock) * (mac_total + arm_total),
        "dram": ENERGY_PER_DRAM_BYTE_J * dram_bytes,
        "noc": ENERGY_PER_NOC_BYTE_J * noc_bytes,
        "idle": CHIP_IDLE_POWER_W * program.machine.n_chips * latency * 1e-6,
    }
    macs = run.macs.mean(axis=0)
    return RnnCost(clock_mhz=clock, latency_us=latency, mac_cycles=mac_total,
                   arm_cycles=arm_total, macs=(float(macs[0]), float(macs[1]), float(macs[2])),
                   noc_bytes=noc_bytes, dram_bytes=dram_bytes,
                   energy_j=sum(breakdown.values()), energy_breakdown=breakdown,
                   activity=run.activity)
