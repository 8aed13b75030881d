"""Correlation sensors against the analytic exponential sums, written out by hand."""

import math

import numpy as np
import pytest

from neurotwin.bss2 import Chip, Deviations, specs
from neurotwin.bss2.correlation import cadc_correlation, correlation_traces, sensor_traces
from neurotwin.errors import ConfigError

INF = math.inf
PRE = [1.0, 10.0]
POST = [3.0, 4.0, 12.0]
SAMPLES = [0.0, 3.0, 3.5, 4.0, 11.0, 12.0, 20.0]


def e(lag, tau=5.0):
    return math.exp(-lag / tau)


def test_nearest_neighbour_pairing():
    c, a = correlation_traces(PRE, POST, SAMPLES, eta_causal=10.0, eta_acausal=10.0)
    c1, c2, c3 = 10 * e(2), 10 * e(3), 10 * e(2)  # posts 3, 4, 12 with pres 1, 1, 10
    np.testing.assert_allclose(c, [0, c1, c1, c1 + c2, c1 + c2, c1 + c2 + c3, c1 + c2 + c3],
                               rtol=1e-14)
    a1 = 10 * e(6)  # pre 10 with the last post before it, 4
    np.testing.assert_allclose(a, [0, 0, 0, 0, a1, a1, a1], rtol=1e-14)


def test_all_to_all_pairing():
    c, a = correlation_traces(PRE, POST, [20.0], tau_causal=4.0, tau_acausal=6.0,
                              eta_causal=2.0, eta_acausal=3.0, pairing="all")
    causal = 2.0 * (e(2, 4) + e(3, 4) + e(11, 4) + e(2, 4))
    acausal = 3.0 * (e(7, 6) + e(6, 6))
    assert c[0] == pytest.approx(causal, rel=1e-14)
    assert a[0] == pytest.approx(acausal, rel=1e-14)


def test_saturation():
    c, _ = correlation_traces(PRE, POST, SAMPLES, eta_causal=10.0, saturation=9.0)
    # 10 e^-2/5 = 6.70 fits, adding 10 e^-3/5 = 5.49 would exceed 9
    np.testing.assert_allclose(c, [0.0, 10 * e(2), 10 * e(2), 9.0, 9.0, 9.0, 9.0], rtol=1e-14)


def test_reset_clears_the_stored_values():
    c, a = correlation_traces(PRE, POST, [4.5, 5.0, 11.0, 12.0], eta_causal=10.0,
                              eta_acausal=10.0, reset_times=[5.0])
    np.testing.assert_allclose(c, [10 * (e(2) + e(3)), 0.0, 0.0, 10 * e(2)], rtol=1e-14)
    # the partner trace survives the reset: pre 10 still pairs with post 4
    np.testing.assert_allclose(a, [0.0, 0.0, 10 * e(6), 10 * e(6)], rtol=1e-14)


def test_simultaneous_spikes_do_not_pair():
    c, a = correlation_traces([2.0], [2.0], [5.0])
    assert c[0] == 0.0 and a[0] == 0.0


def test_batched_synapses_with_padding_equal_single_ones():
    pre = np.array([[1.0, 10.0, INF], [0.5, 2.0, 7.0]])
    post = np.array([[3.0, 4.0, 12.0], [1.0, INF, INF]])
    tau = np.array([5.0, 3.0])
    batch = correlation_traces(pre, post, SAMPLES, tau_causal=tau, tau_acausal=tau)
    for s in range(2):
        one = correlation_traces(pre[s][np.isfinite(pre[s])], post[s][np.isfinite(post[s])],
                                 SAMPLES, tau_causal=tau[s], tau_acausal=tau[s])
        np.testing.assert_allclose(batch.causal[s], one.causal, rtol=1e-14)
        np.testing.assert_allclose(batch.acausal[s], one.acausal, rtol=1e-14)


def test_validation():
    with pytest.raises(ConfigError, match="sorted"):
        correlation_traces([3.0, 1.0], [2.0], [5.0])
    with pytest.raises(ConfigError, match="pairing"):
        correlation_traces([1.0], [2.0], [5.0], pairing="first")
    with pytest.raises(ConfigError, match="same number"):
        correlation_traces(np.ones((2, 1)), np.ones((3, 1)), [5.0])


def test_ideal_chip_reads_through_the_cadc():
    chip = Chip(seed=0, deviations=Deviations.ideal())
    traces = sensor_traces(chip, 1, [4], [9], [PRE], [POST], [20.0])
    stored = specs.CORRELATION_ETA_MV * (2 * e(2) + e(3))
    assert traces.causal[0, 0] == pytest.approx(stored, rel=1e-14)
    causal, acausal = cadc_correlation(chip, traces, 1, [9], np.random.default_rng(0))
    capmem_lsb = 1200.0 / 1023
    cadc_lsb = 480 * capmem_lsb / 200
    zero = 70 * capmem_lsb - 20 * cadc_lsb
    # calix: the read falls from a baseline near the top of the reliable range (210),
    # 0.5 LSB per pair at zero lag
    baseline = zero + 210.5 * cadc_lsb
    eta = 0.5 * cadc_lsb
    assert stored == pytest.approx(eta * (2 * e(2) + e(3)), rel=1e-14)
    assert causal[0, 0] == math.floor((baseline - stored - zero) / cadc_lsb)
    assert acausal[0, 0] == math.floor((baseline - eta * e(6) - zero) / cadc_lsb)


def test_chip_sensors_deviate_per_synapse():
    chip = Chip(seed=4)
    traces = sensor_traces(chip, 0, [0, 1], [0, 0], [PRE, PRE], [POST, POST], [20.0])
    assert traces.causal[0, 0] != traces.causal[1, 0]
