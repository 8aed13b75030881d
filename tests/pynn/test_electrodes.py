"""Current sources: waveforms and the membrane's answer against closed forms."""

import math

import numpy as np
import pytest

import neurotwin.pynn as sim

TAU, CM, EL = 20.0, 1.0, -65.0


def _lif_piecewise(t, windows):
    """v(t) of a LIF (tau 20 ms, 1 nF, rest -65 mV) under piecewise-constant current:
    each window (start, stop, nA) exactly, as superposed exponential relaxations."""
    v = np.full_like(t, EL)
    for start, stop, amp in windows:
        on = np.clip(t - start, 0, None)
        off = np.clip(t - stop, 0, None)
        v += amp * TAU / CM * (-np.expm1(-on / TAU) + np.expm1(-off / TAU))
    return v


def _cell():
    return sim.Population(1, sim.IF_curr_exp(tau_m=TAU, cm=CM, v_rest=EL, v_thresh=0.0))


def _v(cell):
    v = cell.get_data().segments[0].filter(name="v")[0]
    return v.times.rescale("ms").magnitude, v.magnitude[:, 0]


def test_step_current_source(ideal):
    cell = _cell()
    cell.inject(sim.StepCurrentSource(times=[10.0, 30.0, 45.0], amplitudes=[0.4, -0.2, 0.0]))
    cell.record("v")
    sim.run(60.0)
    t, v = _v(cell)
    expected = _lif_piecewise(t, [(10.0, 30.0, 0.4), (30.0, 45.0, -0.2)])
    np.testing.assert_allclose(v, expected, atol=1e-9)


def test_dc_source_window(ideal):
    cell = _cell()
    cell.inject(sim.DCSource(amplitude=0.3, start=5.0, stop=25.0))
    cell.record("v")
    sim.run(40.0)
    t, v = _v(cell)
    np.testing.assert_allclose(v, _lif_piecewise(t, [(5.0, 25.0, 0.3)]), atol=1e-9)


def test_changing_a_source_between_runs_is_exact(ideal):
    cell = _cell()
    source = sim.DCSource(amplitude=0.1)
    cell.inject(source)
    cell.record("v")
    sim.run(30.0)
    source.amplitude = 0.5
    sim.run(30.0)
    t, v = _v(cell)
    expected = _lif_piecewise(t, [(0.0, 30.0, 0.1), (30.0, math.inf, 0.5)])
    np.testing.assert_allclose(v, expected, atol=1e-9)
    assert t.size == 601


def test_ac_source_waveform_has_its_phase_at_start(ideal):
    cell = _cell()
    source = sim.ACSource(start=5.0, stop=15.0, amplitude=0.5, offset=0.1, frequency=100.0,
                          phase=90.0)
    cell.inject(source)
    source.record()
    sim.run(20.0)
    i = source.get_data().magnitude[:, 0]
    t = np.arange(i.size) * 0.1
    on = (t >= 5.0 - 1e-9) & (t < 15.0 - 1e-9)
    expected = np.where(on, 0.1 + 0.5 * np.sin(2 * np.pi * 0.1 * (t - 5.0) + np.pi / 2), 0.0)
    np.testing.assert_allclose(i, expected, atol=1e-12)


def test_noisy_current_source_statistics(ideal):
    cell = _cell()
    source = sim.NoisyCurrentSource(mean=0.2, stdev=0.5, start=10.0, stop=410.0, dt=0.2)
    cell.inject(source)
    source.record()
    sim.run(420.0)
    i = source.get_data().magnitude[:, 0]
    assert np.all(i[:100] == 0) and np.all(i[4100:] == 0)
    draws = i[100:4100:2]
    np.testing.assert_array_equal(i[100:4100:2], i[101:4100:2])  # held for its dt
    assert abs(draws.mean() - 0.2) < 5 * 0.5 / math.sqrt(draws.size)
    assert draws.std() == pytest.approx(0.5, rel=0.1)


def test_sources_cannot_go_into_spike_sources(ideal):
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    with pytest.raises(TypeError, match="spike source"):
        src.inject(sim.DCSource(amplitude=1.0))


def test_step_times_go_to_the_grid(ideal):
    step = sim.StepCurrentSource(times=[0.41, 0.42, 0.86], amplitudes=[0.5, -0.5, 0.5])
    np.testing.assert_allclose(step.times.evaluate(), [0.4, 0.9])
    np.testing.assert_allclose(step.amplitudes.evaluate(), [-0.5, 0.5])
