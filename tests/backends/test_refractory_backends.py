"""Refractory periods off the time grid on every backend: each holds a neuron for
round(tau_refrac / dt) steps (documented in LIFConstants.refrac_steps), as the engine
does, so the hardware backends still give the ideal backend's spikes. Two periods per
network, one rounded up and one down, so that a floor and a ceil both show."""

from dataclasses import replace

import numpy as np

import neurotwin as nt
from neurotwin.bss2 import specs as bss2_specs
from neurotwin.bss2.mapping import map_network

BSS2_REFRAC = {"up": 2.37, "down": 2.33}  # ms at dt 0.1: 24 and 23 steps
S2_REFRAC = {"up": 2.6, "down": 2.4}  # ms at dt = tick = 1: 3 and 2 ticks
S2_LSB = 2.0**-4  # nA: float32 sums of whole LSBs are exact


def driven_network(dt: float, refrac: dict[str, float], lsb: dict[str, float],
                   model: nt.LIF, onchip_delay_steps: int = 2) -> nt.Network:
    """Two populations (refractory periods ``refrac``) under Poisson drive strong enough
    that the refractory period sets most intervals, with weights in whole LSBs ``lsb`` of
    each population, and inhibition between them (delayed ``onchip_delay_steps`` steps:
    BrainScaleS-2 has only the one-step delay between its neurons)."""
    rng = np.random.default_rng(23)
    net = nt.Network(dt=dt)
    noise = net.add(nt.SpikeSourcePoisson(40, rate=300.0, label="noise"))
    pops = {label: net.add(nt.Population(12, replace(model, tau_refrac=t), label=label))
            for label, t in refrac.items()}
    for label, pop in pops.items():
        net.connect(noise, pop, rng.integers(6, 16, (40, 12)) * lsb[label], receptor="exc",
                    delays=dt)
        net.record(pop, "spikes")
    net.connect(pops["up"], pops["down"], rng.integers(0, 4, (12, 12)) * lsb["down"],
                receptor="inh", delays=onchip_delay_steps * dt)
    return net


def refractory_spikes(res: nt.Result, label: str, within: float) -> int:
    """Spikes of ``label`` less than ``within`` ms after the neuron's previous one."""
    times, ids = res.spikes(label)
    gaps = [np.diff(times[ids == i]) for i in np.unique(ids)]
    return int(sum(np.count_nonzero(g < within) for g in gaps))


def test_bss2_holds_off_grid_refractory_periods_like_the_engine():
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-55.0, tau_refrac=1.0)  # taus on whole codes
    probe = map_network(driven_network(0.1, BSS2_REFRAC, dict.fromkeys(BSS2_REFRAC, 0.01),
                                       model, onchip_delay_steps=1), weight_scale=0.02)
    lsb = {label: p.weight_lsb_na for label, p in probe.populations.items()}
    net = driven_network(0.1, BSS2_REFRAC, lsb, model, onchip_delay_steps=1)
    ideal = nt.simulate(net, 100.0, backend="ideal", seed=4)
    hw = nt.simulate(net, 100.0, backend="bss2", seed=4, weight_scale=0.02)
    for label in BSS2_REFRAC:
        t_i, id_i = ideal.spikes(label)
        t_h, id_h = hw.spikes(label)
        assert refractory_spikes(ideal, label, 3.5) > 10, label  # periods that matter
        np.testing.assert_array_equal(id_h, id_i, err_msg=label)
        # FPGA timestamps: floored to 8 ns of hardware time = 0.008 ms of model time
        assert np.all((t_i - t_h >= -1e-9) & (t_i - t_h < bss2_specs.FPGA_TICK_US)), label


def test_spinnaker2_holds_off_grid_refractory_periods_like_the_engine():
    model = nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0, v_thresh=-55.0)
    net = driven_network(1.0, S2_REFRAC, dict.fromkeys(S2_REFRAC, S2_LSB), model)
    ideal = nt.simulate(net, 200.0, backend="ideal", seed=4, dtype="float32")
    s2 = nt.simulate(net, 200.0, backend="spinnaker2", seed=4, rounding="exact",
                     weight_scale=S2_LSB, tick_ms=1.0)
    for label in S2_REFRAC:
        assert refractory_spikes(ideal, label, 5.0) > 10, label
        for a, b in zip(s2.spikes(label), ideal.spikes(label), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=label)
