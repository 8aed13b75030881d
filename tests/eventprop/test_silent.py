"""Silent neurons: EventProp gives them no gradient; weight bumping revives them."""

from __future__ import annotations

import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.eventprop import LIFLayer, WeightBump, losses, silent_neurons
from neurotwin.spikes import Spikes, first_spike_times

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


def test_vmax_pull_revives_a_silent_label_neuron() -> None:
    """The pull's gradient raises the silent label neuron's V_max until it fires; spiking
    labels contribute nothing."""
    from neurotwin.eventprop import li_vmax
    from neurotwin.eventprop.silent import silent_label_pull

    times = torch.tensor([[1.0, 2.0, 3.0], [0.5, 2.5, 4.0]], dtype=torch.float64)
    ids = torch.tensor([[0, 1, 2], [2, 1, 0]])
    labels = torch.tensor([0, 1])
    out = LIFLayer(3, 2, P, 30.0, max_spikes=1, weight_mean=0.05, weight_std=0.01, seed=3)
    with torch.no_grad():
        out.weight[:, 1] += 10.0  # neuron 1 fires for every sample, neuron 0 never
    first = first_spike_times(out(Spikes(times, ids)), 2)
    assert not bool(torch.isfinite(first[0, 0])) and bool(torch.isfinite(first[1, 1]))
    pull = silent_label_pull(Spikes(times, ids), out.weight, P, 30.0, first, labels)
    vmax = li_vmax(times, ids, out.weight.detach(), P, 30.0)
    assert float(pull.detach()) == pytest.approx((P.v_thresh - float(vmax[0, 0])) / 2, rel=1e-12)
    pull.backward()
    assert out.weight.grad is not None
    assert bool((out.weight.grad[:, 0] < 0).all())  # descent raises every input weight
    assert float(out.weight.grad[:, 1].abs().sum()) == 0.0  # the firing label: no pull

    opt = torch.optim.SGD(out.parameters(), lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        first = first_spike_times(out(Spikes(times, ids)), 2)
        if bool(torch.isfinite(first[0, 0])):
            break
        silent_label_pull(Spikes(times, ids), out.weight, P, 30.0, first, labels).backward()
        opt.step()
    assert bool(torch.isfinite(first[0, 0]))
    none_silent = silent_label_pull(Spikes(times, ids), out.weight, P, 30.0, first, labels)
    assert float(none_silent.detach()) == 0.0


def test_vmax_pull_rejects_bad_labels() -> None:
    from neurotwin.eventprop.silent import silent_label_pull

    first = torch.full((2, 2), float("inf"), dtype=torch.float64)
    spikes = Spikes(torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.tensor([[0], [0]]))
    with pytest.raises(ConfigError, match="labels"):
        silent_label_pull(spikes, torch.ones(1, 2, dtype=torch.float64), P, 30.0, first,
                          torch.tensor([0, 1, 1]))
