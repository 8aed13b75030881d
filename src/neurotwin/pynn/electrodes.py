"""PyNN's current sources as piecewise-constant currents on neurotwin's time grid.

neurotwin injects :class:`~neurotwin.network.nodes.DCSource` windows (constant current in
[start, stop), rounded to the grid, constant within a step as every time-stepped backend
holds it). Each PyNN source becomes such windows: ``DCSource`` one, ``StepCurrentSource``
one per step, ``ACSource`` and ``NoisyCurrentSource`` one per time step (per noise
interval), sampled at the window's start as NEST's generators are.

A source may change between runs (``source.amplitude = ...`` after ``run``): each
parameter set is kept with the time from which it holds, so the re-simulation from 0
(:mod:`neurotwin.pynn.simulator`) injects the old values before that time and the new
ones after it, exactly what a continued run would have done.
"""

from __future__ import annotations

import math
from typing import Any

import neo
import numpy as np
import quantities as pq
from pyNN import errors
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import StandardCurrentSource, build_translations, electrodes

from neurotwin.pynn.simulator import state

__all__ = ["ACSource", "DCSource", "NoisyCurrentSource", "StepCurrentSource"]

MAX_WINDOWS = 20_000
"""Most current windows one run may inject (``engines.plan.dc_events`` is quadratic in
their number): an ``ACSource`` or ``NoisyCurrentSource`` of more steps is refused."""

Window = tuple[float, float, float]
"""(start ms, stop ms, amplitude nA)."""


class CurrentSource(StandardCurrentSource):
    """What every neurotwin current source shares: parameters over time, target cells."""

    def __init__(self, **parameters: Any) -> None:
        object.__setattr__(self, "_history", [])
        super().__init__(**parameters)
        self.cells: list[Any] = []
        self.recording = False
        space = ParameterSpace(self.default_parameters, self.get_schema(), shape=(1,))
        space.update(**parameters)
        self.set_native_parameters(self.translate(space))
        state.current_sources.append(self)

    def get_native_parameters(self) -> ParameterSpace:
        return ParameterSpace(dict(self._history[-1][1]))

    def set_native_parameters(self, parameters: ParameterSpace) -> None:
        parameters.evaluate(simplify=True)
        values = dict(self._history[-1][1]) if self._history else {}
        for key, value in parameters.items():
            values[key] = np.asarray(value.value if isinstance(value, Sequence) else value,
                                     np.float64)
        self._check(values)
        if state.running and state.t > 0:
            self._history.append((state.t, values))
        else:
            self._history[:] = [(0.0, values)]

    def _reset(self) -> None:
        """After ``reset()``: the latest parameters hold from t = 0."""
        self._history[:] = [(0.0, self._history[-1][1])]

    def _check(self, values: dict[str, np.ndarray]) -> None:
        for key, value in values.items():
            if not np.all(np.isfinite(value)) and key != "stop":
                raise errors.InvalidParameterValueError(
                    f"{type(self).__name__}.{key} must be finite, got {value}")

    def inject_into(self, cells: Any) -> None:
        """Inject this current into ``cells`` (Population, PopulationView, Assembly or IDs)."""
        for cell in cells:
            if not cell.celltype.injectable:
                raise TypeError("Can't inject current into a spike source.")
        self.cells.extend(cells)
        state.changed("a current source was injected")

    def windows(self, dt: float, t_end: float) -> list[Window]:
        """The injected current over [0, t_end) ms as windows on the grid of ``dt`` ms."""
        out: list[Window] = []
        for k, (since, values) in enumerate(self._history):
            until = self._history[k + 1][0] if k + 1 < len(self._history) else t_end
            for start, stop, amp in self._windows(values, dt, min(until, t_end), k):
                lo, hi = max(start, since), min(stop, until)
                if hi > lo and amp != 0.0:
                    out.append((lo, hi, amp))
        return out

    def _windows(self, values: dict[str, np.ndarray], dt: float, t_end: float,
                 version: int) -> list[Window]:
        raise NotImplementedError

    def record(self) -> None:
        """Keep the injected current for :meth:`get_data`."""
        self.recording = True

    def get_data(self) -> neo.AnalogSignal:
        """The injected current sampled at every time step from 0 to now, nA."""
        steps = round(state.t / state.dt)
        trace = np.zeros(steps + 1)
        for start, stop, amp in self.windows(state.dt, state.t + state.dt):
            trace[round(start / state.dt):round(min(stop, state.t + state.dt) / state.dt)] += amp
        return neo.AnalogSignal(trace[:, None], units="nA", t_start=0.0 * pq.ms,
                                sampling_period=state.dt * pq.ms, name="i")


class DCSource(CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = build_translations(("amplitude", "amplitude"), ("start", "start"),
                                      ("stop", "stop"))

    def _windows(self, values: dict[str, np.ndarray], dt: float, t_end: float,
                 version: int) -> list[Window]:
        return [(float(values["start"]), float(values["stop"]), float(values["amplitude"]))]


class StepCurrentSource(CurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__
    translations = build_translations(("times", "times"), ("amplitudes", "amplitudes"))

    def _check(self, values: dict[str, np.ndarray]) -> None:
        """Refuse bad steps; put the times on the grid, keeping the last amplitude given
        for a grid time (as pyNN.brian2 and pyNN.neuron do)."""
        super()._check(values)
        times, amps = values["times"].ravel(), values["amplitudes"].ravel()
        if times.shape != amps.shape:
            raise errors.InvalidParameterValueError(
                f"StepCurrentSource needs one amplitude per time, got {times.size} times "
                f"and {amps.size} amplitudes")
        if times.size and (times.min() < 0 or np.any(np.diff(times) <= 0)):
            raise errors.InvalidParameterValueError(
                "StepCurrentSource times must be >= 0 ms and strictly increasing, got "
                f"{times.tolist()}")
        grid = np.round(times / state.dt) * state.dt
        last = np.r_[grid[1:] != grid[:-1], True] if grid.size else np.zeros(0, bool)
        values["times"], values["amplitudes"] = grid[last], amps[last]

    def _windows(self, values: dict[str, np.ndarray], dt: float, t_end: float,
                 version: int) -> list[Window]:
        times = values["times"].tolist()
        stops = [*times[1:], math.inf]
        return list(zip(times, stops, values["amplitudes"].tolist(), strict=True))


class ACSource(CurrentSource, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__
    translations = build_translations(
        ("amplitude", "amplitude"), ("start", "start"), ("stop", "stop"),
        ("frequency", "frequency"), ("offset", "offset"), ("phase", "phase"))

    def _windows(self, values: dict[str, np.ndarray], dt: float, t_end: float,
                 version: int) -> list[Window]:
        t = _grid(float(values["start"]), float(values["stop"]), dt, t_end)
        # the phase holds at the start time (PyNN issue 497), not at t = 0
        amp = values["offset"] + values["amplitude"] * np.sin(
            2 * np.pi * values["frequency"] * (t - float(values["start"])) / 1000.0
            + np.deg2rad(values["phase"]))
        return [(a, a + dt, float(x)) for a, x in zip(t.tolist(), amp.tolist(), strict=True)]


class NoisyCurrentSource(CurrentSource, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__
    translations = build_translations(("mean", "mean"), ("stdev", "stdev"), ("start", "start"),
                                      ("stop", "stop"), ("dt", "dt"))

    def _check(self, values: dict[str, np.ndarray]) -> None:
        super()._check(values)
        if float(values["dt"]) <= 0 or float(values["stdev"]) < 0:
            raise errors.InvalidParameterValueError(
                f"NoisyCurrentSource needs dt > 0 ms and stdev >= 0 nA, got dt = "
                f"{float(values['dt'])}, stdev = {float(values['stdev'])}")

    def _windows(self, values: dict[str, np.ndarray], dt: float, t_end: float,
                 version: int) -> list[Window]:
        period = float(values["dt"])
        steps = period / dt
        if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
            raise errors.InvalidParameterValueError(
                f"NoisyCurrentSource dt = {period} ms must be a multiple of the time step "
                f"{dt} ms")
        t = _grid(float(values["start"]), float(values["stop"]), period, t_end)
        # one stream per source and parameter set, drawn from the run's seed
        rng = np.random.default_rng([state.seed, state.current_sources.index(self), version])
        amp = values["mean"] + values["stdev"] * rng.standard_normal(t.size)
        return [(a, a + period, float(x)) for a, x in zip(t.tolist(), amp.tolist(), strict=True)]


def _grid(start: float, stop: float, period: float, t_end: float) -> np.ndarray:
    """Window starts start, start + period, ... before min(stop, t_end), ms."""
    n = max(0, math.ceil((min(stop, t_end) - start) / period - 1e-9))
    if n > MAX_WINDOWS:
        raise NotImplementedError(
            f"a time-varying current source of {n} steps: neurotwin injects at most "
            f"{MAX_WINDOWS} current windows per run (shorten the run or the source)")
    return start + period * np.arange(n)
