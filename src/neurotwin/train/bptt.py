r"""Surrogate-gradient BPTT: the time-stepped baseline against which EventProp is measured.

The neuron is EventProp's (:class:`~neurotwin.dynamics.event_lif.EventLIF`: one synaptic
current, signed weights; ms, mV from rest, nA, nF)::

    dv/dt = -v / tau_mem + i / cm,    di/dt = -i / tau_syn     (input spike: i += w)

on a grid of step ``dt``, with the exact propagators of :func:`neurotwin.dynamics.lif.
lif_constants` and the step order of :func:`~neurotwin.dynamics.lif.lif_step` (NEST's
``iaf_psc_exp``); one step from t = k dt to (k + 1) dt::

    v <- v p_vv + i p_ve                 (v held at v_reset while refractory)
    i <- i p_ee + x[k + 1] @ W           (inputs arriving at (k + 1) dt)
    z  = H(v - v_thresh)                 (a spike, stamped (k + 1) dt)
    v <- v_reset where z                 (the reset carries no gradient)

so the forward pass is the ``ideal`` backend's, operation for operation (the terms of
``lif_step`` that are zero here — v_rest, bias, i_inh — add exact zeros).

*Spike grids.* Spikes live on the time points 0, dt, ..., T dt = t_max as tensors of shape
(T + 1, B, n): row k counts the spikes at time k dt. :func:`spike_grid` bins a padded
event batch (``times``, ``ids``: :mod:`neurotwin.spikes`) onto it, rounding each arrival
(time + delay) to the nearest grid point; a layer's output row 0 is always empty. A
delay of d steps shifts a grid by d rows.

*Surrogate.* H has no useful derivative; the backward pass replaces dH/dx by SuperSpike's
fast sigmoid (Zenke & Ganguli 2018; Neftci, Mostafa & Zenke 2019)::

    dz/dv ~ 1 / (beta |v - v_thresh| + 1)^2           (beta in 1/mV)

*Readouts*, so that the losses of :mod:`neurotwin.eventprop.losses` apply unchanged:
:func:`grid_first_spike_times` (ms, (B, n), +inf when silent) counts the steps before the
spike, t = dt sum_k prod_{j <= k} (1 - z_j), whose gradient flows through the surrogate;
:class:`SurrogateLILayer` gives V_max = max_k v_k of a non-spiking membrane.

Memory: autograd keeps a few (B, n) tensors per step and layer, so one training step needs
O(T B n) memory, against EventProp's O(spikes) (``neurotwin bench eventprop``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.lif import LIFConstants, lif_constants
from neurotwin.errors import ConfigError, check_finite, check_int, check_multiple_of, check_positive
from neurotwin.eventprop.modules import init_weights  # the same initial weights as EventProp
from neurotwin.spikes import PAD_ID, Spikes

__all__ = [
    "DEFAULT_BETA",
    "SurrogateLIFLayer",
    "SurrogateLILayer",
    "SurrogateSpike",
    "grid_first_spike_times",
    "li_forward",
    "lif_forward",
    "n_steps",
    "spike_grid",
    "superspike",
]

DEFAULT_BETA = 10.0
"""Steepness of the SuperSpike surrogate, 1/mV (for v_thresh of order 1 mV)."""


class SurrogateSpike(torch.autograd.Function):
    """H(x) forward, SuperSpike's ``1 / (beta |x| + 1)^2`` backward.

    ``apply(x, beta)``: x = v - v_thresh (mV), beta (1/mV, > 0); returns 0/1 of x's dtype.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, beta: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad / (ctx.beta * x.abs() + 1.0) ** 2, None


def superspike(x: torch.Tensor, beta: float = DEFAULT_BETA) -> torch.Tensor:
    """Spikes H(x) (x >= 0) with the SuperSpike surrogate derivative.

    Parameters
    ----------
    x
        Distance to threshold, v - v_thresh, mV (any shape).
    beta
        Steepness, 1/mV (> 0): the surrogate is 1 at threshold and 1/4 at ``|x| = 1/beta``.
    """
    check_positive("beta", beta, "1/mV")
    return SurrogateSpike.apply(x, float(beta))


def n_steps(t_max: float, dt: float) -> int:
    """Number of steps T of a run of ``t_max`` ms (a multiple of ``dt`` ms)."""
    check_positive("dt", dt, "ms")
    check_positive("t_max", t_max, "ms")
    return int(check_multiple_of("t_max", t_max, dt))


def _delay_steps(delay: float, dt: float) -> int:
    check_positive("delay", delay, "ms", allow_zero=True)
    return int(check_multiple_of("delay", delay, dt))


def spike_grid(
    spikes: Spikes | tuple[Any, Any],
    n: int,
    dt: float,
    t_max: float,
    *,
    delay: float = 0.0,
    dtype: torch.dtype = torch.float64,
    device: Any = None,
) -> torch.Tensor:
    """Bin a padded spike batch onto the time grid: (T + 1, B, n), spike counts.

    Parameters
    ----------
    spikes
        ``(times, ids)``, each (B, K): times in ms (``+inf`` padding), ids in [0, n) or -1.
    n
        Number of sources.
    dt
        Time step, ms.
    t_max
        End of the grid, ms (a multiple of dt); arrivals after it are dropped.
    delay
        Added to every time before binning, ms (>= 0).
    dtype, device
        Of the returned tensor.

    Returns
    -------
    Tensor whose row k counts the arrivals rounded to k dt (not differentiable).
    """
    steps = n_steps(t_max, dt)
    check_positive("delay", delay, "ms", allow_zero=True)
    times = torch.as_tensor(spikes[0], device=device).detach().to(torch.float64)
    ids = torch.as_tensor(spikes[1], device=times.device)
    if times.ndim != 2 or ids.shape != times.shape:
        raise ConfigError(
            f"times and ids must both have shape (B, K), got {tuple(times.shape)} and "
            f"{tuple(ids.shape)}"
        )
    real = ids != PAD_ID
    if bool((real & ((ids < 0) | (ids >= n))).any()):
        raise ConfigError(f"ids must lie in [0, {n}) or be {PAD_ID}")
    check_finite("times (except +inf padding)", times[real].cpu().numpy())
    if bool((times[real] < 0).any()):
        raise ConfigError("times must be >= 0 ms")
    row = torch.round((times + delay) / dt)
    keep = real & (row <= steps)
    batch = torch.arange(times.shape[0], device=times.device)[:, None].expand_as(times)
    grid = torch.zeros((steps + 1, times.shape[0], n), dtype=dtype, device=times.device)
    index = (row[keep].long(), batch[keep], ids[keep].long())
    grid.index_put_(index, torch.ones(index[0].shape, dtype=dtype, device=grid.device),
                    accumulate=True)
    return grid


def _shift(grid: torch.Tensor, rows: int) -> torch.Tensor:
    """``grid`` delayed by ``rows`` grid points (later rows fall off the end)."""
    if rows == 0:
        return grid
    pad = torch.zeros((min(rows, grid.shape[0]), *grid.shape[1:]), dtype=grid.dtype,
                      device=grid.device)
    return torch.cat([pad, grid[: grid.shape[0] - rows]])


def _constants(params: EventLIF, dt: float) -> LIFConstants:
    if not isinstance(params, EventLIF):
        raise ConfigError(f"params must be an EventLIF, got {type(params).__name__}")
    return lif_constants(params.to_lif(v_rest=0.0), dt)


def _check_grid(x: torch.Tensor, weights: torch.Tensor) -> None:
    if x.ndim != 3 or x.shape[2] != weights.shape[0]:
        raise ConfigError(
            f"input grid must have shape (T + 1, B, {weights.shape[0]}), got {tuple(x.shape)}"
        )


def lif_forward(
    x: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    dt: float,
    *,
    delay: float = 0.0,
    max_spikes: int | None = None,
    beta: float = DEFAULT_BETA,
) -> torch.Tensor:
    """Output spike grid of a feed-forward LIF layer, differentiable by the surrogate.

    Parameters
    ----------
    x
        Input spike grid (T + 1, B, n_in) (counts or surrogate spikes of the layer before).
    weights
        Signed weights, nA, (n_in, n_out).
    params
        Neuron parameters; ``tau_refrac`` is rounded to whole steps as in ``lif_step``.
    dt
        Time step, ms.
    delay
        Delay of every input, ms (a multiple of dt, >= 0).
    max_spikes
        At most this many spikes per neuron and sample (later crossings are ignored and do
        not reset); None: no limit.
    beta
        Surrogate steepness, 1/mV.

    Returns
    -------
    Spike grid (T + 1, B, n_out) of 0/1 in weights' dtype; row 0 is empty.
    """
    _check_grid(x, weights)
    check_positive("beta", beta, "1/mV")
    if max_spikes is not None:
        check_int("max_spikes (or None)", max_spikes, low=1)
    c = _constants(params, dt)
    # unbind, not current[k]: each indexing's backward would allocate a full-size gradient
    current = (_shift(x.to(weights.dtype), _delay_steps(delay, dt)) @ weights).unbind(0)
    steps, shape = x.shape[0] - 1, current[0].shape
    v = torch.zeros(shape, dtype=weights.dtype, device=weights.device)
    i = current[0]
    refrac = torch.zeros(shape, dtype=torch.long, device=weights.device)
    count = torch.zeros(shape, dtype=torch.long, device=weights.device)
    out = [torch.zeros_like(v)]
    for k in range(steps):
        free = refrac <= 0
        v = torch.where(free, v * c.p_vv + i * c.p_ve, v)
        refrac = torch.where(free, refrac, refrac - 1)
        i = i * c.p_ee + current[k + 1]
        z = SurrogateSpike.apply(v - c.v_thresh, float(beta))
        if max_spikes is not None:
            z = z * (count < max_spikes)
        fired = z.detach() > 0
        v = torch.where(fired, c.v_reset, v)
        refrac = torch.where(fired, c.refrac_steps, refrac)
        if max_spikes is not None:
            count = count + fired
        out.append(z)
    return torch.stack(out)


def li_forward(
    x: torch.Tensor, weights: torch.Tensor, params: EventLIF, dt: float, *, delay: float = 0.0
) -> torch.Tensor:
    """Membrane trace of a non-spiking leaky-integrator layer, mV, (T + 1, B, n_out).

    Same step as :func:`lif_forward` without threshold; row k is v at k dt (row 0: 0 mV).
    Arguments as there.
    """
    _check_grid(x, weights)
    c = _constants(params, dt)
    current = (_shift(x.to(weights.dtype), _delay_steps(delay, dt)) @ weights).unbind(0)
    v = torch.zeros(current[0].shape, dtype=weights.dtype, device=weights.device)
    i = current[0]
    trace = [v]
    for k in range(x.shape[0] - 1):
        v = v * c.p_vv + i * c.p_ve
        i = i * c.p_ee + current[k + 1]
        trace.append(v)
    return torch.stack(trace)


def grid_first_spike_times(grid: torch.Tensor, dt: float) -> torch.Tensor:
    """Time of each neuron's first spike on the grid, ms, (B, n); +inf when silent.

    t = dt sum_k prod_{j <= k} (1 - z_j): the grid time of the first nonzero row, with the
    surrogate's gradient (an earlier spike anywhere lowers t).

    Parameters
    ----------
    grid
        Spike grid (T + 1, B, n) of 0/1 values (e.g. from :func:`lif_forward`).
    dt
        Time step, ms.
    """
    check_positive("dt", dt, "ms")
    silent = torch.cumprod(1.0 - grid, dim=0)
    t = dt * silent.sum(dim=0)
    never = grid.detach().sum(dim=0) == 0
    return torch.where(never, torch.full_like(t, math.inf), t)


class _GridLayer(nn.Module):
    """Shared part of the two layers: weights, grid, and binning of event batches."""

    def __init__(
        self, n_in: int, n_out: int, params: EventLIF, t_max: float, dt: float, delay: float,
        weight_mean: float, weight_std: float | None, seed: int, dtype: torch.dtype,
    ) -> None:
        super().__init__()
        if not isinstance(params, EventLIF):
            raise ConfigError(f"params must be an EventLIF, got {type(params).__name__}")
        self.steps = n_steps(t_max, dt)
        _delay_steps(delay, dt)
        self.params, self.n_in, self.n_out = params, n_in, n_out
        self.t_max, self.dt, self.delay = float(t_max), float(dt), float(delay)
        self.weight = init_weights(n_in, n_out, weight_mean, weight_std, seed, dtype)

    def grid(self, x: torch.Tensor | Spikes) -> torch.Tensor:
        """``x`` as an input grid (T + 1, B, n_in): a grid is checked, a batch binned."""
        if isinstance(x, torch.Tensor):
            if x.ndim != 3 or x.shape[0] != self.steps + 1 or x.shape[2] != self.n_in:
                raise ConfigError(
                    f"input grid must have shape ({self.steps + 1}, B, {self.n_in}), "
                    f"got {tuple(x.shape)}"
                )
            return x
        if isinstance(x, tuple) and len(x) == 2:
            return spike_grid(x, self.n_in, self.dt, self.t_max, dtype=self.weight.dtype,
                              device=self.weight.device)
        raise ConfigError(f"expected a spike grid or a Spikes batch, got {type(x).__name__}")

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, t_max={self.t_max}, dt={self.dt}"


class SurrogateLIFLayer(_GridLayer):
    """A feed-forward layer of LIF neurons trained by surrogate-gradient BPTT.

    Mirrors :class:`neurotwin.eventprop.LIFLayer` on a grid: spike grid (or a padded
    :class:`~neurotwin.spikes.Spikes` batch, binned) in, spike grid out.

    Parameters
    ----------
    n_in, n_out
        Number of input sources and of neurons.
    params
        Neuron parameters (:class:`~neurotwin.dynamics.event_lif.EventLIF`).
    t_max
        End of the simulation, ms (a multiple of dt).
    dt
        Time step, ms.
    max_spikes
        Spikes per neuron and sample at most; None: all.
    delay
        Delay of every input, ms (a multiple of dt).
    beta
        Surrogate steepness, 1/mV.
    weight_mean, weight_std, seed, dtype
        Initial weights ~ N(mean, std^2) nA (std defaults to 1/sqrt(n_in)), their seed and
        dtype.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: EventLIF,
        t_max: float,
        dt: float = 0.1,
        *,
        max_spikes: int | None = None,
        delay: float = 0.0,
        beta: float = DEFAULT_BETA,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(n_in, n_out, params, t_max, dt, delay, weight_mean, weight_std,
                         seed, dtype)
        check_positive("beta", beta, "1/mV")
        self.max_spikes, self.beta = max_spikes, float(beta)

    def forward(self, x: torch.Tensor | Spikes) -> torch.Tensor:
        """Spike grid (T + 1, B, n_out) of an input grid or batch; differentiable."""
        return lif_forward(self.grid(x), self.weight, self.params, self.dt, delay=self.delay,
                           max_spikes=self.max_spikes, beta=self.beta)

    def first_spike_times(self, grid: torch.Tensor) -> torch.Tensor:
        """First spike time per neuron of this layer's output ``grid``, ms, (B, n_out)."""
        return grid_first_spike_times(grid, self.dt)


class SurrogateLILayer(_GridLayer):
    """Non-spiking leaky-integrator readout on the grid: V_max per neuron, mV, (B, n_out).

    Parameters as :class:`SurrogateLIFLayer` (no threshold, spikes or surrogate).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        params: EventLIF,
        t_max: float,
        dt: float = 0.1,
        *,
        delay: float = 0.0,
        weight_mean: float = 0.0,
        weight_std: float | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(n_in, n_out, params, t_max, dt, delay, weight_mean, weight_std,
                         seed, dtype)

    def trace(self, x: torch.Tensor | Spikes) -> torch.Tensor:
        """Membrane trace (T + 1, B, n_out), mV."""
        return li_forward(self.grid(x), self.weight, self.params, self.dt, delay=self.delay)

    def forward(self, x: torch.Tensor | Spikes) -> torch.Tensor:
        """V_max (B, n_out), mV, over the grid points 0 .. t_max; differentiable."""
        return self.trace(x).amax(dim=0)
