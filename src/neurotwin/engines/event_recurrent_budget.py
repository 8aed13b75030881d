"""The runaway guard of recurrent event layers: a spike budget per sample.

In a recurrent layer every spike can cause more spikes. Where the recurrent excitation is
too strong the spike count grows geometrically (measured: 3.5x every 4 ms in a 50-neuron
layer with a 1 ms recurrent delay and weights N(0, 0.14²) nA), and an exact event engine
has no time grid to bound it, so memory and time grow without limit until the machine runs
out. Both recurrent kernels (compiled and torch) therefore count each sample's spikes as
they go and stop at a cap, ``spike_budget`` spikes per neuron on average,
``spike_budget n`` per sample, with a :class:`~neurotwin.errors.CapacityError` that names
the layer size, the count reached, the time and how to raise the cap.

The default, :data:`DEFAULT_SPIKE_BUDGET` = 1000 per neuron and sample, lies far above the
activity of the networks trained here (a few to ~20 spikes per neuron and sample) and stops
a runaway of the size above within a fraction of a second on the compiled path. A layer
whose ``max_spikes`` is at most the budget cannot exceed the cap, so the guard never fires
there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurotwin.errors import CapacityError, check_int

__all__ = [
    "DEFAULT_SPIKE_BUDGET",
    "NO_CAP",
    "check_spike_budget",
    "runaway_error",
    "spike_cap",
]

DEFAULT_SPIKE_BUDGET = 1000
"""Spikes per neuron and sample, on average over the layer, before it counts as a runaway."""

NO_CAP = int(np.iinfo(np.int64).max)
"""The cap of an unguarded layer (``spike_budget=None``)."""


def check_spike_budget(spike_budget: Any) -> int | None:
    """Validate ``spike_budget``: an integer >= 1 (spikes per neuron and sample) or None (no
    guard); return it as an int or None.

    Raises
    ------
    ConfigError
        Not an integer >= 1 and not None.
    """
    if spike_budget is None:
        return None
    return check_int("spike_budget", spike_budget, low=1, unit="spikes per neuron and sample")


def spike_cap(n: int, spike_budget: int | None, max_spikes: int | None) -> int:
    """Most spikes one sample of a layer of ``n`` neurons may emit: ``spike_budget n``;
    :data:`NO_CAP` without a budget or where ``max_spikes`` already bounds the layer below
    it."""
    if spike_budget is None or (max_spikes is not None and max_spikes <= spike_budget):
        return NO_CAP
    return spike_budget * n


def runaway_error(
    n: int, spike_budget: int, sample: int, t: float, t_max: float
) -> CapacityError:
    """The error of a layer of ``n`` neurons whose ``sample`` was about to emit one spike
    more than its cap, at ``t`` ms (of ``t_max``)."""
    cap = spike_budget * n
    return CapacityError(
        "spikes per sample",
        cap + 1,
        cap,
        f"recurrent layer of {n} neurons: sample {sample} exceeded {cap} spikes "
        f"(spike_budget {spike_budget} per neuron) at t = {t:.6g} ms of t_max = {t_max:g} "
        f"ms; the recurrent excitation is probably running away (each spike causing more): "
        f"lower the recurrent weights, or, if this activity is intended, raise "
        f"spike_budget (spike_budget=None: no limit)",
    )
