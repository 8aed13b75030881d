"""The nodes of a network: neuron populations and spike sources, plus injected currents.

All are frozen dataclasses validated on construction; a node's ``label`` is set when it is
added to a :class:`~neurotwin.network.Network` (``Network.add`` returns the labelled copy).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.alpha import AlphaLIF
from neurotwin.dynamics.conductance import CondAdEx, CondLIF
from neurotwin.dynamics.lif import LIF
from neurotwin.errors import (
    ConfigError,
    as_numbers,
    check_finite,
    check_int,
    check_memory,
    check_positive,
    check_scalar,
)

__all__ = [
    "DCSource",
    "Node",
    "Population",
    "SpikeSourceArray",
    "SpikeSourcePoisson",
    "check_interval",
]

NeuronModel = LIF | AdEx | AlphaLIF | CondLIF | CondAdEx


def check_interval(start: Any, stop: Any) -> None:
    """Check an active interval [start, stop) in ms: start finite and >= 0, stop a
    number >= start (``math.inf``: for ever)."""
    check_scalar("start", start, "ms")
    check_positive("start", start, "ms", allow_zero=True)
    end = check_scalar("stop", stop, "ms")
    if math.isnan(end) or end < start:
        raise ConfigError(f"stop must be >= start ({start} ms), got {stop!r}")


def _check_size(size: int) -> None:
    check_int("size", size, low=1)


@dataclass(frozen=True, eq=False)
class Population:
    """A group of ``size`` identical neurons of one model.

    Parameters
    ----------
    size
        Number of neurons (>= 1).
    model
        Neuron parameters, e.g. :class:`~neurotwin.LIF` or :class:`~neurotwin.AdEx`.
    label
        Unique name in the network; assigned ("pop0", ...) by ``Network.add`` if None.
    initial
        Initial values of state variables, by name: a scalar or an array of shape
        ``(size,)`` in the variable's unit (e.g. ``{"v": -60.0}`` in mV). Variables not
        given start at the model's ``initial_state()``.
    """

    size: int
    model: NeuronModel
    label: str | None = None
    initial: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_size(self.size)
        if not isinstance(self.model, NeuronModel):
            raise ConfigError(
                f"model must be a neuron model (LIF, AdEx, AlphaLIF, CondExpLIF, "
                f"CondAlphaLIF, CondExpAdEx, CondAlphaAdEx), got {type(self.model).__name__}"
            )
        # every engine holds at least each state variable of each neuron as a float64
        check_memory(
            f"a population of {self.size} {type(self.model).__name__} neurons "
            f"({len(self.model.state_variables)} state variables of 8 bytes)",
            self.size * len(self.model.state_variables) * 8,
        )
        checked = {}
        for name, value in self.initial.items():
            if name not in self.model.state_variables:
                raise ConfigError(
                    f"initial value for unknown state variable {name!r} of "
                    f"{type(self.model).__name__}; known: {', '.join(self.model.state_variables)}"
                )
            arr = as_numbers(f"initial[{name!r}]", value)
            if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != self.size):
                raise ConfigError(
                    f"initial[{name!r}] must be a scalar or of shape ({self.size},), "
                    f"got shape {arr.shape}"
                )
            check_finite(f"initial[{name!r}]", arr)
            checked[name] = arr
        object.__setattr__(self, "initial", checked)

    def initial_values(self) -> dict[str, np.ndarray]:
        """Initial value of every state variable as an array of shape ``(size,)``."""
        values = {}
        for name, default in self.model.initial_state().items():
            given = self.initial.get(name, default)
            values[name] = np.broadcast_to(np.asarray(given, np.float64), (self.size,)).copy()
        return values


@dataclass(frozen=True, eq=False)
class SpikeSourceArray:
    """Sources that emit given spike times.

    Parameters
    ----------
    spike_times
        One sequence of spike times (ms, >= 0, finite) per source, e.g.
        ``[[1.0, 5.0], [2.0]]`` (two sources; ``[[]]`` is one source without spikes) or a
        2-D array, one row per source; each train is sorted on input. A flat sequence of
        numbers (a list or a 1-D array such as ``[1.0, 5.0]``) is refused with
        :class:`~neurotwin.errors.ConfigError`, as it could mean one source or several:
        write ``[[1.0, 5.0]]`` for one source.
    label
        Unique name in the network; assigned ("source0", ...) by ``Network.add`` if None.
    """

    spike_times: Sequence[ArrayLike]
    label: str | None = None

    def __post_init__(self) -> None:
        times = []
        for k, row in enumerate(_trains(self.spike_times)):
            arr = np.sort(as_numbers(f"spike_times[{k}]", row).ravel())
            check_finite(f"spike_times[{k}]", arr)
            if arr.size and arr[0] < 0:
                raise ConfigError(f"spike_times[{k}] must be >= 0 ms, got {float(arr[0])!r}")
            times.append(arr)
        if not times:
            raise ConfigError(
                "spike_times must hold at least one source (one source without spikes: [[]])"
            )
        object.__setattr__(self, "spike_times", tuple(times))

    @property
    def size(self) -> int:
        """Number of sources."""
        return len(self.spike_times)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number | np.generic) or (
        isinstance(x, np.ndarray) and x.ndim == 0
    )


def _trains(spike_times: Any) -> list[Any]:
    """``spike_times`` as one entry per source; a flat sequence of numbers is refused:
    ``[1.0, 5.0]`` could mean one source or two, and neither guess may be silent."""
    if hasattr(spike_times, "detach"):  # torch tensor
        spike_times = spike_times.detach().cpu().numpy()
    if isinstance(spike_times, str | bytes | Mapping) or not isinstance(
        spike_times, Sequence | np.ndarray
    ) or (isinstance(spike_times, np.ndarray) and spike_times.ndim == 0):
        raise ConfigError(
            "spike_times must hold one sequence of spike times per source, "
            f"got {type(spike_times).__name__}"
        )
    rows = list(spike_times)
    flat = [_is_number(x) for x in rows]
    if len(rows) and all(flat):
        shown = np.asarray(rows).ravel()[:4].tolist()
        raise ConfigError(
            "spike_times must hold one sequence per source, e.g. [[1.0, 5.0], [2.0]]; got "
            f"a flat sequence of numbers {shown}{' ...' if len(rows) > 4 else ''}: write "
            "[[1.0, 5.0]] for one source with two spikes, [[1.0], [5.0]] for two sources"
        )
    if any(flat):
        raise ConfigError(
            "spike_times mixes numbers and sequences; give one sequence per source, "
            "e.g. [[1.0, 5.0], [2.0]]"
        )
    return rows


@dataclass(frozen=True, eq=False)
class SpikeSourcePoisson:
    """Independent Poisson spike sources, drawn from the run's seed.

    On a time grid each step holds at most one spike, with probability rate * dt
    (Bernoulli approximation of the Poisson process; exact as dt -> 0).

    Parameters
    ----------
    size
        Number of sources.
    rate
        Firing rate in Hz, a scalar or an array of shape ``(size,)``.
    start, stop
        Active interval in ms: spikes only in [start, stop).
    label
        Unique name in the network; assigned by ``Network.add`` if None.
    """

    size: int
    rate: float | np.ndarray
    start: float = 0.0
    stop: float = math.inf
    label: str | None = None

    def __post_init__(self) -> None:
        _check_size(self.size)
        check_memory(f"{self.size} Poisson sources (a rate of 8 bytes each)", 8 * self.size)
        rate = as_numbers("rate", self.rate)
        if rate.ndim not in (0, 1) or (rate.ndim == 1 and rate.shape[0] != self.size):
            raise ConfigError(
                f"rate must be a scalar or of shape ({self.size},), got shape {rate.shape}"
            )
        check_positive("rate", rate, "Hz", allow_zero=True)
        check_interval(self.start, self.stop)
        object.__setattr__(self, "rate", np.broadcast_to(rate, (self.size,)).copy())


@dataclass(frozen=True, eq=False)
class DCSource:
    """A constant current injected into neurons during [start, stop).

    Parameters
    ----------
    amplitude
        Current in nA, a scalar or one value per target neuron; positive depolarises.
    start, stop
        Interval in ms; both are rounded to the network's time grid when run.
    """

    amplitude: float | np.ndarray
    start: float = 0.0
    stop: float = math.inf

    def __post_init__(self) -> None:
        amp = as_numbers("amplitude", self.amplitude)
        if amp.ndim > 1:
            raise ConfigError(f"amplitude must be a scalar or 1-D, got shape {amp.shape}")
        check_finite("amplitude", amp)
        check_interval(self.start, self.stop)
        object.__setattr__(self, "amplitude", amp)


Node = Population | SpikeSourceArray | SpikeSourcePoisson
"""Anything that emits spikes and can be the source of a projection."""
