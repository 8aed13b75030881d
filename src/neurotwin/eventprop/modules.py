"""nn.Modules of EventProp: they hold weights and call :mod:`neurotwin.eventprop.functional`.

Feed-forward only. A ``RecurrentLIFLayer`` (one weight matrix to itself; its forward needs the
engine's earliest-crossing-per-round loop, its adjoint the lam_i W term inside the layer) and
a ``ConvLIFLayer`` (a weight-sharing view of the same layer) are later work; both fit the
same pattern: a Function whose forward records the current at each spike and whose backward
walks the merged events in reverse.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurotwin.engines.event import EventLIF, Spikes
from neurotwin.errors import ConfigError, check_finite, check_positive
from neurotwin.eventprop.forward.layer import check_eventprop_params
from neurotwin.eventprop.functional import li_vmax, lif_layer

__all__ = ["LIFLayer", "LILayer", "init_weights"]


def init_weights(
    n_in: int, n_out: int, mean: float, std: float | None, seed: int, dtype: torch.dtype
) -> nn.Parameter:
    """Initial weights (n_in, n_out), nA: normal(mean, std) drawn from ``seed``
    (std None: 1/sqrt(n_in)), shared by EventProp and the BPTT baseline."""
    for name, value in (("n_in", n_in), ("n_out", n_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
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
        Neuron parameters (:class:`~neurotwin.engines.event.EventLIF`, ``tau_refrac`` = 0).
    t_max
        End of the simulation, ms (> 0).
    max_spikes
        Spikes per neuron and sample at most (1 for time-to-first-spike outputs); None: all.
    delay
        Delay of every input, ms (>= 0).
    xtol
        Forward spike-time tolerance, ms.
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
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.params = check_eventprop_params(params)
        check_positive("t_max", t_max, "ms")
        self.n_in, self.n_out, self.t_max = n_in, n_out, float(t_max)
        self.max_spikes, self.delay, self.xtol = max_spikes, float(delay), xtol
        self.weight = init_weights(n_in, n_out, weight_mean, weight_std, seed, dtype)

    def forward(self, spikes: Spikes) -> Spikes:
        """Output spikes (B, K_out) of input spikes (B, K_in); times differentiable."""
        times, ids = _check_spikes(spikes)
        return lif_layer(
            times, ids, self.weight, self.params, self.t_max,
            max_spikes=self.max_spikes, delay=self.delay, xtol=self.xtol,
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
