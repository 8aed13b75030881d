"""The compiled CPU path of a recurrent event layer (forward and EventProp adjoint) against
the torch maps it mirrors: same spikes, currents and gradients up to rounding, with zero
and nonzero recurrent delay."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF, event_lif_constants
from neurotwin.engines import event_recurrent
from neurotwin.engines.event_adjoint.kernel import recurrent_backward
from neurotwin.engines.event_adjoint.recurrent import recurrent_lif_backward
from neurotwin.engines.event_kernels import TORCH
from neurotwin.engines.event_list import merge_events, recurrent_events
from neurotwin.engines.event_recurrent import recurrent_lif_forward
from neurotwin.eventprop import functional, recurrent_lif_layer
from neurotwin.eventprop.forward import recurrent as forward_recurrent
from neurotwin.eventprop.forward.recurrent import recurrent_lif_record

torch.set_num_threads(1)

F64 = torch.float64
T_MAX = 30.0
XTOL = 1e-13
"""Spike times to near rounding: each spike's error enters every later spike of the layer
through the recurrent weights, which at the default 1e-10 ms adds up to ~1e-8 ms."""
PARAMS = [
    EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, v_reset=0.0, cm=1.0),
    EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0, v_reset=-0.3, cm=2.0),
    EventLIF(tau_mem=4.0, tau_syn=8.0, v_thresh=0.5, v_reset=0.1, cm=0.5),
]


def _network(
    seed: int, p: EventLIF, batch: int = 4, k_in: int = 16, n_in: int = 4, n: int = 10
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random inputs (row 0 padded, row 1 partly after T_MAX) and weights scaled to the
    neuron: input jumps of ~0.6 v_thresh cm / tau_syn and recurrent jumps of both signs."""
    gen = torch.Generator().manual_seed(seed)
    times = torch.sort(25.0 * torch.rand(batch, k_in, generator=gen, dtype=F64)).values
    ids = torch.randint(0, n_in, times.shape, generator=gen)
    times[0, 10:], ids[0, 10:] = math.inf, -1  # padding
    times[1, 12:] += 10.0  # late inputs: they arrive after T_MAX and do nothing
    unit = p.v_thresh * p.cm / p.tau_syn
    w_in = unit * (0.6 + 0.6 * torch.randn(n_in, n, generator=gen, dtype=F64))
    w_rec = unit * 0.25 * torch.randn(n, n, generator=gen, dtype=F64)
    return times, ids, w_in, w_rec


def _both(monkeypatch: pytest.MonkeyPatch, fn: Callable[..., Any], *args: Any,
          **kw: Any) -> tuple[Any, Any]:  # fmt: skip
    """``fn`` on the compiled kernels, then on the torch kernels."""
    compiled = fn(*args, **kw)
    with monkeypatch.context() as m:
        for module in (event_recurrent, forward_recurrent, functional):
            m.setattr(module, "event_kernels", lambda w: TORCH)
        reference = fn(*args, **kw)
    return compiled, reference


def _check_spikes(fast: Any, ref: Any) -> None:
    assert fast.times.shape == ref.times.shape
    assert torch.equal(fast.ids, ref.ids)
    real = torch.isfinite(ref.times)
    assert torch.equal(torch.isfinite(fast.times), real)
    assert torch.allclose(fast.times[real], ref.times[real], rtol=0, atol=1e-8)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("max_spikes", [None, 2])
def test_forward_matches_torch_maps(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, max_spikes: int | None
) -> None:
    times, ids, w_in, w_rec = _network(1, params)
    fast, ref = _both(monkeypatch, recurrent_lif_forward, times, ids, w_in, w_rec, params,
                      T_MAX, max_spikes=max_spikes, delay=0.5, xtol=XTOL)  # fmt: skip
    _check_spikes(fast, ref)
    counts = torch.stack([(ref.ids == j).sum(dim=1) for j in range(w_in.shape[1])])
    if max_spikes is None:
        assert int(counts.max()) >= 5 and int(counts.sum()) > 100  # several spikes each
    else:
        assert int(counts.max()) == max_spikes
    assert bool((w_rec > 0).any()) and bool((w_rec < 0).any())
    # the late inputs of row 1 must not act: cut them off and nothing changes
    cut = recurrent_lif_forward(times[1:2, :12], ids[1:2, :12], w_in, w_rec, params, T_MAX,
                                max_spikes=max_spikes, delay=0.5, xtol=XTOL)  # fmt: skip
    k = cut.times.shape[1]
    assert torch.equal(cut.ids[0], fast.ids[1, :k])


@pytest.mark.parametrize("refrac", [0.5, 3.0])
def test_refractory_forward_matches_torch_maps(
    monkeypatch: pytest.MonkeyPatch, refrac: float
) -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, v_reset=-0.2, tau_refrac=refrac)
    times, ids, w_in, w_rec = _network(2, p)
    fast, ref = _both(monkeypatch, recurrent_lif_forward, times, ids, w_in, w_rec, p, T_MAX,
                      xtol=XTOL)  # fmt: skip
    _check_spikes(fast, ref)
    assert int(torch.isfinite(ref.times).sum()) > 50


def test_simultaneous_spikes_in_index_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neurons 2 and 6 are copies (same input column, same recurrent column), so they cross
    at bitwise the same times: both paths emit 2 before 6, and 6's current at the spike
    holds 2's recurrent jump w_rec[2, 6], 2's does not hold 6's."""
    p = PARAMS[0]
    times, ids, w_in, w_rec = _network(3, p)
    w_in[:, 6] = w_in[:, 2]
    w_rec[:, 6] = w_rec[:, 2]
    fast, ref = _both(monkeypatch, recurrent_lif_record, times, ids, w_in, w_rec, p, T_MAX,
                      xtol=XTOL)  # fmt: skip
    _check_spikes(fast.spikes, ref.spikes)
    real = torch.isfinite(ref.spikes.times)
    torch.testing.assert_close(fast.current_at_spike[real], ref.current_at_spike[real],
                               rtol=1e-9, atol=1e-12)  # fmt: skip
    pairs = 0
    for b in range(times.shape[0]):
        row_t, row_id = fast.spikes.times[b], fast.spikes.ids[b]
        for c in torch.nonzero(row_id == 2)[:, 0].tolist():
            assert int(row_id[c + 1]) == 6 and float(row_t[c + 1]) == float(row_t[c])
            jump = float(fast.current_at_spike[b, c + 1] - fast.current_at_spike[b, c])
            assert jump == pytest.approx(float(w_rec[2, 6]), rel=1e-9, abs=1e-12)
            pairs += 1
    assert pairs >= 5


def test_record_currents_match_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled forward's current at each spike equals the torch replay of the merged
    events (``record_currents`` with ``w_rec``)."""
    p = PARAMS[1]
    times, ids, w_in, w_rec = _network(4, p)
    fast, ref = _both(monkeypatch, recurrent_lif_record, times, ids, w_in, w_rec, p, T_MAX,
                      delay=1.0, xtol=XTOL)  # fmt: skip
    _check_spikes(fast.spikes, ref.spikes)
    real = torch.isfinite(ref.spikes.times)
    assert torch.equal(fast.current_at_spike[~real], ref.current_at_spike[~real])
    torch.testing.assert_close(fast.current_at_spike[real], ref.current_at_spike[real],
                               rtol=1e-9, atol=1e-12)  # fmt: skip


def _gradients(
    times: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor, w_rec: torch.Tensor,
    p: EventLIF, max_spikes: int | None, min_slope: float,
) -> tuple[np.ndarray, ...]:
    """Output times and dL/d(input times, w_in, w_rec) of a smooth loss touching every spike."""
    leaves = [x.clone().requires_grad_(True) for x in (times, w_in, w_rec)]
    out = recurrent_lif_layer(leaves[0], ids, leaves[1], leaves[2], p, T_MAX,
                              max_spikes=max_spikes, delay=0.5, xtol=XTOL,
                              min_slope=min_slope)  # fmt: skip
    real = torch.isfinite(out.times)
    coeff = torch.linspace(-1.0, 1.0, w_in.shape[1], dtype=F64)
    t = torch.where(real, out.times, 0.0)
    loss = torch.where(real, coeff[out.ids.clamp(min=0)] * torch.sin(t / 4.0), 0.0)
    loss.sum().backward()
    grads = [leaf.grad for leaf in leaves]
    assert all(g is not None for g in grads)
    return (out.times.detach().numpy(), *(g.numpy() for g in grads if g is not None))


def _assert_grads_close(fast: tuple[np.ndarray, ...], ref: tuple[np.ndarray, ...]) -> None:
    assert np.array_equal(np.isfinite(fast[0]), np.isfinite(ref[0]))
    for got, want in zip(fast[1:], ref[1:], strict=True):
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("max_spikes", [None, 2])
def test_gradients_match_torch_walk(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, max_spikes: int | None
) -> None:
    times, ids, w_in, w_rec = _network(5, params)
    fast, ref = _both(monkeypatch, _gradients, times, ids, w_in, w_rec, params, max_spikes,
                      0.0)  # fmt: skip
    _assert_grads_close(fast, ref)
    # padding and the late inputs get no gradient
    grad_t = fast[1]
    assert np.all(grad_t[0, 10:] == 0.0) and np.all(grad_t[1, 12:] == 0.0)


def test_adjoint_undoes_an_input_at_a_spike_time_first() -> None:
    """An input arriving exactly at an output spike's time: the forward fires first, so the
    adjoint undoes the input first. The compiled adjoint against the torch walk over the
    merged events, both on the same record."""
    p = PARAMS[0]
    times, ids, w_in, w_rec = _network(7, p)
    times = torch.cat([times, torch.full((times.shape[0], 1), math.inf, dtype=F64)], dim=1)
    ids = torch.cat([ids, torch.full((ids.shape[0], 1), -1)], dim=1)
    base = recurrent_lif_forward(times, ids, w_in, w_rec, p, T_MAX, xtol=XTOL)
    neuron, t_spike = int(base.ids[2, 6]), float(base.times[2, 6])
    for _ in range(10):  # the input moves the solver's horizon: find the fixed point
        moved_t, moved_ids = times.clone(), ids.clone()
        moved_t[2, -1], moved_ids[2, -1] = t_spike, 0
        moved_t[2], order = torch.sort(moved_t[2])
        moved_ids[2] = moved_ids[2][order]
        record = recurrent_lif_record(moved_t, moved_ids, w_in, w_rec, p, T_MAX, xtol=XTOL)
        own = record.spikes.times[2][record.spikes.ids[2] == neuron]
        nearest = float(own[torch.argmin((own - t_spike).abs())])
        if nearest == t_spike:
            break
        t_spike = nearest
    assert nearest == t_spike
    out_t, out_ids = record.spikes
    gen = torch.Generator().manual_seed(8)
    grad_out = torch.where(torch.isfinite(out_t), torch.randn(out_t.shape, generator=gen,
                                                              dtype=F64), 0.0)  # fmt: skip
    fast = recurrent_backward(
        record.arrive.numpy(), record.input_ids.numpy(), w_in.numpy(), w_rec.numpy(),
        out_t.numpy(), out_ids.numpy(), record.current_at_spike.numpy(), grad_out.numpy(),
        T_MAX, event_lif_constants(p),
    )
    events = merge_events(record.arrive, record.input_ids, out_t, out_ids, T_MAX)
    ref = recurrent_lif_backward(events, record.current_at_spike, grad_out, w_in, w_rec, p,
                                 T_MAX, times.shape[1])  # fmt: skip
    for got, want in zip(fast, ref, strict=True):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    column = int(torch.nonzero(moved_t[2] == t_spike)[0, 0])
    assert fast[2][2, column] != 0.0


def test_min_slope_matches_torch_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a floor on vdot^- that binds at some spikes, both paths apply it alike."""
    p = PARAMS[0]
    times, ids, w_in, w_rec = _network(6, p)
    fast, ref = _both(monkeypatch, _gradients, times, ids, w_in, w_rec, p, None, 0.3)
    _assert_grads_close(fast, ref)
    exact = _gradients(times, ids, w_in, w_rec, p, None, 0.0)
    assert not np.allclose(exact[3], fast[3], rtol=1e-3)  # the floor binds


@pytest.mark.parametrize(
    ("params", "rec_delay", "max_spikes"),
    [
        (PARAMS[0], 0.7, None),
        (PARAMS[1], 4.0, 2),
        (PARAMS[2], 0.7, None),
        (EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, v_reset=-0.2, tau_refrac=0.8), 1.3,
         None),
    ],
)
def test_delayed_forward_matches_torch_maps(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, rec_delay: float, max_spikes: int | None
) -> None:
    """Recurrent delay > 0: spikes and the currents at the spikes (compiled kernel against
    the torch maps and the replay of ``recurrent_events``), with refractoriness too."""
    times, ids, w_in, w_rec = _network(9, params)
    record = recurrent_lif_record if params.tau_refrac == 0.0 else recurrent_lif_forward
    fast, ref = _both(monkeypatch, record, times, ids, w_in, w_rec, params, T_MAX,
                      max_spikes=max_spikes, delay=0.5, rec_delay=rec_delay,
                      xtol=XTOL)  # fmt: skip
    if record is recurrent_lif_record:
        _check_spikes(fast.spikes, ref.spikes)
        real = torch.isfinite(ref.spikes.times)
        torch.testing.assert_close(fast.current_at_spike[real], ref.current_at_spike[real],
                                   rtol=1e-9, atol=1e-12)  # fmt: skip
        fast, ref = fast.spikes, ref.spikes
    _check_spikes(fast, ref)
    assert int(torch.isfinite(ref.times).sum()) > 50
    # the delay changes the spikes
    undelayed = recurrent_lif_forward(times, ids, w_in, w_rec, params, T_MAX,
                                      max_spikes=max_spikes, delay=0.5, xtol=XTOL)  # fmt: skip
    assert not torch.equal(undelayed.ids, fast.ids)


def _delay_gradients(
    times: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor, w_rec: torch.Tensor,
    p: EventLIF, rec_delay: float,
) -> tuple[np.ndarray, ...]:
    """Output times and dL/d(input times, w_in, w_rec, rec_delay) of a smooth loss."""
    leaves = [x.clone().requires_grad_(True) for x in (times, w_in, w_rec)]
    d = torch.tensor(rec_delay, dtype=F64, requires_grad=True)
    out = recurrent_lif_layer(leaves[0], ids, leaves[1], leaves[2], p, T_MAX, delay=0.5,
                              rec_delay=d, xtol=XTOL)  # fmt: skip
    real = torch.isfinite(out.times)
    coeff = torch.linspace(-1.0, 1.0, w_in.shape[1], dtype=F64)
    t = torch.where(real, out.times, 0.0)
    torch.where(real, coeff[out.ids.clamp(min=0)] * torch.sin(t / 4.0), 0.0).sum().backward()
    grads = [leaf.grad for leaf in (*leaves, d)]
    assert all(g is not None for g in grads)
    return (out.times.detach().numpy(), *(g.numpy() for g in grads if g is not None))


@pytest.mark.parametrize(("params", "rec_delay"), [(PARAMS[0], 0.0), (PARAMS[0], 0.9),
                                                   (PARAMS[1], 3.0)])  # fmt: skip
def test_delayed_gradients_match_torch_walk(
    monkeypatch: pytest.MonkeyPatch, params: EventLIF, rec_delay: float
) -> None:
    """Gradients of w_in, w_rec, the input times and rec_delay (at 0: from the right)."""
    times, ids, w_in, w_rec = _network(10, params)
    fast, ref = _both(monkeypatch, _delay_gradients, times, ids, w_in, w_rec, params,
                      rec_delay)  # fmt: skip
    _assert_grads_close(fast, ref)
    assert np.all(fast[1][0, 10:] == 0.0) and np.all(fast[1][1, 12:] == 0.0)
    # dL/dd is a float64 sum on both paths (measured deviation ~1e-14; float32 gives ~1e-7)
    assert fast[4].dtype == ref[4].dtype == np.float64
    assert abs(fast[4] - ref[4]) <= 1e-10 * abs(ref[4])


def test_adjoint_takes_an_input_and_a_recurrent_arrival_at_one_time() -> None:
    """A tie at rec_delay > 0: an input arriving at exactly the time of a recurrent arrival
    (forward: input first; the two jumps commute in the adjoint, but each walk must take
    both, once). The compiled adjoint against the torch walk over ``recurrent_events``, both
    on the same record."""
    p, d = PARAMS[0], 1.25
    times, ids, w_in, w_rec = _network(7, p)
    pad = torch.full((times.shape[0], 1), math.inf, dtype=F64)
    times = torch.cat([times, pad], dim=1)
    ids = torch.cat([ids, torch.full((ids.shape[0], 1), -1)], dim=1)
    base = recurrent_lif_record(times, ids, w_in, w_rec, p, T_MAX, delay=0.5, rec_delay=d,
                                xtol=XTOL)  # fmt: skip
    neuron, t_arrival = int(base.spikes.ids[2, 6]), float(base.spikes.times[2, 6]) + d
    for _ in range(10):  # the input moves the spikes: find the fixed point
        moved_t, moved_ids = times.clone(), ids.clone()
        moved_t[2, -1], moved_ids[2, -1] = t_arrival - 0.5, 0  # arrives at t_arrival
        moved_t[2], order = torch.sort(moved_t[2])
        moved_ids[2] = moved_ids[2][order]
        record = recurrent_lif_record(moved_t, moved_ids, w_in, w_rec, p, T_MAX, delay=0.5,
                                      rec_delay=d, xtol=XTOL)  # fmt: skip
        own = record.spikes.times[2][record.spikes.ids[2] == neuron] + d
        nearest = float(own[torch.argmin((own - t_arrival).abs())])
        if nearest == t_arrival:
            break
        t_arrival = nearest
    column = int(torch.nonzero(moved_t[2] == t_arrival - 0.5)[0, 0])
    assert float(record.arrive[2, column]) == t_arrival  # the tie holds exactly
    out_t, out_ids = record.spikes
    gen = torch.Generator().manual_seed(8)
    grad_out = torch.where(torch.isfinite(out_t), torch.randn(out_t.shape, generator=gen,
                                                              dtype=F64), 0.0)  # fmt: skip
    fast = recurrent_backward(
        record.arrive.numpy(), record.input_ids.numpy(), w_in.numpy(), w_rec.numpy(),
        out_t.numpy(), out_ids.numpy(), record.current_at_spike.numpy(), grad_out.numpy(),
        T_MAX, event_lif_constants(p), rec_delay=d,
    )
    events = recurrent_events(record.arrive, record.input_ids, record.spikes, T_MAX,
                              w_in.shape[0], d)  # fmt: skip
    ref = recurrent_lif_backward(events, record.current_at_spike, grad_out, w_in, w_rec, p,
                                 T_MAX, times.shape[1], rec_delay=d)  # fmt: skip
    for got, want in zip(fast, ref, strict=True):
        want = want.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    assert fast[2][2, column] != 0.0 and fast[3] != 0.0


def test_silent_layer_and_empty_input() -> None:
    w_in = torch.full((2, 3), 0.01, dtype=F64)
    w_rec = torch.full((3, 3), 0.5, dtype=F64)
    times = torch.tensor([[1.0, 2.0], [math.inf, math.inf]], dtype=F64)
    ids = torch.tensor([[0, 1], [-1, -1]])
    out = recurrent_lif_forward(times, ids, w_in, w_rec, PARAMS[0], T_MAX)
    assert out.times.shape == (2, 0) and out.ids.shape == (2, 0)
    empty = recurrent_lif_forward(torch.empty(3, 0, dtype=F64), torch.empty(3, 0, dtype=torch.long),
                                  w_in, w_rec, PARAMS[0], T_MAX)  # fmt: skip
    assert empty.times.shape == (3, 0)
