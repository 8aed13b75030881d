"""EventProp on CUDA: every module's forward spikes and gradients on the GPU (the torch event
loop) equal those on the CPU (the compiled kernels) in float64, and float32 on the GPU stays
close to them. Skipped without a CUDA device."""

import copy

import pytest
import torch
from torch import nn

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.eventprop import (
    ConvLIFLayer,
    Delay,
    LIFLayer,
    LILayer,
    RecurrentLIFLayer,
    losses,
)
from neurotwin.spikes import Spikes, first_spike_times

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

F64 = torch.float64
P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
T_MAX = 30.0


def _inputs(batch: int, n_sources: int, per_row: int, seed: int) -> Spikes:
    gen = torch.Generator().manual_seed(seed)
    times = torch.sort(15.0 * torch.rand(batch, per_row, generator=gen, dtype=F64)).values
    ids = torch.randint(0, n_sources, (batch, per_row), generator=gen)
    return Spikes(times, ids)


class _FeedForward(nn.Module):
    """Delay -> 2 hidden LIF layers -> first-spike output (TTFS loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = Delay(6, 1.0)
        self.h1 = LIFLayer(6, 24, P, T_MAX, weight_mean=0.05, weight_std=0.05, seed=1)
        self.h2 = LIFLayer(24, 16, P, T_MAX, weight_mean=0.03, weight_std=0.03, seed=2)
        self.out = LIFLayer(16, 3, P, T_MAX, max_spikes=1, weight_mean=0.1, weight_std=0.1,
                            seed=3)

    def forward(self, spikes: Spikes) -> tuple[torch.Tensor, Spikes]:
        hidden = self.h2(self.h1(self.delay(spikes)))
        return first_spike_times(self.out(hidden), 3), hidden


class _Recurrent(nn.Module):
    """Recurrent layer with a learnt delay -> V_max readout."""

    def __init__(self) -> None:
        super().__init__()
        self.rec = RecurrentLIFLayer(6, 20, P, T_MAX, rec_delay=0.7, learn_rec_delay=True,
                                     weight_mean=0.05, weight_std=0.05, rec_weight_std=0.02,
                                     seed=4)
        self.readout = LILayer(20, 3, P, T_MAX, seed=5)

    def forward(self, spikes: Spikes) -> tuple[torch.Tensor, Spikes]:
        hidden = self.rec(spikes)
        return self.readout(hidden), hidden


class _Conv(nn.Module):
    """2 x 6 x 6 input -> 3 x 4 x 4 convolutional LIF layer -> V_max readout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvLIFLayer((2, 6, 6), 3, 3, P, T_MAX, weight_mean=0.08, weight_std=0.08,
                                 seed=6)
        self.readout = LILayer(48, 3, P, T_MAX, seed=7)

    def forward(self, spikes: Spikes) -> tuple[torch.Tensor, Spikes]:
        hidden = self.conv(spikes)
        return self.readout(hidden), hidden


def _loss(model: nn.Module, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if isinstance(model, _FeedForward):
        return losses.ttfs_cross_entropy(out, labels, t_silent=T_MAX)
    return losses.vmax_cross_entropy(out, labels)


def _run(model: nn.Module, spikes: Spikes, labels: torch.Tensor, device: str,
         dtype: torch.dtype = F64) -> tuple[Spikes, torch.Tensor, dict[str, torch.Tensor]]:
    """Hidden spikes, loss and gradients (of the parameters and input times) on ``device``."""
    model = copy.deepcopy(model).to(device=device, dtype=dtype)
    times = spikes.times.to(device=device, dtype=dtype, copy=True).requires_grad_()
    out, hidden = model(Spikes(times, spikes.ids.to(device)))
    loss = _loss(model, out, labels.to(device))
    loss.backward()
    grads = {name: p.grad.cpu() for name, p in model.named_parameters() if p.grad is not None}
    assert times.grad is not None
    grads["input_times"] = times.grad.cpu()
    hidden = Spikes(hidden.times.detach().cpu(), hidden.ids.cpu())
    return hidden, loss.detach().cpu(), grads


@pytest.mark.parametrize(
    ("make", "n_sources"), [(_FeedForward, 6), (_Recurrent, 6), (_Conv, 72)]
)
def test_cuda_spikes_and_gradients_match_cpu(make, n_sources) -> None:
    model = make()
    spikes = _inputs(8, n_sources, 30, seed=0)
    labels = torch.arange(8) % 3
    cpu = _run(model, spikes, labels, "cpu")
    gpu = _run(model, spikes, labels, "cuda")
    assert int((cpu[0].ids != -1).sum()) > 8, "the hidden layer should spike"
    torch.testing.assert_close(gpu[0].ids, cpu[0].ids, rtol=0, atol=0)
    torch.testing.assert_close(gpu[0].times, cpu[0].times, rtol=0, atol=1e-8)
    torch.testing.assert_close(gpu[1], cpu[1], rtol=1e-9, atol=1e-12)
    assert set(gpu[2]) == set(cpu[2])
    for name, grad in cpu[2].items():
        assert torch.count_nonzero(grad) > 0, name
        torch.testing.assert_close(gpu[2][name], grad, rtol=1e-6, atol=1e-9, msg=name)


def test_cuda_float32_stays_close_to_float64() -> None:
    model = _FeedForward()
    spikes = _inputs(8, 6, 30, seed=1)
    labels = torch.arange(8) % 3
    exact = _run(model, spikes, labels, "cpu")
    single = _run(model, spikes, labels, "cuda", torch.float32)
    # float32 spike times carry ~1e-6 relative rounding; a rare near-threshold spike may
    # differ, so compare the loss and the largest gradients, not spike for spike
    torch.testing.assert_close(single[1].double(), exact[1], rtol=1e-3, atol=1e-4)
    for name in ("h1.weight", "out.weight"):
        a, b = single[2][name].double(), exact[2][name]
        assert torch.linalg.vector_norm(a - b) <= 1e-2 * torch.linalg.vector_norm(b), name
