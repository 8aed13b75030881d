"""EventProp gradients against central finite differences of the event engine's forward,
and against autodiff through the closed-form spike time (tau_mem = 2 tau_syn)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.eventprop import lif_layer
from neurotwin.spikes import Spikes, first_spike_times

torch.set_num_threads(1)

XTOL = 1e-14  # spike times to rounding, so that finite differences see no solver noise
EPS = 1e-6
T_MAX = 30.0


def _random_net(
    seed: int, sizes: tuple[int, ...], batch: int, k_in: int, w_mean: float, w_std: float
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    times = torch.sort(8.0 * torch.rand(batch, k_in, generator=gen, dtype=torch.float64)).values
    ids = torch.randint(0, sizes[0], (batch, k_in), generator=gen)
    weights = [
        w_mean + w_std * torch.randn(n, m, generator=gen, dtype=torch.float64)
        for n, m in itertools.pairwise(sizes)
    ]
    return times, ids, weights


def _loss_of_spikes(spikes: Spikes, coeff: torch.Tensor) -> torch.Tensor:
    """A smooth loss touching every output spike: sum of coeff[id] sin(t / 4 ms)."""
    real = spikes.ids >= 0
    terms = coeff[spikes.ids.clamp(min=0)] * torch.sin(torch.where(real, spikes.times, 0.0) / 4)
    return torch.where(real, terms, 0.0).sum()


def _run(
    times: torch.Tensor,
    ids: torch.Tensor,
    weights: list[torch.Tensor],
    params: EventLIF,
    coeff: torch.Tensor,
    max_spikes_out: int | None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    spikes = Spikes(times, ids)
    pattern = []
    for k, w in enumerate(weights):
        last = k == len(weights) - 1
        spikes = lif_layer(
            spikes.times, spikes.ids, w, params, T_MAX,
            max_spikes=max_spikes_out if last else None, xtol=XTOL,
        )
        pattern.append(spikes.ids)
    return _loss_of_spikes(spikes, coeff), pattern


def _check_against_fd(
    params: EventLIF,
    seed: int,
    max_spikes_out: int | None,
    w_mean: float,
    w_std: float,
    n_checked: int = 4,
) -> dict[str, float]:
    """Relative error of EventProp vs central differences on randomly chosen entries of every
    weight matrix and of the input times, where the spike pattern is the same at +-EPS and
    +-EPS/2."""
    times, ids, weights = _random_net(seed, (3, 5, 4, 3), 2, 5, w_mean, w_std)
    coeff = torch.tensor([1.0, -0.7, 0.4], dtype=torch.float64)
    leaves = [times.clone().requires_grad_(), *(w.clone().requires_grad_() for w in weights)]
    loss, pattern = _run(leaves[0], ids, leaves[1:], params, coeff, max_spikes_out)
    # the network must exercise resets in hidden layers and spikes at the output
    assert all(int((p >= 0).sum()) > 0 for p in pattern)
    assert int((pattern[0] >= 0).sum()) > leaves[1].shape[1]
    loss.backward()
    gen = torch.Generator().manual_seed(seed + 1000)
    errors = {}
    for k, leaf in enumerate(leaves):
        # entries with a nonzero gradient (silent paths would compare 0 with 0)
        nonzero = (leaf.grad.view(-1) != 0).nonzero()[:, 0]
        assert nonzero.numel() >= n_checked
        picks = nonzero[torch.randperm(nonzero.numel(), generator=gen)[:n_checked]]
        exact, numeric = [], []
        for idx in picks.tolist():
            values = []
            for step in (EPS, -EPS, EPS / 2, -EPS / 2):
                moved = [x.detach().clone() for x in leaves]
                moved[k].view(-1)[idx] += step
                if k == 0:  # keep each row sorted: input times move only within their gaps
                    moved[0] = torch.sort(moved[0], dim=1).values
                with torch.no_grad():
                    value, pat = _run(moved[0], ids, moved[1:], params, coeff, max_spikes_out)
                if not all(torch.equal(a, b) for a, b in zip(pat, pattern, strict=True)):
                    break
                values.append(value)
            if len(values) < 4:
                continue
            # Richardson: central differences at EPS and EPS/2, their EPS^2 error cancelled
            # (near-grazing crossings make the second-order term large)
            wide = (values[0] - values[1]) / (2 * EPS)
            narrow = (values[2] - values[3]) / EPS
            numeric.append((4 * narrow - wide) / 3)
            exact.append(leaf.grad.view(-1)[idx])
        assert len(exact) >= n_checked - 2, "spike pattern changed too often"
        a, b = torch.stack(exact), torch.stack(numeric)
        # a floor for picks whose exact gradient is 0 (FD then sees only ~1e-9 solver noise)
        scale = max(float(b.norm()), 1e-3)
        errors["times" if k == 0 else f"w{k}"] = float((a - b).norm()) / scale
    return errors


@pytest.mark.parametrize(
    ("params", "seed", "max_spikes_out", "w_mean", "w_std"),
    [
        (EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0), 0, None, 0.1, 0.2),
        (EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0, v_reset=-0.3), 0, None, 0.08, 0.25),
        (EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=0.8, cm=2.0), 0, 1, 0.25, 0.5),
    ],
    ids=["multi-spike", "equal-tau-neg-reset", "ttfs-output"],
)
def test_gradients_match_finite_differences(
    params: EventLIF, seed: int, max_spikes_out: int | None, w_mean: float, w_std: float
) -> None:
    errors = _check_against_fd(params, seed, max_spikes_out, w_mean, w_std)
    assert max(errors.values()) < 1e-5, errors


def _closed_form_time(
    times: torch.Tensor, weights: torch.Tensor, causal: torch.Tensor, p: EventLIF
) -> torch.Tensor:
    """First spike time for tau_mem = 2 tau_syn: v = (tau_mem / cm)(b x - a x^2) with
    x = exp(-t / tau_mem), a = sum w exp(2 s / tau_mem), b = sum w exp(s / tau_mem) over the
    causal inputs; the crossing is the larger root of a x^2 - b x + v_thresh cm / tau_mem.

    times (B, n_in) one spike per source; weights (n_in, n_out); causal (B, n_in, n_out)."""
    e1 = torch.exp(times / p.tau_mem)[:, :, None]
    a = (causal * weights * e1**2).sum(dim=1)
    b = (causal * weights * e1).sum(dim=1)
    c = p.v_thresh * p.cm / p.tau_mem
    return p.tau_mem * torch.log(2 * a / (b + torch.sqrt(b**2 - 4 * a * c)))


def _first_spikes_closed_form(
    times: torch.Tensor, weights: torch.Tensor, p: EventLIF
) -> torch.Tensor:
    """Closed-form first spike times (B, n_out), with the causal set from the engine."""
    batch, n_in = times.shape
    ids = torch.arange(n_in).expand(batch, n_in)
    order = torch.argsort(times.detach(), dim=1)
    ref = lif_layer_forward(
        times.detach().gather(1, order), ids.gather(1, order), weights.detach(), p, T_MAX,
        max_spikes=1, xtol=XTOL,
    )
    t_ref = first_spike_times(ref, weights.shape[1])
    assert bool(torch.isfinite(t_ref).all())
    causal = (times.detach()[:, :, None] < t_ref[:, None, :]).to(times.dtype)
    t = _closed_form_time(times, weights, causal, p)
    torch.testing.assert_close(t.detach(), t_ref, rtol=0, atol=1e-9)
    return t


def test_two_layers_against_closed_form_autodiff() -> None:
    """One spike per neuron, two layers, tau_mem = 2 tau_syn: EventProp's gradients with
    respect to both weight matrices and the input times equal torch autodiff through the
    closed-form spike times."""
    p = EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=1.0, cm=1.0)
    gen = torch.Generator().manual_seed(5)
    batch, n_in, n_hid, n_out = 3, 4, 5, 3
    times = 5.0 * torch.rand(batch, n_in, generator=gen, dtype=torch.float64)
    w1 = 0.4 + 0.3 * torch.rand(n_in, n_hid, generator=gen, dtype=torch.float64)
    w2 = 0.3 + 0.3 * torch.rand(n_hid, n_out, generator=gen, dtype=torch.float64)
    target = torch.randn(batch, n_out, generator=gen, dtype=torch.float64)

    leaves_cf = [x.clone().requires_grad_() for x in (times, w1, w2)]
    hidden = _first_spikes_closed_form(leaves_cf[0], leaves_cf[1], p)
    out_cf = _first_spikes_closed_form(hidden, leaves_cf[2], p)
    (target * out_cf).sum().backward()

    leaves_ep = [x.clone().requires_grad_() for x in (times, w1, w2)]
    ids = torch.arange(n_in).expand(batch, n_in)
    order = torch.argsort(times, dim=1)
    h = lif_layer(
        leaves_ep[0].gather(1, order), ids.gather(1, order), leaves_ep[1], p, T_MAX,
        max_spikes=1, xtol=XTOL,
    )
    o = lif_layer(h.times, h.ids, leaves_ep[2], p, T_MAX, max_spikes=1, xtol=XTOL)
    out_ep = first_spike_times(o, n_out)
    torch.testing.assert_close(out_ep.detach(), out_cf.detach(), rtol=0, atol=1e-9)
    (target * out_ep).sum().backward()
    for cf, ep in zip(leaves_cf, leaves_ep, strict=True):
        assert cf.grad is not None and ep.grad is not None
        rel = float((cf.grad - ep.grad).norm() / cf.grad.norm())
        assert rel < 1e-8, rel


def test_padding_and_late_inputs_get_zero_gradient() -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=0.5)
    times = torch.tensor([[1.0, 2.0, 50.0, math.inf]], dtype=torch.float64, requires_grad=True)
    ids = torch.tensor([[0, 1, 0, -1]])
    w = torch.tensor([[0.8, 0.2], [0.5, 0.9]], dtype=torch.float64, requires_grad=True)
    out = lif_layer(times, ids, w, p, T_MAX)
    assert int((out.ids >= 0).sum()) > 0
    torch.where(out.ids >= 0, out.times, 0.0).sum().backward()
    assert times.grad is not None and w.grad is not None
    assert float(times.grad[0, 2]) == 0.0 and float(times.grad[0, 3]) == 0.0
    assert bool(torch.isfinite(times.grad).all()) and bool(torch.isfinite(w.grad).all())
    assert float(times.grad[0, :2].abs().sum()) > 0


def test_min_slope_bounds_the_spike_jump_only_where_it_binds() -> None:
    """min_slope below every crossing slope leaves the exact gradient; above some, it changes
    the gradient and bounds it (the grazing-crossing remedy)."""
    params = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    times, ids, weights = _random_net(0, (3, 6), 4, 6, 0.3, 0.3)
    w = weights[0]

    def grad(min_slope: float) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = w.clone().requires_grad_()
        out = lif_layer(times, ids, leaf, params, T_MAX, min_slope=min_slope)
        real = out.ids >= 0
        torch.where(real, out.times, 0.0).sum().backward()
        assert leaf.grad is not None
        with torch.no_grad():  # dv/dt just before each spike, mV/ms
            i_spike = _current_at_spikes(times, ids, w, params, out)
        return leaf.grad, i_spike / params.cm - params.v_thresh / params.tau_mem

    exact, slopes = grad(0.0)
    slowest = float(slopes.min())
    assert slowest > 0
    same, _ = grad(0.5 * slowest)
    assert torch.equal(same, exact)
    floor = float(slopes.median())
    bounded, _ = grad(floor)
    assert not torch.allclose(bounded, exact)
    assert float(bounded.abs().max()) < float(exact.abs().max())


def _current_at_spikes(
    times: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, p: EventLIF, out: Spikes
) -> torch.Tensor:
    """Synaptic current just before each real output spike, from the forward record."""
    from neurotwin.eventprop.forward.layer import lif_layer_record

    rec = lif_layer_record(times, ids, w, p, T_MAX)
    assert torch.equal(rec.spikes.ids, out.ids)
    return rec.current_at_spike[out.ids >= 0]
