"""A remedy for silent neurons, which EventProp cannot revive by itself.

The exact gradient sees only spikes that exist: a neuron that never fires on a batch has no
spike time, its input weights get no gradient, and it stays silent (the "no gradient for
spike creation" pitfall, DESIGN.md section 5). *Weight bumping* (used with EventProp on
Yin-Yang and MNIST): after each batch, every neuron of a layer that fired in no sample of
the batch gets ``delta`` (nA) added to all its input weights, until it fires again. It is
switched on by applying it in the training loop (``WeightBump(delta).apply_(...)``), off by
not applying it (or ``enabled=False``); it changes nothing for neurons that spike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neurotwin.engines.event import PAD_ID, Spikes
from neurotwin.errors import ConfigError, check_positive

__all__ = ["WeightBump", "silent_neurons"]


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
