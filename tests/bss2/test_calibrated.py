"""A calibrated deviating chip against the ideal backend, neuron by neuron: the PSP of
one excitatory and one inhibitory input event (their sizes follow the weight LSB the
mapping reports, the calibration's synaptic strength and the time constants)."""

import numpy as np

import neurotwin as nt
from neurotwin.bss2.mapping import map_network

LIF = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0, v_reset=-65.0,
             v_thresh=-55.0, tau_refrac=1.0)
EXC_AT, INH_AT, DURATION = 2.0, 62.0, 120.0  # ms; PSPs 60 ms (3 tau_mem) apart
TRIALS = 8  # the chip's membrane noise, averaged out


def psp_network(lsb: float) -> nt.Network:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[EXC_AT], [INH_AT]], label="in"))
    pop = net.add(nt.Population(24, LIF, label="pop"))
    net.connect(src, pop, np.stack([np.full(24, 60 * lsb), np.full(24, -60 * lsb)]),
                receptor=None)
    net.record(pop, "v")
    return net


def psp_sizes(v: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron the peak of the excitatory and the trough of the inhibitory PSP (mV),
    each from the mean membrane over the 1.5 ms before its event."""
    e, i = round(EXC_AT / dt), round(INH_AT / dt)
    exc = v[e:i].max(axis=0) - v[e - 15:e].mean(axis=0)
    inh = v[i - 15:i].mean(axis=0) - v[i:].min(axis=0)
    return exc, inh


def test_calibrated_chip_gives_each_neuron_the_ideal_psps(calibrated):
    chip, cal = calibrated
    # the calibration's synaptic strength sets the LSB; the weights are whole LSBs of it
    lsb = map_network(psp_network(1e-3), chip, cal).populations["pop"].weight_lsb_na
    net = psp_network(lsb)
    hw = nt.simulate(net, DURATION, backend="bss2", seed=3, trials=TRIALS, chip=chip,
                     calibration=cal)
    ideal = nt.simulate(net, DURATION, backend="ideal")
    want_exc, want_inh = psp_sizes(ideal.trace("pop", "v").numpy(), net.dt)
    assert 1.0 < want_exc.min() and 1.0 < want_inh.min()
    v = np.mean([hw.trace("pop", "v", k).numpy() for k in range(TRIALS)], axis=0)
    got_exc, got_inh = psp_sizes(v, net.dt)
    for name, ratio in (("exc", got_exc / want_exc), ("inh", got_inh / want_inh)):
        # measured: means 1.5 % off, neurons at most 7 % (the calibration's residual
        # spread); a 15 % error in the weight LSB moves the mean by 14 %
        assert abs(ratio.mean() - 1) < 0.04, (name, ratio.mean())
        assert np.all(np.abs(ratio - 1) < 0.12), (name, ratio)
