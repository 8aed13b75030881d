"""Silent neurons: EventProp gives them no gradient; weight bumping revives them."""

from __future__ import annotations

import pytest
import torch

from neurotwin.engines.event import EventLIF, Spikes, first_spike_times
from neurotwin.errors import ConfigError
from neurotwin.eventprop import LIFLayer, WeightBump, losses, silent_neurons

torch.set_num_threads(1)

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)


def test_weight_bumping_revives_a_silent_network() -> None:
    hidden = LIFLayer(3, 4, P, 30.0, weight_mean=0.02, weight_std=0.01, seed=1)
    out = LIFLayer(4, 2, P, 30.0, max_spikes=1, weight_mean=0.5, weight_std=0.1, seed=2)
    times = torch.tensor([[1.0, 2.0, 3.0], [0.5, 2.5, 4.0]], dtype=torch.float64)
    ids = torch.tensor([[0, 1, 2], [2, 1, 0]])
    labels = torch.tensor([0, 1])

    h = hidden(Spikes(times, ids))
    assert bool(silent_neurons(h, 4).all())
    first = first_spike_times(out(h), 2)
    loss = losses.ttfs_cross_entropy(first, labels, t_silent=30.0)
    loss.backward()
    assert hidden.weight.grad is not None
    assert float(hidden.weight.grad.abs().sum()) == 0.0  # nothing to descend

    bump = WeightBump(delta=0.05)
    assert WeightBump(delta=0.05, enabled=False).apply_(hidden.weight, silent_neurons(h, 4)) == 0
    for _ in range(50):
        silent = silent_neurons(hidden(Spikes(times, ids)), 4)
        if not bool(silent.any()):
            break
        bump.apply_(hidden.weight, silent)
    h = hidden(Spikes(times, ids))
    assert not bool(silent_neurons(h, 4).any())
    first = first_spike_times(out(h), 2)
    hidden.weight.grad = None
    losses.ttfs_cross_entropy(first, labels, t_silent=30.0).backward()
    assert float(hidden.weight.grad.abs().sum()) > 0.0


def test_weight_bump_validates() -> None:
    with pytest.raises(ConfigError):
        WeightBump(delta=-1.0)
    with pytest.raises(ConfigError):
        WeightBump().apply_(torch.zeros(3, 4), torch.zeros(3, dtype=torch.bool))
