"""Put a float-trained network on the VMM with a scale calibrated per layer.

A network of bias-free ReLU layers is positively homogeneous: scaling one layer's weights
by ``c > 0`` scales every later activation and the logits by ``c``, and the argmax not at
all. So a float network's weights ``W`` can be carried to the VMM, layer by layer, as
``W_lsb = c W`` with ``num_sends = s``; the VMM layer then reads
``gain * s * c * (W . a)`` for its (integer) input ``a``. :func:`from_float` chooses ``c``
and ``s`` so that

* the ``quantile`` of the layer's positive outputs (last layer: of ``|output|``) reads
  ``top`` LSB, where ``top`` is the output that just reaches the top of the next layer's
  input range (``31 * 2**shift`` before a ``ConvertingReLU``, 127 before a ``ReLU``) or
  :data:`OUTPUT_TOP` for the last layer;
* the weights use the range: ``s`` is the fewest sends for which ``max |c W| <= 63``.

The outputs above the quantile saturate (the next input clamps at 31): a lower
``quantile`` trades saturation of a few outputs for a larger signal over the fixed 2-3 LSB
of read noise on all of them. The statistics come from running the VMM network itself on
``x`` (its quantisation and noise included), one layer after another, so each layer is
calibrated on the inputs it will see (after the layer's ``input_transform``, e.g.
:func:`~neurotwin.bss2.vmm.nn.scale_input`, which the float network does not have: its
scale is absorbed by ``c``). hxtorch initialises for the measured gain
(``MACLayer.reset_parameters``) but has no such conversion; it is this project's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.errors import ConfigError, DataError

__all__ = ["DEFAULT_QUANTILE", "OUTPUT_TOP", "LayerScale", "from_float"]

DEFAULT_QUANTILE = 0.95
"""Share of positive outputs of a hidden layer below the top of the next input range
(tuned on bss2-har seeds 0-2 over 0.995, 0.98, 0.95 and 0.9; docs/vmm.md)."""
OUTPUT_TOP = 96.0
"""Read (LSB) of the last layer's ``quantile`` of ``|output|``: three quarters of the int8
range, so that the largest logits seldom tie at the clamp of 127 (an assumption)."""

FloatLayer = torch.nn.Linear | torch.nn.Conv1d | torch.nn.Conv2d


@dataclass(frozen=True)
class LayerScale:
    """How one float layer was put on the VMM.

    Parameters
    ----------
    name
        The VMM layer's name in its model.
    num_sends
        Sends of every input vector (set on the layer).
    weight_scale
        ``c``: weight LSB per float weight unit.
    top
        Read (LSB) the ``quantile`` of the outputs was scaled to.
    max_weight
        ``max |c W|`` in LSB (at most 63).
    """

    name: str
    num_sends: int
    weight_scale: float
    top: float
    max_weight: float


def _float_layers(model: torch.nn.Module) -> list[FloatLayer]:
    return [m for m in model.modules()
            if isinstance(m, FloatLayer) and not isinstance(m, vnn.MACLayer)]


def _tops(model: torch.nn.Module, names: list[str]) -> list[float]:
    """Per VMM layer, the read that reaches the top of the next layer's input range."""
    tops: dict[str, float] = {}
    pending: str | None = None
    for name, m in model.named_modules():
        if isinstance(m, vnn.MACLayer):
            pending = name
        elif pending is not None and isinstance(m, vnn.ConvertingReLU):
            tops[pending] = float(specs.VMM_INPUT_MAX * 2**m.shift)
            pending = None
        elif pending is not None and isinstance(m, vnn.ReLU):
            tops[pending] = float(specs.VMM_OUTPUT_MAX)
            pending = None
    return [tops.get(name, float(specs.VMM_OUTPUT_MAX)) for name in names[:-1]] + [OUTPUT_TOP]


def _layer_input(model: torch.nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """The input the layer ``name`` of ``model`` receives for the model's input ``x``."""
    seen: list[torch.Tensor] = []
    hook = model.get_submodule(name).register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    return seen[0]


def from_float(float_model: torch.nn.Module, vmm_model: torch.nn.Module, x: torch.Tensor,
               quantile: float = DEFAULT_QUANTILE) -> list[LayerScale]:
    """Copy ``float_model``'s weights into ``vmm_model`` with calibrated scales (module
    docstring); sets each VMM layer's ``weight`` and ``num_sends`` in place.

    Parameters
    ----------
    float_model
        The trained float network: ``Linear``/``Conv1d``/``Conv2d`` layers without bias,
        in the same order and shapes as ``vmm_model``'s VMM layers.
    vmm_model
        The network of :mod:`neurotwin.bss2.vmm.nn` layers, its target set (its gain
        converts outputs to reads; its noise is in the statistics).
    x
        Calibration inputs in ``vmm_model``'s input range (training data, never test).
    quantile
        Share of the outputs below ``top``, in (0, 1].

    Returns
    -------
    list of LayerScale
        One per VMM layer, in module order.

    Raises
    ------
    ConfigError
        When the layers do not pair up (count, shapes, a bias), or ``quantile`` is
        outside (0, 1].
    DataError
        When a layer's outputs on ``x`` are all zero (no scale can be set).
    """
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"quantile must lie in (0, 1], got {quantile!r}")
    pairs = [(n, m) for n, m in vmm_model.named_modules() if isinstance(m, vnn.MACLayer)]
    floats = _float_layers(float_model)
    if len(floats) != len(pairs):
        raise ConfigError(f"float_model has {len(floats)} Linear/Conv layers, vmm_model "
                          f"{len(pairs)} VMM layers: they must pair up")
    tops = _tops(vmm_model, [n for n, _ in pairs])
    scales = []
    for i, ((name, layer), f, top) in enumerate(zip(pairs, floats, tops, strict=True)):
        if f.weight.shape != layer.weight.shape:
            raise ConfigError(f"layer {name!r}: float weight {tuple(f.weight.shape)} != "
                              f"VMM weight {tuple(layer.weight.shape)}")
        if f.bias is not None or layer.bias is not None:
            raise ConfigError(f"layer {name!r} has a bias: from_float converts bias-free "
                              "layers only (a bias breaks the per-layer scale freedom)")
        with torch.no_grad():
            seen = _layer_input(vmm_model, name, x)
            if layer.input_transform is not None:  # what the VMM multiplies
                seen = layer.input_transform(seen)
            z = f(seen).numpy().ravel()
        values = np.abs(z) if i == len(pairs) - 1 else z[z > 0]
        reach = float(np.quantile(values, quantile)) if values.size else 0.0
        if reach <= 0.0:
            raise DataError(f"layer {name!r}: no positive output on the calibration "
                            "inputs, its scale cannot be set")
        w_max = float(f.weight.detach().abs().max())
        gain = layer.gain
        sends = max(1, math.ceil(top / (gain * specs.VMM_WEIGHT_MAX / w_max * reach)))
        c = top / (gain * sends * reach)
        with torch.no_grad():
            layer.weight.copy_(c * f.weight)
        layer.num_sends = sends
        scales.append(LayerScale(name, sends, c, top, c * w_max))
    return scales
