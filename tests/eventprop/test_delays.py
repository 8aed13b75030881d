"""Learnable per-source delays: arrival times, exact gradients against central finite
differences, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.errors import ConfigError
from neurotwin.eventprop import Delay, delay_spikes, lif_layer

torch.set_num_threads(1)

P = EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=1.0)
T_MAX = 40.0
XTOL = 1e-14


def test_arrivals_are_shifted_and_sorted() -> None:
    times = torch.tensor([[1.0, 2.0, 3.0, math.inf]], dtype=torch.float64)
    ids = torch.tensor([[0, 1, 0, -1]])
    delays = torch.tensor([5.0, 0.5], dtype=torch.float64)
    out = delay_spikes(times, ids, delays)
    assert out.times.tolist() == [[2.5, 6.0, 8.0, math.inf]]
    assert out.ids.tolist() == [[1, 0, 0, -1]]


def test_negative_delay_acts_as_zero() -> None:
    times = torch.tensor([[1.0]], dtype=torch.float64)
    d = torch.tensor([-2.0], dtype=torch.float64, requires_grad=True)
    out = delay_spikes(times, torch.tensor([[0]]), d)
    assert out.times.item() == 1.0
    out.times.sum().backward()
    assert d.grad is not None and d.grad.item() == 0.0


def test_delay_equals_shifted_inputs() -> None:
    gen = torch.Generator().manual_seed(0)
    times = torch.sort(10 * torch.rand(3, 6, generator=gen, dtype=torch.float64)).values
    ids = torch.zeros(3, 6, dtype=torch.long)
    w = torch.full((1, 2), 0.6, dtype=torch.float64)
    delayed = Delay(1, 2.5)(  # one source: the delay is a plain shift
        (times, ids)
    )
    a = lif_layer_forward(delayed.times.detach(), delayed.ids, w, P, T_MAX)
    b = lif_layer_forward(times, ids, w, P, T_MAX, delay=2.5)
    assert torch.equal(a.ids, b.ids)
    assert torch.allclose(a.times, b.times, rtol=0, atol=1e-12, equal_nan=True)


def _loss(times: torch.Tensor, ids: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor,
          delays: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    arrive = delay_spikes(times, ids, delays)
    hidden = lif_layer(arrive.times, arrive.ids, w1, P, T_MAX, xtol=XTOL)
    out = lif_layer(hidden.times, hidden.ids, w2, P, T_MAX, xtol=XTOL)
    real = out.ids >= 0
    coeff = torch.tensor([1.0, -0.6], dtype=torch.float64)
    terms = coeff[out.ids.clamp(min=0)] * torch.sin(torch.where(real, out.times, 0.0) / 4)
    return torch.where(real, terms, 0.0).sum(), hidden.ids, arrive.ids


@pytest.mark.parametrize("seed", [0, 1])
def test_delay_gradient_matches_finite_differences(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    n_in = 4
    times = torch.sort(8 * torch.rand(2, 8, generator=gen, dtype=torch.float64)).values
    ids = torch.randint(0, n_in, (2, 8), generator=gen)
    w1 = 0.5 + 0.4 * torch.randn(n_in, 5, generator=gen, dtype=torch.float64)
    w2 = 0.4 + 0.3 * torch.randn(5, 2, generator=gen, dtype=torch.float64)
    delays = (0.5 + 3 * torch.rand(n_in, generator=gen, dtype=torch.float64)).requires_grad_()
    loss, pattern, order = _loss(times, ids, w1, w2, delays)
    assert int((pattern >= 0).sum()) > 5
    loss.backward()
    assert delays.grad is not None
    exact = delays.grad.clone()
    assert bool((exact != 0).any())
    eps = 1e-6
    checked = 0
    for m in range(n_in):
        values = []
        for step in (eps, -eps, eps / 2, -eps / 2):
            d = delays.detach().clone()
            d[m] += step
            with torch.no_grad():
                value, pat, ordr = _loss(times, ids, w1, w2, d)
            if not (torch.equal(pat, pattern) and torch.equal(ordr, order)):
                break
            values.append(float(value))
        if len(values) < 4:
            continue
        numeric = (4 * (values[2] - values[3]) / eps - (values[0] - values[1]) / (2 * eps)) / 3
        scale = max(abs(numeric), 1e-3)
        assert abs(float(exact[m]) - numeric) / scale < 1e-5, (m, float(exact[m]), numeric)
        checked += 1
    assert checked >= n_in - 1


def test_bad_delays_raise() -> None:
    times = torch.tensor([[1.0]], dtype=torch.float64)
    ids = torch.tensor([[3]])
    with pytest.raises(ConfigError, match="one delay per source"):
        delay_spikes(times, ids, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ConfigError, match="delays"):
        delay_spikes(times, torch.tensor([[0]]), torch.tensor([math.nan], dtype=torch.float64))
    with pytest.raises(ConfigError, match="1-d"):
        delay_spikes(times, torch.tensor([[0]]), torch.zeros(1, 1))
    with pytest.raises(ConfigError, match="delay"):
        Delay(3, -1.0)
    with pytest.raises(ConfigError, match="n_sources"):
        Delay(0)
