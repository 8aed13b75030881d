"""The time-stepped engine against closed forms with three different time constants
(tau_syn_exc != tau_syn_inh != tau_mem), so that each propagator is checked against its
own formula: the two kernels share them, and agreeing with each other proves nothing
about them. And refractory periods off the dt grid, held for round(tau_refrac / dt)
steps."""

import math

import numpy as np
import pytest

import neurotwin as nt

DT = 0.1
MODEL = nt.LIF(tau_mem=13.0, tau_syn_exc=2.0, tau_syn_inh=7.0, cm=0.5, v_rest=-65.0,
               v_thresh=-30.0)
W_EXC, EXC_AT = 0.5, (1.0, 0.5)  # nA; spike time and delay, ms
W_INH, INH_AT = 0.8, (4.0, 1.3)
DC, DC_ON, DC_OFF = 0.3, 2.0, 12.0  # nA, ms


def psp(t: np.ndarray, w: float, tau_syn: float, m: nt.LIF) -> np.ndarray:
    """Membrane response (mV) to a current jump w e^{-t/tau_syn} at t = 0."""
    tr = np.clip(t, 0.0, None)
    amp = w * m.tau_mem * tau_syn / (m.cm * (tau_syn - m.tau_mem))
    return np.where(t >= -1e-9, amp * (np.exp(-tr / tau_syn) - np.exp(-tr / m.tau_mem)), 0.0)


def dc_response(t: np.ndarray, m: nt.LIF) -> np.ndarray:
    """Membrane response (mV) to DC switched on at DC_ON and off at DC_OFF."""
    r = m.tau_mem / m.cm
    rise = r * DC * (1 - np.exp(-np.clip(t - DC_ON, 0, None) / m.tau_mem))
    at_off = r * DC * (1 - math.exp(-(DC_OFF - DC_ON) / m.tau_mem))
    return np.where(t <= DC_OFF + 1e-9, rise, at_off * np.exp(-(t - DC_OFF) / m.tau_mem))


@pytest.mark.parametrize("kernel", ["numba", "torch"])
def test_exc_inh_psps_and_dc_each_follow_their_own_closed_form(kernel):
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([[EXC_AT[0]], [INH_AT[0]]], label="in"))
    pop = net.add(nt.Population(1, MODEL, label="n"))
    net.connect(src, pop, np.array([[W_EXC], [0.0]]), receptor="exc", delays=EXC_AT[1])
    net.connect(src, pop, np.array([[0.0], [W_INH]]), receptor="inh", delays=INH_AT[1])
    net.inject(pop, nt.DCSource(amplitude=DC, start=DC_ON, stop=DC_OFF))
    net.record(pop, "v", "i_exc", "i_inh")
    res = nt.simulate(net, 40.0, kernel=kernel)
    t = res.trace_times()
    t_exc, t_inh = t - sum(EXC_AT), t - sum(INH_AT)
    m = MODEL
    for var, t_rel, w, tau in (("i_exc", t_exc, W_EXC, m.tau_syn_exc),
                               ("i_inh", t_inh, W_INH, m.tau_syn_inh)):
        want = np.where(t_rel >= -1e-9, w * np.exp(-np.clip(t_rel, 0, None) / tau), 0.0)
        np.testing.assert_allclose(res.trace("n", var).numpy()[:, 0], want, rtol=1e-12,
                                   atol=1e-15, err_msg=var)
    # below threshold the responses add: DC, the excitatory and the inhibitory PSP
    want_v = m.v_rest + dc_response(t, m) + psp(t_exc, W_EXC, m.tau_syn_exc, m) \
        - psp(t_inh, W_INH, m.tau_syn_inh, m)
    v = res.trace("n", "v").numpy()[:, 0]
    np.testing.assert_allclose(v, want_v, rtol=0, atol=1e-11)
    assert v.max() < m.v_thresh


@pytest.mark.parametrize("kernel", ["numba", "torch"])
@pytest.mark.parametrize(("tau_refrac", "steps"), [(2.37, 24), (2.33, 23), (0.04, 0)])
def test_refractory_period_off_the_grid_is_rounded_to_whole_steps(kernel, tau_refrac, steps):
    """Documented (LIFConstants.refrac_steps): round(tau_refrac / dt) steps at v_reset."""
    model = nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0, cm=1.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-60.0, tau_refrac=tau_refrac, i_offset=1.0)
    net = nt.Network(dt=DT)
    pop = net.add(nt.Population(1, model, label="n"))
    net.record(pop, "spikes", "v")
    res = nt.simulate(net, 60.0, kernel=kernel)
    times, _ = res.spikes(pop)
    # from v_reset = v_rest the crossing takes t* = -tau ln(1 - (v_th - v_rest) / (R I))
    rise = math.ceil(-10.0 * math.log(1 - 5.0 / 10.0) / DT - 1e-9) * DT
    assert times[0] == pytest.approx(rise, abs=1e-9)
    np.testing.assert_allclose(np.diff(times), rise + steps * DT, atol=1e-9)
    v = res.trace(pop, "v").numpy()[:, 0]
    k = round(times[0] / DT)
    assert np.all(v[k:k + steps + 1] == model.v_reset)
    assert v[k + steps + 1] > model.v_reset
