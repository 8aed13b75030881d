"""The AdEx step (adex_constants + adex_step) against Brian2, its LIF limit, and stability.

Reference: Brian2 (numpy target) integrates the same AdEx equations with RK4 at
dt = 0.002 ms; a Brian2 spike recorded at t is stamped t + dt_ref (the grid point where
v first exceeds v_spike), so the reference is within 0.002 ms of the true crossing.

Tolerance. neurotwin's scheme is first order (the exponential term and w are held over a
step). Per inter-spike interval it adds an error of about two steps (the explicit
exponential lags on the upswing from v_thresh to v_spike) plus at most one step from
stamping the spike on the grid; the error carries over through the reset, so spike k may
be off by k such increments. The test bounds each increment by 4 dt and checks the order:
halving dt at least nearly halves the error of every spike.
"""

import numpy as np
import pytest
import torch

from neurotwin.dynamics import (
    LIF,
    AdEx,
    AdExConstants,
    AdExState,
    LIFConstants,
    LIFState,
    adex_constants,
    adex_step,
    lif_constants,
    lif_step,
)
from neurotwin.errors import ConfigError

F64 = torch.float64
DURATION = 40.0
DT_REF = 0.002

NEURONS = [  # (AdEx parameters, DC current nA, initial i_exc nA, initial i_inh nA)
    ({}, 1.0, 0.0, 0.0),
    ({}, 2.5, 0.0, 0.0),
    ({"a": 0.0, "b": 0.5, "tau_w": 50.0}, 1.2, 0.0, 0.0),
    ({"a": 20.0, "b": 0.0, "tau_refrac": 2.0}, 1.5, 0.0, 0.0),
    ({"tau_syn_exc": 3.0, "tau_syn_inh": 8.0}, 0.6, 6.0, 1.0),
]


@pytest.fixture(scope="module")
def brian2_spikes():
    b2 = pytest.importorskip("brian2")
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    b2.defaultclock.dt = DT_REF * b2.ms
    eqs = """
    dv/dt = (-g_l * (v - e_l) + g_l * d_t * exp((v - v_t) / d_t) - w + ie - ii + i_dc) / c_m
            : volt (unless refractory)
    dw/dt = (a * (v - e_l) - w) / tau_w : amp
    die/dt = -ie / tau_e : amp
    dii/dt = -ii / tau_i : amp
    g_l = c_m / tau_m : siemens
    c_m : farad (constant)
    tau_m : second (constant)
    e_l : volt (constant)
    v_t : volt (constant)
    d_t : volt (constant)
    a : siemens (constant)
    b : amp (constant)
    tau_w : second (constant)
    tau_e : second (constant)
    tau_i : second (constant)
    i_dc : amp (constant)
    v_r : volt (constant)
    v_s : volt (constant)
    t_ref : second (constant)
    """
    group = b2.NeuronGroup(len(NEURONS), eqs, threshold="v > v_s", reset="v = v_r; w += b",
                           refractory="t_ref", method="rk4")
    ms, mV, nA, nF, nS = b2.ms, b2.mV, b2.nA, b2.nF, b2.nS
    for k, (kw, i_dc, i_exc, i_inh) in enumerate(NEURONS):
        p = AdEx(**kw)
        group.c_m[k] = p.cm * nF
        group.tau_m[k] = p.tau_mem * ms
        group.e_l[k] = p.v_rest * mV
        group.v_t[k] = p.v_thresh * mV
        group.d_t[k] = p.delta_t * mV
        group.a[k] = p.a * nS
        group.b[k] = p.b * nA
        group.tau_w[k] = p.tau_w * ms
        group.tau_e[k] = p.tau_syn_exc * ms
        group.tau_i[k] = p.tau_syn_inh * ms
        group.i_dc[k] = i_dc * nA
        group.v_r[k] = p.v_reset * mV
        group.v_s[k] = p.v_spike * mV
        group.t_ref[k] = p.tau_refrac * ms
        group.v[k] = p.v_rest * mV
        group.ie[k] = i_exc * nA
        group.ii[k] = i_inh * nA
    monitor = b2.SpikeMonitor(group)
    b2.run(DURATION * ms)
    trains = monitor.spike_trains()
    return [np.asarray(trains[k] / ms) + DT_REF for k in range(len(NEURONS))]


def stacked_constants(params, dt):
    """AdExConstants whose fields are tensors over neurons with different parameters."""
    cs = [adex_constants(p, dt) for p in params]
    lif = LIFConstants(*(torch.tensor([c.lif[f] for c in cs]) for f in range(len(cs[0].lif))))
    rest = (torch.tensor([c[f] for c in cs], dtype=F64) for f in range(1, len(cs[0])))
    return AdExConstants(lif, *rest)


def neurotwin_spikes(dt):
    params = [AdEx(**kw) for kw, *_ in NEURONS]
    c = stacked_constants(params, dt)
    n = len(NEURONS)
    state = AdExState(
        torch.tensor([p.v_rest for p in params], dtype=F64),
        torch.tensor([i_exc for *_, i_exc, _ in NEURONS], dtype=F64),
        torch.tensor([i_inh for *_, i_inh in NEURONS], dtype=F64),
        torch.zeros(n, dtype=F64),
        torch.zeros(n, dtype=torch.int64),
    )
    i_dc = torch.tensor([i for _, i, _, _ in NEURONS], dtype=F64)
    zero = torch.zeros(n, dtype=F64)
    steps = round(DURATION / dt)
    spikes = []
    for _ in range(steps):
        s, state = adex_step(state, zero, zero, i_dc, c)
        spikes.append(s)
    raster = torch.stack(spikes).numpy()
    return [(np.flatnonzero(raster[:, k]) + 1) * dt for k in range(n)]


def spike_errors(got, ref, dt):
    """Per-spike time errors, ms, over the spikes both have well inside the run."""
    ref = ref[ref < DURATION - 1.0]
    assert got.size >= ref.size, f"missing spikes: {got} vs {ref}"
    return got[: ref.size] - ref


def test_spike_times_match_brian2(brian2_spikes):
    dt = 0.01
    got = neurotwin_spikes(dt)
    assert sum(r.size for r in brian2_spikes) >= 15
    for k, (g, r) in enumerate(zip(got, brian2_spikes, strict=True)):
        assert r.size >= 1, f"neuron {k} is silent in the reference"
        err = spike_errors(g, r, dt)
        increments = np.diff(np.concatenate([[0.0], err]))
        assert np.all(np.abs(increments) <= 4 * dt), f"neuron {k}: errors {err} ms"
        # and no extra spikes up to the last reference spike
        assert g[g < r[-1] + 0.5].size == r.size


def test_first_order_convergence(brian2_spikes):
    coarse, fine = neurotwin_spikes(0.01), neurotwin_spikes(0.005)
    for g_coarse, g_fine, r in zip(coarse, fine, brian2_spikes, strict=True):
        e_coarse = np.abs(spike_errors(g_coarse, r, 0.01))
        e_fine = np.abs(spike_errors(g_fine, r, 0.005))
        assert np.all(e_fine <= 0.6 * e_coarse + DT_REF), (e_coarse, e_fine)


def test_reduces_to_lif_without_exponential_and_adaptation():
    """delta_t -> 0, a = b = 0: identical to lif_step while exp((v - v_T)/delta_t) == 0."""
    dt, n, steps = 0.1, 6, 600
    lif = LIF(tau_mem=15.0, tau_syn_exc=4.0, tau_syn_inh=7.0, cm=0.4, v_rest=-65.0,
              v_reset=-68.0, v_thresh=-50.0, tau_refrac=1.0, i_offset=0.05)
    adex = AdEx(tau_mem=15.0, tau_syn_exc=4.0, tau_syn_inh=7.0, cm=0.4, v_rest=-65.0,
                v_reset=-68.0, v_thresh=-50.0, v_spike=-45.0, tau_refrac=1.0, i_offset=0.05,
                delta_t=1e-3, a=0.0, b=0.0)
    c_lif, c_adex = lif_constants(lif, dt), adex_constants(adex, dt)
    gen = torch.Generator().manual_seed(3)
    i_ext = torch.linspace(0.3, 1.2, n, dtype=F64)
    inputs = (torch.rand(steps, 2, n, generator=gen, dtype=F64) < 0.05) * 0.8
    zero = torch.zeros(n, dtype=F64)
    s_lif = LIFState(zero + lif.v_rest, zero, zero, torch.zeros(n, dtype=torch.int64))
    s_adex = AdExState(zero + adex.v_rest, zero, zero, zero, torch.zeros(n, dtype=torch.int64))
    first_lif = torch.full((n,), steps)
    first_adex = torch.full((n,), steps)
    for k in range(steps):
        free = (first_lif == steps) & (first_adex == steps)
        # below v_T - 745 delta_t the exponential term is exactly 0 in float64
        below = s_adex.v < adex.v_thresh - 1.0
        assert torch.equal(s_lif.v[free & below], s_adex.v[free & below])
        z_lif, s_lif = lif_step(s_lif, inputs[k, 0], inputs[k, 1], i_ext, c_lif)
        z_adex, s_adex = adex_step(s_adex, inputs[k, 0], inputs[k, 1], i_ext, c_adex)
        first_lif = torch.where(z_lif & (first_lif == steps), k, first_lif)
        first_adex = torch.where(z_adex & (first_adex == steps), k, first_adex)
        assert torch.equal(s_adex.w, zero)
    assert (first_lif < steps).sum() >= 3
    # LIF spikes when v reaches v_T; AdEx one or two steps later, when the exponential has
    # carried v past v_spike
    lag = (first_adex - first_lif)[first_lif < steps]
    assert torch.all((lag >= 0) & (lag <= 2)), lag


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("delta_t", [2.0, 0.5])
def test_stable_at_large_time_step(dtype, delta_t):
    dt, n, steps = 1.0, 200, 400
    p = AdEx(tau_refrac=0.0, delta_t=delta_t)
    c = adex_constants(p, dt)
    gen = torch.Generator().manual_seed(0)
    zero = torch.zeros(n, dtype=dtype)
    state = AdExState(zero + p.v_rest, zero, zero, zero, torch.zeros(n, dtype=torch.int64))
    i_ext = torch.linspace(-2.0, 20.0, n, dtype=dtype)
    total = 0
    for _ in range(steps):
        exc = torch.rand(n, generator=gen, dtype=dtype) * 5.0
        inh = torch.rand(n, generator=gen, dtype=dtype) * 5.0
        spikes, state = adex_step(state, exc, inh, i_ext, c)
        total += int(spikes.sum())
        for x in state[:4]:
            assert torch.isfinite(x).all()
        assert (state.v < p.v_spike).all()
    assert total > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau_w": 0.0}, "tau_w must be > 0 ms, got 0.0"),
        ({"delta_t": -1.0}, "delta_t must be > 0 mV, got -1.0"),
        ({"a": float("nan")}, "a must be finite, got nan"),
        ({"v_spike": -55.0}, r"v_spike must be above v_thresh, got v_spike=-55.0 mV"),
        ({"v_reset": -30.0}, r"v_reset must be below v_spike, got v_reset=-30.0 mV"),
        ({"tau_mem": -1.0}, "tau_mem must be > 0 ms, got -1.0"),
    ],
)
def test_adex_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AdEx(**kwargs)


def test_adex_round_trips_through_dict():
    p = AdEx(a=2.0, b=0.1)
    assert AdEx(**p.to_dict()) == p
    assert p.initial_state() == {"v": p.v_rest, "i_exc": 0.0, "i_inh": 0.0, "w": 0.0}
