"""The event-driven engine: spike times against closed forms (a quadratic in exp(-t/tau_mem)
for tau_mem == 2 tau_syn, Lambert W for tau_mem == tau_syn), against the time-stepped ideal
backend as dt -> 0, multiple spikes, refractoriness, padding, and bad input."""

import math

import numpy as np
import pytest
import torch
from scipy.special import lambertw

import neurotwin as nt
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.engines.event_maps import flow, initial_state, input_jump
from neurotwin.errors import ConfigError
from neurotwin.spikes import Spikes, first_spike_times

TOL = 1e-9  # ms: the solver shrinks brackets to 1e-10 ms
F64 = torch.float64


def quadratic_spike(w: float, p: EventLIF) -> float:
    """First crossing after a jump i = w from v = 0 with tau_mem = 2 tau_syn, ms.

    v = (w tau_mem / cm) (x - x^2) with x = exp(-t/tau_mem), so x^2 - x + c = 0,
    c = v_thresh cm / (w tau_mem); the earlier crossing is the larger root.
    """
    c = p.v_thresh * p.cm / (w * p.tau_mem)
    x = (1.0 + math.sqrt(1.0 - 4.0 * c)) / 2.0
    return -p.tau_mem * math.log(x)


def lambert_spike(w: float, p: EventLIF) -> float:
    """First crossing after a jump i = w from v = 0 with tau_mem = tau_syn = tau, ms:
    t exp(-t/tau) = v_thresh cm / w, so t = -tau W0(-v_thresh cm / (w tau))."""
    tau = p.tau_mem
    return float(-tau * lambertw(-p.v_thresh * p.cm / (w * tau), 0).real)


def one_input(t_in: float, w: float, p: EventLIF, t_max: float, **kw) -> Spikes:
    return lif_layer_forward(
        torch.tensor([[t_in]], dtype=F64), torch.tensor([[0]]),
        torch.tensor([[w]], dtype=F64), p, t_max, **kw,
    )  # fmt: skip


def test_flow_matches_closed_form_voltage():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=100.0, cm=0.5)
    w = 1.3
    state = input_jump(initial_state((1, 1)), torch.tensor(w, dtype=F64))
    t = torch.tensor([[0.0, 0.5, 3.0, 17.0, 60.0]], dtype=F64)
    moved = flow(state._replace(v=state.v.expand_as(t), i=state.i.expand_as(t),
                                t=state.t.expand_as(t), free_at=state.free_at.expand_as(t)),
                 t, p)  # fmt: skip
    x = np.exp(-t.numpy() / p.tau_mem)
    v_ref = w * p.tau_mem / p.cm * (x - x**2)
    np.testing.assert_allclose(moved.v.numpy(), v_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(moved.i.numpy(), w * x**2, rtol=1e-13)


def test_single_spike_quadratic_closed_form():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0)
    w, t_in = 0.3, 2.5
    out = one_input(t_in, w, p, 50.0, max_spikes=1)
    assert out.times.shape == (1, 1) and out.ids.tolist() == [[0]]
    assert abs(out.times.item() - (t_in + quadratic_spike(w, p))) < TOL
    assert out.times.item() >= t_in + quadratic_spike(w, p) - 1e-12  # never early


def test_multiple_spikes_follow_the_quadratic_after_each_reset():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0, cm=2.0)
    w, t_in = 1.0, 1.0
    out = one_input(t_in, w, p, 40.0)
    # reference: after each reset v = 0 again and the current has decayed
    ref, t, i = [], t_in, w
    while i * p.tau_mem / p.cm > 4 * p.v_thresh and t < 40.0:
        t += quadratic_spike(i * 1.0, p)
        if t > 40.0:
            break
        ref.append(t)
        i = w * math.exp(-(t - t_in) / p.tau_syn)
    assert len(ref) >= 3
    times = out.times[0].numpy()
    assert times.shape == (len(ref),)
    np.testing.assert_allclose(times, ref, atol=len(ref) * TOL, rtol=0)
    assert (out.ids == 0).all()


def test_max_spikes_caps_the_count():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0, cm=2.0)
    full = one_input(1.0, 1.0, p, 40.0)
    capped = one_input(1.0, 1.0, p, 40.0, max_spikes=2)
    assert capped.times.shape == (1, 2)
    torch.testing.assert_close(capped.times, full.times[:, :2])


def test_equal_time_constants_lambert_w():
    p = EventLIF(tau_mem=10.0, tau_syn=10.0, v_thresh=1.0)
    w, t_in = 0.5, 3.0
    out = one_input(t_in, w, p, 50.0, max_spikes=1)
    assert abs(out.times.item() - (t_in + lambert_spike(w, p))) < TOL


def test_refractory_period_delays_the_next_spike():
    p0 = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0, cm=2.0)
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0, cm=2.0, tau_refrac=2.0)
    t_in, w = 1.0, 1.0
    first = t_in + quadratic_spike(w, p0)
    # free again at first + 2 ms from v = 0 with the decayed current
    i_free = w * math.exp(-(first + 2.0 - t_in) / p.tau_syn)
    second = first + 2.0 + quadratic_spike(i_free, p)
    out = one_input(t_in, w, p, 40.0, max_spikes=2)
    np.testing.assert_allclose(out.times[0].numpy(), [first, second], atol=2 * TOL, rtol=0)


def test_delay_shifts_every_spike():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0, cm=2.0)
    plain = one_input(1.0, 1.0, p, 30.0)
    late = one_input(1.0, 1.0, p, 35.0, delay=5.0)
    keep = torch.isfinite(plain.times)
    torch.testing.assert_close(late.times[:, : int(keep.sum())], plain.times[keep][None] + 5.0,
                               atol=1e-9, rtol=0)  # fmt: skip


def test_batch_padding_silent_neurons_and_first_spike_times():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0)
    # neuron 0 fires after source 0, neuron 1 never (inhibitory), neuron 2 needs both sources
    w = torch.tensor([[0.3, -0.5, 0.12], [0.0, -0.5, 0.12]], dtype=F64)
    times = torch.tensor([[1.0, 2.0], [4.0, math.inf], [math.inf, math.inf]], dtype=F64)
    ids = torch.tensor([[0, 1], [0, -1], [-1, -1]])
    out = lif_layer_forward(times, ids, w, p, 60.0, max_spikes=1)
    first = first_spike_times(out, 3)
    assert first.shape == (3, 3)
    t0 = quadratic_spike(0.3, p)
    assert abs(first[0, 0] - (1.0 + t0)) < TOL and abs(first[1, 0] - (4.0 + t0)) < TOL
    assert torch.isinf(first[:, 1]).all()
    assert math.isfinite(first[0, 2]) and math.isinf(first[1, 2])
    assert torch.isinf(first[2]).all()
    # padded rows: sorted, +inf and -1 together
    assert (torch.isinf(out.times) == (out.ids == -1)).all()
    real = torch.where(torch.isinf(out.times), 1e9, out.times)
    assert (torch.diff(real, dim=1) >= 0).all()


def test_no_spikes_gives_empty_batch():
    p = EventLIF()
    out = lif_layer_forward(torch.tensor([[1.0]]), torch.tensor([[0]]),
                            torch.tensor([[-1.0, 0.0]], dtype=F64), p, 10.0)  # fmt: skip
    assert out.times.shape == (1, 0) and out.ids.shape == (1, 0)
    assert torch.isinf(first_spike_times(out, 2)).all()


def test_float32_and_numpy_inputs():
    p = EventLIF(tau_mem=20.0, tau_syn=10.0, v_thresh=1.0)
    out = lif_layer_forward(np.array([[2.5]]), np.array([[0]]),
                            torch.tensor([[0.3]], dtype=torch.float32), p, 50.0)  # fmt: skip
    assert out.times.dtype == torch.float32
    assert abs(out.times.item() - (2.5 + quadratic_spike(0.3, p))) < 1e-4


def stepped_spikes(p: EventLIF, w: np.ndarray, source_times: list, dt: float, t_max: float):
    """Spikes of the same layer on the time-stepped ideal backend (numba kernel)."""
    net = nt.Network(dt=dt)
    src = net.add(nt.SpikeSourceArray(source_times, label="in"))
    pop = net.add(nt.Population(w.shape[1], p.to_lif(v_rest=-65.0), label="out"))
    net.connect(src, pop, w, receptor=None, delays=dt)
    net.record(pop, "spikes")
    return nt.simulate(net, t_max, backend="ideal").spikes(pop)


def test_converges_to_time_stepped_engine_as_dt_shrinks():
    p = EventLIF(tau_mem=10.0, tau_syn=5.0, v_thresh=1.0, cm=1.0, tau_refrac=0.5)
    w = np.array([[0.4, 0.9, 0.25], [0.3, -0.2, 0.25], [0.2, 0.6, -0.1]])
    source_times = [[1.0, 6.0], [2.5], [4.0, 4.5]]
    t_max = 20.0
    flat = sorted((t, k) for k, ts in enumerate(source_times) for t in ts)
    times = torch.tensor([[t for t, _ in flat]], dtype=F64)
    ids = torch.tensor([[k for _, k in flat]])
    errors = []
    for dt in (0.01, 0.001):
        # the stepped engine lets a source spike at t act at t + delay (>= dt)
        exact = lif_layer_forward(times, ids, torch.tensor(w), p, t_max, delay=dt)
        n_exact = int(torch.isfinite(exact.times).sum())
        t_step, id_step = stepped_spikes(p, w, source_times, dt, t_max)
        assert n_exact >= 5 and t_step.size == n_exact
        err, first_err = [], []
        for n in range(w.shape[1]):
            ref = exact.times[exact.ids == n].numpy()
            got = t_step[id_step == n]
            assert got.size == ref.size
            err.append(got - ref)
            first_err.append(got[0] - ref[0])
        # stamped at the end of the step holding the crossing: never early, at most dt late
        assert all(-1e-9 <= e <= dt + 1e-9 for e in first_err)
        e = np.concatenate(err)
        assert (e >= -1e-9).all()
        errors.append(np.abs(e).max())
    # later spikes inherit the late resets, so their error grows with the spike count,
    # but still linearly in dt
    assert errors[1] < errors[0] / 5


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"times": [[math.nan]]}, "input_times"),
        ({"times": [[-1.0]]}, "input_times"),
        ({"times": [[2.0, 1.0]], "ids": [[0, 0]]}, "ascending"),
        ({"ids": [[0, 0]]}, "shape"),
        ({"ids": [[5]]}, "input_ids"),
        ({"ids": [[-1]]}, "input_ids"),
        ({"ids": [[0.0]]}, "input_ids"),
        ({"w": [1.0]}, "weights"),
        ({"w": [[math.nan]]}, "weights"),
        ({"t_max": 0.0}, "t_max"),
        ({"t_max": math.inf}, "t_max"),
        ({"delay": -1.0}, "delay"),
        ({"max_spikes": 0}, "max_spikes"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    args = {"times": [[1.0]], "ids": [[0]], "w": [[1.0]], "t_max": 10.0}
    extra = {k: kwargs.pop(k) for k in ("delay", "max_spikes") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=name):
        lif_layer_forward(torch.tensor(args["times"], dtype=F64), torch.tensor(args["ids"]),
                          torch.tensor(args["w"], dtype=F64), EventLIF(), args["t_max"],
                          **extra)  # fmt: skip


def test_engine_refuses_a_lif_without_conversion():
    lif = EventLIF(tau_mem=12.0, tau_syn=4.0, v_thresh=15.0, cm=0.3).to_lif(v_rest=-65.0)
    with pytest.raises(ConfigError, match="params"):
        lif_layer_forward(torch.tensor([[1.0]]), torch.tensor([[0]]), torch.ones(1, 1),
                          lif, 10.0)  # fmt: skip


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
    gen = torch.Generator().manual_seed(0)
    times, ids = torch.sort(torch.rand(64, 5, generator=gen, dtype=F64) * 20.0, dim=1)
    w = torch.randn(5, 30, generator=gen, dtype=F64) * 0.3 + 0.2
    cpu = lif_layer_forward(times, ids, w, p, 40.0)
    gpu = lif_layer_forward(times.cuda(), ids.cuda(), w.cuda(), p, 40.0)
    # two correct implementations agree to the chain error, not to xtol: a neuron's earlier
    # spike-time errors carry through its resets and grow at slow crossings (~1e-8 ms after
    # 10 spikes at xtol 1e-10, measured against a 40-digit root on the CPU torch path)
    torch.testing.assert_close(gpu.times.cpu(), cpu.times, atol=1e-7, rtol=0)
    assert torch.equal(gpu.ids.cpu(), cpu.ids)


def test_batch_equals_samples_run_one_by_one():
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, tau_refrac=0.3)
    gen = torch.Generator().manual_seed(1)
    times, ids = torch.sort(torch.rand(6, 5, generator=gen, dtype=F64) * 20.0, dim=1)
    times[2, 3:] = math.inf  # a shorter row
    ids[2, 3:] = -1
    w = torch.randn(5, 8, generator=gen, dtype=F64) * 0.4 + 0.2
    batch = lif_layer_forward(times, ids, w, p, 40.0)
    assert torch.isfinite(batch.times).sum() > 10
    for b in range(6):
        one = lif_layer_forward(times[b : b + 1], ids[b : b + 1], w, p, 40.0)
        k = one.times.shape[1]
        torch.testing.assert_close(one.times[0], batch.times[b, :k], atol=1e-12, rtol=0)
        assert torch.equal(one.ids[0], batch.ids[b, :k]) and torch.isinf(batch.times[b, k:]).all()
    # the output is a valid input batch of the next layer
    out = lif_layer_forward(batch.times, batch.ids, torch.full((8, 2), 0.3, dtype=F64), p, 40.0)
    assert out.times.shape[0] == 6
