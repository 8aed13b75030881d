"""The LIF step (lif_constants + lif_step) against analytic solutions at the grid points.

Golden values are closed forms of the LIF equations evaluated here, independently of
neurotwin (with mpmath at 50 digits where float64 would cancel), never neurotwin output.
"""

import math

import mpmath
import numpy as np
import pytest
import torch

from neurotwin.dynamics import LIF, LIFState, exp_kernel_factor, lif_constants, lif_step
from neurotwin.errors import ConfigError

F64 = torch.float64


def rest_state(p, n, v=None, i_exc=0.0, i_inh=0.0):
    v0 = p.v_rest if v is None else v
    return LIFState(
        torch.full((n,), v0, dtype=F64),
        torch.full((n,), i_exc, dtype=F64),
        torch.full((n,), i_inh, dtype=F64),
        torch.zeros(n, dtype=torch.int64),
    )


def run(p, dt, steps, state, i_ext=0.0):
    """v after each step (steps, n) and the spike mask (steps, n)."""
    c = lif_constants(p, dt)
    zero = torch.zeros_like(state.v)
    vs, spikes = [], []
    for _ in range(steps):
        s, state = lif_step(state, zero, zero, i_ext, c)
        vs.append(state.v.clone())
        spikes.append(s)
    return torch.stack(vs).numpy(), torch.stack(spikes).numpy(), state


def psp_exact(t, w, tau_mem, tau_syn, cm):
    """v - v_rest after a current jump w (nA) at t = 0 from rest, in mV, at 50 digits."""
    with mpmath.workdps(50):
        t, w, tm, ts, cm = (mpmath.mpf(x) for x in (t, w, tau_mem, tau_syn, cm))
        if tm == ts:
            return float(w / cm * t * mpmath.exp(-t / tm))
        return float(w / cm * tm * ts / (ts - tm) * (mpmath.exp(-t / ts) - mpmath.exp(-t / tm)))


# --- DC input ----------------------------------------------------------------------------


def test_dc_input_matches_charging_curve():
    p = LIF(tau_mem=20.0, cm=0.5, v_rest=-65.0, v_thresh=0.0, i_offset=0.2)
    currents = torch.tensor([0.0, 0.1, 0.35, -0.2], dtype=F64)  # i_ext on top of i_offset
    dt, steps = 0.1, 2000
    v, spikes, _ = run(p, dt, steps, rest_state(p, 4), i_ext=currents)
    t = dt * np.arange(1, steps + 1)[:, None]
    r_i = p.tau_mem / p.cm * (p.i_offset + currents.numpy())
    golden = p.v_rest + r_i * (1.0 - np.exp(-t / p.tau_mem))
    assert not spikes.any()
    np.testing.assert_allclose(v - p.v_rest, golden - p.v_rest, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dt", [0.1, 0.025])
def test_dc_first_spike_on_first_grid_point_after_crossing(dt):
    p = LIF(tau_mem=10.0, cm=0.25, v_rest=-70.0, v_reset=-70.0, v_thresh=-55.0)
    currents = np.array([0.4, 0.55, 0.8, 1.3, 3.0])  # nA; R I = 16, 22, 32, 52, 120 mV
    r_i = p.tau_mem / p.cm * currents
    t_star = -p.tau_mem * np.log(1.0 - (p.v_thresh - p.v_rest) / r_i)
    frac = t_star / dt - np.floor(t_star / dt)
    assert np.all((frac > 1e-6) & (frac < 1 - 1e-6)), "choose currents off the grid"
    steps = int(np.ceil(t_star.max() / dt)) + 5
    _, spikes, _ = run(p, dt, steps, rest_state(p, 5), i_ext=torch.tensor(currents, dtype=F64))
    first = spikes.argmax(axis=0) + 1  # step k ends at k dt
    np.testing.assert_array_equal(first, np.ceil(t_star / dt).astype(int))


def test_no_spike_when_asymptote_below_threshold():
    p = LIF(tau_mem=10.0, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    i = (p.v_thresh - p.v_rest) * p.cm / p.tau_mem * (1 - 1e-9)  # v_inf just below
    _, spikes, _ = run(p, 0.5, 4000, rest_state(p, 1), i_ext=i)
    assert not spikes.any()


# --- single exponential PSP ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tau_mem", "tau_syn"),
    [
        (20.0, 5.0),
        (5.0, 20.0),
        (10.0, 10.0),
        (10.0, 10.0 * (1 + 1e-9)),
        (10.0, 10.0 * (1 - 1e-9)),
        (7.0, 7.0 * (1 + 1e-14)),
    ],
)
@pytest.mark.parametrize("receptor", ["exc", "inh"])
def test_psp_matches_closed_form(tau_mem, tau_syn, receptor):
    w, cm, dt, steps = 0.7, 0.3, 0.1, 600
    p = LIF(tau_mem=tau_mem, tau_syn_exc=tau_syn, tau_syn_inh=tau_syn, cm=cm, v_rest=-60.0,
            v_thresh=100.0)
    kw = {"i_exc": w} if receptor == "exc" else {"i_inh": w}
    v, _, state = run(p, dt, steps, rest_state(p, 1, **kw))
    sign = 1.0 if receptor == "exc" else -1.0
    golden = np.array([sign * psp_exact(k * dt, w, tau_mem, tau_syn, cm)
                       for k in range(1, steps + 1)])
    np.testing.assert_allclose(v[:, 0] - p.v_rest, golden, rtol=1e-12, atol=1e-14)
    current = state.i_exc if receptor == "exc" else state.i_inh
    assert float(current[0]) == pytest.approx(w * math.exp(-steps * dt / tau_syn), rel=1e-12)


def test_input_arrives_at_end_of_step():
    """Weight delivered during step 0 acts from t = dt on: the PSP is shifted by one step."""
    p = LIF(tau_mem=20.0, tau_syn_exc=5.0, v_thresh=100.0)
    c = lif_constants(p, 0.1)
    state = rest_state(p, 1)
    zero = torch.zeros(1, dtype=F64)
    _, state = lif_step(state, torch.tensor([0.5], dtype=F64), zero, 0.0, c)
    assert float(state.v[0]) == p.v_rest
    assert float(state.i_exc[0]) == 0.5
    v, _, _ = run(p, 0.1, 50, state)
    golden = [psp_exact(k * 0.1, 0.5, 20.0, 5.0, 1.0) for k in range(1, 51)]
    np.testing.assert_allclose(v[:, 0] - p.v_rest, golden, rtol=1e-12)


def test_exp_kernel_factor_closed_form_and_array_types():
    t = np.array([0.0, 1e-9, 0.1, 3.0, 250.0])
    for tau_mem, tau_syn in [(20.0, 5.0), (5.0, 20.0), (10.0, 10.0), (10.0, 10.0 + 1e-8)]:
        golden = [psp_exact(x, 1.0, tau_mem, tau_syn, 1.0) for x in t]
        np.testing.assert_allclose(exp_kernel_factor(t, tau_mem, tau_syn), golden, rtol=1e-13)
        as_torch = exp_kernel_factor(torch.tensor(t, dtype=F64), tau_mem, tau_syn)
        np.testing.assert_allclose(as_torch.numpy(), golden, rtol=1e-13)
        scalar = [exp_kernel_factor(float(x), tau_mem, tau_syn) for x in t]
        np.testing.assert_allclose(scalar, golden, rtol=1e-13)


def test_constants_for_steps_much_longer_than_time_constants():
    """dt >> tau: no overflow (expm1 of a large argument), propagators decay to 0."""
    c = lif_constants(LIF(tau_mem=1.0, tau_syn_exc=10.0, tau_syn_inh=0.1), 5000.0)
    assert c.p_vv == 0.0 and c.p_vn == 0.0
    assert c.p_vi == pytest.approx(1.0)
    # exp(-dt/tau_mem) underflows, the slow synaptic term remains: tau_m tau_s/(tau_s - tau_m)
    assert c.p_ve == pytest.approx(10.0 / 9.0 * math.exp(-500.0), rel=1e-13)


# --- refractory clamp ---------------------------------------------------------------------


@pytest.mark.parametrize(("tau_refrac", "held"), [(0.0, 0), (2.0, 20), (2.04, 20), (2.06, 21)])
def test_refractory_clamp_and_regular_firing(tau_refrac, held):
    dt = 0.1
    p = LIF(tau_mem=10.0, tau_syn_exc=0.2, cm=1.0, v_rest=-65.0, v_reset=-70.0,
            v_thresh=-50.0, tau_refrac=tau_refrac)
    assert lif_constants(p, dt).refrac_steps == held
    i = 3.0137  # nA: v_inf = -34.863 mV
    v_inf = p.v_rest + p.tau_mem / p.cm * i
    w = 0.4  # initial excitatory current: keeps decaying while v is clamped
    c = lif_constants(p, dt)
    state = rest_state(p, 1, i_exc=w)
    zero = torch.zeros(1, dtype=F64)
    v, spikes, currents = [], [], []
    for _ in range(500):
        s, state = lif_step(state, zero, zero, i, c)
        v.append(float(state.v[0]))
        spikes.append(bool(s[0]))
        currents.append(float(state.i_exc[0]))
    v = np.array(v)
    steps = np.flatnonzero(spikes) + 1  # step k ends at k dt
    assert steps.size >= 3
    for k in steps[:-1]:
        # v is v_reset at the spike step and held there for `held` more steps
        np.testing.assert_array_equal(v[k - 1 : k + held], p.v_reset)
        assert v[k + held] > p.v_reset
    k = steps[0] + held
    assert currents[k - 1] == pytest.approx(w * math.exp(-k * dt / p.tau_syn_exc), rel=1e-12)
    # free again from v_reset at (k + held) dt: the charging curve to v_inf (the synaptic
    # current is below 1e-17 nA by the first spike)
    golden = v_inf + (p.v_reset - v_inf) * np.exp(-dt * np.arange(1, 6) / p.tau_mem)
    np.testing.assert_allclose(v[k : k + 5], golden, rtol=1e-12)
    # inter-spike interval in steps: held + first grid point past the charging time
    charge = p.tau_mem * math.log((v_inf - p.v_reset) / (v_inf - p.v_thresh))
    assert 1e-6 < charge / dt % 1 < 1 - 1e-6
    np.testing.assert_array_equal(np.diff(steps), held + math.ceil(charge / dt))


def test_lif_step_keeps_dtype_and_shape():
    p = LIF()
    c = lif_constants(p, 0.1)
    state = LIFState(*(torch.zeros(3, 4, dtype=torch.float32) for _ in range(3)),
                     torch.zeros(3, 4, dtype=torch.int64))
    spikes, out = lif_step(state, torch.zeros(3, 4), torch.zeros(3, 4), 0.0, c)
    assert spikes.dtype == torch.bool and spikes.shape == (3, 4)
    assert all(x.dtype == torch.float32 for x in out[:3])


# --- parameter validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau_mem": 0.0}, "tau_mem must be > 0 ms, got 0.0"),
        ({"tau_mem": -5.0}, "tau_mem must be > 0 ms, got -5.0"),
        ({"tau_syn_exc": -1.0}, "tau_syn_exc must be > 0 ms, got -1.0"),
        ({"tau_syn_inh": 0.0}, "tau_syn_inh must be > 0 ms, got 0.0"),
        ({"tau_mem": math.nan}, "tau_mem must be finite, got nan"),
        ({"tau_mem": math.inf}, "tau_mem must be finite, got inf"),
        ({"cm": 0.0}, "cm must be > 0 nF, got 0.0"),
        ({"tau_refrac": -0.1}, "tau_refrac must be >= 0 ms, got -0.1"),
        ({"v_rest": math.nan}, "v_rest must be finite, got nan"),
        ({"i_offset": math.inf}, "i_offset must be finite, got inf"),
        ({"v_reset": -50.0, "v_thresh": -50.0}, r"v_reset must be below v_thresh.*-50.0"),
        ({"v_reset": -40.0, "v_thresh": -50.0}, r"v_reset=-40.0 mV, v_thresh=-50.0 mV"),
    ],
)
def test_lif_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LIF(**kwargs)


@pytest.mark.parametrize("dt", [0.0, -0.1, math.nan])
def test_lif_constants_rejects_bad_dt(dt):
    with pytest.raises(ConfigError, match="dt must"):
        lif_constants(LIF(), dt)


def test_lif_round_trips_through_dict():
    p = LIF(tau_mem=12.0, v_thresh=-48.0, tau_refrac=1.5)
    assert LIF(**p.to_dict()) == p
    assert p.initial_state() == {"v": p.v_rest, "i_exc": 0.0, "i_inh": 0.0}
