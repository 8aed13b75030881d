"""Surrogate-gradient BPTT baseline: forward equals the ideal backend, surrogate shape,
finite gradients and a loss that decreases."""

import math

import numpy as np
import pytest
import torch

import neurotwin as nt
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.lif import LIFState, lif_constants, lif_step
from neurotwin.errors import ConfigError
from neurotwin.eventprop import losses
from neurotwin.spikes import Spikes
from neurotwin.train import bptt

DT = 0.1


def _case(seed: int = 1) -> tuple[EventLIF, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, v_reset=-0.2, tau_refrac=0.5)
    w1 = rng.normal(0.5, 0.6, (5, 20))
    w2 = rng.normal(0.3, 0.5, (20, 3))
    times = np.sort(np.round(rng.uniform(0.0, 15.0, (2, 8)), 1), axis=1)
    ids = rng.integers(0, 5, (2, 8))
    return p, w1, w2, times, ids


def test_forward_equals_the_ideal_backend() -> None:
    p, w1, w2, times, ids = _case()
    t_max = 40.0
    grid = bptt.spike_grid((torch.tensor(times), torch.tensor(ids)), 5, DT, t_max, delay=DT)
    hidden = bptt.lif_forward(grid, torch.tensor(w1), p, DT)
    out = bptt.lif_forward(hidden, torch.tensor(w2), p, DT, delay=DT)
    for b in range(2):
        net = nt.Network(dt=DT)
        sources: list[list[float]] = [[] for _ in range(5)]
        for t, i in zip(times[b], ids[b], strict=True):
            sources[i].append(float(t))
        inp = net.add(nt.SpikeSourceArray(sources, label="in"))
        h = net.add(nt.Population(20, p.to_lif(v_rest=0.0), label="h"))
        o = net.add(nt.Population(3, p.to_lif(v_rest=0.0), label="o"))
        net.connect(inp, h, w1, receptor=None, delays=DT)
        net.connect(h, o, w2, receptor=None, delays=DT)
        net.record(h, "spikes")
        net.record(o, "spikes")
        res = nt.simulate(net, t_max, backend="ideal", seed=0)
        for label, mine in (("h", hidden), ("o", out)):
            t, n = res.spikes(label)
            k, j = mine[:, b].nonzero(as_tuple=True)
            assert sorted(zip(np.rint(t / DT).astype(int).tolist(), n.tolist(), strict=True)) \
                == sorted(zip(k.tolist(), j.tolist(), strict=True))
            assert len(t) > 5


def test_forward_is_lif_step_bit_for_bit() -> None:
    p, w1, _, times, ids = _case(2)
    grid = bptt.spike_grid((torch.tensor(times), torch.tensor(ids)), 5, DT, 30.0)
    w = torch.tensor(w1)
    spikes = bptt.lif_forward(grid, w, p, DT)
    c = lif_constants(p.to_lif(v_rest=0.0), DT)
    current = grid @ w
    zero = torch.zeros_like(current[0])
    state = LIFState(zero, current[0], zero, torch.zeros_like(zero, dtype=torch.long))
    for k in range(grid.shape[0] - 1):
        z, state = lif_step(state, current[k + 1], zero, 0.0, c)
        assert torch.equal(z.to(spikes.dtype), spikes[k + 1])
    assert spikes.sum() > 0 and spikes[0].sum() == 0


def test_spike_grid_bins_and_drops() -> None:
    times = torch.tensor([[0.0, 0.04, 0.26, 9.0, math.inf]])
    ids = torch.tensor([[0, 1, 1, 0, -1]])
    g = bptt.spike_grid(Spikes(times, ids), 2, DT, 1.0)
    assert g.shape == (11, 1, 2)
    assert g[0, 0].tolist() == [1.0, 1.0] and g[3, 0, 1] == 1.0 and g.sum() == 3
    with pytest.raises(ConfigError, match="multiple of the time step"):
        bptt.spike_grid(Spikes(times, ids), 2, DT, 1.05)
    with pytest.raises(ConfigError, match="ids"):
        bptt.spike_grid(Spikes(times, ids + 5), 2, DT, 1.0)


def test_surrogate_is_superspike() -> None:
    x = (torch.arange(-20, 21, dtype=torch.float64) / 10).requires_grad_(True)
    z = bptt.superspike(x, beta=5.0)
    assert torch.equal(z, (x >= 0).double())
    z.sum().backward()
    assert x.grad is not None
    expected = 1.0 / (5.0 * x.detach().abs() + 1.0) ** 2
    torch.testing.assert_close(x.grad, expected)
    assert x.grad[20] == 1.0 and x.grad.argmax() == 20
    with pytest.raises(ConfigError, match="beta"):
        bptt.superspike(x, beta=0.0)


def test_first_spike_times_and_their_gradient() -> None:
    z = torch.zeros((6, 1, 3), dtype=torch.float64)
    z[2, 0, 0] = 1.0
    z[4, 0, 0] = 1.0
    z[5, 0, 1] = 1.0
    z.requires_grad_(True)
    t = bptt.grid_first_spike_times(z, 0.5)
    assert t.tolist() == [[1.0, 2.5, math.inf]]
    t[0, 0].backward()
    assert z.grad is not None
    # an earlier spike lowers t; the later spike of the same neuron does not matter
    assert z.grad[1, 0, 0] < 0 and z.grad[4, 0, 0] == 0 and z.grad[:, 0, 1:].abs().sum() == 0


def test_gradients_are_finite_and_the_loss_decreases() -> None:
    torch.manual_seed(0)
    p = EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=1.0)
    t_max = 20.0
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (16, 2))
    labels = torch.tensor((x[:, 0] > x[:, 1]).astype(np.int64))
    t_in = np.concatenate([x, 1.0 - x, np.zeros((16, 1))], axis=1) * 5.0
    order = np.argsort(t_in, axis=1)
    batch = Spikes(torch.tensor(np.take_along_axis(t_in, order, 1)), torch.tensor(order))
    hidden = bptt.SurrogateLIFLayer(5, 30, p, t_max, DT, weight_mean=0.3, weight_std=0.3, seed=0)
    out = bptt.SurrogateLIFLayer(30, 2, p, t_max, DT, max_spikes=1, weight_mean=0.15,
                        weight_std=0.1, seed=1)
    opt = torch.optim.Adam([*hidden.parameters(), *out.parameters()], lr=0.01)
    history = []
    for _ in range(15):
        opt.zero_grad()
        t_first = out.first_spike_times(out(hidden(batch)))
        loss = losses.ttfs_cross_entropy(t_first, labels, tau_0=2.0, t_silent=t_max)
        loss.backward()
        for w in (hidden.weight, out.weight):
            assert w.grad is not None and torch.isfinite(w.grad).all()
        assert out.weight.grad is not None and out.weight.grad.abs().sum() > 0
        opt.step()
        history.append(float(loss.detach()))
    assert history[-1] < 0.8 * history[0]


def test_li_layer_vmax() -> None:
    p = EventLIF(tau_mem=10.0, tau_syn=5.0)
    layer = bptt.SurrogateLILayer(1, 1, p, 50.0, DT, weight_mean=1.0, weight_std=0.0,
                         dtype=torch.float64)
    vmax = layer(Spikes(torch.tensor([[0.0]]), torch.tensor([[0]])))
    # one unit input at 0: v(t) = tau_m tau_s / (tau_m - tau_s) (e^-t/tau_m - e^-t/tau_s),
    # peak at t* = ln 2 * 10 ms = 6.93 ms: 2.5 mV (grid point 6.9 ms within 1e-4)
    assert abs(float(vmax.detach()) - 2.5) < 1e-4
    vmax.sum().backward()
    assert layer.weight.grad is not None and abs(float(layer.weight.grad) - 2.5) < 1e-4


def test_bad_layer_arguments_raise() -> None:
    p = EventLIF()
    with pytest.raises(ConfigError, match="multiple of the time step"):
        bptt.SurrogateLIFLayer(2, 3, p, 10.0, DT, delay=0.05)
    layer = bptt.SurrogateLIFLayer(2, 3, p, 10.0, DT)
    with pytest.raises(ConfigError, match="input grid"):
        layer(torch.zeros((5, 1, 2)))
    with pytest.raises(ConfigError, match="EventLIF"):
        bptt.SurrogateLIFLayer(2, 3, p.to_lif(), 10.0, DT)  # type: ignore[arg-type]
