"""Time, data moved and energy of one inference of a placed int8 model (a dense model
costs the same for every input).

Per stage ``s`` (its PEs work in parallel; stages one after the other)::

    input_us[s]   = first stage: DMA of the input from DRAM to each of its PEs, all sharing
                    the chip's DRAM rate (accelerators.dram_transfer_us);
                    later stages: each PE receives the whole input over the NoC
                    (accelerators.noc_transfer_cycles / clock)
    compute_us[s] = max over the stage's PEs of (MAC cycles + ARM cycles) / clock
    latency_us    = sum over stages of (input_us + compute_us) + output DMA to DRAM
    throughput    = 1 / max over stages of (input_us + compute_us)   (stages pipelined)

Energy per inference (J)::

    pe    = E_cycle(V) x all MAC and ARM cycles of all PEs   (cost.energy_per_cycle; a MAC
            array cycle is charged as one PE cycle: assumption)
    dram  = ENERGY_PER_DRAM_BYTE_J x bytes between DRAM and PEs          (assumption)
    noc   = ENERGY_PER_NOC_BYTE_J x bytes between PEs                    (assumption)
    idle  = CHIP_IDLE_POWER_W x every chip of the machine x latency_us   (SpiNNaker1 figure)

No PE is charged more cycles than ``clock x compute_us`` of its stage, so the PE energy is
at most ``E_cycle(V) x clock x latency x PEs``. The weights are loaded once, before the
first inference (``load_bytes``, ``load_us``; not in the per-inference figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurotwin.spinnaker2.accelerators import dram_transfer_us, noc_transfer_cycles
from neurotwin.spinnaker2.cost import energy_per_cycle
from neurotwin.spinnaker2.dnn.partition import CONSTANT_BYTES_PER_OUTPUT, DnnProgram
from neurotwin.spinnaker2.specs import (
    CHIP_IDLE_POWER_W,
    ENERGY_PER_DRAM_BYTE_J,
    ENERGY_PER_NOC_BYTE_J,
)

__all__ = ["ASSUMPTIONS", "DnnCost", "estimate_dnn_cost"]

ASSUMPTIONS: tuple[str, ...] = (
    "MAC array: 64 int8 MACs/cycle and 29-bit accumulators are sourced (TU Dresden FAQ); "
    "the 4 x 16 output-stationary layout, 100 cycles per job and 16 per tile drain are "
    "assumptions",
    "ARM cycles (10 per requantised output, 2 per pooling input or ReLU, 500 per PE and "
    "layer) are assumptions; MAC array and ARM do not overlap",
    "DRAM: 6.4 GB/s per chip is sourced (datasheet), 100 ns latency is an assumption; "
    "NoC: 16 B/cycle per receiving PE and 50 cycles latency are assumptions",
    "energy: 10 pJ per PE cycle at 0.60 V scaled by V^2 (assumption, a MAC-array cycle "
    "charged as one PE cycle), 40 pJ per DRAM byte and 1 pJ per NoC byte (assumptions), "
    "0.35 W idle per chip (SpiNNaker1 figure) for every chip of the machine",
)
"""What the per-inference time and energy rest on (docs/spinnaker2_dnn.md)."""


@dataclass(frozen=True)
class DnnCost:
    """Cost of one inference (module docstring for the model).

    Parameters
    ----------
    clock_mhz
        PE clock, MHz.
    latency_us
        One inference from input in DRAM to output in DRAM, µs.
    throughput_per_s
        Inferences per second with the stages pipelined.
    stage_us
        (input_us, compute_us) per stage.
    pe_cycles
        (chip, pe, stage, MAC cycles, ARM cycles) per PE used, int64 (n_pes, 5).
    dram_bytes, noc_bytes
        Bytes moved per inference between DRAM and PEs, and between PEs.
    energy_j
        Energy per inference, J; ``energy_breakdown`` splits it into pe, dram, noc, idle.
    load_bytes, load_us
        Weights and constants moved from DRAM into the PEs once, and how long it takes.
    """

    clock_mhz: float
    latency_us: float
    throughput_per_s: float
    stage_us: tuple[tuple[float, float], ...]
    pe_cycles: np.ndarray
    dram_bytes: int
    noc_bytes: int
    energy_j: float
    energy_breakdown: dict[str, float] = field(default_factory=dict)
    load_bytes: int = 0
    load_us: float = 0.0
    assumptions: tuple[str, ...] = ASSUMPTIONS

    def summary(self) -> dict[str, float]:
        """The headline figures as plain numbers (for JSON and tables)."""
        return {"latency_us": self.latency_us, "throughput_per_s": self.throughput_per_s,
                "energy_j": self.energy_j, "dram_bytes": float(self.dram_bytes),
                "noc_bytes": float(self.noc_bytes), "pes": float(len(self.pe_cycles)),
                "pe_cycles_max": float(self.pe_cycles[:, 3:].sum(axis=1).max()),
                **{f"energy_{k}_j": v for k, v in self.energy_breakdown.items()}}


def estimate_dnn_cost(program: DnnProgram) -> DnnCost:
    """Latency, throughput, data moved and energy of one inference of ``program``."""
    clock = program.clock_mhz
    rows, stage_us = [], []
    dram_bytes = noc_bytes = load_bytes = 0
    for s, stage in enumerate(program.stages):
        n = len(stage.slices)
        if s == 0:
            dram_bytes += n * stage.in_bytes
            input_us = dram_transfer_us(n * stage.in_bytes)
        else:
            noc_bytes += n * stage.in_bytes
            input_us = noc_transfer_cycles(stage.in_bytes) / clock
        compute_us = max(sl.cycles for sl in stage.slices) / clock
        stage_us.append((input_us, compute_us))
        for sl in stage.slices:
            rows.append((sl.chip, sl.pe, s, sl.mac_cycles, sl.arm_cycles))
            c = sl.outputs[1] - sl.outputs[0]
            load_bytes += c * (stage.layer.reduction + CONSTANT_BYTES_PER_OUTPUT)
    out_bytes = program.stages[-1].out_bytes
    dram_bytes += out_bytes
    latency = sum(a + b for a, b in stage_us) + dram_transfer_us(out_bytes)
    cycles = np.array(rows, dtype=np.int64)
    breakdown = {
        "pe": energy_per_cycle(clock) * float(cycles[:, 3:].sum()),
        "dram": ENERGY_PER_DRAM_BYTE_J * dram_bytes,
        "noc": ENERGY_PER_NOC_BYTE_J * noc_bytes,
        "idle": CHIP_IDLE_POWER_W * program.machine.n_chips * latency * 1e-6,
    }
    return DnnCost(
        clock_mhz=clock, latency_us=latency,
        throughput_per_s=1e6 / max(a + b for a, b in stage_us),
        stage_us=tuple(stage_us), pe_cycles=cycles, dram_bytes=dram_bytes,
        noc_bytes=noc_bytes, energy_j=sum(breakdown.values()), energy_breakdown=breakdown,
        load_bytes=load_bytes, load_us=dram_transfer_us(load_bytes))
