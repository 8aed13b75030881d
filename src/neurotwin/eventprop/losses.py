r"""Losses on EventProp outputs; every one is a torch function of spike times or V_max.

* :func:`ttfs_cross_entropy` — time-to-first-spike cross-entropy with the exponential
  regulariser of Wunderlich & Pehle's Yin-Yang setup (their eq. for the TTFS loss)::

      l = -log( exp(-t_label / tau_0) / sum_k exp(-t_k / tau_0) ) + alpha (exp(t_label / tau_1) - 1)

  averaged over the batch; t_k is output neuron k's first spike time (ms). The first term
  pushes the label neuron to fire first, the second makes it fire early. A silent neuron's
  time is replaced by ``t_silent`` (a constant: no gradient, see ``silent.py``).
* :func:`vmax_cross_entropy` — cross-entropy of softmax(V_max / v_scale) of a
  :class:`~neurotwin.eventprop.modules.LILayer` readout (the paper's latency-MNIST loss).
* :func:`spike_time_mse` — mean squared error of first spike times against targets, ms^2.
* :func:`spike_count_loss` — mean squared error of spike counts against targets. Counts are
  piecewise constant in the weights, so its exact gradient is zero almost everywhere (it is
  returned without autograd): a metric or the target of a weight-bumping style heuristic,
  not a loss EventProp can descend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neurotwin.errors import ConfigError, check_finite, check_positive
from neurotwin.spikes import PAD_ID, Spikes

__all__ = ["spike_count_loss", "spike_time_mse", "ttfs_cross_entropy", "vmax_cross_entropy"]


def _check_labels(
    labels: torch.Tensor, batch: int, n: int, device: torch.device
) -> torch.Tensor:
    """Integer labels (B,) in [0, n) as int64 on ``device`` (that of the outputs)."""
    labels = torch.as_tensor(labels)
    if labels.shape != (batch,) or labels.is_floating_point():
        raise ConfigError(
            f"labels must be integers of shape ({batch},), got {tuple(labels.shape)} "
            f"{labels.dtype}"
        )
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= n):
        raise ConfigError(f"labels must lie in [0, {n}), got {labels.tolist()!r}")
    return labels.long().to(device)


def _check_times(name: str, times: torch.Tensor) -> None:
    if times.ndim != 2:
        raise ConfigError(f"{name} must have shape (B, n), got {tuple(times.shape)}")
    if bool(torch.isnan(times).any()) or bool(torch.isneginf(times).any()):
        raise ConfigError(f"{name} must not hold NaN or -inf")


def _fill_silent(times: torch.Tensor, t_silent: float) -> torch.Tensor:
    """+inf (silent) replaced by the constant ``t_silent``, ms."""
    return torch.where(torch.isfinite(times), times, torch.full_like(times, t_silent))


def ttfs_cross_entropy(
    first_times: torch.Tensor,
    labels: torch.Tensor,
    *,
    tau_0: float = 0.5,
    tau_1: float = 6.4,
    alpha: float = 3e-3,
    t_silent: float,
) -> torch.Tensor:
    """Time-to-first-spike cross-entropy with exponential regulariser (module docstring).

    Parameters
    ----------
    first_times
        First spike time of each output neuron, ms, (B, n); +inf where silent.
    labels
        Class of each sample, integers (B,) in [0, n).
    tau_0
        Temperature of the softmax over -t, ms (> 0).
    tau_1
        Time constant of the regulariser, ms (> 0).
    alpha
        Weight of the regulariser (>= 0).
    t_silent
        Time used for a silent neuron, ms (usually t_max).

    Returns
    -------
    Scalar tensor: the batch mean.
    """
    _check_times("first_times", first_times)
    labels = _check_labels(
        labels, first_times.shape[0], first_times.shape[1], first_times.device
    )
    check_positive("tau_0", tau_0, "ms")
    check_positive("tau_1", tau_1, "ms")
    check_positive("alpha", alpha, allow_zero=True)
    check_finite("t_silent", t_silent)
    t = _fill_silent(first_times, t_silent)
    cross = F.cross_entropy(-t / tau_0, labels)
    t_label = t.gather(1, labels[:, None])[:, 0]
    return cross + alpha * torch.expm1(t_label / tau_1).mean()


def vmax_cross_entropy(
    vmax: torch.Tensor, labels: torch.Tensor, *, v_scale: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of softmax(V_max / v_scale), batch mean.

    Parameters
    ----------
    vmax
        V_max of each readout neuron, mV, (B, n).
    labels
        Class of each sample, integers (B,) in [0, n).
    v_scale
        Voltage that one unit of logit stands for, mV (> 0).
    """
    _check_times("vmax", vmax)
    labels = _check_labels(labels, vmax.shape[0], vmax.shape[1], vmax.device)
    check_positive("v_scale", v_scale, "mV")
    return F.cross_entropy(vmax / v_scale, labels)


def spike_time_mse(
    first_times: torch.Tensor, target_times: torch.Tensor, *, t_silent: float
) -> torch.Tensor:
    """Mean squared error of first spike times against targets, ms^2.

    Parameters
    ----------
    first_times
        First spike times, ms, (B, n); +inf where silent (replaced by ``t_silent``).
    target_times
        Target times, ms, (B, n), finite.
    t_silent
        Time used for a silent neuron, ms.
    """
    _check_times("first_times", first_times)
    target = torch.as_tensor(target_times, dtype=first_times.dtype, device=first_times.device)
    if target.shape != first_times.shape:
        raise ConfigError(
            f"target_times must have shape {tuple(first_times.shape)}, got {tuple(target.shape)}"
        )
    check_finite("target_times", target.detach().cpu().numpy())
    check_finite("t_silent", t_silent)
    return ((_fill_silent(first_times, t_silent) - target) ** 2).mean()


def spike_count_loss(spikes: Spikes, n: int, target_counts: torch.Tensor) -> torch.Tensor:
    """Mean squared error of spike counts per neuron and sample against targets (no gradient).

    Parameters
    ----------
    spikes
        A layer's output batch (B, K), ids in [0, n) or -1.
    n
        Number of neurons.
    target_counts
        Target counts, (B, n).
    """
    batch = spikes.ids.shape[0]
    target = torch.as_tensor(target_counts, dtype=torch.float64)
    if target.shape != (batch, n):
        raise ConfigError(
            f"target_counts must have shape ({batch}, {n}), got {tuple(target.shape)}"
        )
    real = spikes.ids != PAD_ID
    counts = torch.zeros((batch, n), dtype=torch.float64, device=spikes.ids.device)
    counts.scatter_add_(1, torch.where(real, spikes.ids, 0), real.to(torch.float64))
    return ((counts - target.to(counts.device)) ** 2).mean()
