"""What every engine and backend returns: recorded spikes and traces, and the cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neurotwin.errors import ConfigError
from neurotwin.network import Network, Node

__all__ = ["Cost", "Result", "SpikeRecord"]


@dataclass(frozen=True)
class Cost:
    """What a run took, or would take on the hardware. Shared by all backends; a backend
    may subclass it to add its own fields (e.g. deadline misses on SpiNNaker2).

    Parameters
    ----------
    bio_time_ms
        Simulated model time, ms.
    wall_time_s
        Wall-clock time of the run here (excluding mapping), s.
    build_time_s
        Wall-clock time of mapping/compiling the network here, s.
    hardware_time_us
        Time the hardware would take, µs; None for software backends.
    energy_j
        Energy estimate, J; None where the backend has no energy model.
    resources
        Resource name -> (used, available).
    """

    bio_time_ms: float
    wall_time_s: float
    build_time_s: float = 0.0
    hardware_time_us: float | None = None
    energy_j: float | None = None
    resources: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class SpikeRecord:
    """All recorded spikes of one node, over all trials, sorted by (trial, time, id)."""

    times: np.ndarray
    """Spike times, ms, float64, shape (K,)."""
    ids: np.ndarray
    """Neuron index within the node, int64, shape (K,)."""
    trials: np.ndarray
    """Trial index, int64, shape (K,)."""


@dataclass(frozen=True, eq=False)
class Result:
    """Recorded activity of a run.

    Traces are sampled at the start of every step: ``trace(...)[k]`` is the state at
    time ``k * dt`` (so index 0 is the initial state); a spike stamped at time t means
    the threshold was crossed in the step ending at t.
    """

    network: Network
    duration: float
    """Simulated time, ms."""
    n_trials: int
    spike_records: Mapping[str, SpikeRecord]
    traces: Mapping[tuple[str, str], torch.Tensor]
    """(label, variable) -> tensor of shape (trials, steps, n)."""
    cost: Cost
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific details (kernel used, device, dtype ...)."""

    def _label(self, node: Node | str) -> str:
        label = node if isinstance(node, str) else node.label
        if label not in self.network.nodes:
            raise ConfigError(f"{label!r} is not a node of this network")
        return str(label)

    def _trial(self, trial: int) -> None:
        if not 0 <= trial < self.n_trials:
            raise ConfigError(f"trial must lie in [0, {self.n_trials - 1}], got {trial!r}")

    def spikes(self, node: Node | str, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (ms) and neuron ids of ``node`` in ``trial``, sorted by time."""
        label = self._label(node)
        self._trial(trial)
        if label not in self.spike_records:
            raise ConfigError(f"spikes of {label!r} were not recorded; net.record({label!r}, "
                              "'spikes') before running")
        rec = self.spike_records[label]
        sel = rec.trials == trial
        return rec.times[sel], rec.ids[sel]

    def trace(self, node: Node | str, variable: str, trial: int = 0) -> torch.Tensor:
        """Recorded ``variable`` of ``node`` in ``trial``: shape (steps, n)."""
        label = self._label(node)
        self._trial(trial)
        if (label, variable) not in self.traces:
            raise ConfigError(f"{variable!r} of {label!r} was not recorded; "
                              f"net.record({label!r}, {variable!r}) before running")
        return self.traces[(label, variable)][trial]

    def trace_times(self) -> np.ndarray:
        """Sample times of traces, ms: ``k * dt`` for every step k."""
        steps = self.network.steps(self.duration)
        return np.arange(steps) * self.network.dt

    def mean_rate(self, node: Node | str) -> float:
        """Mean firing rate of ``node`` over neurons, trials and the run, in Hz."""
        label = self._label(node)
        self.spikes(label)  # raises if spikes were not recorded
        n = self.network.nodes[label].size
        count = self.spike_records[label].times.size
        return count / (n * self.n_trials * self.duration * 1e-3)
