"""NIR node conversion: one converter per NIR node type, filled into :data:`NODE_TYPES`.

Each converter turns a NIR node into a *part*: a graph input or output, a neuron node in
NIR units, or a linear transform that knows how it acts on a path of spikes and on a
constant (bias). :mod:`.reader` builds the network from the parts; :mod:`.writer` uses the
metadata keys defined here. Parameters are checked here, at the boundary: a parameter
that is not numeric (a string, an object) is a :class:`~neurotwin.errors.DataError`, a
value neurotwin cannot use a :class:`~neurotwin.errors.ConfigError`, and a node too large
to hold in memory a :class:`~neurotwin.errors.CapacityError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from neurotwin.errors import (
    ConfigError,
    DataError,
    as_numbers,
    check_finite,
    check_memory,
    check_positive,
)
from neurotwin.network.nir.conv import conv_matrix, flatten_shape, pool_matrix
from neurotwin.registry import Registry

__all__ = [
    "META_DT",
    "META_INITIAL_I",
    "META_INITIAL_V",
    "META_ORDER",
    "META_SPIKE_IDS",
    "META_SPIKE_TIMES",
    "META_TIME_UNIT",
    "NODE_TYPES",
    "TRANSFORMS",
    "UNREACHABLE_THRESHOLD_MV",
    "InputPart",
    "NeuronPart",
    "OutputPart",
    "Part",
    "Resolved",
    "ShapedPart",
    "SpikePath",
    "Transform",
    "WeightsPart",
    "convert",
    "scale_columns",
    "shape_size",
]

UNREACHABLE_THRESHOLD_MV = 1e300
"""v_thresh of the non-spiking nodes (LI, CubaLI, I), mV: never reached by a finite v."""

META_DT = "neurotwin_dt"
META_TIME_UNIT = "neurotwin_time_unit"
META_INITIAL_V = "neurotwin_initial_v"
META_INITIAL_I = "neurotwin_initial_i"
META_SPIKE_TIMES = "neurotwin_spike_times"
META_SPIKE_IDS = "neurotwin_spike_ids"
META_ORDER = "neurotwin_order"

BYTES_PER_ELEMENT = 160
"""Memory that reading takes per element of an Input or Output node, bytes: its spike
train (a numpy array, about 112 bytes, and its slot in a tuple) plus the identity path it
starts (24 bytes of sparse matrix, 16 of delays). A lower bound, checked before any of it
is allocated, so that a declared shape such as [1e12] fails at once."""


# --- the parts a NIR node becomes -------------------------------------------------------


@dataclass(frozen=True)
class InputPart:
    """A graph input: spikes given by the caller (``inputs``) or stored in the file."""

    size: int
    spike_times: tuple[np.ndarray, ...] | None
    shape: tuple[int, ...] = ()
    """The node's declared shape, e.g. (channels, height, width); () if only flat."""


@dataclass(frozen=True)
class OutputPart:
    """A graph output: what feeds it is recorded."""

    size: int


@dataclass(frozen=True, eq=False)
class NeuronPart:
    """A NIR neuron node in NIR units; every array has shape (size,).

    ``tau_mem``/``v_leak`` None: no leak (IF, I); ``tau_syn`` None: the input drives v
    directly (LIF, IF, LI, I); ``v_threshold`` None: non-spiking (LI, CubaLI, I).
    """

    kind: str
    r: np.ndarray
    w_in: np.ndarray
    tau_mem: np.ndarray | None
    v_leak: np.ndarray | None
    tau_syn: np.ndarray | None
    v_threshold: np.ndarray | None
    v_reset: np.ndarray | None
    initial_v: np.ndarray | None = None
    initial_i: np.ndarray | None = None
    shape: tuple[int, ...] = ()
    """The node's shape in its graph (its parameters' shape); () if only flat."""

    @property
    def size(self) -> int:
        return int(self.r.shape[0])


@dataclass(frozen=True)
class SpikePath:
    """Spikes of one source node on their way through linear nodes towards a neuron.

    ``matrix[s, k]`` is what one spike of source element s contributes to element k of
    the signal here; its delay is ``delay_pre[s] + delay_post[k]`` (NIR time units).
    """

    source: str
    matrix: np.ndarray | sp.csr_array
    delay_pre: np.ndarray
    delay_post: np.ndarray
    mixed: bool
    """Whether a weight matrix has combined source elements (the signal index is no
    longer the source index)."""
    via: tuple[str, ...] = ()
    """The linear nodes passed, from the source on (orders the projections as the graph
    lists its nodes)."""

    @property
    def size(self) -> int:
        return int(self.matrix.shape[1])


def scale_columns(m: np.ndarray | sp.csr_array, s: np.ndarray) -> np.ndarray | sp.csr_array:
    """``m @ diag(s)``, keeping a sparse matrix sparse."""
    if sp.issparse(m):
        return sp.csr_array(m @ sp.diags_array(s))
    return np.asarray(m) * s[None, :]


@dataclass(frozen=True, eq=False)
class WeightsPart:
    """Affine (bias given) or Linear (bias zero): y = W x + b, W of shape (n_out, n_in);
    also an unrolled convolution or pooling (W sparse)."""

    weight: np.ndarray | sp.csr_array
    bias: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    def path(self, p: SpikePath) -> SpikePath:
        d = p.delay_post
        if d.size and np.all(d == d[0]):
            pre, post = p.delay_pre, np.full(self.weight.shape[0], d[0])
        elif not p.mixed:
            pre, post = p.delay_pre + d, np.zeros(self.weight.shape[0])
        else:
            raise ConfigError(
                "a Delay between two weight nodes must be the same for every element; "
                "per-element delays there are not per-synapse delays"
            )
        return SpikePath(p.source, p.matrix @ self.weight.T, pre, post, mixed=True)

    def constant(self, c: np.ndarray) -> np.ndarray:
        return self.weight @ c + self.bias


@dataclass(frozen=True, eq=False)
class ScalePart:
    """Scale: y = s x elementwise (also the identity left by flattening subgraphs)."""

    scale: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.scale.shape[0])

    def path(self, p: SpikePath) -> SpikePath:
        return replace(p, matrix=scale_columns(p.matrix, self.scale))

    def constant(self, c: np.ndarray) -> np.ndarray:
        return self.scale * c


@dataclass(frozen=True, eq=False)
class DelayPart:
    """Delay: y(t) = x(t - d), d per element in NIR time units."""

    delay: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.delay.shape[0])

    def path(self, p: SpikePath) -> SpikePath:
        return replace(p, delay_post=p.delay_post + self.delay)

    def constant(self, c: np.ndarray) -> np.ndarray:
        return c  # a constant delayed is the same constant


@dataclass(frozen=True, eq=False)
class ThresholdPart:
    """Threshold on a spike train: z = [x > threshold] for the value x a spike has in its
    step (1, or what a Scale made of it); the output spikes have value 1 again."""

    threshold: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.threshold.shape[0])

    def path(self, p: SpikePath) -> SpikePath:
        if p.mixed:
            raise ConfigError(
                "a Threshold must follow a spiking node directly (it re-binarises spikes); "
                "after a weight node its input is not a spike train"
            )
        values = sp.csr_array(p.matrix).diagonal()
        passes = (values > self.threshold).astype(np.float64)
        return replace(p, matrix=sp.diags_array(passes, format="csr"))

    def constant(self, c: np.ndarray) -> np.ndarray:
        if np.any(c != 0):
            raise ConfigError("a Threshold cannot take a bias (a constant) as input")
        return c


Transform = WeightsPart | ScalePart | DelayPart | ThresholdPart


@dataclass(frozen=True, eq=False)
class ShapedPart:
    """A node whose linear map depends on the shape of its input (Conv1d, Conv2d,
    SumPool2d, AvgPool2d, Flatten); the reader builds it once the graph gives that shape.
    """

    kind: str
    """The NIR node type, for messages."""
    declared: tuple[int, ...] | None
    """The input shape the node states itself (Conv's input_shape), if any."""
    build: Callable[[tuple[int, ...]], tuple[Transform, tuple[int, ...]]]
    """Input shape -> (the transform, its output shape); raises ConfigError/DataError."""


Resolved = InputPart | OutputPart | NeuronPart | Transform
"""A part whose linear map is known (every ShapedPart built)."""
Part = Resolved | ShapedPart

NODE_TYPES: Registry[Callable[[Any], Part]] = Registry("NIR node type")
"""Converters from a NIR node to its neurotwin part, by NIR type name; filled by
``@NODE_TYPES.register``. Its names are the supported node types."""

TRANSFORMS = (WeightsPart, ScalePart, DelayPart, ThresholdPart)


# --- converters, one per NIR node type --------------------------------------------------


def _numbers(what: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array; DataError if the file holds no numbers there."""
    if hasattr(value, "detach"):  # torch tensors, as some exporters leave them
        value = value.detach().cpu().numpy()
    try:
        return as_numbers(what, value)
    except ConfigError as err:  # a string or object where NIR stores numbers: bad file
        raise DataError(str(err)) from None


def _field(node: Any, name: str) -> Any:
    """A NIR node's field; DataError if absent (graphs read with type_check=False can
    lack fields)."""
    try:
        return getattr(node, name)
    except AttributeError:
        raise DataError(f"the node has no field {name!r}") from None


def _array(node: Any, name: str) -> np.ndarray:
    """A NIR parameter as a finite float64 vector (NIR shapes are flattened)."""
    arr = _numbers(name, _field(node, name)).ravel()
    check_finite(name, arr)
    return arr


def shape_size(types: Any, kind: str) -> int:
    """Number of elements of an Input/Output node's type ``{"input": shape}``, checked to
    be a shape of positive integers whose elements fit in this machine's memory."""
    shapes = list(types.values()) if isinstance(types, Mapping) else [types]
    if len(shapes) != 1 or shapes[0] is None:
        raise ConfigError(f"an {kind} node must declare one shape, got {types!r}")
    dims = _numbers(f"{kind} shape", shapes[0]).ravel()
    if np.any(~np.isfinite(dims)) or np.any(dims < 1) or np.any(dims != np.round(dims)):
        raise DataError(f"{kind} shape must hold positive integers, got {dims.tolist()}")
    size = math.prod(int(d) for d in dims)  # Python ints: no int64 overflow
    check_memory(f"{kind} node of {size} elements", size * BYTES_PER_ELEMENT)
    return size


def _metadata_array(node: Any, key: str) -> np.ndarray | None:
    meta = getattr(node, "metadata", None)
    if not isinstance(meta, Mapping) or key not in meta:
        return None
    return _numbers(f"metadata {key}", meta[key]).ravel()


def _declared_shape(types: Any) -> tuple[int, ...]:
    """The one shape in a node's ``input_type``/``output_type`` if it is a usable shape
    (positive integers), else () (exporters often leave these out or empty)."""
    shapes = list(types.values()) if isinstance(types, Mapping) else []
    if len(shapes) != 1 or shapes[0] is None:
        return ()
    dims = np.asarray(shapes[0]).ravel()
    if dims.size == 0 or dims.dtype.kind not in "iuf" or np.any(dims < 1):
        return ()
    if np.any(dims != np.round(dims)):
        return ()
    return tuple(int(d) for d in dims)


def _neuron(node: Any, kind: str, **fields: np.ndarray | None) -> NeuronPart:
    r = _array(node, "r")
    n = r.shape[0]
    if n == 0:
        raise ConfigError("r is empty: a neuron node needs at least one neuron")
    w_in = _array(node, "w_in") if hasattr(node, "w_in") else np.ones(n)
    if w_in.shape not in ((1,), (n,)):
        raise ConfigError(f"w_in must have one value per neuron ({n}), got shape {w_in.shape}")
    for name, value in fields.items():
        if value is not None and value.shape != (n,):
            raise ConfigError(
                f"{name} must have one value per neuron ({n}), got shape {value.shape}"
            )
    return NeuronPart(
        kind=kind,
        r=r,
        w_in=np.broadcast_to(w_in, (n,)).copy(),
        initial_v=_metadata_array(node, META_INITIAL_V),
        initial_i=_metadata_array(node, META_INITIAL_I),
        shape=_declared_shape(getattr(node, "output_type", None)),
        **fields,
    )


@NODE_TYPES.register("LIF")
def _lif(node: Any) -> Part:
    return _neuron(
        node, "LIF", tau_mem=_array(node, "tau"), v_leak=_array(node, "v_leak"),
        tau_syn=None, v_threshold=_array(node, "v_threshold"), v_reset=_array(node, "v_reset"),
    )


@NODE_TYPES.register("CubaLIF")
def _cuba_lif(node: Any) -> Part:
    return _neuron(
        node, "CubaLIF", tau_mem=_array(node, "tau_mem"), v_leak=_array(node, "v_leak"),
        tau_syn=_array(node, "tau_syn"), v_threshold=_array(node, "v_threshold"),
        v_reset=_array(node, "v_reset"),
    )


@NODE_TYPES.register("IF")
def _if(node: Any) -> Part:
    return _neuron(
        node, "IF", tau_mem=None, v_leak=None, tau_syn=None,
        v_threshold=_array(node, "v_threshold"), v_reset=_array(node, "v_reset"),
    )


@NODE_TYPES.register("LI")
def _li(node: Any) -> Part:
    return _neuron(
        node, "LI", tau_mem=_array(node, "tau"), v_leak=_array(node, "v_leak"),
        tau_syn=None, v_threshold=None, v_reset=None,
    )


@NODE_TYPES.register("CubaLI")
def _cuba_li(node: Any) -> Part:
    return _neuron(
        node, "CubaLI", tau_mem=_array(node, "tau_mem"), v_leak=_array(node, "v_leak"),
        tau_syn=_array(node, "tau_syn"), v_threshold=None, v_reset=None,
    )


@NODE_TYPES.register("I")
def _integrator(node: Any) -> Part:
    return _neuron(
        node, "I", tau_mem=None, v_leak=None, tau_syn=None, v_threshold=None, v_reset=None
    )


def _weight_matrix(node: Any) -> np.ndarray:
    w = _numbers("weight", _field(node, "weight"))
    if w.ndim != 2:
        raise ConfigError(f"weight must be 2-D (n_out, n_in), got shape {w.shape}")
    check_finite("weight", w)
    return w


@NODE_TYPES.register("Affine")
def _affine(node: Any) -> Part:
    w = _weight_matrix(node)
    bias = _array(node, "bias")
    if bias.shape != (w.shape[0],):
        raise ConfigError(
            f"bias must have shape ({w.shape[0]},) (n_out), got {bias.shape}"
        )
    return WeightsPart(w, bias)


@NODE_TYPES.register("Linear")
def _linear(node: Any) -> Part:
    w = _weight_matrix(node)
    return WeightsPart(w, np.zeros(w.shape[0]))


@NODE_TYPES.register("Scale")
def _scale(node: Any) -> Part:
    return ScalePart(_array(node, "scale"))


@NODE_TYPES.register("Delay")
def _delay(node: Any) -> Part:
    delay = _array(node, "delay")
    check_positive("delay", delay, "NIR time units", allow_zero=True)
    return DelayPart(delay)


@NODE_TYPES.register("Threshold")
def _threshold(node: Any) -> Part:
    return ThresholdPart(_array(node, "threshold"))


@NODE_TYPES.register("Input")
def _input(node: Any) -> Part:
    types = _field(node, "input_type")
    size = shape_size(types, "Input")
    times = _metadata_array(node, META_SPIKE_TIMES)
    ids = _metadata_array(node, META_SPIKE_IDS)
    trains = None if times is None or ids is None else _spike_trains(times, ids, size)
    return InputPart(size, trains, _declared_shape(types))


def _spike_trains(times: np.ndarray, ids: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """The stored spikes, (time, source id) pairs, as one sorted train per source.

    One sort of all spikes and a split (O(spikes log spikes)), not a scan per source.
    """
    if times.shape != ids.shape:
        raise DataError(
            f"{META_SPIKE_TIMES} and {META_SPIKE_IDS} must have the same length, got "
            f"{times.size} and {ids.size}"
        )
    bad = ~np.isfinite(times) | (times < 0)
    if np.any(bad):
        raise DataError(
            f"{META_SPIKE_TIMES} must be finite and >= 0 ms, got {times[bad][0].item()!r}"
        )
    bad = ~np.isfinite(ids) | (ids < 0) | (ids >= size) | (ids != np.round(ids))
    if np.any(bad):
        raise DataError(
            f"{META_SPIKE_IDS} must be integers in [0, {size - 1}] (the Input has {size} "
            f"elements), got {ids[bad][0].item()!r}; such spikes would belong to no source"
        )
    whole = ids.astype(np.int64)
    order = np.lexsort((times, whole))
    ends = np.cumsum(np.bincount(whole, minlength=size))[:-1]
    return tuple(np.split(times[order], ends))


# --- convolution, pooling, flatten: sparse projections (conv.py) -------------------------


def _conv(node: Any, spatial: int) -> Part:
    weight = _numbers("weight", _field(node, "weight"))
    if weight.ndim != spatial + 2:
        raise ConfigError(
            f"weight must have shape (C_out, C_in / groups, {', '.join(['k'] * spatial)}), "
            f"got {list(weight.shape)}"
        )
    check_finite("weight", weight)
    raw_bias = _field(node, "bias")
    bias = np.zeros(weight.shape[0]) if raw_bias is None else _array(node, "bias")
    if bias.shape != (weight.shape[0],):
        raise ConfigError(
            f"bias must have one value per output channel ({weight.shape[0]}), got shape "
            f"{bias.shape}"
        )
    given = _field(node, "input_shape")
    declared = None
    if given is not None:
        spatial_dims = _numbers("input_shape", given).ravel()
        if spatial_dims.size != spatial or np.any(spatial_dims < 1):
            raise ConfigError(
                f"input_shape must hold {spatial} positive sizes, got {spatial_dims.tolist()}"
            )
        declared = (int(weight.shape[1] * _scalar_int(node, "groups")),
                    *(int(d) for d in spatial_dims))  # fmt: skip
    stride, padding = _field(node, "stride"), _field(node, "padding")
    dilation, groups = _field(node, "dilation"), _field(node, "groups")

    def build(in_shape: tuple[int, ...]) -> tuple[Transform, tuple[int, ...]]:
        matrix, out = conv_matrix(weight, in_shape, stride, padding, dilation, groups)
        return WeightsPart(matrix, np.repeat(bias, math.prod(out[1:]))), out

    return ShapedPart(f"Conv{spatial}d", declared, build)


def _scalar_int(node: Any, name: str) -> int:
    value = _numbers(name, _field(node, name)).ravel()
    if value.size != 1 or value[0] < 1 or value[0] != round(value[0]):
        raise ConfigError(f"{name} must be one positive integer, got {value.tolist()}")
    return int(value[0])


@NODE_TYPES.register("Conv1d")
def _conv1d(node: Any) -> Part:
    return _conv(node, 1)


@NODE_TYPES.register("Conv2d")
def _conv2d(node: Any) -> Part:
    return _conv(node, 2)


def _pool(node: Any, average: bool) -> Part:
    kernel, stride = _field(node, "kernel_size"), _field(node, "stride")
    padding = _field(node, "padding")

    def build(in_shape: tuple[int, ...]) -> tuple[Transform, tuple[int, ...]]:
        matrix, out = pool_matrix(in_shape, kernel, stride, padding, average)
        return WeightsPart(matrix, np.zeros(matrix.shape[0])), out

    kind = "AvgPool2d" if average else "SumPool2d"
    return ShapedPart(kind, _declared_shape(getattr(node, "input_type", None)) or None, build)


@NODE_TYPES.register("SumPool2d")
def _sum_pool(node: Any) -> Part:
    return _pool(node, average=False)


@NODE_TYPES.register("AvgPool2d")
def _avg_pool(node: Any) -> Part:
    return _pool(node, average=True)


@NODE_TYPES.register("Flatten")
def _flatten_node(node: Any) -> Part:
    start, end = _field(node, "start_dim"), _field(node, "end_dim")

    def build(in_shape: tuple[int, ...]) -> tuple[Transform, tuple[int, ...]]:
        return ScalePart(np.ones(math.prod(in_shape))), flatten_shape(in_shape, start, end)

    return ShapedPart("Flatten", _declared_shape(getattr(node, "input_type", None)) or None, build)


@NODE_TYPES.register("Output")
def _output(node: Any) -> Part:
    return OutputPart(shape_size(_field(node, "output_type"), "Output"))


def convert(name: str, node: Any) -> Part:
    """The part NIR node ``node`` (called ``name`` in its graph) becomes; errors name it."""
    kind = type(node).__name__
    if kind not in NODE_TYPES:
        raise ConfigError(
            f"NIR node {name!r} has type {kind}, which neurotwin cannot import; "
            f"supported: {', '.join(NODE_TYPES.names())} (and nested NIRGraph)"
        )
    try:
        return NODE_TYPES.get(kind)(node)
    except (ConfigError, DataError) as err:
        raise type(err)(f"NIR node {name!r} ({kind}): {err}") from None
