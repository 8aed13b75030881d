"""The ``bss2`` backend's cost model: hardware time, host overhead and an energy estimate::

    hardware_time_us = duration_ms * trials     (1 ms of model time is 1 µs on the chip;
                                                 trials run one after the other)
    host_overhead_s  = HOST_CONFIG_S + HOST_TRIAL_S * trials   (twin estimates)
    energy_j         = CHIP_POWER_W * hardware_time_us * 1e-6

The energy is an **estimate**: the only published anchor is the 57 mW of the HICANN-DLS
prototype (``specs.CHIP_POWER_W``); a full HICANN-X, its FPGA and the host draw more.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurotwin.bss2 import specs
from neurotwin.bss2.mapping import Mapping
from neurotwin.engines.result import Cost
from neurotwin.units import hardware_time_us

__all__ = ["Bss2Cost", "estimate_cost"]


@dataclass(frozen=True)
class Bss2Cost(Cost):
    """:class:`~neurotwin.engines.result.Cost` plus the BrainScaleS-2 specifics.

    Parameters
    ----------
    host_overhead_s
        Estimated host-side time (configuration, event upload, readout), s.
    input_events
        Events sent from the FPGA to the chip, all trials.
    spikes
        Spikes emitted by the chip's neurons, all trials.
    """

    host_overhead_s: float = 0.0
    input_events: int = 0
    spikes: int = 0


def estimate_cost(mapping: Mapping, duration: float, trials: int, wall_time_s: float,
                  input_events: int, spikes: int) -> Bss2Cost:
    """Cost of running ``mapping`` for ``duration`` ms of model time, ``trials`` times.

    Parameters
    ----------
    mapping
        The mapped network (its resource usage is reported).
    duration
        Model time per trial, ms.
    trials
        Number of trials.
    wall_time_s
        Wall-clock time of the emulation here, s.
    input_events, spikes
        Counted during the run, all trials.
    """
    hardware_us = hardware_time_us(float(duration), specs.ACCELERATION) * trials
    return Bss2Cost(
        bio_time_ms=float(duration),
        wall_time_s=wall_time_s,
        hardware_time_us=hardware_us,
        energy_j=specs.CHIP_POWER_W * hardware_us * 1e-6,
        resources=mapping.usage(),
        host_overhead_s=specs.HOST_CONFIG_S + specs.HOST_TRIAL_S * trials,
        input_events=int(input_events),
        spikes=int(spikes),
    )
