"""The next-spike-time solver and the free evolution of the LIF neuron.

Golden values: closed-form crossing times (DC charging, Lambert W for tau_syn == tau_mem, a
quadratic for tau_mem == 2 tau_syn), and brute force: v(t) written out here as a sum of
exponentials (independently of neurotwin; mpmath at 50 digits where float64 would cancel),
sampled densely, every local maximum refined, the first crossing polished with brentq.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar
from scipy.special import lambertw

from neurotwin.dynamics import LIF, LIFState, lif_constants, lif_step
from neurotwin.dynamics.spike_time import free_evolution, next_spike_time, next_spike_times
from neurotwin.errors import ConfigError

TOL = 1e-9  # ms, the solver's promise (it shrinks brackets to 1e-10 ms)
F64 = torch.float64


# --- independent reference ------------------------------------------------------------------


def v_reference(t, v0, i_exc, i_inh, p, i_ext=0.0):
    """v(t) in mV as a sum of exponentials (float64; time constants not nearly equal)."""
    t = np.asarray(t, dtype=float)
    decay = np.exp(-t / p.tau_mem)
    r_i = p.tau_mem / p.cm * (p.i_offset + i_ext)
    v = p.v_rest + (v0 - p.v_rest) * decay + r_i * (1.0 - decay)
    for i0, tau_syn, sign in ((i_exc, p.tau_syn_exc, 1.0), (i_inh, p.tau_syn_inh, -1.0)):
        if tau_syn == p.tau_mem:
            psp = t * decay
        else:
            psp = p.tau_mem * tau_syn / (tau_syn - p.tau_mem) * (np.exp(-t / tau_syn) - decay)
        v = v + sign * i0 / p.cm * psp
    return v


def v_mp(t, v0, i_exc, i_inh, p, i_ext=0.0):
    """v(t) in mV at 50 digits (an mpf), for any time constants."""
    with mpmath.workdps(50):
        t, v0, i_exc, i_inh, i_ext = (mpmath.mpf(x) for x in (t, v0, i_exc, i_inh, i_ext))
        tm, cm = mpmath.mpf(p.tau_mem), mpmath.mpf(p.cm)
        decay = mpmath.exp(-t / tm)
        v = p.v_rest + (v0 - p.v_rest) * decay + tm / cm * (p.i_offset + i_ext) * (1 - decay)
        for i0, tau_syn, sign in ((i_exc, p.tau_syn_exc, 1), (i_inh, p.tau_syn_inh, -1)):
            ts = mpmath.mpf(tau_syn)
            if ts == tm:
                psp = t * decay
            else:
                psp = tm * ts / (ts - tm) * (mpmath.exp(-t / ts) - decay)
            v += sign * i0 / cm * psp
        return +v


def crossing_mp(lo, hi, v0, i_exc, i_inh, p, i_ext=0.0):
    """The root of v = v_thresh in a bracket [lo, hi] (v(lo) < v_thresh <= v(hi)), by
    bisection at 50 digits, as a float."""
    with mpmath.workdps(50):
        lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
        assert v_mp(lo, v0, i_exc, i_inh, p, i_ext) < p.v_thresh
        assert v_mp(hi, v0, i_exc, i_inh, p, i_ext) >= p.v_thresh
        for _ in range(120):
            mid = (lo + hi) / 2
            if v_mp(mid, v0, i_exc, i_inh, p, i_ext) < p.v_thresh:
                lo = mid
            else:
                hi = mid
        return float(hi)


def brute_force(v0, i_exc, i_inh, p, horizon, i_ext=0.0, samples=20001):
    """First crossing time by dense sampling + refined local maxima + brentq.

    Returns (time, margin): margin is the smallest distance, mV, of a local maximum of v or
    of v(horizon) from the threshold (small margins are grazing cases, tested apart).
    """
    if v0 >= p.v_thresh:
        return 0.0, math.inf
    def f(t):
        return float(v_reference(t, v0, i_exc, i_inh, p, i_ext)) - p.v_thresh
    t = np.linspace(0.0, horizon, samples)
    v = v_reference(t, v0, i_exc, i_inh, p, i_ext) - p.v_thresh
    margins = [abs(v[-1])]
    candidates = []
    above = np.flatnonzero(v >= 0)
    if above.size:
        j = above[0]
        candidates.append((t[j - 1], t[j]))
    inner = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:])) + 1
    # between samples (<= 5e-3 ms apart) v rises by far less than 0.1 mV above a sample
    for m in inner[np.abs(v[inner]) < 0.1]:
        res = minimize_scalar(lambda x: -f(x), bounds=(t[m - 1], t[m + 1]), method="bounded",
                              options={"xatol": 1e-13})
        peak = -res.fun
        margins.append(abs(peak))
        if peak >= 0 and f(t[m - 1]) < 0:
            candidates.append((t[m - 1], res.x))
    margins.extend(np.abs(v[inner]))
    if not candidates:
        return math.inf, min(margins)
    lo, hi = min(candidates)
    return brentq(f, lo, hi, xtol=1e-14), min(margins)


# --- analytic golden values ---------------------------------------------------------------


@pytest.mark.parametrize("v0", [-65.0, -58.0, -50.1, -75.0])
@pytest.mark.parametrize("i_ext", [0.8, 1.0, 2.5, 40.0])
def test_dc_crossing_time(v0, i_ext):
    p = LIF(tau_mem=20.0, cm=1.0, v_rest=-65.0, v_reset=-70.0, v_thresh=-50.0)
    v_inf = p.v_rest + p.tau_mem / p.cm * i_ext
    golden = p.tau_mem * math.log((v_inf - v0) / (v_inf - p.v_thresh))
    t = next_spike_time(v0, 0.0, 0.0, p, horizon=200.0, i_ext=i_ext)
    assert golden - 1e-12 <= t <= golden + TOL


def test_dc_below_or_at_asymptote_never_crosses():
    p = LIF(tau_mem=20.0, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    i_at = (p.v_thresh - p.v_rest) * p.cm / p.tau_mem  # v_inf == v_thresh
    for i_ext in (0.0, 0.5 * i_at, i_at, -1.0):
        assert next_spike_time(-60.0, 0.0, 0.0, p, 1e4, i_ext=i_ext) == math.inf


@pytest.mark.parametrize("v0", [-65.0, -60.0, -70.0])
@pytest.mark.parametrize("i_exc", [1.5, 4.0, 12.0])
def test_equal_time_constants_lambert_w(v0, i_exc):
    """tau_syn == tau_mem, v0 = v_rest: (i_exc/cm) t exp(-t/tau) = dv -> Lambert W_0."""
    tau = 8.0
    p = LIF(tau_mem=tau, tau_syn_exc=tau, tau_syn_inh=tau, cm=0.5, v_rest=v0, v_thresh=-50.0,
            v_reset=v0 - 1.0)
    c = (p.v_thresh - p.v_rest) * p.cm / i_exc
    t = next_spike_time(v0, i_exc, 0.0, p, horizon=100.0)
    if c / tau > 1 / math.e:  # the peak (i_exc/cm) tau / e stays below threshold
        assert t == math.inf
        return
    golden = float(-tau * lambertw(-c / tau, 0).real)
    assert golden - 1e-12 <= t <= golden + TOL


@pytest.mark.parametrize(("v0", "i_exc", "i_ext"), [(-65.0, 8.0, 0.0), (-55.0, 5.0, 0.1),
                                                    (-70.0, 10.0, -0.2), (-52.0, 2.0, 0.9),
                                                    (-55.0, 3.0, 0.1)])
def test_tau_mem_twice_tau_syn_quadratic(v0, i_exc, i_ext):
    """tau_mem = 2 tau_syn: with x = exp(-t/tau_mem), v = v_thresh is a quadratic in x."""
    p = LIF(tau_mem=10.0, tau_syn_exc=5.0, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    k = i_exc / p.cm * p.tau_mem * p.tau_syn_exc / (p.tau_syn_exc - p.tau_mem)
    r_i = p.tau_mem / p.cm * i_ext
    # v - v_rest = (v0 - v_rest) x + r_i (1 - x) + k (x^2 - x)
    roots = np.roots([k, v0 - p.v_rest - r_i - k, r_i - (p.v_thresh - p.v_rest)])
    inside = [r.real for r in roots if abs(r.imag) < 1e-12 and 0 < r.real < 1]
    t = next_spike_time(v0, i_exc, 0.0, p, horizon=100.0, i_ext=i_ext)
    if not inside:
        assert t == math.inf
        return
    golden = -p.tau_mem * math.log(max(inside))  # the largest x is the earliest time
    assert golden - 1e-12 <= t <= golden + TOL


# --- brute force on random states -----------------------------------------------------------

time_constants = st.floats(0.5, 40.0)


@st.composite
def neurons(draw):
    tau_mem = draw(st.floats(2.0, 30.0))
    tau_exc = draw(st.one_of(time_constants, st.just(tau_mem)))
    tau_inh = draw(st.one_of(time_constants, st.just(tau_mem), st.just(tau_exc)))
    for tau in (tau_exc, tau_inh):
        assume(tau == tau_mem or abs(tau - tau_mem) > 1e-3 * tau_mem)
    p = LIF(tau_mem=tau_mem, tau_syn_exc=tau_exc, tau_syn_inh=tau_inh,
            cm=draw(st.floats(0.1, 2.0)), v_rest=-65.0, v_reset=-70.0, v_thresh=-50.0,
            i_offset=draw(st.floats(-0.5, 1.0)))
    current = st.one_of(st.just(0.0), st.floats(-5.0, 30.0))
    state = (draw(st.floats(-80.0, -49.0)), draw(current), draw(current))
    return p, state, draw(st.floats(-1.0, 1.5)), draw(st.floats(0.1, 100.0))


@settings(max_examples=300, deadline=None)
@given(neurons())
def test_against_brute_force(case):
    p, (v0, i_exc, i_inh), i_ext, horizon = case
    golden, margin = brute_force(v0, i_exc, i_inh, p, horizon, i_ext)
    assume(margin > 1e-6)  # grazing: see test_grazing_*
    t = next_spike_time(v0, i_exc, i_inh, p, horizon, i_ext)
    event("no crossing" if golden == math.inf else "crossing")
    if golden == math.inf:
        assert t == math.inf
    else:
        assert abs(t - golden) <= TOL
        assert t <= horizon
        assert t == 0.0 or v_mp(t, v0, i_exc, i_inh, p, i_ext) >= p.v_thresh - 1e-12


@pytest.mark.parametrize("rel", [1e-9, -1e-9, 1e-13])
def test_nearly_equal_time_constants(rel):
    """tau_syn within 1e-9 of tau_mem: no cancellation; reference at 50 digits."""
    p = LIF(tau_mem=10.0, tau_syn_exc=10.0 * (1 + rel), tau_syn_inh=10.0 * (1 - 2 * rel),
            cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    rng = np.random.default_rng(7)
    for _ in range(20):
        v0, i_exc, i_inh = rng.uniform(-70, -52), rng.uniform(0, 20), rng.uniform(0, 6)
        # the equal-time-constant reference is within 1e-8 mV: bracket from it, polish at 50 digits
        p_eq = LIF(tau_mem=10.0, tau_syn_exc=10.0, tau_syn_inh=10.0, cm=1.0, v_rest=-65.0,
                   v_thresh=-50.0)
        approx, margin = brute_force(v0, i_exc, i_inh, p_eq, 40.0)
        if margin < 1e-5:
            continue
        t = next_spike_time(v0, i_exc, i_inh, p, 40.0)
        if approx == math.inf:
            assert t == math.inf
            continue
        golden = crossing_mp(max(approx - 1e-4, 0.0), approx + 1e-4, v0, i_exc, i_inh, p)
        assert abs(t - golden) <= TOL


# --- grazing, horizon, conventions ----------------------------------------------------------


def grazing_state(p, i_exc, overshoot):
    """v0 such that the peak of v (from v0 with i_exc, one synaptic current) is
    v_thresh + overshoot, computed at 50 digits; returns (v0, t_peak)."""
    with mpmath.workdps(50):
        tm, ts, cm = (mpmath.mpf(x) for x in (p.tau_mem, p.tau_syn_exc, p.cm))
        dv = mpmath.mpf(p.v_thresh) + overshoot - p.v_rest
        # at the peak v' = 0: v - v_rest = tau_mem i_exc(t)/cm
        t_peak = -ts * mpmath.log(dv * cm / (tm * i_exc))
        psp = t_peak * mpmath.exp(-t_peak / tm) if ts == tm else (
            tm * ts / (ts - tm) * (mpmath.exp(-t_peak / ts) - mpmath.exp(-t_peak / tm)))
        v0 = p.v_rest + (dv - i_exc / cm * psp) * mpmath.exp(t_peak / tm)
        return float(v0), float(t_peak)


@pytest.mark.parametrize("tau_syn", [5.0, 20.0])
def test_grazing_peak_at_threshold(tau_syn):
    """Peak within 1e-12 mV of v_thresh: either no spike or a spike at the peak, whose
    time is ill-conditioned (module docstring): within sqrt(2 * 1e-12 / |v''|) of it."""
    p = LIF(tau_mem=20.0, tau_syn_exc=tau_syn, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    v0, t_peak = grazing_state(p, 5.0, 0.0)
    assert float(v_mp(t_peak, v0, 5.0, 0.0, p)) == pytest.approx(p.v_thresh, abs=1e-12)
    t = next_spike_time(v0, 5.0, 0.0, p, 100.0)
    assert t == math.inf or abs(t - t_peak) < 1e-5


def test_grazing_exact_double_root():
    """tau_mem = 2 tau_syn, v0 = v_rest, i_exc = 6 nA: v - v_rest = 60 (x - x^2) with
    x = exp(-t/10), whose maximum 15 mV at x = 1/2 is exactly the threshold distance."""
    p = LIF(tau_mem=10.0, tau_syn_exc=5.0, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    t = next_spike_time(-65.0, 6.0, 0.0, p, 100.0)
    assert t == math.inf or abs(t - 10.0 * math.log(2.0)) < 1e-5


@pytest.mark.parametrize("tau_syn", [5.0, 20.0, 20.0 * (1 + 1e-9)])
def test_grazing_just_above_and_below(tau_syn):
    p = LIF(tau_mem=20.0, tau_syn_exc=tau_syn, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    v0, t_peak = grazing_state(p, 5.0, -1e-9)
    assert next_spike_time(v0, 5.0, 0.0, p, 100.0) == math.inf
    v0, t_peak = grazing_state(p, 5.0, 1e-9)
    t = next_spike_time(v0, 5.0, 0.0, p, 100.0)
    golden = crossing_mp(0.0, t_peak, v0, 5.0, 0.0, p)
    assert golden < t_peak and abs(t - golden) <= TOL


def test_horizon_is_respected():
    p = LIF(tau_mem=20.0, cm=1.0, v_rest=-65.0, v_thresh=-50.0)
    golden = p.tau_mem * math.log(20.0 / 5.0)  # i_ext = 1 nA: v_inf = -45 mV
    assert next_spike_time(-65.0, 0.0, 0.0, p, golden - 1e-6, i_ext=1.0) == math.inf
    t = next_spike_time(-65.0, 0.0, 0.0, p, golden + 1e-7, i_ext=1.0)
    assert abs(t - golden) <= TOL
    assert next_spike_time(-65.0, 0.0, 0.0, p, 0.0, i_ext=1.0) == math.inf


def test_second_crossing_beyond_a_dip():
    """Inhibition first, then slower excitation: v dips, then rises through threshold."""
    p = LIF(tau_mem=10.0, tau_syn_exc=15.0, tau_syn_inh=2.0, cm=1.0, v_rest=-65.0,
            v_thresh=-50.0)
    v0, i_exc, i_inh = -60.0, 6.0, 20.0
    golden, margin = brute_force(v0, i_exc, i_inh, p, 100.0)
    assert margin > 1e-3 and 0 < golden < math.inf
    assert v_reference(1.0, v0, i_exc, i_inh, p) < v0  # it does dip first
    assert abs(next_spike_time(v0, i_exc, i_inh, p, 100.0) - golden) <= TOL


def test_at_or_above_threshold_fires_now():
    p = LIF(v_thresh=-50.0)
    assert next_spike_time(-50.0, 0.0, 0.0, p, 10.0) == 0.0
    assert next_spike_time(-40.0, 0.0, 5.0, p, 10.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": math.inf}, "horizon must be finite"),
        ({"horizon": -1.0}, "horizon must be >= 0 ms, got -1.0"),
        ({"horizon": math.nan}, "horizon must be finite, got nan"),
        ({"v": math.nan}, "v must be finite, got nan"),
        ({"i_exc": math.inf}, "i_exc must be finite, got inf"),
    ],
)
def test_scalar_rejects_bad_input(kwargs, match):
    args = {"v": -60.0, "i_exc": 1.0, "i_inh": 0.0, "p": LIF(), "horizon": 10.0} | kwargs
    with pytest.raises(ConfigError, match=match):
        next_spike_time(**args)


# --- the batched solver ---------------------------------------------------------------------


def random_states(n, seed):
    rng = np.random.default_rng(seed)
    v0 = rng.uniform(-75.0, -49.0, n)
    i_exc = rng.uniform(0.0, 25.0, n) * (rng.random(n) < 0.8)
    i_inh = rng.uniform(0.0, 25.0, n) * (rng.random(n) < 0.6)
    return v0, i_exc, i_inh


@pytest.mark.parametrize("taus", [(20.0, 5.0, 10.0), (10.0, 10.0, 5.0), (10.0, 20.0, 20.0)])
def test_batched_equals_scalar(taus):
    p = LIF(tau_mem=taus[0], tau_syn_exc=taus[1], tau_syn_inh=taus[2], i_offset=0.1)
    v0, i_exc, i_inh = random_states(300, 1)
    horizon = np.linspace(1.0, 60.0, 300)
    i_ext = np.linspace(-0.5, 1.0, 300)
    batch = next_spike_times(v0, i_exc, i_inh, p, horizon, i_ext)
    assert isinstance(batch, np.ndarray) and batch.shape == (300,)
    scalar = [next_spike_time(*x, p, h, i) for *x, h, i in zip(v0, i_exc, i_inh, horizon, i_ext,
                                                              strict=True)]
    np.testing.assert_array_equal(batch, scalar)
    assert 50 < np.isfinite(batch).sum() < 300


def test_batched_torch_shapes_and_broadcasting():
    p = LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=10.0)
    v0, i_exc, i_inh = (torch.tensor(x, dtype=F64).reshape(4, 50) for x in random_states(200, 2))
    horizon = torch.linspace(5.0, 50.0, 50, dtype=F64)  # per column
    t = next_spike_times(v0, i_exc, i_inh, p, horizon)
    assert isinstance(t, torch.Tensor) and t.shape == (4, 50) and t.dtype == F64
    assert torch.all((t <= horizon) | torch.isinf(t))
    flat = next_spike_times(v0.numpy().ravel(), i_exc.numpy().ravel(), i_inh.numpy().ravel(), p,
                            np.tile(horizon.numpy(), 4))
    np.testing.assert_array_equal(t.numpy().ravel(), flat)


def test_batched_float32_is_close():
    p = LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=10.0)
    states = random_states(500, 3)
    t64 = next_spike_times(*(torch.tensor(x, dtype=F64) for x in states), p, 50.0)
    t32 = next_spike_times(*(torch.tensor(x, dtype=torch.float32) for x in states), p, 50.0)
    assert t32.dtype == torch.float32
    finite = torch.isfinite(t64) & torch.isfinite(t32)
    assert finite.sum() > 100
    # float32 resolves v to ~1e-5 mV: crossing times to ~1e-4 ms except near grazing
    close = (t32[finite].double() - t64[finite]).abs() < 1e-3
    assert close.float().mean() > 0.98


def test_result_does_not_track_gradients():
    p = LIF()
    v = torch.tensor([-60.0, -55.0], dtype=F64, requires_grad=True)
    t = next_spike_times(v, torch.tensor([5.0, 0.0], dtype=F64), 0.0, p, 50.0, i_ext=0.5)
    assert not t.requires_grad


# --- free evolution -------------------------------------------------------------------------


def test_free_evolution_is_one_lif_step_at_dt():
    p = LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=10.0, i_offset=0.3, v_thresh=100.0)
    v0, i_exc, i_inh = (torch.tensor(x, dtype=F64) for x in random_states(100, 4))
    state = LIFState(v0, i_exc, i_inh, torch.zeros(100, dtype=torch.int64))
    zero = torch.zeros(100, dtype=F64)
    _, stepped = lif_step(state, zero, zero, 0.2, lif_constants(p, 0.1))
    v, ie, ii = free_evolution(v0, i_exc, i_inh, p, 0.1, i_ext=0.2)
    torch.testing.assert_close(v - p.v_rest, stepped.v - p.v_rest, rtol=0, atol=1e-13)
    assert torch.equal(ie, stepped.i_exc) and torch.equal(ii, stepped.i_inh)


@pytest.mark.parametrize("taus", [(20.0, 5.0, 10.0), (10.0, 10.0, 30.0), (7.0, 7.0, 7.0)])
def test_free_evolution_closed_form(taus):
    p = LIF(tau_mem=taus[0], tau_syn_exc=taus[1], tau_syn_inh=taus[2], cm=0.7, i_offset=0.4)
    t = np.array([0.0, 1e-6, 0.5, 3.0, 17.0, 250.0])
    v0, i_exc, i_inh = -58.0, 3.0, 1.5
    golden = v_reference(t, v0, i_exc, i_inh, p, i_ext=-0.1)
    for times in (t, torch.tensor(t, dtype=F64)):
        v, ie, ii = free_evolution(v0, i_exc, i_inh, p, times, i_ext=-0.1)
        np.testing.assert_allclose(np.asarray(v), golden, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(ie), i_exc * np.exp(-t / p.tau_syn_exc), rtol=1e-15)
        np.testing.assert_allclose(np.asarray(ii), i_inh * np.exp(-t / p.tau_syn_inh), rtol=1e-15)
    scalar = [free_evolution(v0, i_exc, i_inh, p, float(x), i_ext=-0.1)[0] for x in t]
    np.testing.assert_allclose(scalar, golden, rtol=1e-13)
