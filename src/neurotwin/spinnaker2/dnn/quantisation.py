"""Quantising a torch ``nn.Sequential`` to int8 with torch's own eager-mode quantisation,
and translating torch's int8 model into the twin's layers (:mod:`.layers`).

    qmodel = quantise(model, calibration_images)          # -> QuantisedModel
    codes = reference_codes(qmodel, images)                # torch's int8 output codes

Quantisation is torch's standard post-training recipe for x86 (``fbgemm``): ReLUs fused
into the Linear or Conv2d before them; activations unsigned 8-bit, per tensor, from a
histogram observer with ``reduce_range`` (codes 0..127 for the calibrated range, so that
fbgemm's 16-bit pair sums cannot saturate); weights signed 8-bit, symmetric, per output
channel (``per_channel=True``) or per tensor. torch's int8 model is kept as the reference.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
import torch.ao.quantization as tq
from torch import nn

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.dnn.layers import DnnLayer, Flatten, MacLayer, Pool, QuantisedModel, Relu

__all__ = ["SUPPORTED_LAYERS", "check_model", "quantise", "quantise_input", "reference_codes",
           "torch_int8"]

SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ReLU, nn.Flatten,
)
"""Layer types a model may hold (exactly these classes)."""

ENGINE = "fbgemm"
"""torch's x86 int8 engine, whose arithmetic the twin reproduces."""


@contextmanager
def torch_int8() -> Iterator[None]:
    """Run torch's int8 code on the ``fbgemm`` engine, restoring the engine afterwards.

    torch marks its eager-mode quantisation and quantised tensors as deprecated; those
    warnings are silenced here only (the API is still the one torch ships for int8 CPU
    inference)."""
    previous = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r".*torch\.quantize_per_tensor, ")
        torch.backends.quantized.engine = ENGINE
        try:
            yield
        finally:
            torch.backends.quantized.engine = previous


def _name(index: int, module: nn.Module) -> str:
    return f"layer {index} ({type(module).__name__})"


def _pair(value: object) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    assert isinstance(value, tuple | list)
    return (int(value[0]), int(value[1]))


def check_model(model: nn.Module) -> None:
    """Refuse what the twin cannot run, naming the layer.

    Raises
    ------
    ConfigError
        Not an ``nn.Sequential``; a layer type outside :data:`SUPPORTED_LAYERS`; a Conv2d
        with groups, dilation, non-zero padding mode or string padding; pooling with
        padding, dilation or ceil mode; a Flatten of other dimensions than all but the
        batch; a weight or bias with NaN or infinite values; no Linear or Conv2d at all.
    """
    if not isinstance(model, nn.Sequential):
        raise ConfigError(f"the SpiNNaker2 DNN twin takes an nn.Sequential, "
                          f"got {type(model).__name__}")
    supported = ", ".join(t.__name__ for t in SUPPORTED_LAYERS)
    for i, module in enumerate(model):
        name = _name(i, module)
        if type(module) not in SUPPORTED_LAYERS:
            raise ConfigError(f"{name} is not supported by the SpiNNaker2 DNN twin "
                              f"(supported: {supported})")
        for pname, param in module.named_parameters():
            bad = int((~torch.isfinite(param)).sum())
            if bad:
                raise ConfigError(f"{name}: {pname} has {bad} NaN or infinite value(s) of "
                                  f"{param.numel()}; int8 quantisation needs finite weights")
        if isinstance(module, nn.Conv2d):
            if (module.groups != 1 or _pair(module.dilation) != (1, 1)
                    or module.padding_mode != "zeros" or isinstance(module.padding, str)):
                raise ConfigError(f"{name}: only groups=1, dilation=1 and integer zero padding "
                                  f"are supported (got groups={module.groups}, dilation="
                                  f"{module.dilation}, padding={module.padding!r}, "
                                  f"padding_mode={module.padding_mode!r})")
        if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            dilation = getattr(module, "dilation", 1)
            if (_pair(module.padding) != (0, 0) or _pair(dilation) != (1, 1) or module.ceil_mode
                    or getattr(module, "divisor_override", None) is not None):
                raise ConfigError(f"{name}: only padding=0, dilation=1, ceil_mode=False and no "
                                  f"divisor_override are supported")
        if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) != (1, -1):
            raise ConfigError(f"{name}: only Flatten(start_dim=1, end_dim=-1) is supported")
    if not any(isinstance(m, nn.Linear | nn.Conv2d) for m in model):
        raise ConfigError("the model has no Linear or Conv2d layer for the MAC array")


def _qconfig(per_channel: bool) -> tq.QConfig:
    """torch's fbgemm default (per-channel weights) or its per-tensor variant."""
    # codes 0..127: torch's reduce_range, spelled as the range it stands for
    activation = tq.HistogramObserver.with_args(quant_min=0, quant_max=127)
    if per_channel:
        weight = tq.PerChannelMinMaxObserver.with_args(
            dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        weight = tq.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return tq.QConfig(activation=activation, weight=weight)


def _fusable(model: nn.Sequential) -> list[list[str]]:
    """(Linear or Conv2d, ReLU) neighbours, by name, for torch's fusion."""
    mods = list(model)
    return [[str(i), str(i + 1)] for i in range(len(mods) - 1)
            if isinstance(mods[i], nn.Linear | nn.Conv2d) and isinstance(mods[i + 1], nn.ReLU)]


def quantise(model: nn.Sequential, calibration: torch.Tensor | np.ndarray, *,
             per_channel: bool = True) -> QuantisedModel:
    """Quantise ``model`` to int8 with torch (module docstring) and translate it.

    Parameters
    ----------
    model
        A float ``nn.Sequential`` of the :data:`SUPPORTED_LAYERS`; not modified.
    calibration
        (N, ...) float inputs that set the activation ranges (e.g. a few hundred training
        images).
    per_channel
        Weight scales per output channel (torch's default) or one per layer.

    Raises
    ------
    ConfigError
        From :func:`check_model`, or non-finite or empty calibration data.
    """
    check_model(model)
    x = torch.as_tensor(np.asarray(calibration), dtype=torch.float32)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ConfigError(f"calibration must be (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ConfigError("calibration data has NaN or infinite values")
    float_model = copy.deepcopy(model).eval()
    with torch_int8(), torch.no_grad():
        fused = tq.fuse_modules(float_model, _fusable(float_model)) if _fusable(float_model) \
            else float_model
        wrapped = nn.Sequential(tq.QuantStub(), *fused.children(), tq.DeQuantStub()).eval()
        wrapped.qconfig = _qconfig(per_channel)  # type: ignore[assignment]
        tq.prepare(wrapped, inplace=True)
        wrapped(x)
        tq.convert(wrapped, inplace=True)
        return _translate(model, wrapped, x[:1])


def _mac_layer(name: str, module: Any, h: torch.Tensor, out: torch.Tensor) -> MacLayer:
    """A quantised Linear or Conv2d (with or without ReLU) as a :class:`MacLayer`; the
    float32 constants are formed as torch's fbgemm kernels form them. ``module`` is torch's
    ``nnq.Linear`` or ``nnq.Conv2d`` (typed Any: their ``weight()`` is a method)."""
    w = module.weight()
    n_out = w.shape[0]
    if w.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
        scales = w.q_per_channel_scales().numpy()
    else:
        scales = np.full(n_out, w.q_scale())
    bias = module.bias()
    bias32 = (np.zeros(n_out, np.float32) if bias is None
              else bias.detach().numpy().astype(np.float32))
    act_times_w = np.float32(h.q_scale()) * scales.astype(np.float32)
    conv = isinstance(module, nnq.Conv2d)
    return MacLayer(
        name=name,
        weight=w.int_repr().numpy().reshape(n_out, -1).astype(np.int8),
        bias_term=(bias32 / act_times_w).astype(np.float32),
        multiplier=(act_times_w / np.float32(module.scale)).astype(np.float32),
        input_zero_point=int(h.q_zero_point()),
        output_zero_point=int(module.zero_point),
        relu=isinstance(module, nniq.LinearReLU | nniq.ConvReLU2d),
        in_shape=tuple(h.shape[1:]),
        out_shape=tuple(out.shape[1:]),
        kernel=_pair(module.kernel_size) if conv else (1, 1),
        stride=_pair(module.stride) if conv else (1, 1),
        padding=_pair(module.padding) if conv else (0, 0),
    )


def _translate(model: nn.Sequential, converted: nn.Sequential, sample: torch.Tensor
               ) -> QuantisedModel:
    """The twin's layers for torch's converted model, shapes from one sample."""
    modules = list(converted)
    h = modules[0](sample)
    input_scale, input_zero_point = float(h.q_scale()), int(h.q_zero_point())
    layers: list[DnnLayer] = []
    for i, (original, module) in enumerate(zip(model, modules[1:-1], strict=True)):
        name = _name(i, original)
        out = module(h)
        shape = tuple(h.shape[1:])
        if isinstance(module, nnq.Linear | nnq.Conv2d):
            layers.append(_mac_layer(name, module, h, out))
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            layers.append(Pool(name, "max" if isinstance(module, nn.MaxPool2d) else "avg",
                               _pair(module.kernel_size), _pair(module.stride), shape,
                               tuple(out.shape[1:])))
        elif isinstance(module, nn.ReLU):
            layers.append(Relu(name, int(h.q_zero_point()), shape))
        elif isinstance(module, nn.Flatten):
            layers.append(Flatten(name, shape))
        # nn.Identity: the place of a ReLU that torch fused into the layer before
        h = out
    return QuantisedModel(
        layers=tuple(layers), input_scale=input_scale, input_zero_point=input_zero_point,
        output_scale=float(h.q_scale()), output_zero_point=int(h.q_zero_point()),
        in_shape=tuple(sample.shape[1:]), reference=converted)


def quantise_input(qmodel: QuantisedModel, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Input codes (uint8, shape of ``x``) as torch's int8 model quantises ``x``."""
    with torch_int8(), torch.no_grad():
        q = qmodel.reference[0](torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return q.int_repr().numpy()


def reference_codes(qmodel: QuantisedModel, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """torch's int8 output codes (uint8, shape ``(N, *out_shape)``) for float inputs ``x``: the
    reference the twin must equal bit for bit."""
    with torch_int8(), torch.no_grad():
        h = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        for module in list(qmodel.reference)[:-1]:
            h = module(h)
        return h.int_repr().numpy()
