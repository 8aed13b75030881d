"""The compiled CPU path of a feed-forward event layer (forward and EventProp adjoint)
against the torch maps it mirrors: same spikes, currents and gradients up to rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines import event
from neurotwin.engines.event import lif_layer_forward
from neurotwin.engines.event_kernels import COMPILED, TORCH
from neurotwin.eventprop import forward as ep_forward
from neurotwin.eventprop import functional, lif_layer

torch.set_num_threads(1)

T_MAX = 40.0
XTOL = 1e-13
"""Spike times to near rounding: a neuron firing ~100 times carries each spike's error into
the next, which at the default 1e-10 ms adds up to ~1e-8 ms."""
PARAMS = [
    EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, v_reset=0.0, cm=1.0),
    EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0, v_reset=-0.3, cm=2.0),
    EventLIF(tau_mem=4.0, tau_syn=8.0, v_thresh=0.5, v_reset=0.1, cm=0.5),
]


def _inputs(seed: int, batch: int = 6, k_in: int = 30, n_in: int = 12, n_out: int = 9,
            duplicate: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    times = torch.sort(30.0 * torch.rand(batch, k_in, generator=gen, dtype=torch.float64)).values
    if duplicate:  # each spike time three times, as the Yin-Yang encoding repeats inputs
        times = times[:, : k_in // 3].repeat_interleave(3, dim=1)
    ids = torch.randint(0, n_in, times.shape, generator=gen)
    times[0, 20:] = math.inf  # padding
    ids[0, 20:] = -1
    w = 0.3 + 1.0 * torch.randn(n_in, n_out, generator=gen, dtype=torch.float64)
    return times, ids, w


def _both(monkeypatch: pytest.MonkeyPatch, fn: object, *args: object, **kw: object) -> tuple:
    compiled = fn(*args, **kw)  # type: ignore[operator]
    with monkeypatch.context() as m:
        for module in (event, ep_forward.layer, functional):
            m.setattr(module, "event_kernels", lambda w: TORCH)
        reference = fn(*args, **kw)  # type: ignore[operator]
    return compiled, reference


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("max_spikes", [None, 1, 3])
@pytest.mark.parametrize("refrac", [0.0, 2.0])
def test_forward_matches_torch_maps(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, max_spikes: int | None, refrac: float
) -> None:
    p = EventLIF(**{**params.__dict__, "tau_refrac": refrac})
    times, ids, w = _inputs(1)
    fast, ref = _both(monkeypatch, lif_layer_forward, times, ids, w, p, T_MAX,
                      max_spikes=max_spikes, delay=1.5, xtol=XTOL)
    assert fast.times.shape == ref.times.shape
    assert torch.equal(fast.ids, ref.ids)
    real = torch.isfinite(ref.times)
    assert torch.equal(torch.isfinite(fast.times), real)
    assert torch.allclose(fast.times[real], ref.times[real], rtol=0, atol=1e-8)
    if max_spikes is None and refrac == 0.0:
        counts = torch.stack([(ref.ids == j).sum(dim=1) for j in range(w.shape[1])])
        assert int(counts.max()) > 8  # exercises the kernel's growing spike slots


def test_repeated_input_times_and_late_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    times, ids, w = _inputs(2, duplicate=True)
    t_max = float(times[1, 10])  # later inputs of most rows are ignored
    fast, ref = _both(monkeypatch, lif_layer_forward, times, ids, w, PARAMS[0], t_max,
                      xtol=XTOL)
    assert torch.equal(fast.ids, ref.ids)
    real = torch.isfinite(ref.times)
    assert torch.allclose(fast.times[real], ref.times[real], rtol=0, atol=1e-8)
    assert bool((ref.times[real] <= t_max).all())


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize(("max_spikes", "min_slope"), [(None, 0.0), (2, 0.0), (None, 0.2)])
def test_gradients_match_torch_walk(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, max_spikes: int | None,
    min_slope: float,
) -> None:
    times, ids, w = _inputs(3, duplicate=True)

    def grads() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = times.clone().requires_grad_(True)
        ww = w.clone().requires_grad_(True)
        out = lif_layer(t, ids, ww, params, T_MAX, max_spikes=max_spikes, delay=0.5,
                        xtol=XTOL, min_slope=min_slope)
        real = torch.isfinite(out.times)
        coeff = torch.linspace(-1.0, 1.0, w.shape[1], dtype=torch.float64)
        loss = torch.where(real, coeff[out.ids.clamp(min=0)] * torch.where(real, out.times,
                                                                            0.0) ** 2, 0.0)
        loss.sum().backward()
        assert t.grad is not None and ww.grad is not None
        return out.times.detach().numpy(), t.grad.numpy(), ww.grad.numpy()

    (t_fast, gt_fast, gw_fast), (t_ref, gt_ref, gw_ref) = _both(monkeypatch, grads)
    assert np.array_equal(np.isfinite(t_fast), np.isfinite(t_ref))
    assert np.abs(gw_ref).max() > 0 and np.abs(gt_ref).max() > 0
    np.testing.assert_allclose(gw_fast, gw_ref, rtol=1e-7, atol=1e-9 * np.abs(gw_ref).max())
    np.testing.assert_allclose(gt_fast, gt_ref, rtol=1e-7, atol=1e-9 * np.abs(gt_ref).max())


def test_silent_layer_and_empty_input() -> None:
    times = torch.full((3, 4), math.inf, dtype=torch.float64)
    ids = torch.full((3, 4), -1)
    w = torch.ones(2, 5, dtype=torch.float64)
    out = lif_layer_forward(times, ids, w, PARAMS[0], T_MAX)
    assert out.times.shape == (3, 0) and out.ids.shape == (3, 0)


@pytest.mark.parametrize("params", PARAMS)
def test_vmax_time_matches_torch_walk(params: EventLIF) -> None:
    """The compiled leaky-integrator maximum: same time and kink as the torch walk, with
    inhibitory inputs (kinks), repeated times, padding and late inputs."""
    times, ids, _ = _inputs(4, duplicate=True)
    gen = torch.Generator().manual_seed(5)
    w = 0.2 * torch.randn(12, 7, generator=gen, dtype=torch.float64)
    t_max = 25.0
    fast = COMPILED.vmax(times, ids, w, params, t_max)
    ref = TORCH.vmax(times, ids, w, params, t_max)
    assert torch.equal(fast[1], ref[1])
    assert bool((fast[1] >= 0).any()) and bool((fast[1] == -1).any())
    assert torch.allclose(fast[0], ref[0], rtol=0, atol=1e-12)
