"""V_max readout: value against a dense time grid, gradients against finite differences."""

from __future__ import annotations

import math

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.lif import exp_kernel_factor
from neurotwin.eventprop import li_vmax

torch.set_num_threads(1)

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=1.0)
T_MAX = 40.0


def _grid_max(times: torch.Tensor, ids: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """max over a 1e-3 ms grid of the closed-form v (B, n_out): an independent reference."""
    t = torch.linspace(0.0, T_MAX, 40001, dtype=torch.float64)
    real = ids >= 0
    dt = t[None, None, :] - torch.where(real, times, math.inf)[:, :, None]
    kernel = torch.where(dt > 0, exp_kernel_factor(dt.clamp(min=0), P.tau_mem, P.tau_syn), 0.0)
    v = (w[ids.clamp(min=0)][:, :, :, None] * kernel[:, :, None, :]).sum(dim=1) / P.cm
    return v.max(dim=-1).values


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # sample 0: excitation then a strong inhibitory input: maximum at a kink (t = 6 ms)
    times = torch.tensor(
        [[1.0, 2.5, 6.0, 9.0], [0.5, 3.0, 12.0, math.inf]], dtype=torch.float64
    )
    ids = torch.tensor([[0, 1, 2, 0], [1, 0, 2, -1]])
    w = torch.tensor(
        [[0.6, 0.2, -0.1], [0.4, -0.3, 0.5], [-3.0, 0.7, 0.3]], dtype=torch.float64
    )
    return times, ids, w


def test_vmax_equals_dense_grid_maximum() -> None:
    times, ids, w = _case()
    vmax = li_vmax(times, ids, w, P, T_MAX)
    ref = _grid_max(times, ids, w)
    assert bool((vmax >= ref - 1e-12).all())
    torch.testing.assert_close(vmax, ref, rtol=0, atol=1e-6)


def test_vmax_gradients_match_finite_differences() -> None:
    times, ids, w = _case()
    coeff = torch.tensor([[1.0, -0.5, 0.8], [0.3, 1.2, -0.7]], dtype=torch.float64)
    t_leaf, w_leaf = times.clone().requires_grad_(), w.clone().requires_grad_()
    (coeff * li_vmax(t_leaf, ids, w_leaf, P, T_MAX)).sum().backward()
    assert t_leaf.grad is not None and w_leaf.grad is not None
    eps = 1e-6

    def loss(t: torch.Tensor, ww: torch.Tensor) -> float:
        return float((coeff * li_vmax(t, ids, ww, P, T_MAX)).sum())

    for leaf, grad, is_time in ((t_leaf, t_leaf.grad, True), (w_leaf, w_leaf.grad, False)):
        base = leaf.detach()
        for idx in range(base.numel()):
            if is_time and not math.isfinite(float(base.view(-1)[idx])):
                continue
            up, down = base.clone(), base.clone()
            up.view(-1)[idx] += eps
            down.view(-1)[idx] -= eps
            args = ((up, w), (down, w)) if is_time else ((times, up), (times, down))
            numeric = (loss(*args[0]) - loss(*args[1])) / (2 * eps)
            assert abs(float(grad.view(-1)[idx]) - numeric) < 1e-6 * max(1.0, abs(numeric))
    # the kink maximum moves with the inhibitory input's time: nonzero time gradient there
    assert float(t_leaf.grad[0, 2]) != 0.0
