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
    """Backend-specific details (kernel used, device, dtype ...); on the ideal backend with
    dynamic synapses ``final_weights``: projection index -> weights after the run, nA,
    (trials, S) in ``Projection.synapses()`` order."""

    def _label(self, node: Node | str) -> str:
        """The label of ``node`` in this result's network (a node object must be that
        network's own, not another with the same label)."""
        return self.network.label_of(node)

    def _trial(self, trial: int | None) -> int:
        """The trial asked for: required when the run had several (no silent trial 0)."""
        if trial is None:
            if self.n_trials == 1:
                return 0
            raise ConfigError(
                f"this result holds {self.n_trials} trials: pass trial=k (0 <= k < "
                f"{self.n_trials}), or use all_spikes(node) for every trial at once"
            )
        if isinstance(trial, bool) or not isinstance(trial, int | np.integer):
            raise ConfigError(f"trial must be an integer, got {trial!r}")
        if not 0 <= trial < self.n_trials:
            raise ConfigError(f"trial must lie in [0, {self.n_trials - 1}], got {trial!r}")
        return int(trial)

    def all_spikes(self, node: Node | str) -> SpikeRecord:
        """Spikes of ``node`` in every trial, with their trial index, sorted by (trial, time,
        id)."""
        label = self._label(node)
        if label not in self.spike_records:
            raise ConfigError(f"spikes of {label!r} were not recorded; net.record({label!r}, "
                              "'spikes') before running")
        return self.spike_records[label]

    def spikes(
        self, node: Node | str, trial: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (ms) and neuron ids of ``node`` in one trial, sorted by time.

        ``trial`` may be left out only when the run had one trial; with several it is
        required (see :meth:`all_spikes` for all of them with their trial index).
        """
        rec = self.all_spikes(node)
        sel = rec.trials == self._trial(trial)
        return rec.times[sel], rec.ids[sel]

    def trace(self, node: Node | str, variable: str, trial: int | None = None) -> torch.Tensor:
        """Recorded ``variable`` of ``node`` in one trial: shape (steps, n). ``trial`` is
        required when the run had several (``traces[(label, variable)]`` holds all of them,
        shape (trials, steps, n))."""
        label = self._label(node)
        k = self._trial(trial)
        if (label, variable) not in self.traces:
            raise ConfigError(f"{variable!r} of {label!r} was not recorded; "
                              f"net.record({label!r}, {variable!r}) before running")
        return self.traces[(label, variable)][k]

    def trace_times(self) -> np.ndarray:
        """Sample times of traces, ms: ``k * dt`` for every step k."""
        steps = self.network.steps(self.duration)
        return np.arange(steps) * self.network.dt

    def mean_rate(self, node: Node | str) -> float:
        """Mean firing rate of ``node`` in Hz: all its spikes in all trials, divided by
        (neurons x trials x duration); the trials count as repeated runs of one network."""
        rec = self.all_spikes(node)  # raises if spikes were not recorded
        n = self.network.nodes[self._label(node)].size
        return rec.times.size / (n * self.n_trials * self.duration * 1e-3)
