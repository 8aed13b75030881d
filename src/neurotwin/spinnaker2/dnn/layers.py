"""The int8 layers the SpiNNaker2 twin runs, translated from a torch int8 model.

A MAC layer (Linear or Conv2d, with or without a fused ReLU) computes, per sample and
output ``o`` (torch's fbgemm int8 kernels, reproduced bit for bit)::

    acc[o] = sum_k x[k] w[o, k] - z_in sum_k w[o, k]                 (integers)
    y[o]   = clamp(rint((float32(acc[o]) + bias_term[o]) * multiplier[o]) + z_out, lo, 255)
    bias_term[o]  = float32(bias[o]) / (s_in s_w[o])     multiplier[o] = s_in s_w[o] / s_out

with ``x`` the unsigned 8-bit input (scale ``s_in``, zero point ``z_in``), ``w`` the signed
8-bit weights (per-output scale ``s_w[o]``, zero point 0), every float operation in
float32, ``rint`` rounding half to even, and ``lo`` = ``z_out`` with a fused ReLU, else 0.
For a convolution, ``k`` runs over (input channel, kernel row, kernel column) and the input
is padded with ``z_in`` (the real value 0). Pooling, ReLU and Flatten keep the scale and
zero point: max pooling takes the largest code, average pooling ``rint(sum / window)``,
ReLU ``max(x, z)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DnnLayer", "Flatten", "MacLayer", "Pool", "QuantisedModel", "Relu"]


@dataclass(frozen=True, eq=False)
class MacLayer:
    """A Linear or Conv2d layer in int8 (equations: module docstring).

    Parameters
    ----------
    name
        Where it came from, e.g. ``"layer 2 (Conv2d)"`` (index in the torch Sequential).
    weight
        (O, K) int8 weights, one row per output feature or channel.
    bias_term, multiplier
        (O,) float32 requantisation constants (module docstring).
    input_zero_point, output_zero_point
        Zero points of the input and output activations.
    relu
        Whether a ReLU is fused (the output is clamped at ``output_zero_point``).
    in_shape, out_shape
        Shapes of one sample's input and output: (K,) and (O,), or (C, H, W).
    kernel, stride, padding
        Convolution geometry (rows, columns); (1, 1), (1, 1), (0, 0) for Linear.
    """

    name: str
    weight: np.ndarray
    bias_term: np.ndarray
    multiplier: np.ndarray
    input_zero_point: int
    output_zero_point: int
    relu: bool
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    @property
    def is_conv(self) -> bool:
        """Whether the layer is a convolution (input and output (C, H, W))."""
        return len(self.in_shape) == 3

    @property
    def n_outputs(self) -> int:
        """Output features or channels, O."""
        return int(self.weight.shape[0])

    @property
    def reduction(self) -> int:
        """Products summed per output, K."""
        return int(self.weight.shape[1])

    @property
    def positions(self) -> int:
        """Output positions per channel: Hout x Wout, or 1 for Linear."""
        return int(np.prod(self.out_shape[1:])) if self.is_conv else 1


@dataclass(frozen=True)
class Pool:
    """Max or average pooling on codes (no padding, floor mode).

    Parameters
    ----------
    name
        Where it came from.
    mode
        ``"max"`` or ``"avg"``.
    kernel, stride
        Window and step (rows, columns).
    in_shape, out_shape
        (C, H, W) of one sample.
    """

    name: str
    mode: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class Relu:
    """A ReLU not fused into a MAC layer: ``max(x, zero_point)`` on codes."""

    name: str
    zero_point: int
    in_shape: tuple[int, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Same as the input."""
        return self.in_shape


@dataclass(frozen=True)
class Flatten:
    """Reshape (C, H, W) to (C H W,) in that order; no arithmetic."""

    name: str
    in_shape: tuple[int, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """(C H W,)."""
        return (int(np.prod(self.in_shape)),)


DnnLayer = MacLayer | Pool | Relu | Flatten
"""Any layer the twin runs."""


@dataclass(frozen=True, eq=False)
class QuantisedModel:
    """A torch model quantised to int8: the twin's layers and torch's own int8 model.

    Parameters
    ----------
    layers
        The layers in order (:data:`DnnLayer`).
    input_scale, input_zero_point
        Quantisation of the input (unsigned 8-bit codes).
    output_scale, output_zero_point
        Quantisation of the last layer's output.
    in_shape
        Shape of one input sample.
    reference
        torch's converted int8 model (``Quantize``, the quantised layers, ``DeQuantize``),
        the reference the twin is compared with (:func:`.quantisation.reference_codes`).
    """

    layers: tuple[DnnLayer, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    in_shape: tuple[int, ...]
    reference: Any

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one output sample."""
        return self.layers[-1].out_shape

    def dequantise(self, codes: np.ndarray) -> np.ndarray:
        """Real values (float32) of output codes."""
        return ((codes.astype(np.float32) - self.output_zero_point)
                * np.float32(self.output_scale))
