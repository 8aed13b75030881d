"""The twin's int8 arithmetic for one PE's share of a layer (equations: :mod:`.layers`).

The products go through the MAC array (:func:`~neurotwin.spinnaker2.accelerators.mac_matmul`,
29-bit accumulators, one job per part of the reduction); the ARM adds the parts in 32 bits,
applies the zero-point correction and requantises (:func:`requantise`, the one place where
activations are rounded and clamped); pooling and ReLU run on the ARM.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neurotwin.spinnaker2.accelerators import mac_matmul
from neurotwin.spinnaker2.dnn.layers import DnnLayer, Flatten, MacLayer, Pool, Relu

__all__ = ["apply", "im2col", "mac_layer", "requantise"]

CODE_MAX = 255
"""Largest unsigned 8-bit activation code."""


def im2col(layer: MacLayer, x: np.ndarray) -> np.ndarray:
    """The MAC array's input operand: (N x positions, K) rows, one per output position, K
    in (channel, kernel row, kernel column) order, as float64 (exact: codes 0..255); ``x``
    is ``(N, *in_shape)`` uint8. Computed once per stage: every PE of a stage reads the same
    input (float64 once here saves a conversion per PE and part of the reduction)."""
    if not layer.is_conv:
        return x.reshape(x.shape[0], -1).astype(np.float64)
    (ph, pw), (sh, sw), (kh, kw) = layer.padding, layer.stride, layer.kernel
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                    constant_values=layer.input_zero_point)
    windows = sliding_window_view(padded, (1, 1, kh, kw))[:, :, ::sh, ::sw, 0, 0]
    n, c, ho, wo = windows.shape[:4]
    cols = np.empty((n, ho, wo, c, kh, kw), dtype=np.float64)
    cols[...] = windows.transpose(0, 2, 3, 1, 4, 5)
    return cols.reshape(n * ho * wo, c * kh * kw)


def requantise(acc: np.ndarray, layer: MacLayer, outputs: slice) -> np.ndarray:
    """uint8 codes of int64 accumulators ``acc`` (..., outputs of the slice) as torch's
    fbgemm kernels form them: float32 add of the bias term, float32 multiply, round half to
    even, add the zero point, clamp to [zero point if ReLU else 0, 255]."""
    raw = acc.astype(np.float32) + layer.bias_term[outputs]
    scaled = raw * layer.multiplier[outputs]
    low = layer.output_zero_point if layer.relu else 0
    codes = np.rint(scaled).astype(np.int64) + layer.output_zero_point
    return np.clip(codes, low, CODE_MAX).astype(np.uint8)


def mac_layer(layer: MacLayer, cols: np.ndarray, outputs: slice,
              chunks: tuple[tuple[int, int], ...]) -> np.ndarray:
    """One PE's outputs of a MAC layer.

    Parameters
    ----------
    layer
        The layer.
    cols
        :func:`im2col` of the ``(N, *in_shape)`` input codes (the whole input: every PE of a
        layer gets it).
    outputs
        The output features or channels this PE computes.
    chunks
        (start, stop) parts of the reduction K, each one MAC-array job whose sums cannot
        leave the 29-bit accumulator (:func:`.partition.reduction_chunks`).

    Returns
    -------
    (N, n_outputs, ...) uint8 output codes of the slice.
    """
    w = layer.weight[outputs]
    acc = np.zeros((cols.shape[0], w.shape[0]), dtype=np.int64)
    for start, stop in chunks:
        acc += mac_matmul(cols[:, start:stop], w[:, start:stop].T)
    acc -= layer.input_zero_point * w.sum(axis=1, dtype=np.int64)
    codes = requantise(acc, layer, outputs)
    if not layer.is_conv:
        return codes
    ho, wo = layer.out_shape[1:]
    return codes.reshape(-1, ho, wo, codes.shape[1]).transpose(0, 3, 1, 2)


def apply(layer: DnnLayer, x: np.ndarray) -> np.ndarray:
    """Pooling, ReLU or Flatten on (N, ...) uint8 codes (on the ARM; MAC layers go through
    :func:`mac_layer`). Works on any channel slice, as each channel is pooled alone."""
    if isinstance(layer, Relu):
        return np.maximum(x, np.uint8(layer.zero_point))
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1)
    assert isinstance(layer, Pool)
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    ho, wo = layer.out_shape[1:]
    windows = sliding_window_view(x, (1, 1, kh, kw))[:, :, ::sh, ::sw, 0, 0][:, :, :ho, :wo]
    if layer.mode == "max":
        return windows.max(axis=(4, 5))
    sums = windows.sum(axis=(4, 5), dtype=np.int64)
    # torch: rint(sum / window) on the codes, half to even (float64 is exact here)
    return np.rint(sums / (kh * kw)).astype(np.uint8)
