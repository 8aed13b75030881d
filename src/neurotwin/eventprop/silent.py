"""Remedies for silent neurons, which EventProp cannot revive by itself.

The exact gradient sees only spikes that exist: a neuron that never fires on a batch has no
spike time, its input weights get no gradient, and it stays silent (the "no gradient for
spike creation" pitfall of Wunderlich & Pehle 2021). Two switchable remedies:

* *Weight bumping* (used with EventProp on Yin-Yang and MNIST): after each batch, every
  neuron of a layer that fired in no sample of the batch gets ``delta`` (nA) added to all
  its input weights, until it fires again. Switched on by applying it in the training loop
  (``WeightBump(delta).apply_(...)``), off by not applying it (or ``enabled=False``); it
  changes nothing for neurons that spike.
* *V_max pull* (:func:`silent_label_pull`), for a time-to-first-spike output layer: where a
  sample's label neuron stays silent, its membrane never reached threshold and was never
  reset, so its trajectory is exactly the leaky integrator's and its maximum V_max
  (:func:`~neurotwin.eventprop.functional.li_vmax`, exact, differentiable) is below
  threshold. The penalty v_thresh - V_max (mV, averaged over the batch) has an exact
  gradient that raises that maximum until the neuron fires; then the term vanishes and the
  spike-time loss takes over. Added to the loss with a weight; 0 switches it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError, check_positive
from neurotwin.eventprop.functional import li_vmax
from neurotwin.spikes import PAD_ID, Spikes

__all__ = ["WeightBump", "silent_label_pull", "silent_neurons"]


def silent_neurons(spikes: Spikes, n: int) -> torch.Tensor:
    """Bool mask (n,): neurons without a spike in any sample of the batch.

    Parameters
    ----------
    spikes
        A layer's output batch, ids in [0, n) or -1.
    n
        Number of neurons of the layer.
    """
    ids = spikes.ids[spikes.ids != PAD_ID]
    fired = torch.zeros(n, dtype=torch.bool, device=spikes.ids.device)
    fired[ids] = True
    return ~fired


@dataclass(frozen=True)
class WeightBump:
    """Add ``delta`` (nA, > 0) to the input weights of silent neurons.

    Parameters
    ----------
    delta
        Increment of every input weight of a silent neuron, nA.
    enabled
        False makes :meth:`apply_` a no-op (a switch for configurations).
    """

    delta: float = 1e-2
    enabled: bool = True

    def __post_init__(self) -> None:
        check_positive("delta", self.delta, "nA")

    def apply_(self, weight: torch.Tensor, silent: torch.Tensor) -> int:
        """Bump the columns of ``weight`` (n_in, n_out) where ``silent`` (n_out,) is True, in
        place; returns the number of neurons bumped."""
        if silent.shape != (weight.shape[1],):
            raise ConfigError(
                f"silent must have shape ({weight.shape[1]},), got {tuple(silent.shape)}"
            )
        if not self.enabled:
            return 0
        with torch.no_grad():
            weight[:, silent] += self.delta
        return int(silent.sum())


def silent_label_pull(
    inputs: Spikes,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    first_times: torch.Tensor,
    labels: torch.Tensor,
    *,
    delay: float = 0.0,
) -> torch.Tensor:
    """Mean over the batch of (v_thresh - V_max) of each sample's silent label neuron, mV.

    Parameters
    ----------
    inputs
        Input spikes of the output layer, (B, K) (the hidden layer's output; times may
        require grad).
    weights
        The output layer's weights, nA, (n_in, n_out).
    params
        The output neurons.
    t_max
        End of the simulation, ms.
    first_times
        First spike time of each output neuron, ms, (B, n_out); +inf where silent.
    labels
        Class of each sample, integers (B,).
    delay
        Delay of the output layer's inputs, ms.

    Returns
    -------
    A scalar tensor >= 0: 0 (no graph work) when every label neuron fired; samples whose
    label neuron fired contribute 0.
    """
    times, ids = inputs
    labels = torch.as_tensor(labels, device=first_times.device).long()
    if labels.shape != (first_times.shape[0],):
        raise ConfigError(
            f"labels must have shape ({first_times.shape[0]},), got {tuple(labels.shape)}"
        )
    rows = torch.arange(first_times.shape[0], device=first_times.device)
    silent = ~torch.isfinite(first_times[rows, labels])
    if not bool(silent.any()):
        return weights.sum() * 0.0
    vmax = li_vmax(times[silent], ids[silent], weights, params, t_max, delay=delay)
    own = vmax[torch.arange(vmax.shape[0], device=vmax.device), labels[silent]]
    return (params.v_thresh - own).sum() / first_times.shape[0]
