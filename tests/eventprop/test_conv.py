"""ConvLIFLayer: the feed-forward layer with conv2d's weight sharing; spikes against the layer
with weights built by torch.nn.functional.conv2d, kernel gradients against finite
differences and against autograd through conv2d, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.errors import ConfigError
from neurotwin.eventprop import ConvLIFLayer, lif_layer
from neurotwin.spikes import Spikes

torch.set_num_threads(1)

F64 = torch.float64
XTOL = 1e-14
EPS = 1e-6
T_MAX = 25.0
P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)


def _conv2d_dense(kernel: torch.Tensor, in_shape: tuple[int, int, int], stride, padding):
    """Dense (n_in, n_out) weights from conv2d of every one-hot input image."""
    n_in = math.prod(in_shape)
    images = torch.eye(n_in, dtype=kernel.dtype).reshape(n_in, *in_shape)
    return F.conv2d(images, kernel, stride=stride, padding=padding).reshape(n_in, -1)


def _inputs(seed: int, n_in: int, batch: int = 2, k_in: int = 10):
    gen = torch.Generator().manual_seed(seed)
    times = torch.sort(8.0 * torch.rand(batch, k_in, generator=gen, dtype=F64)).values
    ids = torch.randint(0, n_in, (batch, k_in), generator=gen)
    return times, ids


def _loss_of_spikes(spikes: Spikes, coeff: torch.Tensor) -> torch.Tensor:
    real = spikes.ids >= 0
    terms = coeff[spikes.ids.clamp(min=0)] * torch.sin(torch.where(real, spikes.times, 0.0) / 4)
    return torch.where(real, terms, 0.0).sum()


def _layer(**kw) -> ConvLIFLayer:
    args = {"in_shape": (2, 4, 5), "out_channels": 3, "kernel_size": (3, 2), "params": P,
            "t_max": T_MAX, "stride": (1, 2), "padding": 1, "weight_mean": 0.6,
            "weight_std": 0.4, "seed": 2, "xtol": XTOL}  # fmt: skip
    args.update(kw)
    return ConvLIFLayer(**args)  # type: ignore[arg-type]


def test_spikes_equal_the_layer_with_conv2d_weights():
    layer = _layer()
    assert layer.out_shape == (3, 4, 3) and layer.n_in == 40 and layer.n_out == 36
    times, ids = _inputs(0, layer.n_in)
    out = layer(Spikes(times, ids))
    dense = _conv2d_dense(layer.kernel.detach(), layer.in_shape, (1, 2), 1)
    ref = lif_layer_forward(times, ids, dense, P, T_MAX, xtol=XTOL)
    assert int((ref.ids >= 0).sum()) > 10
    assert torch.equal(out.ids, ref.ids)
    torch.testing.assert_close(out.times.detach(), ref.times, atol=1e-12, rtol=0)


def test_kernel_gradient_equals_autograd_through_conv2d():
    layer = _layer()
    times, ids = _inputs(1, layer.n_in)
    coeff = torch.randn(layer.n_out, generator=torch.Generator().manual_seed(3), dtype=F64)
    _loss_of_spikes(layer(Spikes(times, ids)), coeff).backward()
    kernel = layer.kernel.detach().clone().requires_grad_()
    dense = _conv2d_dense(kernel, layer.in_shape, (1, 2), 1)
    _loss_of_spikes(lif_layer(times, ids, dense, P, T_MAX, xtol=XTOL), coeff).backward()
    assert layer.kernel.grad is not None and kernel.grad is not None
    assert float(kernel.grad.abs().sum()) > 0
    torch.testing.assert_close(layer.kernel.grad, kernel.grad, rtol=1e-10, atol=1e-12)


def test_kernel_and_input_time_gradients_match_finite_differences():
    """Two conv layers in a row; Richardson-extrapolated central differences of the loss in
    every kernel entry of both layers and in input times, where the pattern is unchanged."""
    l1 = _layer(in_shape=(1, 4, 4), out_channels=2, kernel_size=2, stride=1, padding=0,
                weight_mean=0.7, weight_std=0.3, seed=5)  # fmt: skip
    l2 = _layer(in_shape=(2, 3, 3), out_channels=2, kernel_size=2, stride=1, padding=0,
                weight_mean=0.35, weight_std=0.2, seed=6)  # fmt: skip
    times, ids = _inputs(4, l1.n_in, k_in=12)
    coeff = torch.randn(l2.n_out, generator=torch.Generator().manual_seed(7), dtype=F64)
    kernels = [l1.kernel.detach().clone(), l2.kernel.detach().clone()]

    def run(t: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor):
        with torch.no_grad():
            l1.kernel.copy_(k1)
            l2.kernel.copy_(k2)
        h = l1(Spikes(t, ids))
        o = l2(h)
        return _loss_of_spikes(o, coeff), [h.ids, o.ids]

    t_leaf = times.clone().requires_grad_()
    loss, pattern = run(t_leaf, *kernels)
    assert int((pattern[0] >= 0).sum()) > l1.n_out and int((pattern[1] >= 0).sum()) > 0
    loss.backward()
    grads = [t_leaf.grad, l1.kernel.grad, l2.kernel.grad]
    values = [times, *kernels]
    errors = {}
    for k, grad in enumerate(grads):
        assert grad is not None
        exact, numeric = [], []
        for idx in (grad.view(-1) != 0).nonzero()[:, 0][:8].tolist():
            found = []
            for step in (EPS, -EPS, EPS / 2, -EPS / 2):
                moved = [v.clone() for v in values]
                moved[k].view(-1)[idx] += step
                moved[0] = torch.sort(moved[0], dim=1).values
                with torch.no_grad():
                    v, pat = run(*moved)
                if not all(torch.equal(a, b) for a, b in zip(pat, pattern, strict=True)):
                    break
                found.append(v)
            if len(found) < 4:
                continue
            wide = (found[0] - found[1]) / (2 * EPS)
            narrow = (found[2] - found[3]) / EPS
            numeric.append((4 * narrow - wide) / 3)
            exact.append(grad.view(-1)[idx])
        assert len(exact) >= 4
        a, b = torch.stack(exact), torch.stack(numeric)
        errors[["times", "kernel1", "kernel2"][k]] = float((a - b).norm() / b.norm())
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"stride": 0}, "stride must be an integer >= 1"),
        ({"padding": -1}, "padding"),
        ({"kernel_size": 9}, "kernel height 9 exceeds the padded input height"),
        ({"kernel_size": (1, 2, 3)}, "kernel_size"),
        ({"in_shape": (4, 5)}, "in_shape"),
        ({"out_channels": 0}, "kernel_shape"),
        ({"params": EventLIF(tau_refrac=1.0)}, "tau_refrac"),
        ({"t_max": -1.0}, "t_max"),
    ],
)
def test_bad_configuration_raises(kw, match):
    with pytest.raises(ConfigError, match=match):
        _layer(**kw)


def test_nan_kernel_and_bad_ids_raise_at_forward():
    layer = _layer()
    times, ids = _inputs(0, layer.n_in)
    with pytest.raises(ConfigError, match=r"input_ids must lie in \[0, 40\)"):
        layer(Spikes(times, torch.full_like(ids, 40)))
    with torch.no_grad():
        layer.kernel[0, 0, 0, 0] = math.nan
    with pytest.raises(ConfigError, match="finite"):
        layer(Spikes(times, ids))
