"""nn.Modules of EventProp: they hold weights and call :mod:`neurotwin.eventprop.functional`.

``LIFLayer`` (feed-forward), ``RecurrentLIFLayer`` (input weights and one weight matrix to
itself, one recurrent delay, optionally learnt; adjoint in ``adjoint/recurrent.py``),
``ConvLIFLayer`` (the feed-forward layer with weights gathered from a shared kernel,
:mod:`neurotwin.engines.event_conv`) and the readout ``LILayer``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_conv import conv_dense_weights, conv_output_shape, conv_weight_index
from neurotwin.engines.event_recurrent import check_rec_delay
from neurotwin.engines.event_recurrent_budget import DEFAULT_SPIKE_BUDGET, check_spike_budget
from neurotwin.errors import ConfigError, check_finite, check_int, check_positive
from neurotwin.eventprop.forward.layer import check_eventprop_params
from neurotwin.eventprop.functional import li_vmax, lif_layer, recurrent_lif_layer
from neurotwin.spikes import Spikes

__all__ = ["ConvLIFLayer", "LIFLayer", "LILayer", "RecurrentLIFLayer", "init_weights"]


def init_weights(
    n_in: int, n_out: int, mean: float, std: float | None, seed: int, dtype: torch.dtype
) -> nn.Parameter:
    """Initial weights (n_in, n_out), nA: normal(mean, std) drawn from ``seed``
    (std None: 1/sqrt(n_in)), shared by EventProp and the BPTT baseline."""
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        check_int(name, value, low=1)
    check_finite("weight_mean", mean)
    scale = 1.0 / math.sqrt(n_in) if std is None else std
    check_positive("weight_std", scale, "nA", allow_zero=True)
    gen = torch.Generator().manual_seed(seed)
    w = mean + scale * torch.randn((n_in, n_out), generator=gen, dtype=dtype)
    return nn.Parameter(w)


def _check_spikes(spikes: Spikes) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(spikes, tuple) and len(spikes) == 2):
        raise ConfigError(
            f"expected a Spikes(times, ids) batch, got {type(spikes).__name__}"
        )
    return spikes[0], spikes[1]


class LIFLayer(nn.Module):
    """A feed-forward layer of LIF neurons trained by EventProp: padded spikes in, out.

    Parameters
    ----------
    n_in, n_out
        Number of input sources and of neurons.
    params
        Neuron parameters (:class:`~neurotwin.dynamics.event_lif.EventLIF`, ``tau_refrac`` = 0).
    t_max
        End of the simulation, ms (> 0).
    max_spikes
        Spikes per neuron and sample at most (1 for time-to-first-spike outputs); None: all.
    delay
        Delay of every input, ms (>= 0).
    xtol
        Forward spike-time tolerance, ms.
    min_slope
        Grazing-crossing remedy of the adjoint, mV/ms (0: exact gradient; see
        :func:`~neurotwin.eventprop.functional.lif_layer`).
    weight_mean, weight_std
        Initial weights ~ N(mean, std^2), nA; std defaults to 1/sqrt(n_in).
    seed
        Seed of the initial weights.
    dtype
        Float dtype of the weights and all spike times (float64: exact).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: EventLIF,
        t_max: float,
        *,
        max_spikes: int | None = None,
        delay: float = 0.0,
        xtol: float = 1e-10,
        min_slope: float = 0.0,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.params = check_eventprop_params(params)
        check_positive("t_max", t_max, "ms")
        check_positive("min_slope", min_slope, "mV/ms", allow_zero=True)
        self.n_in, self.n_out, self.t_max = n_in, n_out, float(t_max)
        self.max_spikes, self.delay, self.xtol = max_spikes, float(delay), xtol
        self.min_slope = float(min_slope)
        self.weight = init_weights(n_in, n_out, weight_mean, weight_std, seed, dtype)

    def forward(self, spikes: Spikes) -> Spikes:
        """Output spikes (B, K_out) of input spikes (B, K_in); times differentiable."""
        times, ids = _check_spikes(spikes)
        return lif_layer(
            times, ids, self.weight, self.params, self.t_max,
            max_spikes=self.max_spikes, delay=self.delay, xtol=self.xtol,
            min_slope=self.min_slope,
        )

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, t_max={self.t_max}"


class LILayer(nn.Module):
    """Non-spiking leaky-integrator readout: V_max per output neuron, mV, (B, n_out).

    Parameters
    ----------
    n_in, n_out
        Number of input sources and of readout neurons.
    params
        Neuron parameters (``tau_mem``, ``tau_syn``, ``cm``; threshold and reset unused).
    t_max
        End of the window over which the maximum is taken, ms (> 0).
    delay
        Delay of every input, ms (>= 0).
    weight_mean, weight_std, seed, dtype
        As for :class:`LIFLayer`.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: EventLIF,
        t_max: float,
        *,
        delay: float = 0.0,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if not isinstance(params, EventLIF):
            raise ConfigError(f"params must be an EventLIF, got {type(params).__name__}")
        check_positive("t_max", t_max, "ms")
        check_positive("delay", delay, "ms", allow_zero=True)
        self.params, self.n_in, self.n_out = params, n_in, n_out
        self.t_max, self.delay = float(t_max), float(delay)
        self.weight = init_weights(n_in, n_out, weight_mean, weight_std, seed, dtype)

    def forward(self, spikes: Spikes) -> torch.Tensor:
        """V_max (B, n_out), mV, of input spikes (B, K_in); differentiable."""
        times, ids = _check_spikes(spikes)
        return li_vmax(times, ids, self.weight, self.params, self.t_max, delay=self.delay)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, t_max={self.t_max}"


class RecurrentLIFLayer(nn.Module):
    """A recurrent layer of LIF neurons trained by EventProp: padded spikes in, out.

    A spike of neuron n at t adds ``w_rec[n, :]`` to all currents of the layer at
    t + ``rec_delay`` (:mod:`neurotwin.engines.event_recurrent`); the layer's output spikes
    are all its spikes.

    Parameters
    ----------
    n_in, n_out
        Number of input sources and of neurons.
    params
        Neuron parameters (:class:`~neurotwin.dynamics.event_lif.EventLIF`, ``tau_refrac`` = 0).
    t_max
        End of the simulation, ms (> 0).
    max_spikes
        Spikes per neuron and sample at most; None: all.
    delay
        Delay of every input, ms (>= 0).
    rec_delay
        Delay of all recurrent connections, ms (>= 0; 0: at the spike).
    learn_rec_delay
        Make ``rec_delay`` an ``nn.Parameter`` trained with the weights (one value for the
        layer); it acts as max(rec_delay, 0), as :class:`~neurotwin.eventprop.Delay` does.
    xtol
        Forward spike-time tolerance, ms.
    min_slope
        Grazing-crossing remedy of the adjoint, mV/ms (0: exact gradient; see
        :func:`~neurotwin.eventprop.functional.lif_layer`).
    weight_mean, weight_std
        Initial input weights ``w_in`` (n_in, n_out) ~ N(mean, std^2), nA; std defaults to
        1/sqrt(n_in).
    rec_weight_mean, rec_weight_std
        Initial recurrent weights ``w_rec`` (n_out, n_out) ~ N(mean, std^2), nA; std
        defaults to 1/sqrt(n_out).
    seed
        Seed of ``w_in``; ``w_rec`` is drawn from ``seed + 1``.
    dtype
        Float dtype of the weights and all spike times (float64: exact).
    spike_budget
        Runaway guard, spikes per neuron and sample on average: a sample with more than
        ``spike_budget n_out`` spikes stops the forward with a ``CapacityError``
        (:mod:`neurotwin.engines.event_recurrent_budget`); None: no limit.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: EventLIF,
        t_max: float,
        *,
        max_spikes: int | None = None,
        delay: float = 0.0,
        rec_delay: float = 0.0,
        learn_rec_delay: bool = False,
        xtol: float = 1e-10,
        min_slope: float = 0.0,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        rec_weight_mean: float = 0.0,
        rec_weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> None:
        super().__init__()
        self.params = check_eventprop_params(params)
        check_positive("t_max", t_max, "ms")
        check_positive("min_slope", min_slope, "mV/ms", allow_zero=True)
        self.spike_budget = check_spike_budget(spike_budget)
        self.n_in, self.n_out, self.t_max = n_in, n_out, float(t_max)
        self.max_spikes, self.delay, self.xtol = max_spikes, float(delay), xtol
        self.min_slope = float(min_slope)
        self.w_in = init_weights(n_in, n_out, weight_mean, weight_std, seed, dtype)
        self.w_rec = init_weights(n_out, n_out, rec_weight_mean, rec_weight_std, seed + 1, dtype)
        d_rec = check_rec_delay(rec_delay)
        self.rec_delay: nn.Parameter | float = (
            nn.Parameter(torch.tensor(d_rec, dtype=dtype)) if learn_rec_delay else d_rec
        )
        """Recurrent delay, ms: a float, or a 0-d parameter (acting as max(d, 0))."""

    def forward(self, spikes: Spikes) -> Spikes:
        """Output spikes (B, K_out) of input spikes (B, K_in); times differentiable."""
        times, ids = _check_spikes(spikes)
        d = self.rec_delay
        rec_delay = d.clamp(min=0.0) if isinstance(d, torch.Tensor) else d
        return recurrent_lif_layer(
            times, ids, self.w_in, self.w_rec, self.params, self.t_max,
            max_spikes=self.max_spikes, delay=self.delay, rec_delay=rec_delay, xtol=self.xtol,
            min_slope=self.min_slope, spike_budget=self.spike_budget,
        )

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, t_max={self.t_max}, recurrent"


class ConvLIFLayer(nn.Module):
    """A convolutional layer of LIF neurons trained by EventProp (weights shared by a kernel).

    Exactly the feed-forward :class:`LIFLayer` with the dense weights
    :func:`~neurotwin.engines.event_conv.conv_dense_weights` of ``kernel`` (the geometry of
    ``torch.nn.functional.conv2d``); its EventProp gradient reaches the kernel through the
    gather. Input ids number the (C_in, H, W) pixels row-major, output ids the (C_out,
    H_out, W_out) neurons likewise.

    Parameters
    ----------
    in_shape
        (C_in, H, W) of the input.
    out_channels
        C_out.
    kernel_size
        kh = kw, or (kh, kw), pixels.
    params
        Neuron parameters (``tau_refrac`` = 0).
    t_max
        End of the simulation, ms (> 0).
    stride
        Step between output positions, pixels (>= 1), one or (vertical, horizontal).
    padding
        Zero padding on each side, pixels (>= 0), one or (vertical, horizontal).
    max_spikes, delay, xtol
        As for :class:`LIFLayer`.
    weight_mean, weight_std
        Initial kernel ~ N(mean, std^2), nA; std defaults to 1/sqrt(C_in kh kw).
    seed, dtype
        Seed of the initial kernel; float dtype of the kernel and all spike times.

    Raises
    ------
    ConfigError
        Bad shapes, stride < 1, padding < 0, a kernel larger than the padded input,
        ``tau_refrac`` != 0 ...
    """

    index: torch.Tensor
    """Kernel entry of each (input, output) pair, int64 (n_in, n_out) (a buffer)."""
    mask: torch.Tensor
    """Which pairs are connected, bool (n_in, n_out) (a buffer)."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        out_channels: int,
        kernel_size: int | tuple[int, int],
        params: EventLIF,
        t_max: float,
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        max_spikes: int | None = None,
        delay: float = 0.0,
        xtol: float = 1e-10,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.params = check_eventprop_params(params)
        check_positive("t_max", t_max, "ms")
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        if not isinstance(kernel_size, tuple | list) or len(kernel_size) != 2:
            raise ConfigError(f"kernel_size must be an int or a pair (kh, kw), got {kernel_size!r}")
        kh, kw = kernel_size
        # conv_output_shape reports a bad in_shape before it reads the kernel's C_in
        c_in = in_shape[0] if isinstance(in_shape, tuple | list) and in_shape else 1
        kernel_shape = (out_channels, c_in, kh, kw)
        self.out_shape = conv_output_shape(in_shape, kernel_shape, stride, padding)
        """(C_out, H_out, W_out) of the output."""
        self.in_shape: tuple[int, int, int] = (in_shape[0], in_shape[1], in_shape[2])
        self.stride, self.padding = stride, padding
        self.t_max, self.max_spikes, self.delay = float(t_max), max_spikes, float(delay)
        self.xtol = xtol
        fan_in = c_in * kh * kw
        w = init_weights(fan_in, out_channels, weight_mean, weight_std, seed, dtype)
        self.kernel = nn.Parameter(w.detach().T.reshape(kernel_shape).contiguous())
        index, mask = conv_weight_index(in_shape, kernel_shape, stride, padding)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    @property
    def n_in(self) -> int:
        """Number of input sources, C_in H W."""
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        """Number of neurons, C_out H_out W_out."""
        return math.prod(self.out_shape)

    def dense_weights(self) -> torch.Tensor:
        """The kernel as a dense (n_in, n_out) weight matrix, nA; differentiable."""
        return conv_dense_weights(self.kernel, self.index, self.mask)

    def forward(self, spikes: Spikes) -> Spikes:
        """Output spikes (B, K_out) of input spikes (B, K_in); times differentiable."""
        times, ids = _check_spikes(spikes)
        return lif_layer(
            times, ids, self.dense_weights(), self.params, self.t_max,
            max_spikes=self.max_spikes, delay=self.delay, xtol=self.xtol,
        )

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, out_shape={self.out_shape}, "
            f"kernel={tuple(self.kernel.shape)}, stride={self.stride}, padding={self.padding}"
        )
