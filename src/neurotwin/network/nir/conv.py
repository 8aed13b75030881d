r"""Convolutions and pooling of NIR graphs unrolled into sparse weight matrices.

A NIR ``Conv1d``/``Conv2d`` between spiking nodes is a linear map of the flattened
(channel-major, C-order) input ``x`` of shape ``(C_in, *S)`` to the output of shape
``(C_out, *O)``; unrolled, it is the sparse matrix ``M`` of shape ``(C_out prod O,
C_in prod S)`` with, as PyTorch's ``conv1d``/``conv2d`` define it (cross-correlation)::

    y[co, o] = bias[co] + sum_{ci in group(co), k} W[co, ci - g(co) C_in/groups, k]
                                                   x[ci, o * stride - pad_lo + k * dilation]

where positions outside ``[0, S)`` read zero padding. ``SumPool2d`` is the same map with
a kernel of ones per channel (``groups = C``), ``AvgPool2d`` that kernel divided by the
kernel area (PyTorch's default ``count_include_pad=True``, as snnTorch's import builds
it). Output sizes follow NIR's ``calculate_conv_output`` (floor). ``padding="same"``
pads ``dilation (k - 1)`` in all, ``floor`` of half before, as PyTorch does, and needs
stride 1 (PyTorch refuses it otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from neurotwin.errors import ConfigError, DataError, check_memory

__all__ = ["conv_matrix", "flatten_shape", "padding_pairs", "pool_matrix"]

BYTES_PER_SYNAPSE = 16
"""Memory per stored entry of an unrolled matrix (float64 value and int64 index), bytes;
with the index grids of the unrolling a lower bound, checked before allocating."""


def _per_dim(what: str, value: Any, nd: int, minimum: int) -> tuple[int, ...]:
    """``value`` (a number or one per spatial dimension) as ``nd`` integers >= minimum."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.ndim > 1:
        raise DataError(f"{what} must be an integer or {nd} integers, got {value!r}")
    arr = np.broadcast_to(arr.ravel(), (nd,)) if arr.size == 1 else arr.ravel()
    if arr.size != nd or np.any(arr != np.round(arr)) or np.any(arr < minimum):
        raise ConfigError(
            f"{what} must be {nd} integers >= {minimum} (one per spatial dimension), got "
            f"{np.asarray(value).tolist()}"
        )
    return tuple(int(v) for v in arr)


def padding_pairs(
    padding: Any, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding per spatial dimension for NIR's ``padding``.

    ``padding`` is a number, one number per dimension, ``"valid"`` (none) or ``"same"``
    (output size = input size; stride 1 only). Any other string is a ``ConfigError``.
    """
    nd = len(kernel)
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "SUO":
        padding = str(padding.item().decode() if padding.dtype.kind == "S" else padding.item())
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ConfigError(
                f"padding mode {padding!r} is not supported: NIR defines 'same', 'valid' "
                "or zero padding by a number per dimension"
            )
        if any(s != 1 for s in stride):
            raise ConfigError(
                f"padding='same' needs stride 1 (as in PyTorch), got stride {list(stride)}"
            )
        total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((p, p) for p in _per_dim("padding", padding, nd, 0))


def _unrolled(
    weight: np.ndarray,
    in_shape: tuple[int, ...],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
) -> tuple[sp.csr_array, tuple[int, ...]]:
    """The matrix ``(n_out, n_in)`` of the module docstring, and the output shape."""
    c_out, c_in_group, *kernel = weight.shape
    c_in, *size = in_shape
    out = tuple(
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, (lo, hi), d, k, s in zip(size, pads, dilation, kernel, stride, strict=True)
    )
    if any(o < 1 for o in out):
        raise ConfigError(
            f"the kernel {kernel} (dilation {list(dilation)}) does not fit the input "
            f"{list(size)} with padding {[list(p) for p in pads]}: output size {list(out)}"
        )
    entries = weight.size * math.prod(out)
    check_memory(f"unrolled convolution of {entries} synapses", entries * BYTES_PER_SYNAPSE)
    nd = len(kernel)
    grids = np.meshgrid(
        np.arange(c_out), np.arange(c_in_group), *(np.arange(k) for k in kernel),
        *(np.arange(o) for o in out), indexing="ij", sparse=True,
    )  # fmt: skip
    co, cg, ks, os_ = grids[0], grids[1], grids[2 : 2 + nd], grids[2 + nd :]
    ci = (co // (c_out // groups)) * c_in_group + cg
    pos = [o * s - lo + k * d for o, s, (lo, _), k, d in zip(os_, stride, pads, ks, dilation,
                                                             strict=True)]  # fmt: skip
    full = np.broadcast_shapes(*(g.shape for g in grids))
    valid = np.ones(full, dtype=bool)
    for p, n in zip(pos, size, strict=True):
        valid &= (p >= 0) & (p < n)
    value = np.broadcast_to(weight[(co, cg, *ks)], full)
    valid &= value != 0
    rows = np.ravel_multi_index(
        [np.broadcast_to(g, full)[valid] for g in (co, *os_)], (c_out, *out)
    )
    cols = np.ravel_multi_index(
        [np.broadcast_to(g, full)[valid] for g in (ci, *pos)], in_shape
    )
    n_out, n_in = c_out * math.prod(out), c_in * math.prod(size)
    matrix = sp.csr_array((value[valid], (rows, cols)), shape=(n_out, n_in))
    return matrix, (c_out, *out)


def conv_matrix(
    weight: np.ndarray,
    in_shape: tuple[int, ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
) -> tuple[sp.csr_array, tuple[int, ...]]:
    """Unroll a NIR convolution into a sparse matrix.

    Parameters
    ----------
    weight
        Kernel, shape ``(C_out, C_in / groups, *kernel)`` (1 or 2 spatial dimensions).
    in_shape
        Input shape ``(C_in, *spatial)``.
    stride, padding, dilation, groups
        As NIR (and PyTorch) define them: a number or one per spatial dimension;
        ``padding`` also ``"same"`` or ``"valid"``.

    Returns
    -------
    (matrix, out_shape)
        ``matrix`` of shape ``(C_out prod(O), C_in prod(S))``, ``y = matrix @ x`` on the
        flattened (C-order) tensors; ``out_shape = (C_out, *O)``.
    """
    nd = weight.ndim - 2
    if len(in_shape) != nd + 1:
        raise ConfigError(
            f"the input shape {list(in_shape)} must be (channels, {nd} spatial sizes) for "
            f"a kernel of shape {list(weight.shape)}"
        )
    group_count = _per_dim("groups", groups, 1, 1)[0]
    c_out, c_in = weight.shape[0], in_shape[0]
    if c_out % group_count or c_in % group_count or weight.shape[1] * group_count != c_in:
        raise ConfigError(
            f"a kernel of shape {list(weight.shape)} with groups={group_count} takes "
            f"{weight.shape[1] * group_count} input channels and needs C_out divisible by "
            f"groups; the input has {c_in} channels (shape {list(in_shape)})"
        )
    kernel = weight.shape[2:]
    strides = _per_dim("stride", stride, nd, 1)
    dilations = _per_dim("dilation", dilation, nd, 1)
    pads = padding_pairs(padding, kernel, dilations, strides)
    return _unrolled(weight, in_shape, strides, pads, dilations, group_count)


def pool_matrix(
    in_shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, average: bool
) -> tuple[sp.csr_array, tuple[int, ...]]:
    """Unroll ``SumPool2d`` (``average`` False) or ``AvgPool2d`` over ``(C, H, W)``."""
    if len(in_shape) != 3:
        raise ConfigError(
            f"2-D pooling needs an input shape (channels, height, width), got {list(in_shape)}"
        )
    kernel = _per_dim("kernel_size", kernel_size, 2, 1)
    strides = _per_dim("stride", stride, 2, 1)
    pads = padding_pairs(padding, kernel, (1, 1), strides)
    channels = in_shape[0]
    value = 1.0 / math.prod(kernel) if average else 1.0
    weight = np.full((channels, 1, *kernel), value)
    return _unrolled(weight, in_shape, strides, pads, (1, 1), channels)


def flatten_shape(in_shape: tuple[int, ...], start_dim: Any, end_dim: Any) -> tuple[int, ...]:
    """The shape after NIR's ``Flatten(start_dim, end_dim)`` (dimensions of the node's own
    input, without a batch dimension; negative ones count from the end).

    Flattening never reorders the (C-order) elements, so it is the identity on neurotwin's
    flat signal; the shape only matters to a convolution or pooling after it. Dimensions
    that do not fit the input (exporters disagree on whether a batch dimension counts)
    flatten everything.
    """
    nd = len(in_shape)
    start, end = (_per_dim(name, v, 1, -nd)[0] for name, v in (("start_dim", start_dim),
                                                               ("end_dim", end_dim)))  # fmt: skip
    start, end = start + nd if start < 0 else start, end + nd if end < 0 else end
    if not 0 <= start <= end < nd:
        return (math.prod(in_shape),)
    return (*in_shape[:start], math.prod(in_shape[start : end + 1]), *in_shape[end + 1 :])
