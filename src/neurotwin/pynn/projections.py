"""PyNN's Projection for neurotwin: connections kept as flat arrays.

Each connection is (presynaptic index, postsynaptic index) and one value per native
parameter of the synapse type: weight, delay, and for the dynamic types their parameters
(U, tau_rec, tau_facil; p; tau_plus, A_plus, ..., w_max), indices within the
projection's ``pre`` and ``post`` (Population, PopulationView or Assembly), weight in nA
(PyNN's sign convention: negative on the inhibitory receptor of a current-based cell),
delay in ms. :mod:`neurotwin.pynn.build` maps them onto neurotwin projections, with
magnitudes on the "exc" or "inh" receptor. After a run, the weights of STDP connections
are those the run ended with (:meth:`Projection._column`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyNN import common, errors
from pyNN.space import Space
from pyNN.standardmodels.base import check_weights

from neurotwin.pynn import simulator
from neurotwin.pynn.standardmodels import NeurotwinSynapse, StaticSynapse, STDPMechanism

__all__ = ["Connection", "Projection"]


class Connection(common.Connection):
    """One connection of a projection, read from and written to its arrays."""

    def __init__(self, projection: Projection, index: int) -> None:
        self.projection = projection
        self.index = index

    def as_tuple(self, *names: str) -> tuple[float, ...]:
        return tuple(self.projection._column(name)[self.index] for name in names)

    def _get(self, name: str) -> float:
        return float(self.projection._column(name)[self.index])

    @property
    def presynaptic_index(self) -> int:
        return int(self.projection._pre[self.index])

    @property
    def postsynaptic_index(self) -> int:
        return int(self.projection._post[self.index])

    def _set(self, name: str, value: float) -> None:
        projection = self.projection
        values = {key: column.copy() for key, column in projection._values.items()}
        values[name][self.index] = value
        projection._check(values)
        projection._values = values
        projection._simulator.state.changed(f"{name} of a connection of {projection.label!r}")

    @property
    def weight(self) -> float:
        return self._get("weight")

    @weight.setter
    def weight(self, value: float) -> None:
        self._set("weight", value)

    @property
    def delay(self) -> float:
        return self._get("delay")

    @delay.setter
    def delay(self, value: float) -> None:
        self._set("delay", value)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population: Any, postsynaptic_population: Any,
                 connector: Any, synapse_type: Any = None, source: Any = None,
                 receptor_type: str | None = None, space: Space = Space(),  # noqa: B008
                 label: str | None = None) -> None:
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type, space,
                                   label)
        if not isinstance(self.synapse_type, NeurotwinSynapse):
            raise NotImplementedError(f"neurotwin.pynn maps the standard synapse types only, "
                                      f"not {type(self.synapse_type).__name__}")
        native: Any = self.synapse_type.native_parameters  # type: ignore[attr-defined]
        self._names = list(native.keys())
        self._chunks: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
        self._pre = np.zeros(0, np.int64)
        self._post = np.zeros(0, np.int64)
        self._values = {name: np.zeros(0) for name in self._names}
        self._parts: list[tuple[int, np.ndarray]] = []
        """Set by build: (neurotwin projection index, which connections) per part."""
        connector.connect(self)
        self._consolidate()
        simulator.state.projections.append(self)
        simulator.state.changed("a projection was created")

    def __len__(self) -> int:
        self._consolidate()
        return int(self._pre.size)

    def __getitem__(self, i: int) -> Connection:
        return Connection(self, int(range(len(self))[i]))

    @property
    def connections(self) -> list[Connection]:
        return [Connection(self, i) for i in range(len(self))]

    def _convergent_connect(self, presynaptic_indices: Any, postsynaptic_index: Any,
                            location_selector: Any = None, **parameters: Any) -> None:
        if location_selector is not None:
            raise NotImplementedError("neurotwin has point neurons only (no locations)")
        pre = np.atleast_1d(np.asarray(presynaptic_indices))
        if pre.dtype == object or pre.dtype.kind not in "iu":  # IDs from the CSA connector
            pre = np.asarray(self.pre.id_to_index(pre), np.int64)
        if isinstance(postsynaptic_index, simulator.ID):  # the CSA connector passes IDs
            post = int(self.post.id_to_index(postsynaptic_index))
        else:
            post = int(np.asarray(postsynaptic_index).item())
        n = pre.size
        values = {name: np.broadcast_to(np.asarray(parameters[name], np.float64), (n,)).copy()
                  for name in self._names}
        self._check(values)
        self._chunks.append((pre.astype(np.int64), np.full(n, post, np.int64), values))

    def _check(self, values: dict[str, np.ndarray]) -> None:
        weight, delay = values["weight"], values["delay"]
        if weight.size == 0:
            return
        if not np.all(np.isfinite(weight)):
            raise errors.ConnectionError(f"weights must be finite, got {weight[:4]}")
        check_weights(weight, self)
        dt = self._simulator.state.dt
        if not np.all(np.isfinite(delay)) or delay.min() < dt * (1 - 1e-9):
            raise errors.ConnectionError(
                f"delays must be >= the time step {dt} ms, got {float(np.min(delay))} ms")
        self.synapse_type.neurotwin_synapse(values)  # refuses bad parameters

    def _consolidate(self) -> None:
        if self._chunks:
            pres, posts, values = zip(*self._chunks, strict=True)
            self._pre = np.concatenate([self._pre, *pres])
            self._post = np.concatenate([self._post, *posts])
            self._values = {name: np.concatenate([self._values[name], *(v[name] for v in values)])
                            for name in self._names}
            self._chunks = []

    def _column(self, name: str) -> np.ndarray:
        self._consolidate()
        if name == "presynaptic_index":
            return self._pre
        if name == "postsynaptic_index":
            return self._post
        if name not in self._values:
            raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__,
                                                   self._names)
        outcome = self._simulator.state.outcome
        if name == "weight" and isinstance(self.synapse_type, STDPMechanism) and outcome:
            learned = self._values["weight"].copy()
            final = outcome.result.meta.get("final_weights", {})
            for index, chosen in self._parts:
                learned[chosen] = np.sign(learned[chosen]) * final[index][0]
            return learned
        return self._values[name]

    def _set_attributes(self, parameter_space: Any) -> None:
        self._consolidate()
        parameter_space.evaluate()
        values = {name: column.copy() for name, column in self._values.items()}
        for name, value in parameter_space.items():
            if name not in values:
                raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__,
                                                       self._names)
            new = np.broadcast_to(np.asarray(value, np.float64), self.shape)[self._pre, self._post]
            keep = ~np.isnan(new)
            values[name][keep] = new[keep]
        self._check(values)
        self._values = values
        self._simulator.state.changed(f"synaptic parameters of projection {self.label!r}")

    def _get_attributes_as_list(self, names: Any) -> list[tuple[Any, ...]]:
        columns = [self._column(name) for name in names]
        return [tuple(row) for row in zip(*(c.tolist() for c in columns), strict=True)]

    def _get_attributes_as_arrays(self, names: Any, multiple_synapses: str = "sum"
                                  ) -> list[np.ndarray]:
        reduce = {"sum": np.add, "min": np.minimum, "max": np.maximum}
        out = []
        for name in names:
            values = self._column({"weights": "weight", "delays": "delay"}.get(name, name))
            array = np.full(self.shape, np.nan)
            if multiple_synapses in reduce:
                filled = np.full(self.shape, {"sum": 0.0, "min": np.inf, "max": -np.inf}[
                    multiple_synapses])
                reduce[multiple_synapses].at(filled, (self._pre, self._post), values)
                present = np.zeros(self.shape, bool)
                present[self._pre, self._post] = True
                array[present] = filled[present]
            else:  # "first" / "last"
                order = slice(None, None, -1) if multiple_synapses == "first" else slice(None)
                array[self._pre[order], self._post[order]] = values[order]
            out.append(array)
        return out

    def cell_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """The IDs (network-wide cell numbers) of every connection's pre and post cell."""
        self._consolidate()
        return (np.asarray(self.pre.all_cells, np.int64)[self._pre],
                np.asarray(self.post.all_cells, np.int64)[self._post])
