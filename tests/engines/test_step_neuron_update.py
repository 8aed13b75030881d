"""The shared compiled neuron update: each twin's numerics passed in give that twin's
own arithmetic bit for bit."""

import numpy as np

from neurotwin.dynamics.lif import LIF, LIFConstants, lif_constants
from neurotwin.engines.neuron_update import SynapticInput, lif_update
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.tick import update_segment as spinnaker2_segment

N = 257


def state(dtype, rng):
    v = rng.uniform(-70.0, -45.0, N).astype(dtype)
    ie = rng.uniform(0.0, 2.0, N).astype(dtype)
    ii = rng.uniform(0.0, 2.0, N).astype(dtype)
    rf = rng.integers(-1, 4, N).astype(np.int16)
    return v, ie, ii, rf


def _spinnaker2_reference(v, ie, ii, rf, ring_e, ring_i, c, n_refrac, scale_e, scale_i):
    """SpiNNaker2's documented tick written plainly in numpy float32 (independent of the
    compiled update): leak and inputs left to right, currents decay and take the
    saturated ring counts times the scale, threshold, reset, refractory count-down."""
    v_rest, v_reset, v_thresh, i_offset, p_vv, p_vi, p_ve, p_vn, p_ee, p_nn = c[:10]
    free = rf <= 0
    v_free = v_rest + (v - v_rest) * p_vv + i_offset * p_vi + ie * p_ve - ii * p_vn
    v_new = np.where(free, v_free, v)
    rf_new = np.where(free, rf, rf - 1)
    ie_new = ie * p_ee + np.minimum(ring_e, numerics.RING_BUFFER_MAX).astype(np.float32) * scale_e
    ii_new = ii * p_nn + np.minimum(ring_i, numerics.RING_BUFFER_MAX).astype(np.float32) * scale_i
    spike = v_new >= v_thresh
    return (np.where(spike, v_reset, v_new).astype(np.float32), ie_new, ii_new,
            np.where(spike, n_refrac, rf_new).astype(rf.dtype), spike)


def test_spinnaker2_tick_is_its_documented_float32_arithmetic():
    rng = np.random.default_rng(0)
    model = LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0, v_thresh=-52.0,
                i_offset=0.3, tau_refrac=2.0)
    c = numerics.lif_constants_f32(model, 1.0)
    n_refrac = np.int16(2)
    scale_e, scale_i = np.float32(0.0123), np.float32(0.0456)
    ring_e = rng.integers(0, 3000, N).astype(np.int64)
    ring_e[:4] = numerics.RING_BUFFER_MAX + np.array([0, 1, 10**6, -1])  # saturation
    ring_i = rng.integers(0, 3000, N).astype(np.int64)
    lo, hi = 0, N - 5
    v, ie, ii, rf = state(np.float32, np.random.default_rng(1))
    fl = np.zeros(N, np.uint8)
    spikes = 0
    for _ in range(20):
        want = _spinnaker2_reference(v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], ring_e[lo:hi],
                                     ring_i[lo:hi], c, n_refrac, scale_e, scale_i)
        untouched = v[hi:].copy()
        spinnaker2_segment(lo, hi, v, ie, ii, rf, fl, ring_e, ring_i, c, n_refrac, scale_e,
                           scale_i)
        for got, expected in zip((v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi]), want[:4],
                                 strict=True):
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(fl[lo:hi].astype(bool), want[4])
        np.testing.assert_array_equal(v[hi:], untouched)
        assert not ring_e[lo:hi].any() and not ring_i[lo:hi].any()  # slots cleared
        spikes += int(want[4].sum())
        ring_e[lo:hi] = rng.integers(0, 50, hi - lo)
        ring_i[lo:hi] = rng.integers(0, 50, hi - lo)
    assert spikes > 0


def test_one_member_per_neuron_given_as_members_is_the_single_path():
    rng = np.random.default_rng(2)
    c = lif_constants(LIF(tau_mem=15.0, tau_syn_exc=4.0, tau_syn_inh=8.0, v_thresh=-50.0), 0.1)
    single = [a.astype(np.float64) if a.dtype != np.int16 else a.astype(np.int64)
              for a in state(np.float64, rng)]
    multi = [a.copy() for a in single]
    members = np.arange(N + 1)

    def per(x):
        return np.full(N, x)

    k_single = LIFConstants(*c[:10], int(c.refrac_steps))
    k_multi = LIFConstants(*(per(x) for x in c[:10]), per(int(c.refrac_steps)))
    fl_s, fl_m = np.zeros(N, bool), np.zeros(N, bool)
    spikes = 0
    for _ in range(50):
        inp = rng.uniform(0.0, 0.5, (2, N))
        i_ext = rng.uniform(0.0, 3.0, N)
        lif_update(*single, fl_s, k_single, SynapticInput(*inp.copy(), None, None, None),
                   i_ext, None, None, None, -np.inf, np.inf)
        lif_update(*multi, fl_m, k_multi._replace(i_offset=per(c.i_offset) + 0.0),
                   SynapticInput(*inp.copy(), None, None, None), i_ext, None, members, None,
                   -np.inf, np.inf)
        for a, b in zip(single, multi, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fl_s, fl_m)
        spikes += int(fl_s.sum())
    assert spikes > 0
