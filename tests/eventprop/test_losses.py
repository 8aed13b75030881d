"""Losses: values against their formulas, silent neurons as constants."""

from __future__ import annotations

import math

import torch

from neurotwin.eventprop import losses
from neurotwin.spikes import Spikes


def test_ttfs_cross_entropy_formula() -> None:
    t = torch.tensor([[1.0, 2.0, math.inf], [3.0, 0.5, 4.0]], dtype=torch.float64)
    t.requires_grad_()
    labels = torch.tensor([0, 1])
    tau_0, tau_1, alpha, t_silent = 0.5, 6.4, 3e-3, 10.0
    loss = losses.ttfs_cross_entropy(
        t, labels, tau_0=tau_0, tau_1=tau_1, alpha=alpha, t_silent=t_silent
    )
    filled = [[1.0, 2.0, t_silent], [3.0, 0.5, 4.0]]
    expected = 0.0
    for row, label in zip(filled, (0, 1), strict=True):
        z = sum(math.exp(-x / tau_0) for x in row)
        expected += -math.log(math.exp(-row[label] / tau_0) / z)
        expected += alpha * (math.exp(row[label] / tau_1) - 1)
    assert abs(loss.item() - expected / 2) < 1e-12
    loss.backward()
    assert t.grad is not None
    assert bool(torch.isfinite(t.grad).all()) and float(t.grad[0, 2]) == 0.0


def test_vmax_and_mse_and_count() -> None:
    v = torch.tensor([[0.2, 1.5], [0.7, 0.1]], dtype=torch.float64)
    ce = losses.vmax_cross_entropy(v, torch.tensor([1, 0]), v_scale=0.5)
    ref = torch.nn.functional.cross_entropy(v / 0.5, torch.tensor([1, 0]))
    assert abs(float(ce - ref)) < 1e-15
    t = torch.tensor([[1.0, math.inf]], dtype=torch.float64)
    mse = losses.spike_time_mse(t, torch.tensor([[2.0, 5.0]]), t_silent=8.0)
    assert abs(float(mse) - (1.0 + 9.0) / 2) < 1e-15
    spikes = Spikes(
        torch.tensor([[1.0, 2.0, 3.0, math.inf]], dtype=torch.float64),
        torch.tensor([[0, 1, 0, -1]]),
    )
    count = losses.spike_count_loss(spikes, 2, torch.tensor([[1.0, 1.0]]))
    assert abs(float(count) - 0.5) < 1e-15
