"""Layers computing their multiply-accumulate on a VMM target (hxtorch.perceptron.nn).

``Linear``, ``Conv1d``, ``ExpandedConv1d``, ``Conv2d`` are their torch counterparts with
the forward pass on the target: the weight goes through ``weight_transform`` (default
:func:`clamp_weight_`, into -63..63 in place), the input through ``input_transform``
(e.g. :func:`scale_input`), then the VMM. ``ReLU`` and ``ConvertingReLU`` are the SIMD
processors' int8 operations. :func:`set_target` points every layer of a model at one
target; for a :class:`~neurotwin.bss2.vmm.Twin` each layer gets its own synapse arrays
(slots of :func:`~neurotwin.bss2.vmm.partition.partition`), so layers see different
fixed patterns, as they would on the chip. :func:`calibrate_columns` measures every
layer's per-column offsets and gains on its target and corrects the layer digitally from
then on (:mod:`~neurotwin.bss2.vmm.calibrate`); :func:`set_target` drops it.

Initialisation (hxtorch ``MACLayer.reset_parameters``): He initialisation scaled for the
chip, ``std = 2**relu_shift * sqrt(2) / gain / sqrt(fan_in)``; with ``num_sends=None`` the
layer picks ``num_sends = ceil(std / 21)`` (21 = 63 / 3) and divides ``std`` by it;
weights are drawn from a normal truncated to -63..63.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm import ops
from neurotwin.bss2.vmm.calibrate import DEFAULT_REPEATS, ColumnCalibration, measure_columns
from neurotwin.bss2.vmm.mock import MockParameter
from neurotwin.bss2.vmm.partition import Schedule, partition
from neurotwin.bss2.vmm.target import VmmTarget, resolve_target
from neurotwin.bss2.vmm.twin import Twin
from neurotwin.errors import ConfigError, check_int

__all__ = ["Conv1d", "Conv2d", "ConvertingReLU", "ExpandedConv1d", "Linear", "MACLayer",
           "ReLU", "calibrate_columns", "clamp_weight_", "model_matrices", "model_sends",
           "scale_input", "scale_weight", "set_target"]

Transform = Callable[[torch.Tensor], torch.Tensor]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def scale_input(x_in: torch.Tensor) -> torch.Tensor:
    """Scale so that the largest input is 31, the top of the input range (the factor
    carries no gradient). An all-zero or negative input is left unscaled."""
    with torch.no_grad():
        top = torch.max(x_in)
        factor = specs.VMM_INPUT_MAX / top if top > 0 else 1.0
    return x_in * factor


def scale_weight(weight: torch.Tensor) -> torch.Tensor:
    """Scale so that the largest absolute weight is 63 (the factor carries no gradient)."""
    with torch.no_grad():
        top = torch.max(torch.abs(weight))
        factor = specs.VMM_WEIGHT_MAX / top if top > 0 else 1.0
    return weight * factor


def clamp_weight_(weight: torch.Tensor) -> torch.Tensor:
    """Clamp the weight in place into -63..63 and return it (the default transform)."""
    with torch.no_grad():
        weight.clamp_(specs.VMM_WEIGHT_MIN, specs.VMM_WEIGHT_MAX)
    return weight


class MACLayer:
    """What every MAC layer adds to its torch counterpart (hxtorch ``MACLayer``): a mixin
    of the layers below, not a layer by itself."""

    weight: torch.Tensor
    bias: Any  # torch types it Parameter in Linear, Tensor | None in the convolutions
    num_sends: int | None = None
    wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS
    mock: bool | MockParameter = False
    target: VmmTarget | None = None
    generator: torch.Generator | None = None
    input_transform: Transform | None = None
    weight_transform: Transform | None = clamp_weight_
    calibration: ColumnCalibration | None = None

    def _setup(self, num_sends: int | None, wait_between_events: int,
               mock: bool | MockParameter, target: VmmTarget | None,
               input_transform: Transform | None, weight_transform: Transform | None) -> None:
        if num_sends is not None:
            check_int("num_sends", num_sends, 1)
        check_int("wait_between_events", wait_between_events, 1)
        self.num_sends = num_sends
        self.wait_between_events = wait_between_events
        self.mock = mock
        self.target = target
        self.input_transform = input_transform
        self.weight_transform = weight_transform
        self.reset_parameters()

    @property
    def gain(self) -> float:
        """Gain of the layer's target (hxtorch's default mock gain while none is set)."""
        if self.target is None and self.mock is False:
            return MockParameter().gain
        return resolve_target(self.mock, self.target).gain

    def reset_parameters(self, weight_mean: float = 0.0, relu_shift: int = 1) -> None:
        """Initialise for the chip (module docstring).

        Parameters
        ----------
        weight_mean
            Mean of the weight distribution.
        relu_shift
            Bit shift of the following ``ConvertingReLU``.
        """
        fan_in = self.weight[0].numel()
        std = 2**relu_shift * math.sqrt(2.0) / self.gain / math.sqrt(fan_in)
        if self.num_sends is None:
            self.num_sends = max(1, math.ceil(std / (specs.VMM_WEIGHT_MAX / 3)))
        std /= self.num_sends
        torch.nn.init.trunc_normal_(self.weight, mean=weight_mean, std=std,
                                    a=specs.VMM_WEIGHT_MIN, b=specs.VMM_WEIGHT_MAX)
        if self.bias is not None:
            std_in = specs.VMM_INPUT_MAX / math.sqrt(3.0)
            bound = 2**relu_shift * math.sqrt(2.0) / self.gain / math.sqrt(fan_in) / std_in
            with torch.no_grad():
                self.bias.uniform_(-bound, bound)

    def _transformed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight if self.weight_transform is None else self.weight_transform(self.weight)
        if self.calibration is not None:
            w = self.calibration.corrected_weight(w)
        return (x if self.input_transform is None else self.input_transform(x)), w

    def _corrected(self, out: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """``out`` with the calibrated column offsets removed (if calibrated)."""
        if self.calibration is None:
            return out
        return self.calibration.corrected_output(out, channel_dim)

    def _vmm_kwargs(self) -> dict[str, Any]:
        return {"num_sends": self.num_sends, "wait_between_events": self.wait_between_events,
                "mock": self.mock, "target": self.target, "generator": self.generator}


class Linear(MACLayer, torch.nn.Linear):
    """``torch.nn.Linear`` on the VMM (hxtorch ``nn.Linear``); the bias is added with the
    saturating int8 :func:`~neurotwin.bss2.vmm.add`.

    Parameters
    ----------
    in_features, out_features, bias
        As ``torch.nn.Linear``.
    num_sends
        Sends per vector (None: chosen by :meth:`reset_parameters`).
    wait_between_events
        FPGA cycles between input events.
    mock, target
        Where the VMM runs (see :func:`~neurotwin.bss2.vmm.matmul`; or :func:`set_target`).
    avg
        Columns per output, averaged (hxtorch: fewer statistical errors; all copies share
        one weight).
    input_transform, weight_transform
        Applied before every VMM.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 num_sends: int | None = None,
                 wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                 mock: bool | MockParameter = False, *, target: VmmTarget | None = None,
                 avg: int = 1, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        torch.nn.Linear.__init__(self, in_features, out_features, bias)
        self.avg = check_int("avg", avg, 1)
        self._setup(num_sends, wait_between_events, mock, target, input_transform,
                    weight_transform)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x, w = self._transformed(input)
        out = ops.matmul(x, w.t().repeat_interleave(self.avg, -1), **self._vmm_kwargs())
        if self.avg > 1:
            out = torch.nn.functional.avg_pool1d(out.unsqueeze(-2), self.avg).squeeze(-2)
        out = self._corrected(out, -1)
        return out if self.bias is None else ops.add(out, self.bias)


def _check_conv(layer: torch.nn.modules.conv._ConvNd) -> None:
    if any(d != 1 for d in layer.dilation) or layer.groups != 1:
        raise ConfigError(f"VMM convolutions support dilation 1 and groups 1 only, got "
                          f"dilation {layer.dilation}, groups {layer.groups}")


def _padded(layer: torch.nn.modules.conv._ConvNd, x: torch.Tensor) -> torch.Tensor:
    padding = tuple(int(p) for p in layer.padding)
    if not any(padding):
        return x
    pad = [p for p in reversed(padding) for _ in range(2)]
    mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
    return torch.nn.functional.pad(x, pad, mode)


class Conv1d(MACLayer, torch.nn.Conv1d):
    """``torch.nn.Conv1d`` on the VMM (hxtorch ``nn.Conv1d``); arguments as torch's plus
    those of :class:`Linear`. Dilation and groups other than 1 raise ``ConfigError``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1,
                 bias: bool = True, padding_mode: PaddingMode = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                 mock: bool | MockParameter = False, *, target: VmmTarget | None = None,
                 input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        torch.nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride,
                                 padding, dilation, groups, bias, padding_mode)
        _check_conv(self)
        self._setup(num_sends, wait_between_events, mock, target, input_transform,
                    weight_transform)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x, w = self._transformed(_padded(self, input))
        return self._corrected(ops.conv1d(x, w, self.bias, self.stride[0],
                                          **self._vmm_kwargs()), 1)


class ExpandedConv1d(MACLayer, torch.nn.Conv1d):
    """:class:`Conv1d` with the kernel unrolled ``num_expansions`` times on the array
    (hxtorch ``nn.ExpandedConv1d``, :func:`~neurotwin.bss2.vmm.expanded_conv1d`).

    ``num_expansions=None`` takes the most copies that fit one array: at most
    ``256 // out_channels`` in width and, unlike hxtorch (which counts the kernel
    length against 128 rows only), ``in_channels * (K + stride (E - 1)) <= 128`` rows.
    Copies share their weight, so fixed-pattern deviations cannot be trained out per
    copy (hxtorch's caveat).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1,
                 bias: bool = True, padding_mode: PaddingMode = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                 mock: bool | MockParameter = False, *, target: VmmTarget | None = None,
                 input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_,
                 num_expansions: int | None = None) -> None:
        torch.nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride,
                                 padding, dilation, groups, bias, padding_mode)
        _check_conv(self)
        if num_expansions is None:
            wide = specs.VMM_MATRIX_WIDTH // out_channels
            tall = (specs.VMM_MATRIX_HEIGHT // in_channels - self.kernel_size[0]) \
                // self.stride[0] + 1
            num_expansions = max(1, min(wide, tall))
        self.num_expansions = check_int("num_expansions", num_expansions, 1)
        self._setup(num_sends, wait_between_events, mock, target, input_transform,
                    weight_transform)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x, w = self._transformed(_padded(self, input))
        return self._corrected(ops.expanded_conv1d(x, w, self.bias, self.stride[0],
                                                   self.num_expansions,
                                                   **self._vmm_kwargs()), 1)

    def extra_repr(self) -> str:
        return f"num_expansions={self.num_expansions}, {super().extra_repr()}"


class Conv2d(MACLayer, torch.nn.Conv2d):
    """``torch.nn.Conv2d`` on the VMM (hxtorch ``nn.Conv2d``); arguments as torch's plus
    those of :class:`Linear`. Dilation and groups other than 1 raise ``ConfigError``."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
                 padding: int | tuple[int, int] = 0, dilation: int = 1, groups: int = 1,
                 bias: bool = True, padding_mode: PaddingMode = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                 mock: bool | MockParameter = False, *, target: VmmTarget | None = None,
                 input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        torch.nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride,
                                 padding, dilation, groups, bias, padding_mode)
        _check_conv(self)
        self._setup(num_sends, wait_between_events, mock, target, input_transform,
                    weight_transform)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x, w = self._transformed(_padded(self, input))
        return self._corrected(ops.conv2d(x, w, self.bias, (self.stride[0], self.stride[1]),
                                          **self._vmm_kwargs()), 1)


class ReLU(torch.nn.Module):
    """ReLU in the SIMD processors (hxtorch ``nn.ReLU``): :func:`~neurotwin.bss2.vmm.relu`."""

    def __init__(self, mock: bool | MockParameter = False) -> None:
        super().__init__()
        self.mock = mock

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return ops.relu(input)


class ConvertingReLU(torch.nn.Module):
    """ReLU, right shift by ``shift`` bits, clamp to 0..31 (hxtorch ``nn.ConvertingReLU``):
    :func:`~neurotwin.bss2.vmm.converting_relu`; its output is the next VMM's input."""

    def __init__(self, shift: int = 2, mock: bool | MockParameter = False) -> None:
        super().__init__()
        self.shift = check_int("shift", shift, 0)
        self.mock = mock

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return ops.converting_relu(input, self.shift)

    def extra_repr(self) -> str:
        return f"shift={self.shift}"


def _rows_columns(layer: MACLayer) -> tuple[int, int]:
    """Signed rows and columns of the matrix a layer puts on the array."""
    w = layer.weight
    if isinstance(layer, ExpandedConv1d):
        e, k = layer.num_expansions, w.shape[2]
        return w.shape[1] * (k + layer.stride[0] * (e - 1)), w.shape[0] * e
    if isinstance(layer, Linear):
        return w.shape[1], w.shape[0] * layer.avg
    return w[0].numel(), w.shape[0]


def model_matrices(model: torch.nn.Module) -> list[tuple[str, int, int]]:
    """(name, rows, columns) of the matrix of every VMM layer of ``model``, in module order."""
    return [(name, *_rows_columns(m)) for name, m in model.named_modules()
            if isinstance(m, MACLayer)]


def model_sends(model: torch.nn.Module) -> dict[str, int]:
    """``num_sends`` of every VMM layer of ``model`` by name (for the schedule's times)."""
    return {name: int(m.num_sends or 1) for name, m in model.named_modules()
            if isinstance(m, MACLayer)}


def set_target(model: torch.nn.Module, target: VmmTarget | MockParameter,
               generator: torch.Generator | None = None, max_runs: int | None = None
               ) -> Schedule:
    """Run every VMM layer of ``model`` on ``target``; return the model's schedule.

    A :class:`~neurotwin.bss2.vmm.Twin` gives each layer its own slots (consecutive, in
    module order, over the twin's chips). ``generator`` seeds the noise of all layers.

    Raises
    ------
    CapacityError
        When ``max_runs`` configurations of the twin's chips (one chip for the mock)
        cannot hold every layer (the message names the blocks needed).
    """
    chips = len(target.chips) if isinstance(target, Twin) else 1
    schedule = partition(model_matrices(model), chips=chips, max_runs=max_runs)
    for name, m in model.named_modules():
        if isinstance(m, MACLayer):
            m.mock = False
            m.target = target.at(schedule.first_slot(name)) if isinstance(target, Twin) \
                else target
            m.generator = generator
            m.calibration = None
    return schedule


def calibrate_columns(model: torch.nn.Module, repeats: int = DEFAULT_REPEATS,
                      generator: torch.Generator | None = None
                      ) -> dict[str, ColumnCalibration]:
    """Measure every VMM layer's column offsets and gains on its target (set by
    :func:`set_target`) and correct the layer with them from now on; return the
    calibrations by layer name (their ``vectors`` and ``configurations`` are the cost).

    Raises
    ------
    ConfigError
        When a layer has no target, or computes a matrix other than its weight's
        (``Linear`` with ``avg > 1``, ``ExpandedConv1d`` with more than one copy).
    """
    found: dict[str, ColumnCalibration] = {}
    for name, m in model.named_modules():
        if not isinstance(m, MACLayer):
            continue
        if (isinstance(m, Linear) and m.avg > 1) or (
                isinstance(m, ExpandedConv1d) and m.num_expansions > 1):
            raise ConfigError(f"layer {name!r}: column calibration needs the layer's matrix "
                              "to be its weight (avg 1, one kernel copy)")
        target = resolve_target(m.mock, m.target)
        m.calibration = None
        rows, columns = _rows_columns(m)
        found[name] = measure_columns(target, rows, columns, int(m.num_sends or 1),
                                      m.wait_between_events, repeats, generator)
        m.calibration = found[name]
    return found
