"""The readout's numpy reference against the analytic LIF response, the conversion from a
float layer, the decision rule and bad weights."""

import numpy as np
import pytest

from neurotwin.dynamics.lif import LIF
from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.hybrid import SpikingReadout, decide, readout_from_linear, reference_lif


def test_membrane_follows_the_analytic_response_to_one_packet():
    """One packet in tick 0 puts w * lsb nA into the synaptic current in tick 1; after
    update j the membrane is the exact response at (j - 1) ticks:
    V(t) = I0 / cm * tm ts / (tm - ts) * (exp(-t / tm) - exp(-t / ts))."""
    tm, ts, cm, dt, w, lsb = 10.0, 0.5, 2.0, 0.1, 100, 2.0**-6
    neuron = LIF(tau_mem=tm, tau_syn_exc=ts, tau_syn_inh=ts, cm=cm, v_rest=0.0, v_reset=0.0,
                 v_thresh=1e3)
    readout = SpikingReadout(np.array([[w, -w]]), lsb, neuron)
    spikes = np.zeros((2, 2, 3), np.int16)
    spikes[0, 0, 0] = 1  # sample 0: the excitatory feature once
    spikes[1, 1, 0] = 2  # sample 1: the inhibitory one twice
    for run_ticks in (4, 12, 40):
        ref = reference_lif(readout, spikes, dt, run_ticks)
        t = (run_ticks - 3) * dt  # v_last: start of the last tick = after update run - 2
        v = w * lsb / cm * tm * ts / (tm - ts) * (np.exp(-t / tm) - np.exp(-t / ts))
        np.testing.assert_allclose(ref.v_last[:, 0], [v, -2 * v], rtol=2e-5, atol=1e-9)
        assert ref.counts.sum() == 0


def test_integrate_and_fire_integrates_every_packet():
    """tau_mem far above the run, tau_syn of one tick: each packet adds q = w lsb ts / cm
    to the membrane (the current decays to e^-50 by the end; the leak over 6 ms at
    tau_mem = 1e7 ms is 6e-7), so 10 packets reach 10 q: a threshold just below it is
    crossed once, one just above it never."""
    ts, lsb, w = 0.1, 2.0**-6, 100
    q = w * lsb * ts  # mV at cm = 1 nF
    spikes = np.zeros((1, 1, 10), np.int16)
    spikes[0, 0, :] = 1
    for factor, expected in ((0.999, 1), (1.001, 0)):
        neuron = LIF(tau_mem=1e7, tau_syn_exc=ts, tau_syn_inh=ts, cm=1.0, v_rest=0.0,
                     v_reset=0.0, v_thresh=factor * 10 * q)
        ref = reference_lif(SpikingReadout(np.array([[w]]), lsb, neuron), spikes, 0.1, 60)
        assert int(ref.counts[0, 0]) == expected
        if expected == 0:
            np.testing.assert_allclose(ref.v_last[0, 0], 10 * q, rtol=1e-5)


def test_conversion_scales_weights_and_threshold():
    weight = np.array([[0.5, -1.0], [0.25, 0.0]])
    spikes = np.array([[4, 0], [0, 2], [8, 1]])
    ro = readout_from_linear(weight, spikes, target_spikes=2.0, tau_syn_ms=0.2, lsb_na=0.25)
    np.testing.assert_array_equal(ro.weight, [[64, -127], [32, 0]])  # rint(w / 1 * 127)
    # drive per sample (max over neurons) = max(s @ W.T) * lsb * ts: 256, 0 (both <= 0: 0
    # and -254 -> 0 is the max), 512 - 127 = 385 -> median of (256, 0, 385) = 256
    drive = np.array([256.0, 0.0, 385.0]) * 0.25 * 0.2
    assert ro.neuron.v_thresh == pytest.approx(np.median(drive) / 2.0)


def test_decide_breaks_ties_by_membrane_then_index():
    counts = np.array([[2, 3, 3], [0, 0, 0], [1, 1, 0]])
    v = np.array([[0.0, 0.1, 0.2], [0.5, 0.5, 0.1], [0.3, 0.2, 9.0]], np.float32)
    np.testing.assert_array_equal(decide(counts, v), [2, 0, 0])


def test_bad_readouts_are_refused():
    with pytest.raises(ConfigError, match=r"SNN stage.*1 NaN or infinite"):
        readout_from_linear(np.array([[np.nan, 1.0]]), np.ones((3, 2)))
    with pytest.raises(ConfigError, match="every weight is 0"):
        readout_from_linear(np.zeros((2, 2)), np.ones((3, 2)))
    with pytest.raises(ConfigError, match=r"calibration_spikes must be \(N, 2\)"):
        readout_from_linear(np.ones((2, 2)), np.ones((3, 5)))
    with pytest.raises(ConfigError, match="128 LSB exceeds the int8 synapse word's 127"):
        SpikingReadout(np.array([[128]]), 1.0)
    with pytest.raises(ConfigError, match="integer"):
        SpikingReadout(np.array([[1.5]]), 1.0)
