"""Membrane dynamics on the chip against closed-form solutions of the LIF equations."""

import dataclasses
import math
from dataclasses import replace

import numpy as np
import pytest

from neurotwin.bss2 import Chip, CircuitParameters, Deviations, NeuronConfig, emulate, specs
from neurotwin.errors import ConfigError

IDEAL = Chip(seed=0, deviations=Deviations.ideal())


def params(circuits=(0,), threshold=True, **cells):
    config = NeuronConfig.default(list(circuits), enable_threshold=threshold)
    return IDEAL.circuit_parameters(config.with_cells(**cells))


def test_relaxation_to_rest_is_exponential():
    p = params(threshold=False, v_leak=300, i_bias_leak=200)  # tau_mem = 15 µs
    em = emulate(p, 30.0, 0.5, np.random.default_rng(0), initial_v=np.array([100.0]))
    t = 0.5 * np.arange(61)
    v_leak = 300 * 1200 / 1023
    expected = v_leak + (100.0 - v_leak) * np.exp(-t / 15.0)
    np.testing.assert_allclose(em.v[:, 0], expected, rtol=1e-12)


def test_regular_firing_interval():
    # leak above threshold: free interval tau ln((vL - vR) / (vL - vT)) after the reset clamp
    p = IDEAL.circuit_parameters(
        NeuronConfig.default([0], refractory_counter=20).with_cells(
            v_leak=600, v_reset=200, v_threshold=400))
    dt = 0.01
    em = emulate(p, 60.0, dt, np.random.default_rng(0), initial_v=p.v_reset)
    times, _ = em.spike_times()
    free = 10.0 * math.log((600 - 200) / (600 - 400))
    # first spike: free from t = 0; crossing detected at the end of its step
    assert times[0] == pytest.approx(math.ceil(free / dt) * dt, abs=1e-9)
    isi = np.diff(times)
    np.testing.assert_allclose(isi, 2.0 + math.ceil(free / dt) * dt, atol=1e-9)


def test_hold_reset_clamps_the_membrane():
    p = params(circuits=(0, 1), v_reset=150)
    em = emulate(p, 10.0, 0.5, np.random.default_rng(0), hold_reset=True)
    np.testing.assert_allclose(em.v, 150 * 1200 / 1023)


def test_membrane_noise_is_stationary_with_the_given_std():
    chip = Chip(seed=1, deviations=replace(Deviations.ideal(), membrane_noise_mv=2.0))
    config = NeuronConfig.default(np.arange(512), enable_threshold=False)
    p = chip.circuit_parameters(config)
    for dt in (0.05, 5.0):
        em = emulate(p, 40 * dt, dt, np.random.default_rng(3), initial_v=None)
        dev = em.v[-1] - p.v_leak
        # stationary from the start: the first step already has the full variance of its lag
        assert dev.std() == pytest.approx(2.0 * math.sqrt(1 - math.exp(-80 * dt / 10)),
                                          rel=0.1)


def test_synaptic_input_gives_the_psp():
    p = params(threshold=False, i_bias_synin_exc_tau=150)  # tau_syn = 20 µs, tau_mem = 10 µs
    dt = 0.1
    steps = 400
    jump = np.zeros((steps, 1))
    jump[0, 0] = 5.0  # nA, arrives at t = dt
    em = emulate(p, steps * dt, dt, np.random.default_rng(0), input_exc=jump,
                 record=("v", "i_exc"))
    t = dt * np.arange(steps + 1) - dt
    tm, ts, c = 10.0, 20.0, 2.2
    psp = np.where(t > 0, 5.0 / c * tm * ts / (ts - tm) * (np.exp(-t / ts) - np.exp(-t / tm)),
                   0.0)
    np.testing.assert_allclose(em.v[:, 0] - p.v_leak[0], psp, atol=1e-9)
    np.testing.assert_allclose(em.i_exc[1:, 0], 5.0 * np.exp(-t[1:] / ts), rtol=1e-12)


def test_rails_clamp_the_membrane():
    p = params(threshold=False, v_leak=1000)
    jump = np.zeros((10, 1))
    jump[0] = 1e4
    em = emulate(p, 1.0, 0.1, np.random.default_rng(0), input_exc=jump)
    assert em.v.max() == specs.MEMBRANE_RAIL_HIGH_MV


def test_emulate_validates_its_inputs():
    p = params()
    with pytest.raises(ConfigError, match="multiple"):
        emulate(p, 1.05, 0.1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="input_exc"):
        emulate(p, 1.0, 0.1, np.random.default_rng(0), input_exc=np.zeros((3, 1)))
    with pytest.raises(ConfigError, match="record"):
        emulate(p, 1.0, 0.1, np.random.default_rng(0), record=("u",))


def adex_params(circuits=(0,), threshold=True, exponential=False, adaptation=True, **cells):
    config = NeuronConfig.default(list(circuits), enable_threshold=threshold,
                                  enable_exponential=exponential, enable_adaptation=adaptation,
                                  refractory_counter=5)
    return IDEAL.circuit_parameters(config.with_cells(**cells))


def test_ideal_adex_transfer():
    p = adex_params(exponential=True, i_bias_exp=500, i_bias_adapt_a=100, i_bias_adapt_b=200,
                    i_bias_adapt_tau=150, v_exp=400)
    assert p.delta_t[0] == pytest.approx(10.0)
    assert p.a[0] == pytest.approx(6.0)
    assert p.b[0] == pytest.approx(1.0)
    assert p.tau_w[0] == pytest.approx(200.0)
    assert p.v_exp[0] == pytest.approx(400 * 1200 / 1023)
    off = adex_params(adaptation=False, i_bias_adapt_a=100, i_bias_adapt_b=200)
    assert off.a[0] == 0.0 and off.b[0] == 0.0 and off.delta_t[0] == 0.0
    assert not off.uses_adex and p.uses_adex


def test_spike_triggered_adaptation_is_a_sum_of_exponentials():
    # a = 0, b = 1 nA, tau_w = 100 µs: w(t) = sum over spikes s <= t of b exp(-(t - t_s)/tau_w)
    p = adex_params(v_leak=600, v_reset=200, v_threshold=400, i_bias_adapt_a=0,
                    i_bias_adapt_b=200)
    dt = 0.05
    em = emulate(p, 100.0, dt, np.random.default_rng(0), initial_v=p.v_reset,
                 record=("v", "w"))
    times, _ = em.spike_times()
    assert times.size >= 5
    t = dt * np.arange(em.w.shape[0])
    lag = t[:, None] - times[None, :]
    expected = np.where(lag >= -1e-9, 1.0 * np.exp(-np.maximum(lag, 0.0) / 100.0), 0.0).sum(1)
    np.testing.assert_allclose(em.w[:, 0], expected, rtol=1e-9, atol=1e-12)
    # adaptation slows the firing down: intervals grow
    assert np.all(np.diff(np.diff(times)) >= -1e-9)


def test_subthreshold_adaptation_steady_state():
    # offset current I, leak g_L = C / tau_mem, adaptation a: v* - v_L = I / (g_L + a)
    p = adex_params(threshold=False, i_mem_offset=1000, i_bias_adapt_a=500,
                    i_bias_adapt_b=0)
    em = emulate(p, 1500.0, 1.0, np.random.default_rng(0), record=("v", "w"))
    current = 0.002 * 1000  # nA
    g_leak = 2.2 / 10.0  # µS
    a = 0.06 * 500 * 1e-3  # µS
    assert em.v[-1, 0] - p.v_leak[0] == pytest.approx(current / (g_leak + a), abs=1e-4)
    assert em.w[-1, 0] == pytest.approx(a * current / (g_leak + a), abs=1e-5)


def test_lif_circuits_are_unchanged_next_to_adex_circuits():
    config = NeuronConfig.default([0, 1], enable_adaptation=[False, True]).with_cells(
        v_leak=600, v_reset=200, v_threshold=400, i_bias_adapt_b=200)
    both = emulate(IDEAL.circuit_parameters(config), 50.0, 0.05, np.random.default_rng(0))
    alone = emulate(IDEAL.circuit_parameters(NeuronConfig.default([0]).with_cells(
        v_leak=600, v_reset=200, v_threshold=400)), 50.0, 0.05, np.random.default_rng(0))
    np.testing.assert_allclose(both.v[:, 0], alone.v[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(both.spikes[:, 0], alone.spikes[:, 0])


def test_merged_compartments_add_capacitance_and_leak():
    from neurotwin.bss2.neuron import merge_compartments

    n = 3
    base = {f.name: np.ones(n) for f in dataclasses.fields(CircuitParameters)}
    base.update(c_mem=np.array([2.0, 1.0, 3.0]), tau_mem=np.array([10.0, 5.0, 20.0]),
                v_leak=np.array([100.0, 200.0, 300.0]), i_offset=np.array([0.1, 0.2, 0.5]),
                noise_mv=np.array([1.0, 2.0, 0.5]), v_reset=np.array([50.0, 60.0, 70.0]))
    params = CircuitParameters(**base)
    merged = merge_compartments(params, np.array([0, 2, 3]))
    # neuron 0 = circuits 0, 1: C = 3 pF, g = 2/10 + 1/5 = 0.4 pF/µs
    assert merged.c_mem[0] == pytest.approx(3.0)
    assert merged.tau_mem[0] == pytest.approx(3.0 / 0.4)
    assert merged.v_leak[0] == pytest.approx((0.2 * 100 + 0.2 * 200) / 0.4)
    assert merged.i_offset[0] == pytest.approx(0.3)
    assert merged.v_reset[0] == 50.0  # the anchor's
    assert merged.noise_mv[0] == pytest.approx(np.sqrt((1 * 0.2 * 2 + 4 * 0.2 * 1) / (0.4 * 3)))
    # a neuron of one circuit keeps that circuit's parameters bit for bit
    for f in dataclasses.fields(CircuitParameters):
        assert getattr(merged, f.name)[1] == getattr(params, f.name)[2]
    with pytest.raises(ConfigError, match="member_ptr"):
        merge_compartments(params, np.array([0, 2]))
