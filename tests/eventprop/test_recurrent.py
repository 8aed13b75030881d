"""EventProp gradients of recurrent LIF layers against central finite differences of the
recurrent event engine (zero and nonzero recurrent delay, the delay itself included), and
against the feed-forward layer's gradients at w_rec = 0."""

from __future__ import annotations

import math

import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.eventprop import RecurrentLIFLayer, lif_layer, recurrent_lif_layer
from neurotwin.spikes import Spikes

torch.set_num_threads(1)

XTOL = 1e-14  # spike times to rounding, so that finite differences see no solver noise
EPS = 1e-6
T_MAX = 20.0
F64 = torch.float64


def _loss_of_spikes(spikes: Spikes, coeff: torch.Tensor) -> torch.Tensor:
    """A smooth loss touching every output spike: sum of coeff[id] sin(t / 4 ms)."""
    real = spikes.ids >= 0
    terms = coeff[spikes.ids.clamp(min=0)] * torch.sin(torch.where(real, spikes.times, 0.0) / 4)
    return torch.where(real, terms, 0.0).sum()


def _run(
    leaves: list[torch.Tensor], ids: torch.Tensor, p: EventLIF, coeff: torch.Tensor,
    readout: bool, delayed: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss of (input times, w_in, w_rec[, w_out][, rec_delay]): a recurrent layer (with the
    last leaf as its recurrent delay if ``delayed``), optionally followed by a feed-forward
    time-to-first-spike layer; and the spike patterns."""
    times, w_in, w_rec = leaves[:3]
    rec_delay = leaves[-1] if delayed else 0.0
    hidden = recurrent_lif_layer(times, ids, w_in, w_rec, p, T_MAX, rec_delay=rec_delay,
                                 xtol=XTOL)  # fmt: skip
    if not readout:
        return _loss_of_spikes(hidden, coeff), [hidden.ids]
    out = lif_layer(hidden.times, hidden.ids, leaves[3], p, T_MAX, max_spikes=1, xtol=XTOL)
    return _loss_of_spikes(out, coeff), [hidden.ids, out.ids]


def _check_against_fd(
    p: EventLIF, seed: int, in_mean: float, rec_mean: float, rec_std: float, readout: bool,
    n_checked: int = 4, rec_delay: float | None = None,
) -> dict[str, float]:
    """Relative error of EventProp vs Richardson-extrapolated central differences on random
    entries of every leaf, where the spike pattern is the same at +-EPS and +-EPS/2;
    ``rec_delay`` (ms) makes the recurrent delay one more leaf."""
    gen = torch.Generator().manual_seed(seed)
    batch, k_in, n_in, n = 2, 6, 3, 5
    times = torch.sort(8.0 * torch.rand(batch, k_in, generator=gen, dtype=F64)).values
    ids = torch.randint(0, n_in, (batch, k_in), generator=gen)
    w_in = in_mean + 0.25 * torch.randn(n_in, n, generator=gen, dtype=F64)
    w_rec = rec_mean + rec_std * torch.randn(n, n, generator=gen, dtype=F64)
    values = [times, w_in, w_rec]
    names = ["times", "w_in", "w_rec"]
    if readout:
        values.append(0.25 + 0.3 * torch.randn(n, 3, generator=gen, dtype=F64))
        names.append("w_out")
    delayed = rec_delay is not None
    if rec_delay is not None:
        values.append(torch.tensor(rec_delay, dtype=F64))
        names.append("rec_delay")
    coeff = torch.randn(5, generator=gen, dtype=F64)
    leaves = [x.clone().requires_grad_() for x in values]
    loss, pattern = _run(leaves, ids, p, coeff, readout, delayed)
    hidden_ids = pattern[0]
    # several spikes per neuron, excitatory and inhibitory recurrent weights
    assert int((hidden_ids >= 0).sum()) >= 3 * n
    assert bool((w_rec > 0).any()) and bool((w_rec < 0).any())
    if readout:
        assert int((pattern[1] >= 0).sum()) > 0
    loss.backward()
    pick = torch.Generator().manual_seed(seed + 1000)
    errors = {}
    for k, leaf in enumerate(leaves):
        assert leaf.grad is not None
        nonzero = (leaf.grad.view(-1) != 0).nonzero()[:, 0]
        need = min(n_checked, leaf.numel())
        assert nonzero.numel() >= need
        picks = nonzero[torch.randperm(nonzero.numel(), generator=pick)[:need]]
        exact, numeric = [], []
        for idx in picks.tolist():
            found = []
            for step in (EPS, -EPS, EPS / 2, -EPS / 2):
                moved = [x.detach().clone() for x in leaves]
                moved[k].view(-1)[idx] += step
                if k == 0:  # keep each row sorted
                    moved[0] = torch.sort(moved[0], dim=1).values
                with torch.no_grad():
                    value, pat = _run(moved, ids, p, coeff, readout, delayed)
                if not all(torch.equal(a, b) for a, b in zip(pat, pattern, strict=True)):
                    break
                found.append(value)
            if len(found) < 4:
                continue
            wide = (found[0] - found[1]) / (2 * EPS)
            narrow = (found[2] - found[3]) / EPS
            numeric.append((4 * narrow - wide) / 3)
            exact.append(leaf.grad.view(-1)[idx])
        assert len(exact) >= max(need - 2, 1), "spike pattern changed too often"
        a, b = torch.stack(exact), torch.stack(numeric)
        scale = max(float(b.norm()), 1e-3)
        errors[names[k]] = float((a - b).norm()) / scale
    return errors


@pytest.mark.parametrize(
    ("params", "seed", "in_mean", "rec_mean", "rec_std", "readout"),
    [
        (EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0), 0, 0.15, 0.0, 0.25, False),
        (EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0, v_reset=-0.3), 3, 0.3, -0.05, 0.3,
         False),
        (EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=0.8, cm=2.0), 5, 0.3, -0.05, 0.3, True),
    ],
    ids=["multi-spike", "equal-tau-neg-reset", "ttfs-readout"],
)
def test_gradients_match_finite_differences(
    params: EventLIF, seed: int, in_mean: float, rec_mean: float, rec_std: float, readout: bool
) -> None:
    errors = _check_against_fd(params, seed, in_mean, rec_mean, rec_std, readout)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize(
    ("params", "seed", "in_mean", "rec_mean", "rec_std", "readout", "rec_delay"),
    [
        (EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0), 0, 0.15, 0.0, 0.25, False, 1.0),
        (EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0, v_reset=-0.3), 3, 0.3, -0.05, 0.3,
         False, 2.5),
        (EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=0.8, cm=2.0), 5, 0.3, -0.05, 0.3, True,
         0.6),
    ],
    ids=["multi-spike", "equal-tau-neg-reset", "ttfs-readout"],
)
def test_delayed_gradients_match_finite_differences(
    params: EventLIF, seed: int, in_mean: float, rec_mean: float, rec_std: float,
    readout: bool, rec_delay: float,
) -> None:
    """Recurrent delay > 0: dL/d(input times, w_in, w_rec[, w_out], rec_delay)."""
    errors = _check_against_fd(params, seed, in_mean, rec_mean, rec_std, readout,
                               rec_delay=rec_delay)  # fmt: skip
    assert "rec_delay" in errors and max(errors.values()) < 1e-5, errors


def _delay_loss(rec_delay: float | torch.Tensor, leaves: list[torch.Tensor], ids: torch.Tensor,
                p: EventLIF, coeff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    out = recurrent_lif_layer(leaves[0], ids, leaves[1], leaves[2], p, T_MAX,
                              rec_delay=rec_delay, xtol=XTOL)  # fmt: skip
    return _loss_of_spikes(out, coeff), out.ids


def test_zero_rec_delay_is_the_default_and_its_gradient_the_right_derivative() -> None:
    """At rec_delay = 0 the spikes and all gradients are bitwise those of a call without
    the argument, and dL/d(rec_delay) is the one-sided derivative (Richardson-extrapolated
    forward differences at h and h/2)."""
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    gen = torch.Generator().manual_seed(0)
    times = torch.sort(8.0 * torch.rand(2, 6, generator=gen, dtype=F64)).values
    ids = torch.randint(0, 3, (2, 6), generator=gen)
    w_in = 0.15 + 0.25 * torch.randn(3, 5, generator=gen, dtype=F64)
    w_rec = 0.25 * torch.randn(5, 5, generator=gen, dtype=F64)
    coeff = torch.randn(5, generator=gen, dtype=F64)
    runs = []
    for rec_delay in (None, torch.tensor(0.0, dtype=F64, requires_grad=True)):
        leaves = [x.clone().requires_grad_() for x in (times, w_in, w_rec)]
        out = recurrent_lif_layer(leaves[0], ids, leaves[1], leaves[2], p, T_MAX, xtol=XTOL,
                                  **({} if rec_delay is None else {"rec_delay": rec_delay}))
        _loss_of_spikes(out, coeff).backward()
        runs.append((out, [leaf.grad for leaf in leaves], rec_delay))
    (plain, plain_grads, _), (zero, zero_grads, d) = runs
    assert torch.equal(plain.ids, zero.ids) and torch.equal(plain.times, zero.times)
    for a, b in zip(plain_grads, zero_grads, strict=True):
        assert a is not None and b is not None and torch.equal(a, b)
    assert d is not None and d.grad is not None
    with torch.no_grad():
        base, pattern = _delay_loss(0.0, [times, w_in, w_rec], ids, p, coeff)
        slopes = []
        for h in (1e-6, 5e-7):
            value, moved = _delay_loss(h, [times, w_in, w_rec], ids, p, coeff)
            assert torch.equal(moved, pattern)
            slopes.append((value - base) / h)
    numeric = 2 * slopes[1] - slopes[0]
    assert abs(float(d.grad)) > 1e-3
    assert abs(float(d.grad) - float(numeric)) < 1e-5 * abs(float(numeric))


def test_module_learns_its_rec_delay() -> None:
    """``learn_rec_delay``: the delay is a parameter with an exact gradient; a negative
    value acts as 0 (zero gradient), as ``Delay`` does."""
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=0.5)
    kw = {"weight_mean": 0.6, "weight_std": 0.2, "rec_weight_std": 0.1, "seed": 4, "max_spikes": 4}
    layer = RecurrentLIFLayer(2, 4, p, T_MAX, rec_delay=1.5, learn_rec_delay=True, **kw)
    fixed = RecurrentLIFLayer(2, 4, p, T_MAX, rec_delay=1.5, **kw)
    assert {name for name, _ in layer.named_parameters()} == {"w_in", "w_rec", "rec_delay"}
    assert {name for name, _ in fixed.named_parameters()} == {"w_in", "w_rec"}
    spikes = Spikes(torch.tensor([[1.0, 2.0, 4.0]], dtype=F64), torch.tensor([[0, 1, 0]]))
    out = layer(spikes)
    assert torch.equal(out.times, fixed(spikes).times) and int((out.ids >= 0).sum()) > 4
    torch.where(out.ids >= 0, out.times, 0.0).sum().backward()
    assert isinstance(layer.rec_delay, torch.nn.Parameter) and layer.rec_delay.grad is not None
    assert layer.rec_delay.grad.dtype == F64 and float(layer.rec_delay.grad) != 0.0
    with torch.no_grad():
        layer.rec_delay.fill_(-0.5)
    layer.zero_grad()
    out = layer(spikes)
    zero = RecurrentLIFLayer(2, 4, p, T_MAX, **kw)(spikes)
    assert torch.equal(out.times, zero.times)
    torch.where(out.ids >= 0, out.times, 0.0).sum().backward()
    assert layer.rec_delay.grad is not None and float(layer.rec_delay.grad) == 0.0


@pytest.mark.parametrize("rec_delay", [-1.0, math.nan, [1.0, 2.0]])
def test_bad_rec_delay_raises(rec_delay: object) -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    times, ids = torch.tensor([[1.0]], dtype=F64), torch.tensor([[0]])
    w_in = torch.full((1, 2), 0.5, dtype=F64)
    with pytest.raises(ConfigError, match=r"rec_delay.*>= 0"):
        recurrent_lif_layer(times, ids, w_in, torch.zeros(2, 2, dtype=F64), p, T_MAX,
                            rec_delay=rec_delay)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigError, match=r"rec_delay.*>= 0"):
        RecurrentLIFLayer(1, 2, p, T_MAX, rec_delay=rec_delay)  # type: ignore[arg-type]


def test_zero_recurrent_weights_give_the_feed_forward_gradients() -> None:
    """At w_rec = 0 the spikes and the gradients of w_in and the input times are those of
    the feed-forward layer (a separately tested implementation)."""
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    gen = torch.Generator().manual_seed(7)
    times = torch.sort(8.0 * torch.rand(3, 8, generator=gen, dtype=F64)).values
    ids = torch.randint(0, 6, (3, 8), generator=gen)  # more sources than neurons
    w_in = 0.3 + 0.3 * torch.randn(6, 4, generator=gen, dtype=F64)
    coeff = torch.randn(4, generator=gen, dtype=F64)

    t_ff, w_ff = times.clone().requires_grad_(), w_in.clone().requires_grad_()
    ff = lif_layer(t_ff, ids, w_ff, p, T_MAX, xtol=XTOL)
    _loss_of_spikes(ff, coeff).backward()

    t_rc, w_rc = times.clone().requires_grad_(), w_in.clone().requires_grad_()
    w_rec = torch.zeros(4, 4, dtype=F64, requires_grad=True)
    rc = recurrent_lif_layer(t_rc, ids, w_rc, w_rec, p, T_MAX, xtol=XTOL)
    _loss_of_spikes(rc, coeff).backward()

    assert int((ff.ids >= 0).sum()) > 10 and torch.equal(ff.ids, rc.ids)
    torch.testing.assert_close(rc.times.detach(), ff.times.detach(), atol=1e-11, rtol=0)
    for a, b in ((t_rc.grad, t_ff.grad), (w_rc.grad, w_ff.grad)):
        assert a is not None and b is not None
        assert float((a - b).norm() / b.norm()) < 1e-11
    assert w_rec.grad is not None and float(w_rec.grad.abs().sum()) > 0


def test_padding_gets_zero_gradient_and_module_trains() -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=0.5)
    layer = RecurrentLIFLayer(2, 3, p, T_MAX, weight_mean=0.6, weight_std=0.2,
                              rec_weight_std=0.1, seed=4)  # fmt: skip
    assert layer.w_in.shape == (2, 3) and layer.w_rec.shape == (3, 3)
    assert {name for name, _ in layer.named_parameters()} == {"w_in", "w_rec"}
    times = torch.tensor([[1.0, 2.0, 50.0, math.inf]], dtype=F64, requires_grad=True)
    ids = torch.tensor([[0, 1, 0, -1]])
    out = layer(Spikes(times, ids))
    assert int((out.ids >= 0).sum()) > 3
    torch.where(out.ids >= 0, out.times, 0.0).sum().backward()
    assert times.grad is not None and layer.w_in.grad is not None
    assert layer.w_rec.grad is not None
    assert float(times.grad[0, 2]) == 0.0 and float(times.grad[0, 3]) == 0.0
    assert float(times.grad[0, :2].abs().sum()) > 0
    assert bool(torch.isfinite(layer.w_rec.grad).all()) and float(layer.w_rec.grad.abs().sum()) > 0


def test_bad_input_raises() -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    times, ids = torch.tensor([[1.0]], dtype=F64), torch.tensor([[0]])
    w_in = torch.full((1, 2), 0.5, dtype=F64)
    with pytest.raises(ConfigError, match="tau_refrac"):
        recurrent_lif_layer(times, ids, w_in, torch.zeros(2, 2, dtype=F64),
                            EventLIF(tau_refrac=1.0), T_MAX)  # fmt: skip
    with pytest.raises(ConfigError, match=r"w_rec.*\(2, 2\)"):
        recurrent_lif_layer(times, ids, w_in, torch.zeros(3, 3, dtype=F64), p, T_MAX)
    with pytest.raises(ConfigError, match="w_rec"):
        recurrent_lif_layer(times, ids, w_in, torch.full((2, 2), math.nan, dtype=F64), p, T_MAX)
    with pytest.raises(ConfigError, match="w_rec"):
        recurrent_lif_layer(times, ids, w_in, torch.zeros(2, 2), p, T_MAX)  # float32
    with pytest.raises(ConfigError, match="w_in"):
        recurrent_lif_layer(times, ids, [[0.5, 0.5]], torch.zeros(2, 2, dtype=F64), p, T_MAX)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_out"):
        RecurrentLIFLayer(2, 0, p, T_MAX)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gradients_match_cpu() -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    gen = torch.Generator().manual_seed(0)
    times = torch.sort(10.0 * torch.rand(16, 5, generator=gen, dtype=F64)).values
    ids = torch.randint(0, 4, (16, 5), generator=gen)
    w_in = 0.3 + 0.3 * torch.randn(4, 12, generator=gen, dtype=F64)
    w_rec = 0.1 * torch.randn(12, 12, generator=gen, dtype=F64)
    coeff = torch.randn(12, generator=gen, dtype=F64)
    grads = []
    for device in ("cpu", "cuda"):
        leaves = [x.to(device).requires_grad_() for x in (times, w_in, w_rec)]
        out = recurrent_lif_layer(leaves[0], ids.to(device), leaves[1], leaves[2], p, T_MAX)
        _loss_of_spikes(out, coeff.to(device)).backward()
        grads.append([leaf.grad.cpu() for leaf in leaves if leaf.grad is not None])
    # the forward spike times of the two paths differ by up to ~1e-8 ms (chain error, see
    # tests/engines/test_event.py::test_cuda_matches_cpu), the gradients accordingly
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
