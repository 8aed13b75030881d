"""The simulator state of the neurotwin PyNN backend: time, the objects built so far, and
the last run.

neurotwin maps a whole network and runs it from t = 0 (:func:`neurotwin.simulate`). A
PyNN run continues in time, so ``run_until(t)`` re-simulates the network from 0 to ``t``
with the same seed: the first ``t_previous`` ms repeat exactly the previous run (the same
network, the same random streams), and the recorded data are those of the longer run.
This holds only while nothing changes between runs; a change of the network, of
parameters, of initial values or of recordings after time 0 therefore makes the next run
raise ``NotImplementedError`` (call ``reset()`` first), never a silently different result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pyNN import common

from neurotwin.errors import ConfigError

__all__ = ["ID", "State", "state"]

name = "neurotwin"


class ID(int, common.IDMixin):
    """A cell of a PyNN population: an int, unique in the network."""

    def __init__(self, n: int) -> None:
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """Everything ``setup`` sets and every PyNN object registers itself with."""

    def __init__(self) -> None:
        common.control.BaseState.__init__(self)
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.given_min_delay: float | None = 0.1
        """``setup``'s min_delay in ms; None for "auto" (see :attr:`min_delay`)."""
        self.max_delay: Any = math.inf
        self.backend = "ideal"
        self.options: dict[str, Any] = {}
        self.seed = 0
        self.simulate: Callable[[State, float], Any] | None = None
        """Builds and runs the network (``build.simulate_state``, set by ``setup``)."""
        self.clear()

    def clear(self) -> None:
        """Forget every population, projection, current source and recorder."""
        self.recorders: set[Any] = set()
        self.populations: list[Any] = []
        self.projections: list[Any] = []
        self.current_sources: list[Any] = []
        self.id_counter = 0
        self.segment_counter = -1
        self.reset()

    @property
    def min_delay(self) -> float:
        """Smallest delay, ms: ``setup``'s min_delay or, for "auto", the smallest delay of
        the projections made so far on the time grid (the time step before any), as NEST
        reports it."""
        if self.given_min_delay is not None:
            return self.given_min_delay
        delays = [float(p._values["delay"].min()) for p in self.projections
                  if p._values["delay"].size]
        return max(round(min(delays) / self.dt), 1) * self.dt if delays else self.dt

    def reset(self) -> None:
        """Back to t = 0: the next run starts afresh (a new Neo segment)."""
        self.running = False
        self.t = 0.0
        self.t_start = 0.0
        self.segment_counter += 1
        self.outcome: Any = None
        self.change: str | None = None

    def changed(self, what: str) -> None:
        """Note that ``what`` changed; after time 0 the next run refuses to re-simulate."""
        if self.t > 0 and self.change is None:
            self.change = what

    def run(self, simtime: float) -> None:
        """Advance by ``simtime`` ms."""
        self.run_until(self.t + simtime)

    def run_until(self, tstop: float) -> None:
        """Simulate from 0 to ``tstop`` ms on the chosen backend (see the module docstring)."""
        if self.simulate is None:
            raise ConfigError("call setup() before running")
        steps = tstop / self.dt
        if abs(steps - round(steps)) > 1e-6 * max(1.0, abs(steps)):
            raise ConfigError(f"run time {tstop} ms must be a multiple of the time step "
                              f"{self.dt} ms")
        if round(steps) <= round(self.t / self.dt):
            self.running = True
            return
        if self.change is not None:
            raise NotImplementedError(
                f"{self.change} after the simulation started (t = {self.t} ms): the "
                f"neurotwin backends simulate from t = 0 and cannot continue a run with a "
                f"changed network; call reset() before changing it, or set it up before "
                f"the first run")
        self.outcome = self.simulate(self, round(steps) * self.dt)
        self.t = round(steps) * self.dt
        self.running = True


state = State()
