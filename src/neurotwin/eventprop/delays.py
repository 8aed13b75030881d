r"""Learnable axonal delays: one delay per source, trained by EventProp's input-time gradient.

A spike of source m emitted at time s_k arrives at every target at s_k + d_m (ms). Each layer
already returns dL/d(arrival time) of every input spike (``adjoint/jump.py``: the jump
w (lam_i / tau_syn - lam_v / cm) summed over the targets), so the delay gradient is exact and
costs nothing extra::

    dL/dd_m = sum over the spikes k of source m of dL/d(arrival_k)

:func:`delay_spikes` shifts a padded spike batch by its sources' delays and re-sorts each row
(the layers need ascending times); torch's autograd carries the arrival-time gradient back
through the sort to the delays and to the spike times, so :class:`Delay` can sit in front of
any layer (:class:`~neurotwin.eventprop.LIFLayer`, :class:`~neurotwin.eventprop.LILayer`,
...). Delays are per source, as an axon's; per-synapse delays (one per source and target)
are not covered.

A delay is kept >= 0 ms: the forward uses max(d, 0) (zero gradient below 0), as a
hardware delay cannot be negative. The gradient is that of a piecewise-smooth function: it
is exact where no two arrivals at a neuron swap order, and spike-count changes are not seen
(as for weights).
"""

from __future__ import annotations

import torch
from torch import nn

from neurotwin.errors import ConfigError, check_finite, check_int, check_positive
from neurotwin.spikes import PAD_ID, Spikes

__all__ = ["Delay", "delay_spikes"]


def delay_spikes(times: torch.Tensor, ids: torch.Tensor, delays: torch.Tensor) -> Spikes:
    """Arrival times of a spike batch under per-source delays, sorted per row.

    Parameters
    ----------
    times
        Spike times, ms, (B, K), ascending per row, ``+inf`` padding last.
    ids
        Source indices, integers (B, K) in [0, n_sources), -1 at padding.
    delays
        Delay of each source, ms, (n_sources,); values below 0 act as 0.

    Returns
    -------
    Spikes
        Arrival times (B, K), ascending per row (ties keep the input order), ``+inf``
        padding last, and the matching source ids; differentiable in ``times`` and
        ``delays``.

    Raises
    ------
    ConfigError
        ``delays`` not one finite value per source, shapes that do not match, ids out of
        range.
    """
    if not isinstance(delays, torch.Tensor) or delays.ndim != 1:
        raise ConfigError(
            f"delays must be a 1-d tensor of one delay per source (ms), got "
            f"{getattr(delays, 'shape', type(delays).__name__)}"
        )
    check_finite("delays", delays.detach().cpu().numpy())
    if times.ndim != 2 or ids.shape != times.shape:
        raise ConfigError(
            f"times and ids must both have shape (B, K), got {tuple(times.shape)} and "
            f"{tuple(ids.shape)}"
        )
    real = ids != PAD_ID
    used = ids[real]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= delays.shape[0]):
        raise ConfigError(
            f"ids must lie in [0, {delays.shape[0]}) (one delay per source), got "
            f"{int(used.max())}"
        )
    shift = delays.clamp(min=0.0).to(times.dtype)[ids.clamp(min=0)]
    arrive = torch.where(real, times + shift, times)
    arrive, order = torch.sort(arrive, dim=1, stable=True)
    return Spikes(arrive, ids.gather(1, order))


class Delay(nn.Module):
    """Learnable per-source delays in front of a layer: spikes in, delayed spikes out.

    Parameters
    ----------
    n_sources
        Number of sources (the next layer's ``n_in``).
    delay
        Initial delay of every source, ms (>= 0).
    dtype
        Float dtype of the delays (float64 for exact gradients).

    Examples
    --------
    >>> net = nn.Sequential(Delay(5, 1.0), LIFLayer(5, 20, params, t_max=30.0))  # doctest: +SKIP
    """

    def __init__(self, n_sources: int, delay: float = 0.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        check_int("n_sources", n_sources, low=1)
        check_positive("delay", delay, "ms", allow_zero=True)
        self.delay = nn.Parameter(torch.full((n_sources,), float(delay), dtype=dtype))

    def forward(self, spikes: Spikes) -> Spikes:
        """The spikes moved by their sources' delays, re-sorted."""
        if not (isinstance(spikes, tuple) and len(spikes) == 2):
            raise ConfigError(f"expected a Spikes(times, ids) batch, got {type(spikes).__name__}")
        times, ids = spikes
        return delay_spikes(torch.as_tensor(times), torch.as_tensor(ids), self.delay)

    def extra_repr(self) -> str:
        return f"n_sources={self.delay.shape[0]}"
