"""From the PyNN objects of a session to a neurotwin :class:`~neurotwin.network.Network`,
and from its :class:`~neurotwin.engines.result.Result` back to PyNN's cells.

A PyNN population becomes one neurotwin node per distinct parameter set (a neurotwin
population has one model; PyNN parameters may differ from cell to cell); a projection
becomes one neurotwin projection per pair of such nodes and per repeat of a (pre, post)
pair (PyNN allows several connections between two cells, a neurotwin projection one).
Delays are rounded to the time grid, as NEST and Brian2 round them.

The run is simulated for whole blocks of ``engines.plan.CHUNK_STEPS`` steps: the Poisson
streams are drawn block by block, so a longer re-simulation repeats a shorter one
exactly (:mod:`neurotwin.pynn.simulator`); what lies past the PyNN time is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from pyNN import common
from pyNN.standardmodels import cells as pynn_cells

from neurotwin.backends.base import simulate
from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.lif import LIF
from neurotwin.engines.plan import CHUNK_STEPS
from neurotwin.engines.result import Result
from neurotwin.network import DCSource, Network, Population, SpikeSourceArray
from neurotwin.network import SpikeSourcePoisson as PoissonNode
from neurotwin.network.projection import Receptor
from neurotwin.network.renewal import gamma_trains, poisson_refractory_trains
from neurotwin.pynn.electrodes import MAX_WINDOWS
from neurotwin.pynn.standardmodels import NeuronType, SpikeSourceGamma, SpikeSourcePoissonRefractory

__all__ = ["Group", "Outcome", "build_network", "simulate_state"]

SOURCE_STREAM = 0x6A3A
"""First word of the seed of a population's random spike trains (with the session's
seed and the population's number)."""


@dataclass(frozen=True)
class Group:
    """One neurotwin node of a PyNN population: its label and which cells it holds."""

    label: str
    index: np.ndarray
    """Indices of its cells within the PyNN population, in the node's order."""


@dataclass(frozen=True, eq=False)
class Outcome:
    """The last run, read per PyNN population."""

    result: Result
    groups: dict[int, list[Group]]
    """id(PyNN population) -> its nodes."""
    t_stop: float
    """PyNN time reached, ms."""
    steps: int
    """Time steps up to ``t_stop``."""

    def spikes(self, population: Any) -> tuple[np.ndarray, np.ndarray]:
        """Spiking cells' IDs and spike times (ms, <= t_stop) of ``population``."""
        ids, times = [np.zeros(0, np.int64)], [np.zeros(0)]
        cells = np.asarray(population.all_cells, np.int64)
        for group in self.groups[id(population)]:
            if group.label not in self.result.spike_records:
                continue
            t, k = self.result.spikes(group.label)
            keep = t <= self.t_stop + 1e-9 * max(1.0, self.t_stop)
            ids.append(cells[group.index[k[keep]]])
            times.append(t[keep])
        all_ids, all_times = np.concatenate(ids), np.concatenate(times)
        order = np.argsort(all_times, kind="stable")
        return all_ids[order], all_times[order]

    def signal(self, population: Any, variable: str) -> np.ndarray:
        """``variable`` (neurotwin name) of every cell, sampled at 0, dt, ..., t_stop:
        shape (steps + 1, size)."""
        out = np.full((self.steps + 1, population.size), np.nan)
        for group in self.groups[id(population)]:
            if (group.label, variable) not in self.result.traces:
                # a conductance of a cell run as its membrane model (no synapse reaches it)
                out[:, group.index] = 0.0
                continue
            trace = self.result.trace(group.label, variable)[: self.steps + 1]
            out[:, group.index] = trace.detach().cpu().numpy()
        return out


def simulate_state(state: Any, t_stop: float) -> Outcome:
    """Build the session's network and simulate it from 0 to ``t_stop`` ms."""
    steps = round(t_stop / state.dt)
    simulated = math.ceil((steps + 1) / CHUNK_STEPS) * CHUNK_STEPS
    net, groups = build_network(state, simulated * state.dt)
    options = dict(state.options)
    if state.backend == "spinnaker2":
        options["tick_ms"] = state.dt
    result = simulate(net, simulated * state.dt, backend=state.backend, seed=state.seed,
                      **options)
    return Outcome(result, groups, t_stop, steps)


def build_network(state: Any, duration: float) -> tuple[Network, dict[int, list[Group]]]:
    """The neurotwin network of the session's PyNN objects, for a run of ``duration`` ms."""
    net = Network(dt=state.dt)
    where = np.full(state.id_counter, -1, np.int64)  # cell ID -> node number
    local = np.zeros(state.id_counter, np.int64)  # cell ID -> index within its node
    labels: list[str] = []
    groups: dict[int, list[Group]] = {}
    # on a twin, a population no projection reaches runs as its membrane model: without
    # synaptic input the shape and kind of its synapses do not matter
    reached = {id(root) for proj in state.projections for root in _roots(proj.post)}
    for p, pop in enumerate(state.populations):
        groups[id(pop)] = []
        rng = np.random.default_rng([SOURCE_STREAM, state.seed, p])
        membrane = state.backend != "ideal" and id(pop) not in reached
        for k, (node, index) in enumerate(_nodes(pop, rng, duration, membrane)):
            label = f"p{p}_{k}"
            net.add(replace(node, label=label))
            cells = np.asarray(pop.all_cells, np.int64)[index]
            where[cells] = len(labels)
            local[cells] = np.arange(index.size)
            labels.append(label)
            groups[id(pop)].append(Group(label, index))
        _record(net, pop, groups[id(pop)])
    for proj in state.projections:
        _connect(net, proj, where, local, labels)
    _inject(net, state, duration, where, local, labels)
    return net, groups


def _nodes(pop: Any, rng: np.random.Generator, until: float, membrane: bool = False
           ) -> list[tuple[Any, np.ndarray]]:
    """The neurotwin nodes of a PyNN population and the cells each holds; random spike
    trains (gamma, Poisson with dead time) drawn from ``rng`` up to ``until`` ms;
    ``membrane``: neuron models with shaped or conductance-based synapses as their
    membrane model (LIF or AdEx, :meth:`~neurotwin.CondExpLIF.membrane`)."""
    celltype, params, size = pop.celltype, pop._parameters, pop.size
    if isinstance(celltype, NeuronType):
        models, which = celltype.models(params, size)
        unknown = [name for name, values in pop._initial.items()
                   if celltype.state_names.get(name) is None and np.any(values != 0)]
        if unknown:
            raise NotImplementedError(
                f"initial values of {', '.join(unknown)}: neurotwin's {type(celltype).__name__} "
                f"has no such state (it has {', '.join(celltype.state_names)})")
        out = []
        for k, model in enumerate(models):
            index = np.flatnonzero(which == k)
            initial = {str(celltype.state_names[name]): values[index]
                       for name, values in pop._initial.items()
                       if celltype.state_names.get(name) is not None}
            if membrane and not isinstance(model, LIF | AdEx):
                # unless a conductance starts above 0: then the twin refuses the model
                inner = model.membrane()
                if not any(np.any(values != 0) for name, values in initial.items()
                           if name not in inner.state_variables):
                    model = inner
                    initial = {name: values for name, values in initial.items()
                               if name in inner.state_variables}
            out.append((Population(index.size, model, initial=initial), index))
        return out
    if isinstance(celltype, pynn_cells.SpikeSourceArray):
        return [(SpikeSourceArray(_trains(pop._spike_history, size)), np.arange(size))]
    if isinstance(celltype, pynn_cells.SpikeSourcePoisson):
        rate, start, duration = (np.broadcast_to(np.asarray(params[n], np.float64), (size,))
                                 for n in ("rate", "start", "duration"))
        windows, which = np.unique(np.column_stack([start, duration]), axis=0,
                                   return_inverse=True)
        which = np.asarray(which).ravel()
        sources: list[tuple[Any, np.ndarray]] = []
        for k, (first, length) in enumerate(windows):
            index = np.flatnonzero(which == k)
            node = PoissonNode(index.size, rate[index], start=float(first),
                               stop=float(first + length))
            sources.append((node, index))
        return sources
    if isinstance(celltype, SpikeSourceGamma | SpikeSourcePoissonRefractory):
        start = np.broadcast_to(np.asarray(params["start"], np.float64), (size,))
        stop = np.minimum(start + params["duration"], until)
        if isinstance(celltype, SpikeSourceGamma):
            trains = gamma_trains(params["alpha"], params["beta"], start, stop, rng, size)
        else:
            trains = poisson_refractory_trains(params["rate"], params["tau_refrac"], start,
                                               stop, rng, size)
        return [(SpikeSourceArray(trains), np.arange(size))]
    raise NotImplementedError(f"neurotwin.pynn cannot run {type(celltype).__name__}")


def _trains(history: list[tuple[float, Any]], size: int) -> list[np.ndarray]:
    """Each source's spikes: those of each version of its trains in the time it held."""
    out: list[list[np.ndarray]] = [[] for _ in range(size)]
    for k, (since, trains) in enumerate(history):
        until = history[k + 1][0] if k + 1 < len(history) else math.inf
        for i, train in enumerate(np.broadcast_to(trains, (size,))):
            t = np.asarray(getattr(train, "value", train), np.float64).ravel()
            out[i].append(t[(t >= since) & (t < until)])
    return [np.concatenate(parts) for parts in out]


def _record(net: Network, pop: Any, groups: list[Group]) -> None:
    recorded = [v.name for v, cells in pop.recorder.recorded.items() if cells]
    names = ["spikes" if v == "spikes" else pop.celltype.state_names[v] for v in recorded]
    for group in groups:
        node = net.nodes[group.label]
        held = node.model.state_variables if isinstance(node, Population) else ()
        mine = [name for name in names if name == "spikes" or name in held]
        if mine:
            net.record(group.label, *mine)


def _connect(net: Network, proj: Any, where: np.ndarray, local: np.ndarray,
             labels: list[str]) -> None:
    """Add ``proj`` as neurotwin projections (see the module docstring)."""
    pre_ids, post_ids = proj.cell_ids()
    proj._parts = []
    if pre_ids.size == 0:
        return
    values = proj._values
    weight = np.abs(values["weight"])
    delay = np.maximum(np.round(values["delay"] / net.dt), 1) * net.dt
    receptor: Receptor = "exc" if proj.receptor_type == "excitatory" else "inh"
    pre_node, post_node = where[pre_ids], where[post_ids]
    pre, post = local[pre_ids], local[post_ids]
    for a, b in sorted(set(zip(pre_node.tolist(), post_node.tolist(), strict=True))):
        sel = np.flatnonzero((pre_node == a) & (post_node == b))
        shape = (net.nodes[labels[a]].size, net.nodes[labels[b]].size)
        key = pre[sel] * shape[1] + post[sel]
        order = np.argsort(key, kind="stable")
        sel, key = sel[order], key[order]
        first = np.searchsorted(key, key)  # repeats of a (pre, post) pair: 0, 1, ...
        repeat = np.arange(key.size) - first
        for r in range(int(repeat.max()) + 1):
            chosen = sel[repeat == r]
            counts = np.bincount(pre[chosen], minlength=shape[0])
            indptr = np.concatenate([[0], np.cumsum(counts)])
            weights = sp.csr_array((weight[chosen], post[chosen], indptr), shape=shape)
            synapse = proj.synapse_type.neurotwin_synapse(
                {name: column[chosen] for name, column in values.items()})
            proj._parts.append((len(net.projections), chosen))
            net.connect(labels[a], labels[b], weights=weights, receptor=receptor,
                        delays=delay[chosen], synapse=synapse)


def _roots(cells: Any) -> list[Any]:
    """The populations behind a Population, PopulationView or Assembly."""
    if isinstance(cells, common.Assembly):
        return [p for member in cells.populations for p in _roots(member)]
    while isinstance(cells, common.PopulationView):
        cells = cells.parent
    return [cells]


def _inject(net: Network, state: Any, duration: float, where: np.ndarray,
            local: np.ndarray, labels: list[str]) -> None:
    """Add every current source's windows, per neurotwin node it reaches."""
    total = 0
    for source in state.current_sources:
        if not source.cells:
            continue
        ids = np.asarray([int(c) for c in source.cells], np.int64)
        windows = source.windows(state.dt, duration)
        for node in np.unique(where[ids]).tolist():
            mine = ids[where[ids] == node]
            gain = np.zeros(net.nodes[labels[node]].size)
            np.add.at(gain, local[mine], 1.0)
            total += len(windows)
            if total > MAX_WINDOWS:
                raise NotImplementedError(
                    f"current sources need more than {MAX_WINDOWS} windows in this run; "
                    f"neurotwin injects at most that many (shorten the run or the sources)")
            for start, stop, amp in windows:
                net.inject(labels[node], DCSource(gain * amp, start=start, stop=stop))
