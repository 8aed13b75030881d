r"""NIR import: a NIR graph (or file) becomes a :class:`~neurotwin.network.Network`.

NIR describes a network as continuous-time ODEs on a graph; neurotwin runs populations
of current-based LIF neurons on a time grid. The mapping, in NIR's own symbols (time in
NIR units, one unit = ``time_unit`` ms; ``h = dt / time_unit`` is the step in NIR units)::

    CubaLIF   tau_syn dI/dt = -I + w_in y(t)        tau_mem dv/dt = (v_leak - v) + r I
              v > v_threshold -> spike, v <- v_reset
    LIF       tau dv/dt = (v_leak - v) + r y(t)     (input drives v directly)
    IF        dv/dt = r y(t)                         (no leak)
    LI, CubaLI, I: as LIF, CubaLIF, IF without threshold (non-spiking)
    Affine    y = W x + b     Linear  y = W x     Scale  y = s x     Delay  y(t) = x(t - d)
    Threshold y = [x > threshold]   (re-binarises a spike train)
    Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten: linear maps, unrolled into sparse
              matrices (:mod:`.conv`); shapes flow from the Input and neuron nodes

A neuron node becomes one :class:`~neurotwin.network.Population` of
:class:`~neurotwin.LIF` neurons with ``cm = time_unit tau_mem / r`` (so the current in
nA is NIR's I, and r is in MΩ), ``v_rest = v_leak``; the chain of Affine/Linear/Scale/
Delay/Threshold nodes between two spiking nodes becomes one projection whose weights are
the composed matrix times the per-neuron gain below; biases become a DC current plus an
initial synaptic current. Two readings of the graph are offered (``discretisation``;
default ``"euler"`` with time in seconds for graphs from other tools, as snnTorch, Norse
and the NIR paper's platforms run them, ``"exact"`` for graphs :mod:`.writer` wrote):

``"exact"``
    The ODEs as written, spikes are Dirac deltas of area one NIR time unit, and
    neurotwin integrates between grid points exactly. Errors come only from the grid:
    spikes are stamped at the end of the step in which v crosses threshold, and every
    edge between spiking nodes takes one extra dt (neurotwin's shortest delay).
``"euler"``
    The graph as an Euler-stepped simulator (snnTorch) runs it with step h: per step
    ``I += (h/tau_syn)(w_in y - I)``, then ``v += (h/tau_mem)(v_leak - v + r I)`` with the
    new I, and a spike is the value 1 for one step. neurotwin reproduces this map exactly
    (decays ``1 - h/tau`` become its exponential propagators), each layer running two
    steps behind the Euler simulator.

The full derivation and every approximation are in ``docs/nir.md``.
"""


from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import h5py
import nir
import numpy as np
import scipy.sparse as sp

from neurotwin.dynamics.lif import LIF, LIFConstants, lif_constants
from neurotwin.errors import ConfigError, DataError, as_numbers, check_positive
from neurotwin.network.network import Network
from neurotwin.network.nir.nodes import (
    META_DT,
    META_ORDER,
    META_TIME_UNIT,
    NODE_TYPES,
    TRANSFORMS,
    UNREACHABLE_THRESHOLD_MV,
    InputPart,
    NeuronPart,
    OutputPart,
    Resolved,
    SpikePath,
    convert,
    scale_columns,
    shape_size,
)
from neurotwin.network.nir.shapes import resolve_shapes
from neurotwin.network.nodes import DCSource, Population, SpikeSourceArray

__all__ = ["DISCRETISATIONS", "ECOSYSTEM_TIME_UNIT_MS", "Discretisation", "from_nir", "read"]

Discretisation = Literal["exact", "euler"]
DISCRETISATIONS = ("exact", "euler")

ECOSYSTEM_TIME_UNIT_MS = 1000.0
"""ms per NIR time unit of a graph that does not say: seconds, as snnTorch, Norse and the
NIR paper's graphs write time constants (snnTorch's exporter: ``dt = 1e-4`` s)."""

DELTA_SYN_FRACTION = 1e-3
"""tau_syn / dt of a population whose NIR node has no synaptic current (LIF, IF, LI, I):
exp(-1000) underflows to 0, so the current lasts exactly one step and delivers its whole
charge to v in that step (the weight is scaled to give NIR's jump)."""

NO_LEAK_TAU_MS = 1e300
"""tau_mem of IF/I nodes, ms: exp(-dt / 1e300) == 1.0 in float64, i.e. no leak at all."""


# --- flattening nested graphs ------------------------------------------------------------


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with subgraphs inlined as ``prefix.sub.node``.

    A subgraph's Input and Output become identity Scale nodes; edges to (from) the
    subgraph go to its single Input (come from its single Output).
    """
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if not isinstance(node, nir.NIRGraph):
            nodes[full] = node
            continue
        inner_nodes, inner_edges = _flatten(node, f"{full}.")
        ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
        outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise ConfigError(
                f"subgraph {full!r} must have exactly one Input and one Output node, "
                f"got {len(ins)} and {len(outs)}"
            )
        entry[full], exit_[full] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        in_size = shape_size(node.nodes[ins[0]].input_type, "Input")
        out_size = shape_size(node.nodes[outs[0]].output_type, "Output")
        inner_nodes[entry[full]] = nir.Scale(scale=np.ones(in_size))
        inner_nodes[exit_[full]] = nir.Scale(scale=np.ones(out_size))
        nodes.update(inner_nodes)
        edges.extend(inner_edges)
    for a, b in graph.edges:
        src = exit_.get(f"{prefix}{a}", f"{prefix}{a}")
        dst = entry.get(f"{prefix}{b}", f"{prefix}{b}")
        for end in (src, dst):
            if end not in nodes:
                raise ConfigError(
                    f"edge ({a!r}, {b!r}) refers to {end!r}, which is not a node of the graph"
                )
        edges.append((src, dst))
    return nodes, edges


# --- neuron nodes on neurotwin's grid ----------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Mapped:
    """A NIR neuron node on neurotwin's grid: its LIF model and the per-neuron factors
    (shape (size,)) that turn NIR weights and biases into neurotwin weights and currents."""

    model: LIF
    gain: np.ndarray
    """Synaptic weight in nA per unit of NIR weight (one spike through it)."""
    bias_dc: np.ndarray
    """DC current in nA per unit of NIR bias."""
    bias_i0: np.ndarray
    """Initial synaptic current in nA per unit of NIR bias."""
    leak_dc: np.ndarray
    """DC current in nA that stands in for v_leak - v_rest (per-neuron leak potentials)."""
    v_init: np.ndarray
    """Initial membrane potential, mV."""
    i_init: np.ndarray
    """Initial synaptic current (exc minus inh), nA, before biases."""


def _uniform(
    name: str, neuron: NeuronPart, param: str, value: np.ndarray | None, default: float
) -> float:
    """The one value of a per-neuron parameter (``default`` where the node has none)."""
    if value is None:
        return default
    distinct = np.unique(value)
    if distinct.size != 1:
        raise ConfigError(
            f"NIR node {name!r} ({neuron.kind}) has {distinct.size} different {param} values "
            f"(e.g. {distinct[0]!r}, {distinct[1]!r}); a neurotwin population shares one "
            "value, so split the node into one node per value"
        )
    return float(distinct[0])


def _grid_tau(
    name: str, param: str, tau: float, dt: float, time_unit: float, discretisation: str
) -> float:
    """neurotwin's time constant, ms, for NIR's ``tau`` (NIR units, > 0).

    "exact": the same time constant. "euler": the one whose exact decay over dt equals
    Euler's 1 - h/tau, which needs h < tau.
    """
    check_positive(f"{name}.{param}", tau, "NIR time units")
    if discretisation == "exact":
        return tau * time_unit
    h = dt / time_unit
    if not h < tau:
        raise ConfigError(
            f"NIR node {name!r}: {param} = {tau!r} must exceed the step h = dt / time_unit "
            f"= {h!r} for discretisation='euler' (the Euler decay 1 - h/tau must be > 0)"
        )
    return -dt / math.log1p(-h / tau)


def _map_neuron(
    name: str, neuron: NeuronPart, dt: float, time_unit: float, discretisation: Discretisation
) -> _Mapped:
    """Discretise one NIR neuron node; see docs/nir.md for the derivation."""
    n, h = neuron.size, dt / time_unit
    check_positive(f"{name}.r", neuron.r, "MΩ")
    tau_m = _uniform(name, neuron, "tau_mem", neuron.tau_mem, math.inf)
    tau_s = _uniform(name, neuron, "tau_syn", neuron.tau_syn, 0.0)
    leaky, synaptic = math.isfinite(tau_m), neuron.tau_syn is not None
    v_leak = neuron.v_leak if neuron.v_leak is not None else np.zeros(n)
    v_rest = float(v_leak.min())
    r_ref = float(neuron.r[0])
    tau_mem_ms = (
        _grid_tau(name, "tau_mem", tau_m, dt, time_unit, discretisation)
        if leaky else NO_LEAK_TAU_MS
    )
    tau_syn_ms = (
        _grid_tau(name, "tau_syn", tau_s, dt, time_unit, discretisation)
        if synaptic else DELTA_SYN_FRACTION * dt
    )
    v_reset = _uniform(name, neuron, "v_reset", neuron.v_reset, v_rest)
    v_thresh = _uniform(name, neuron, "v_threshold", neuron.v_threshold, UNREACHABLE_THRESHOLD_MV)
    try:
        model = LIF(
            tau_mem=tau_mem_ms,
            tau_syn_exc=tau_syn_ms,
            tau_syn_inh=tau_syn_ms,
            cm=time_unit * tau_m / r_ref if leaky else time_unit / r_ref,
            v_rest=v_rest,
            v_reset=v_reset,
            v_thresh=v_thresh,
        )
    except ConfigError as exc:
        raise ConfigError(f"NIR node {name!r} ({neuron.kind}): {exc}") from None
    c = lif_constants(model, dt)
    rho = neuron.r / r_ref  # neurotwin current per unit of NIR current
    gain, bias_dc, bias_i0 = _input_factors(
        c, discretisation, h, neuron.r / tau_m if leaky else neuron.r, rho, neuron.w_in,
        tau_s if synaptic else None,
    )  # fmt: skip
    if discretisation == "exact":
        leak_dc = (v_leak - v_rest) * model.cm / model.tau_mem
    else:
        leak_dc = (h / tau_m) * (v_leak - v_rest) / c.p_vi
    v_init = neuron.initial_v if neuron.initial_v is not None else v_leak
    i_init = rho * neuron.initial_i if neuron.initial_i is not None else np.zeros(n)
    for label, arr in (("initial v", v_init), ("initial I", i_init)):
        if arr.shape != (n,):
            raise ConfigError(f"NIR node {name!r}: {label} must have shape ({n},)")
    return _Mapped(model, gain, bias_dc, bias_i0, leak_dc, v_init, i_init)


def _input_factors(
    c: LIFConstants,
    discretisation: Discretisation,
    h: float,
    dv_per_charge: np.ndarray,
    rho: np.ndarray,
    w_in: np.ndarray,
    tau_s: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron (gain, bias_dc, bias_i0) of :class:`_Mapped`.

    ``dv_per_charge`` is r / tau_mem (r without leak): the jump of v, in mV, that one unit
    of NIR current-time (a Dirac of unit weight) causes when the input drives v directly.
    """
    zeros = np.zeros_like(rho)
    if discretisation == "exact":
        if tau_s is not None:  # Dirac of weight W: I jumps by w_in W / tau_syn
            return rho * w_in / tau_s, rho * w_in, -rho * w_in
        # v jumps by dv_per_charge W; the one-step current must leave that jump, decayed
        # over the step, in v at the next grid point
        return dv_per_charge * c.p_vv / c.p_ve, rho, zeros
    g_m = h * dv_per_charge  # Euler's gain from I to v per step
    g_s = h * w_in / tau_s if tau_s is not None else np.ones_like(w_in)
    w_eff = w_in if tau_s is not None else np.ones_like(w_in)  # g_s / (1 - decay of I)
    return g_m * g_s / c.p_ve, g_m * w_eff / c.p_vi, -g_m * w_eff / c.p_ve


# --- walking the graph --------------------------------------------------------------------

def _origin_path(name: str, part: InputPart | NeuronPart) -> SpikePath:
    if isinstance(part, NeuronPart) and part.v_threshold is None:
        raise ConfigError(
            f"NIR node {name!r} ({part.kind}) is non-spiking: its output is a membrane "
            "potential, and neurotwin passes only spikes between nodes; it may feed only "
            "an Output node"
        )
    n = part.size
    return SpikePath(name, sp.eye_array(n, format="csr"), np.zeros(n), np.zeros(n), mixed=False)


def _paths_into(
    name: str,
    parts: Mapping[str, Resolved],
    preds: Mapping[str, list[str]],
    stack: tuple[str, ...] = (),
) -> list[SpikePath]:
    """Every path of spikes from a spiking node through linear nodes into ``name``."""
    paths = []
    for p in preds[name]:
        part = parts[p]
        if isinstance(part, InputPart | NeuronPart):
            paths.append(_origin_path(p, part))
        elif isinstance(part, OutputPart):
            raise ConfigError(f"Output node {p!r} cannot feed another node ({name!r})")
        else:
            if p in stack:
                raise ConfigError(
                    f"the graph has a loop through {p!r} without a neuron node in it"
                )
            for q in _paths_into(p, parts, preds, (*stack, p)):
                if q.size != part.n_in:
                    raise ConfigError(
                        f"node {p!r} takes {part.n_in} inputs, but {q.source!r} delivers "
                        f"{q.size} there"
                    )
                paths.append(replace(part.path(q), via=(*q.via, p)))
    return paths


def _constant_into(
    name: str,
    size: int,
    parts: Mapping[str, Resolved],
    preds: Mapping[str, list[str]],
    stack: tuple[str, ...] = (),
) -> np.ndarray:
    """The constant (bias) part of the signal arriving at ``name``, shape (size,)."""
    total = np.zeros(size)
    for p in preds[name]:
        part = parts[p]
        if not isinstance(part, TRANSFORMS):
            continue
        if p in stack:
            raise ConfigError(f"the graph has a loop through {p!r} without a neuron node in it")
        arriving = _constant_into(p, part.n_in, parts, preds, (*stack, p))
        try:
            out = part.constant(arriving)
        except ConfigError as err:  # e.g. a conv's bias into a Threshold
            raise ConfigError(f"NIR node {p!r}: {err}") from None
        if out.shape != (size,):
            raise ConfigError(
                f"node {p!r} delivers {out.shape[0]} values to {name!r}, which takes {size}"
            )
        total += out
    return total


def _origins(
    name: str, parts: Mapping[str, Resolved], preds: Mapping[str, list[str]], stack: tuple = ()
) -> list[str]:
    """The non-linear nodes whose output reaches ``name`` through linear nodes only."""
    found: list[str] = []
    for p in preds[name]:
        if isinstance(parts[p], TRANSFORMS):
            if p not in stack:
                found += _origins(p, parts, preds, (*stack, p))
        else:
            found.append(p)
    return list(dict.fromkeys(found))


# --- import -------------------------------------------------------------------------------


def _graph_meta(graph: Any, key: str) -> float | None:
    meta = getattr(graph, "metadata", None)
    if not isinstance(meta, Mapping) or key not in meta:
        return None
    try:
        value = as_numbers(f"graph metadata {key}", meta[key])
    except ConfigError as err:  # not a number where neurotwin wrote one: a bad file
        raise DataError(str(err)) from None
    if value.size != 1:
        raise DataError(f"graph metadata {key} must be one number, got shape {value.shape}")
    return float(value.ravel()[0])


def _connect(
    net: Network, path: SpikePath, target: str, gain: np.ndarray, time_unit: float
) -> None:
    """Add the projection that carries ``path`` into population ``target``."""
    w = scale_columns(path.matrix, gain)
    if sp.issparse(w):
        w = sp.csr_array(w)
        w.eliminate_zeros()
        values = w.data
    else:
        values = w[w != 0]
    if values.size == 0:
        return
    receptor: Literal["exc", "inh"] | None = None
    if np.all(values >= 0):
        receptor = "exc"
    elif np.all(values <= 0):
        receptor, w = "inh", -w
    extra = time_unit * (path.delay_pre[:, None] + path.delay_post[None, :])
    delays: float | np.ndarray | sp.csr_array
    if np.all(extra == extra.flat[0]):
        delays = net.dt + float(extra.flat[0])
    elif isinstance(w, sp.csr_array):
        rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
        d = net.dt + extra[rows, w.indices]
        delays = sp.csr_array((d, w.indices.copy(), w.indptr.copy()), shape=w.shape)
    else:
        delays = net.dt + extra
    net.connect(path.source, target, weights=w, receptor=receptor, delays=delays)


def _check_inputs(parts: Mapping[str, Resolved], inputs: Mapping[str, Any]) -> None:
    names = [k for k, p in parts.items() if isinstance(p, InputPart)]
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ConfigError(
            f"inputs given for {', '.join(map(repr, unknown))}, which are not Input nodes; "
            f"Input nodes: {', '.join(map(repr, names)) or 'none'}"
        )


def _add_source(
    net: Network, name: str, part: InputPart, given: Sequence[Sequence[float]] | None
) -> None:
    times: Sequence[Sequence[float]] | tuple[np.ndarray, ...] = (
        given if given is not None
        else part.spike_times if part.spike_times is not None
        else [[] for _ in range(part.size)]
    )
    source = SpikeSourceArray(times, label=name)
    if source.size != part.size:
        raise ConfigError(
            f"inputs[{name!r}] must hold {part.size} spike trains (one per element of "
            f"the Input node), got {source.size}"
        )
    net.add(source)


def _in_written_order(nodes: dict[str, Any], graph: Any) -> dict[str, Any]:
    """``nodes`` in the order :func:`to_nir` recorded (HDF5 lists groups by name)."""
    meta = getattr(graph, "metadata", None)
    if not isinstance(meta, Mapping) or META_ORDER not in meta:
        return nodes
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.ravel(meta[META_ORDER])]
    rank = {name: k for k, name in enumerate(names)}
    return dict(sorted(nodes.items(), key=lambda item: rank.get(item[0], len(rank))))


def _add_population(net: Network, name: str, m: _Mapped, bias: np.ndarray) -> None:
    n = bias.shape[0]
    i0 = m.i_init + bias * m.bias_i0
    initial: dict[str, np.ndarray] = {}
    if np.any(m.v_init != m.model.v_rest):
        initial["v"] = m.v_init
    if np.any(i0 > 0):
        initial["i_exc"] = np.maximum(i0, 0.0)
    if np.any(i0 < 0):
        initial["i_inh"] = np.maximum(-i0, 0.0)
    net.add(Population(n, m.model, label=name, initial=initial))
    dc = bias * m.bias_dc + m.leak_dc
    if np.any(dc != 0):
        net.inject(name, DCSource(amplitude=dc))


def from_nir(
    graph: Any,
    dt: float | None = None,
    *,
    inputs: Mapping[str, Sequence[Sequence[float]]] | None = None,
    time_unit: float | None = None,
    discretisation: Discretisation | None = None,
) -> Network:
    """Build a neurotwin :class:`~neurotwin.network.Network` from a NIR graph.

    Parameters
    ----------
    graph
        A ``nir.NIRGraph``; nested subgraphs are inlined (names ``outer.inner``).
    dt
        Time step of the network, ms. Default: the ``neurotwin_dt`` the graph was
        written with by :func:`to_nir`; required otherwise.
    inputs
        Spike times per Input node name: one sequence of times (ms) per element of the
        node. Default: the spike times stored by :func:`to_nir`, else no spikes.
    time_unit
        Milliseconds per NIR time unit (1.0: the graph's time constants are in ms;
        1000.0: in seconds, as snnTorch, Norse and the NIR paper write them). Default:
        the value the graph was written with by :func:`to_nir`, else
        :data:`ECOSYSTEM_TIME_UNIT_MS` (seconds).
    discretisation
        ``"euler"`` (the Euler-stepped reading of snnTorch and Norse with step
        ``dt / time_unit``, a spike being the value 1 for one step) or ``"exact"`` (the
        ODEs with Dirac spikes of area one time unit, integrated exactly between grid
        points). Default: ``"exact"`` for a graph written by :func:`to_nir` (it carries
        ``neurotwin_time_unit``), ``"euler"`` for every other graph, which is how the
        tools that write them run them; see the module docstring and docs/nir.md.

    Returns
    -------
    Network
        One population per neuron node (labelled with the node's name), one spike source
        per Input node, one projection per path of linear nodes between them; spikes
        (or ``"v"`` for non-spiking nodes) of every node that feeds an Output are
        recorded.

    Raises
    ------
    ConfigError
        For a node type neurotwin cannot import (the message lists the supported ones),
        parameters a population cannot hold (e.g. different ``tau_mem`` within a node),
        or a graph structure without a neurotwin equivalent.
    """
    written_here = _graph_meta(graph, META_TIME_UNIT) is not None
    if discretisation is None:
        discretisation = "exact" if written_here else "euler"
    if discretisation not in DISCRETISATIONS:
        raise ConfigError(
            f"discretisation must be one of {', '.join(DISCRETISATIONS)}, got {discretisation!r}"
        )
    if dt is None:
        dt = _graph_meta(graph, META_DT)
        if dt is None:
            raise ConfigError(
                "dt is required: a NIR graph is continuous-time; pass the time step in ms"
            )
    if time_unit is None:
        time_unit = _graph_meta(graph, META_TIME_UNIT) or ECOSYSTEM_TIME_UNIT_MS
    check_positive("dt", dt, "ms")
    check_positive("time_unit", time_unit, "ms")
    nodes, edges = _flatten(graph)
    ordered = _in_written_order(nodes, graph)
    converted = {name: convert(name, node) for name, node in ordered.items()}
    preds: dict[str, list[str]] = {name: [] for name in converted}
    for a, b in edges:
        preds[b].append(a)
    parts = resolve_shapes(converted, preds)
    net = Network(dt=dt)
    inputs = inputs or {}
    _check_inputs(parts, inputs)
    mapped = {}
    for name, part in parts.items():
        if isinstance(part, InputPart):
            _add_source(net, name, part, inputs.get(name))
        elif isinstance(part, NeuronPart):
            mapped[name] = _map_neuron(name, part, dt, time_unit, discretisation)
            bias = _constant_into(name, part.size, parts, preds)
            _add_population(net, name, mapped[name], bias)
    order = {name: k for k, name in enumerate(parts)}
    incoming = [(path, name) for name in mapped for path in _paths_into(name, parts, preds)]
    incoming.sort(key=lambda item: [order[v] for v in item[0].via] or [order[item[0].source]])
    for path, name in incoming:
        gain = mapped[name].gain
        if path.size != gain.shape[0]:
            raise ConfigError(
                f"node {name!r} has {gain.shape[0]} neurons, but {path.source!r} delivers "
                f"{path.size} inputs to it"
            )
        _connect(net, path, name, gain, time_unit)
    for name, part in parts.items():
        if isinstance(part, OutputPart):
            for origin in _origins(name, parts, preds):
                spiking = not isinstance(parts[origin], NeuronPart) or (
                    parts[origin].v_threshold is not None  # type: ignore[union-attr]
                )
                net.record(origin, "spikes" if spiking else "v")
    return net


def read(
    path: str | Path,
    dt: float | None = None,
    *,
    inputs: Mapping[str, Sequence[Sequence[float]]] | None = None,
    time_unit: float | None = None,
    discretisation: Discretisation | None = None,
) -> Network:
    """Read a NIR file (HDF5) into a :class:`~neurotwin.network.Network`.

    Parameters are those of :func:`from_nir`. Raises :class:`DataError` if the file
    cannot be read as NIR (not HDF5, missing fields, node types unknown to NIR).
    """
    try:
        graph = nir.read(path, type_check=False)
    # what h5py and nir raise on files that are not NIR (RuntimeError: damaged HDF5)
    except (OSError, KeyError, ValueError, TypeError, AssertionError, AttributeError,
            RuntimeError) as exc:
        raise DataError(_read_failure(path, exc)) from exc
    return from_nir(
        graph, dt, inputs=inputs, time_unit=time_unit, discretisation=discretisation
    )


def _read_failure(path: str | Path, exc: Exception) -> str:
    message = f"{path} is not a readable NIR file ({type(exc).__name__}: {exc})"
    found: set[str] = set()

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and isinstance(obj.get("type"), h5py.Dataset):
            value = obj["type"][()]
            found.add(value.decode() if isinstance(value, bytes) else str(value))

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError):  # damaged beyond listing its types
        return message
    unknown = sorted(t for t in found if not hasattr(nir, t))
    if unknown:
        message += (
            f"; node types unknown to NIR {nir.__version__}: {', '.join(unknown)} "
            f"(neurotwin imports {', '.join(NODE_TYPES.names())})"
        )
    return message

