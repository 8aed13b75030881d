"""The event kernels as one object: the selector, and every operation of the contract on
both kernel sets (compiled and torch) of a small network, which must agree to rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_kernels import COMPILED, TORCH, EventKernels, event_kernels
from neurotwin.spikes import Spikes

F64 = torch.float64
T_MAX = 30.0
XTOL = 1e-13
P = EventLIF(tau_mem=10.0, tau_syn=4.0, v_thresh=1.0, v_reset=-0.2, cm=2.0)


def _net(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Arrivals (4, 18) with padding in one row, ids, w_in (6, 5), w_rec (5, 5)."""
    gen = torch.Generator().manual_seed(seed)
    arrive = torch.sort(25.0 * torch.rand(4, 18, generator=gen, dtype=F64)).values
    ids = torch.randint(0, 6, arrive.shape, generator=gen)
    arrive[1, 12:] = math.inf
    ids[1, 12:] = -1
    w_in = 1.5 + 1.5 * torch.randn(6, 5, generator=gen, dtype=F64)
    w_rec = 0.4 * torch.randn(5, 5, generator=gen, dtype=F64)
    return arrive, ids, w_in, w_rec


def test_selector_compiled_for_cpu_float64_only() -> None:
    assert event_kernels(torch.zeros(2, 2, dtype=F64)) is COMPILED
    assert event_kernels(torch.zeros(2, 2, dtype=torch.float32)) is TORCH
    assert event_kernels(torch.zeros(2, 2, dtype=F64, device="meta")) is TORCH


def test_both_sets_fulfil_the_contract() -> None:
    sets: list[EventKernels] = [COMPILED, TORCH]
    for kernels in sets:
        for op in ("forward", "record", "recurrent", "record_recurrent", "backward",
                   "backward_recurrent", "vmax"):  # fmt: skip
            assert callable(getattr(kernels, op))


def _close(fast: torch.Tensor, ref: torch.Tensor, scale: float = 1.0) -> None:
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-7, atol=1e-9 * scale)


def _same_spikes(fast: Spikes, ref: Spikes) -> None:
    assert torch.equal(fast.ids, ref.ids)
    real = torch.isfinite(ref.times)
    assert torch.equal(torch.isfinite(fast.times), real)
    assert torch.allclose(fast.times[real], ref.times[real], rtol=0, atol=1e-9)


@pytest.mark.parametrize("rec_delay", [0.0, 0.7])
def test_compiled_and_torch_sets_agree_on_a_small_net(rec_delay: float) -> None:
    arrive, ids, w_in, w_rec = _net(3)
    results = {}
    for name, k in (("compiled", COMPILED), ("torch", TORCH)):
        spikes, current = k.record(arrive, ids, w_in, P, T_MAX, None, XTOL)
        forward = k.forward(arrive, ids, w_in, P, T_MAX, None, XTOL)
        rec_spikes, rec_current = k.record_recurrent(arrive, ids, w_in, w_rec, P, T_MAX, None,
                                                     XTOL, rec_delay)  # fmt: skip
        recurrent = k.recurrent(arrive, ids, w_in, w_rec, P, T_MAX, None, XTOL, rec_delay)
        grad = torch.where(torch.isfinite(spikes.times), 0.1, 0.0)
        grad_rec = torch.where(torch.isfinite(rec_spikes.times), -0.05, 0.0)
        back = k.backward(arrive, ids, w_in, spikes, current, grad, P, T_MAX, 0.0)
        back_rec = k.backward_recurrent(arrive, ids, w_in, w_rec, rec_spikes, rec_current,
                                        grad_rec, P, T_MAX, 0.0, rec_delay)  # fmt: skip
        vmax = k.vmax(arrive, ids, w_in, P, T_MAX)
        _same_spikes(forward, spikes)
        _same_spikes(recurrent, rec_spikes)
        results[name] = (spikes, current, rec_spikes, rec_current, back, back_rec, vmax)
    fast, ref = results["compiled"], results["torch"]
    assert int(torch.isfinite(ref[0].times).sum()) > 10  # the net is busy
    _same_spikes(fast[0], ref[0])
    _close(fast[1], ref[1])
    _same_spikes(fast[2], ref[2])
    _close(fast[3], ref[3])
    for got, want in zip(fast[4] + fast[5], ref[4] + ref[5], strict=True):
        _close(got, want, float(want.abs().max()))
    assert float(ref[4][0].abs().max()) > 0 and float(ref[5][1].abs().max()) > 0
    assert torch.equal(fast[6][1], ref[6][1])
    _close(fast[6][0], ref[6][0])
