"""hxtorch.perceptron's operations on a VMM target, as torch autograd functions.

Forward: the target's analog model and the chip's numerics (:mod:`.numerics`). Backward
(hxtorch's): the matmul is straight-through, its gradient the float one scaled by
``gain * num_sends``, computed from the unquantised inputs and weights; ReLUs pass the
gradient where the input was positive (divided by ``2**shift`` for the converting ReLU);
``add`` passes it to both summands. So a forward pass on the twin with gradients from
the model is hardware-in-the-loop training.

Signatures mirror hxtorch's (``num_sends``, ``wait_between_events`` in FPGA cycles,
``mock``); ``target`` selects a twin, ``generator`` seeds the temporal noise. The digital
operations (relu, converting_relu, add, argmax) run in the SIMD processors and are exact
on every target: their ``mock`` argument is accepted for hxtorch's signatures only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm.mock import MockParameter
from neurotwin.bss2.vmm.numerics import quantise_input, quantise_weight, read_blocks, to_int8
from neurotwin.bss2.vmm.target import VmmTarget, resolve_target
from neurotwin.errors import ConfigError, check_int

__all__ = ["add", "argmax", "conv1d", "conv2d", "converting_relu", "expanded_conv1d",
           "matmul", "relu"]

Mock = bool | MockParameter


def _out_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


class _MAC(torch.autograd.Function):
    """One VMM of (n, rows) inputs with a (rows, columns) weight."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, num_sends: int,
                wait_between_events: int, target: VmmTarget,
                generator: torch.Generator | None) -> torch.Tensor:
        membranes = target.membranes(quantise_input(x), quantise_weight(w), num_sends,
                                     wait_between_events, generator)
        ctx.save_for_backward(x, w)
        ctx.scale = target.gain * num_sends
        return read_blocks(membranes).to(_out_dtype(x))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, w = ctx.saved_tensors
        g = grad * ctx.scale
        grad_x = g @ w.t().to(g.dtype) if ctx.needs_input_grad[0] else None
        grad_w = x.t().to(g.dtype) @ g if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None, None, None, None


def matmul(input: torch.Tensor, other: torch.Tensor, num_sends: int = 1,
           wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS, mock: Mock = False, *,
           target: VmmTarget | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop-in for ``torch.matmul`` on the VMM (hxtorch ``matmul``).

    Parameters
    ----------
    input
        Inputs, shape (rows,) or (..., rows); rounded to 0..31.
    other
        Signed weights, shape (rows,) or (rows, columns); rounded to -63..63.
    num_sends
        How often each vector is sent (more signal, ``gain * num_sends`` per x.W).
    wait_between_events
        Wait between input events, FPGA cycles (8 ns); short waits saturate the twin's
        synaptic input.
    mock
        ``True`` (hxtorch's default mock) or a :class:`MockParameter`.
    target
        A :class:`~neurotwin.bss2.vmm.Twin` (instead of ``mock``).
    generator
        Seeds the noise (None: torch's default generator).

    Returns
    -------
    torch.Tensor
        Integers -128..127 (CADC reads summed over row blocks), shape (..., columns) with
        the dimensions ``torch.matmul`` drops for 1-D arguments dropped; float (input's
        dtype, or the default dtype for integer inputs).

    Raises
    ------
    ConfigError
        For shapes that do not match, NaN or out-of-range values after rounding, bad
        ``num_sends`` / ``wait_between_events``, or no target.
    """
    tgt = resolve_target(mock, target)
    check_int("num_sends", num_sends, 1)
    check_int("wait_between_events", wait_between_events, 1)
    if input.dim() == 0 or other.dim() == 0 or other.dim() > 2:
        raise ConfigError(f"matmul takes input of 1 or more dimensions and other of 1 or 2, "
                          f"got {input.dim()} and {other.dim()}")
    w = other.unsqueeze(-1) if other.dim() == 1 else other
    if input.shape[-1] != w.shape[0]:
        raise ConfigError(f"input has {input.shape[-1]} values per vector but the weight "
                          f"has {w.shape[0]} rows")
    x = input.reshape(-1, input.shape[-1])
    out = _MAC.apply(x, w, num_sends, wait_between_events, tgt, generator)
    out = out.reshape(*input.shape[:-1], w.shape[1])
    return out.squeeze(-1) if other.dim() == 1 else out


def _conv(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
          stride: tuple[int, ...], num_sends: int, wait_between_events: int, mock: Mock,
          target: VmmTarget | None, generator: torch.Generator | None) -> torch.Tensor:
    """A convolution as one matmul of the unrolled input windows (as hxtorch does):
    input (N, C, *L), weight (O, C, *K), stride per dimension."""
    dim = len(stride)
    if input.dim() != dim + 2 or weight.dim() != dim + 2:
        raise ConfigError(f"conv{dim}d expects input (N, C, *L) and weight (O, C, *K) of "
                          f"{dim + 2} dimensions, got {input.dim()} and {weight.dim()}")
    if input.shape[1] != weight.shape[1]:
        raise ConfigError(f"input has {input.shape[1]} channels, the weight expects "
                          f"{weight.shape[1]}")
    size, kernel = tuple(input.shape[2:]), tuple(weight.shape[2:])
    if any(k > n for k, n in zip(kernel, size, strict=True)):
        raise ConfigError(f"kernel {kernel} is larger than the input {size}")
    for s in stride:
        check_int("stride", s, 1)
    out_size = [(n - k) // s + 1 for n, k, s in zip(size, kernel, stride, strict=True)]
    as2d = (lambda t: t.unsqueeze(2)) if dim == 1 else (lambda t: t)
    windows = F.unfold(as2d(input).to(_out_dtype(input)), as2d(weight).shape[2:],
                       stride=(1, *stride) if dim == 1 else stride)
    result = matmul(windows.transpose(1, 2), weight.flatten(1).t(), num_sends,
                    wait_between_events, mock, target=target, generator=generator)
    result = result.transpose(1, 2).reshape(input.shape[0], weight.shape[0], *out_size)
    if bias is not None:
        result = result + bias.view(-1, *([1] * dim))
    return result


def conv1d(input: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None = None, stride: int = 1, num_sends: int = 1,
           wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS, mock: Mock = False, *,
           target: VmmTarget | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """1-D convolution on the VMM (hxtorch ``conv1d``): input (N, C, L), weight
    (O, C, K) -> (N, O, (L - K) // stride + 1); the bias is added in float."""
    return _conv(input, weight, bias, (stride,), num_sends, wait_between_events, mock,
                 target, generator)


def conv2d(input: torch.Tensor, weight: torch.Tensor,
           bias: torch.Tensor | None = None, stride: int | tuple[int, int] = 1,
           num_sends: int = 1, wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
           mock: Mock = False, *, target: VmmTarget | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """2-D convolution on the VMM (hxtorch ``conv2d``): input (N, C, H, W), weight
    (O, C, KH, KW) -> (N, O, H', W'); the bias is added in float."""
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    return _conv(input, weight, bias, strides, num_sends, wait_between_events, mock,
                 target, generator)


def expanded_conv1d(input: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None = None, stride: int = 1,
                    num_expansions: int = 1, num_sends: int = 1,
                    wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                    mock: Mock = False, *, target: VmmTarget | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """1-D convolution with the kernel unrolled ``num_expansions`` times (hxtorch
    ``expanded_conv1d``): one VMM computes that many neighbouring output positions, so
    more of the array is used and fewer vectors are sent.

    The weight (O, C, K) becomes (O * E, C, K + stride (E - 1)) with copy ``i`` shifted
    by ``i * stride``, the stride becomes ``stride * E`` (the input is zero-padded by that
    where the last positions would be lost); the outputs are interleaved back to
    (N, O, (L - K) // stride + 1). Same result as :func:`conv1d` on an ideal target.
    """
    check_int("num_expansions", num_expansions, 1)
    check_int("stride", stride, 1)
    if weight.dim() != 3 or input.dim() != 3:
        raise ConfigError(f"expanded_conv1d expects input (N, C, L) and weight (O, C, K), "
                          f"got {input.dim()} and {weight.dim()} dimensions")
    e = num_expansions
    out_ch, in_ch, k = weight.shape
    length = input.shape[2]
    wide = weight.new_zeros((out_ch * e, in_ch, k + stride * (e - 1)))
    for i in range(e):
        wide[i::e, :, i * stride:i * stride + k] = weight
    wide_stride = stride * e
    l_out = (length - k) // stride + 1
    l_wide = ((length - wide.shape[2]) // wide_stride + 1) * e
    if l_out > l_wide or length < wide.shape[2]:
        input = F.pad(input, (0, wide_stride))
    out = _conv(input, wide, None if bias is None else bias.repeat_interleave(e),
                (wide_stride,), num_sends, wait_between_events, mock, target, generator)
    n = input.shape[0]
    out = out.permute(0, 2, 1).reshape(n, -1, out_ch, e).permute(0, 2, 1, 3)
    return out.reshape(n, out_ch, -1)[..., :l_out].contiguous()


class _ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, shift: int | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.shift = shift
        y = to_int8("relu input", x).clamp_(min=0)
        if shift is not None:
            y = torch.floor(y / 2**shift).clamp_(specs.VMM_INPUT_MIN, specs.VMM_INPUT_MAX)
        return y.to(_out_dtype(x))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        g = grad * (x > 0)
        return (g if ctx.shift is None else g / 2**ctx.shift), None


def relu(input: torch.Tensor, mock: Mock = False) -> torch.Tensor:
    """ReLU in the SIMD processors (hxtorch ``relu``): ``clamp(floor(x), 0, 127)``."""
    return _ReLU.apply(input, None)


def converting_relu(input: torch.Tensor, shift: int = 2,
                    mock: Mock = False) -> torch.Tensor:
    """ReLU that shifts the int8 result right by ``shift`` bits and clamps it to the
    5-bit input range (hxtorch ``converting_relu``):
    ``clamp(floor(clamp(floor(x), 0, 127) / 2**shift), 0, 31)``; the next VMM's input."""
    check_int("shift", shift, 0)
    return _ReLU.apply(input, shift)


class _Add(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx.shape = y.shape
        total = to_int8("add input", x) + to_int8("add other", y)
        return total.clamp_(specs.VMM_OUTPUT_MIN, specs.VMM_OUTPUT_MAX).to(_out_dtype(x))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        return grad, grad.sum_to_size(ctx.shape)


def add(input: torch.Tensor, other: torch.Tensor, alpha: float = 1.0,
        mock: Mock = False) -> torch.Tensor:
    """Saturating int8 addition in the SIMD processors (hxtorch ``add``): both summands
    floored and clamped to -128..127, the sum clamped again; ``other`` broadcasts.

    Raises
    ------
    ConfigError
        For ``alpha`` other than 1 (as hxtorch) or ``other`` of more dimensions.
    """
    if alpha != 1.0:
        raise ConfigError(f"add only supports alpha = 1, got {alpha!r}")
    if other.dim() > input.dim():
        raise ConfigError("add supports dim(other) <= dim(input) only")
    return _Add.apply(input, other)


def argmax(input: torch.Tensor, dim: int | None = None, keepdim: bool = False,
           mock: Mock = False) -> torch.Tensor:
    """Index of the largest int8 value (hxtorch ``argmax``): the input is floored and
    clamped to -128..127 first, so saturated values tie (the first wins)."""
    return torch.argmax(to_int8("argmax input", input), dim=dim, keepdim=keepdim)
