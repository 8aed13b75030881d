"""PyNN's Population, PopulationView and Assembly for neurotwin.

A population keeps its native (neurotwin) parameters and initial values as arrays, one
entry per cell, as ``pyNN.mock`` does; :mod:`neurotwin.pynn.build` turns them into
neurotwin populations when the network runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from neurotwin.pynn import simulator
from neurotwin.pynn.recording import Recorder
from neurotwin.pynn.standardmodels import NeuronType

__all__ = ["Assembly", "Population", "PopulationView"]


class Assembly(common.Assembly):
    __doc__ = common.Assembly.__doc__
    _simulator = simulator


class _Parameters:
    """Getting and setting native parameters through a mask of the parent's arrays."""

    _simulator = simulator

    def _get_parameters(self, *names: str) -> ParameterSpace:
        celltype = self.celltype  # type: ignore[attr-defined]
        if any(name in celltype.computed_parameters() for name in names):
            native_names = celltype.get_native_names()
        else:
            native_names = celltype.get_native_names(*names)
        return celltype.reverse_translate(self._get_native_parameters(*native_names))

    def _get_native_parameters(self, *names: str) -> ParameterSpace:
        root, mask = self._root_and_mask()
        values = {}
        for name in names:
            value = root._parameters[name]
            values[name] = simplify(value[mask] if isinstance(value, np.ndarray) else value)
        return ParameterSpace(values, shape=(int(np.arange(root.size)[mask].size),))

    def _set_parameters(self, parameter_space: ParameterSpace) -> None:
        root, mask = self._root_and_mask()
        parameter_space.evaluate(simplify=False)
        updated = {name: np.array(value, copy=True) for name, value in root._parameters.items()}
        for name, value in parameter_space.items():
            updated[name][mask] = value
        _check_parameters(root.celltype, updated, root.size)
        state = self._simulator.state
        if set(parameter_space.keys()) == {"spike_times"} and state.running and state.t > 0:
            # spikes already sent stay sent: the new trains hold from now on (exact)
            root._spike_history.append((state.t, updated["spike_times"]))
        else:
            root._spike_history = [(0.0, updated.get("spike_times"))]
            state.changed(f"parameters of population {root.label!r}")
        root._parameters = updated

    def _set_initial_value_array(self, variable: str, value: Any) -> None:
        root, mask = self._root_and_mask()
        arr = np.broadcast_to(np.asarray(value.evaluate(simplify=False), np.float64),
                              (int(np.arange(root.size)[mask].size),))
        if not np.all(np.isfinite(arr)):
            raise errors.InvalidParameterValueError(
                f"initial values of {variable!r} must be finite")
        current = root._initial.setdefault(variable, np.zeros(root.size))
        current[mask] = arr
        self._simulator.state.changed(f"initial values of population {root.label!r}")

    def _root_and_mask(self) -> tuple[Population, Any]:
        raise NotImplementedError


def _check_parameters(celltype: Any, parameters: dict[str, np.ndarray], size: int) -> None:
    """Refuse (``InvalidParameterValueError``) what the neurotwin model would refuse."""
    if isinstance(celltype, NeuronType):
        celltype.models(parameters, size)
        return
    if "rate" in parameters:
        for name in ("rate", "start", "duration"):
            value = np.asarray(parameters[name], np.float64)
            if np.any(~np.isfinite(value)) or np.any(value < 0):
                raise errors.InvalidParameterValueError(
                    f"SpikeSourcePoisson {name} must be finite and >= 0, got {value}")
    if "alpha" in parameters:
        alpha, beta = (np.asarray(parameters[n], np.float64) for n in ("alpha", "beta"))
        if not np.all(np.isfinite(alpha) & (alpha > 0) & np.isfinite(beta) & (beta >= 0)):
            raise errors.InvalidParameterValueError(
                f"SpikeSourceGamma needs alpha > 0 and beta >= 0 Hz, got {alpha}, {beta}")
    if "tau_refrac" in parameters:
        rate, dead = (np.asarray(parameters[n], np.float64) for n in ("rate", "tau_refrac"))
        if not np.all(np.isfinite(dead) & (dead >= 0) & (rate * dead < 1e3)):
            raise errors.InvalidParameterValueError(
                "SpikeSourcePoissonRefractory needs tau_refrac >= 0 ms and rate * tau_refrac "
                f"< 1, got rate {rate} Hz, tau_refrac {dead} ms")
    if "spike_times" in parameters:
        for train in np.atleast_1d(parameters["spike_times"]):
            times = np.asarray(train.value if hasattr(train, "value") else train, np.float64)
            if times.size and (np.any(~np.isfinite(times)) or times.min() < 0
                               or np.any(np.diff(times) < 0)):
                raise errors.InvalidParameterValueError(
                    f"spike_times must be finite, >= 0 ms and sorted, got {times.tolist()}")


class PopulationView(_Parameters, common.PopulationView):
    __doc__ = common.PopulationView.__doc__
    _assembly_class = Assembly

    def _root_and_mask(self) -> tuple[Population, Any]:
        view: Any = self
        mask = np.arange(view.parent.size)[view.mask]
        while isinstance(view.parent, PopulationView):
            view = view.parent
            mask = np.arange(view.parent.size)[view.mask][mask]
        return view.parent, mask

    def _get_view(self, selector: Any, label: str | None = None) -> PopulationView:
        return PopulationView(self, selector, label)


class Population(_Parameters, common.Population):
    __doc__ = common.Population.__doc__
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self) -> None:
        state = simulator.state
        if not isinstance(self.celltype, StandardCellType):
            raise NotImplementedError("neurotwin.pynn runs PyNN's standard cell types only, "
                                      f"not {type(self.celltype).__name__}")
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        space = self.celltype.native_parameters
        space.shape = (self.size,)
        space.evaluate(simplify=False)
        parameters = space.as_dict()
        _check_parameters(self.celltype, parameters, self.size)
        self._parameters = parameters
        self._spike_history: list[tuple[float, Any]] = [(0.0, parameters.get("spike_times"))]
        """(since ms, spike trains): a SpikeSourceArray's trains changed between runs."""
        self._initial: dict[str, np.ndarray] = {}
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        state.populations.append(self)
        state.changed("a population was created")

    def _root_and_mask(self) -> tuple[Population, Any]:
        return self, slice(None)

    def _get_view(self, selector: Any, label: str | None = None) -> PopulationView:
        return PopulationView(self, selector, label)
