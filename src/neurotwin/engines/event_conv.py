r"""Weight sharing of a 2-d convolutional layer as a dense (n_in, n_out) weight matrix.

A convolutional LIF layer is the feed-forward layer of :mod:`neurotwin.engines.event`
whose weight matrix is built from a small kernel: neuron (c_out, y_out, x_out) receives
from input (c_in, y, x) through ``kernel[c_out, c_in, ky, kx]`` with::

    ky = y + pad_h - y_out * stride_h,     kx = x + pad_w - x_out * stride_w

when 0 <= ky < kh and 0 <= kx < kw, and is not connected otherwise. This is
``torch.nn.functional.conv2d`` (a cross-correlation, zero padding): an input spike of
pixel (c_in, y, x) adds to the currents the conv2d of the one-hot image of that pixel.
Input and output neurons are numbered by flattening (C, H, W) row-major,
``id = (c * H + y) * W + x``, so output ids of one conv layer are input ids of the next.
The output size is ``H_out = (H + 2 pad_h - kh) // stride_h + 1`` (likewise W_out).

:func:`conv_weight_index` computes, once per geometry, which kernel entry each (input,
output) pair uses; :func:`conv_dense_weights` gathers the kernel into the dense matrix.
The gather is differentiable, so the exact EventProp gradient of the dense matrix flows
back to the kernel as the sum over every place where an entry is shared. The dense
matrix costs O(n_in n_out) memory (an int64 index of that size too): meant for the small
layers of event-based training, not for images of thousands of pixels per channel.
"""

from __future__ import annotations

from typing import Any

import torch

from neurotwin.errors import ConfigError, check_int

__all__ = ["conv_dense_weights", "conv_output_shape", "conv_weight_index"]


def _pair(name: str, value: Any, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``low``, as a pair."""
    pair = (value, value) if not isinstance(value, tuple | list) else tuple(value)
    if len(pair) != 2:
        raise ConfigError(f"{name} must be an integer >= {low} or a pair of them, got {value!r}")
    return check_int(name, pair[0], low=low), check_int(name, pair[1], low=low)


def _shape(name: str, value: Any, length: int, what: str) -> tuple[int, ...]:
    """A tuple of ``length`` positive ints."""
    shape = tuple(value) if isinstance(value, tuple | list | torch.Size) else (value,)
    if len(shape) != length:
        raise ConfigError(f"{name} must be {length} positive integers {what}, got {value!r}")
    return tuple(check_int(f"{name} {what}", v, low=1) for v in shape)


def conv_output_shape(
    in_shape: tuple[int, int, int],
    kernel_shape: tuple[int, int, int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> tuple[int, int, int]:
    """Shape (C_out, H_out, W_out) of a convolution's output.

    Parameters
    ----------
    in_shape
        (C_in, H, W) of the input.
    kernel_shape
        (C_out, C_in, kh, kw) of the kernel.
    stride
        Step between output positions, in pixels (>= 1), one or (vertical, horizontal).
    padding
        Zero padding on each side, in pixels (>= 0), one or (vertical, horizontal).

    Raises
    ------
    ConfigError
        Shapes not positive integers, channel counts that differ, stride < 1, padding < 0,
        or a kernel larger than the padded input.
    """
    c_in, h, w = _shape("in_shape", in_shape, 3, "(C_in, H, W)")
    c_out, c_in_k, kh, kw = _shape("kernel_shape", kernel_shape, 4, "(C_out, C_in, kh, kw)")
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    if c_in_k != c_in:
        raise ConfigError(
            f"kernel_shape has {c_in_k} input channels, the input has C_in = {c_in}"
        )
    for axis, size, pad, k in (("height", h, ph, kh), ("width", w, pw, kw)):
        if k > size + 2 * pad:
            raise ConfigError(
                f"kernel {axis} {k} exceeds the padded input {axis} {size} + 2 * {pad} = "
                f"{size + 2 * pad}"
            )
    return c_out, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def conv_weight_index(
    in_shape: tuple[int, int, int],
    kernel_shape: tuple[int, int, int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which kernel entry connects each input to each output neuron.

    Parameters
    ----------
    in_shape, kernel_shape, stride, padding
        As for :func:`conv_output_shape`.
    device
        Torch device of the returned tensors.

    Returns
    -------
    index
        int64 (n_in, n_out), n_in = C_in H W and n_out = C_out H_out W_out (row-major
        flattening): the position in ``kernel.reshape(-1)`` of the weight of each pair;
        0 where unconnected.
    mask
        bool (n_in, n_out): True where the pair is connected.

    Raises
    ------
    ConfigError
        As :func:`conv_output_shape`.
    """
    c_out, h_out, w_out = conv_output_shape(in_shape, kernel_shape, stride, padding)
    c_in, h, w = in_shape
    kh, kw = kernel_shape[2], kernel_shape[3]
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)

    def grid(c: int, rows: int, cols: int) -> tuple[torch.Tensor, ...]:
        mesh = torch.meshgrid(
            *(torch.arange(k, device=device) for k in (c, rows, cols)), indexing="ij"
        )
        return tuple(m.reshape(-1) for m in mesh)

    ci, y, x = (v[:, None] for v in grid(c_in, h, w))
    co, yo, xo = (v[None, :] for v in grid(c_out, h_out, w_out))
    ky = y + ph - yo * sh
    kx = x + pw - xo * sw
    mask = (ky >= 0) & (ky < kh) & (kx >= 0) & (kx < kw)
    index = ((co * c_in + ci) * kh + ky) * kw + kx
    return torch.where(mask, index, 0), mask


def conv_dense_weights(
    kernel: torch.Tensor, index: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The dense weight matrix (n_in, n_out), nA, of a kernel (C_out, C_in, kh, kw), nA.

    A gather, differentiable in ``kernel``: the gradient of an entry of the kernel is the
    sum of the gradients of the dense weights that share it. ``index`` and ``mask`` come
    from :func:`conv_weight_index` for the kernel's shape.

    Raises
    ------
    ConfigError
        ``index`` and ``mask`` of different shapes, or an index outside the kernel.
    """
    if index.shape != mask.shape or index.ndim != 2:
        raise ConfigError(
            f"index and mask must share one shape (n_in, n_out), got {tuple(index.shape)} "
            f"and {tuple(mask.shape)}"
        )
    if index.numel() and int(index.max()) >= kernel.numel():
        raise ConfigError(
            f"index reaches entry {int(index.max())} of a kernel of {kernel.numel()} entries "
            f"(shape {tuple(kernel.shape)}): build it with conv_weight_index for this kernel"
        )
    dense = kernel.reshape(-1)[index]
    return torch.where(mask, dense, torch.zeros((), dtype=dense.dtype, device=dense.device))
