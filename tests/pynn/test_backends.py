"""The same PyNN script on the twins: their limits as errors, their results close to ideal."""

import numpy as np
import pytest

import neurotwin.pynn as sim
from neurotwin.errors import ConfigError, MappingError


def _one_psp_cell(weight=2.0, delay=1.0):
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 20.0, 35.0]))
    cell = sim.Population(1, sim.IF_curr_exp(tau_m=20.0, tau_syn_E=5.0, v_thresh=-58.0,
                                             tau_refrac=2.0))
    sim.Projection(src, cell, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=weight, delay=delay))
    cell.record(["spikes", "v"])
    return cell


def _spikes(backend, timestep, **options):
    sim.setup(timestep=timestep, backend=backend, **options)
    cell = _one_psp_cell()
    sim.run(50.0)
    seg = cell.get_data().segments[0]
    sim.end()
    return seg.spiketrains[0].magnitude


def test_spinnaker2_runs_on_its_tick_and_stays_near_ideal():
    ideal = _spikes("ideal", 1.0)
    s2 = _spikes("spinnaker2", 1.0)
    assert ideal.size >= 2 and s2.size == ideal.size
    assert np.all(np.abs(s2 - ideal) <= 1.0 + 1e-9)  # within one tick
    assert np.allclose(s2 % 1.0, 0.0) or np.allclose(s2 % 1.0, 1.0)


def test_spinnaker2_limits():
    sim.setup(timestep=0.1, backend="spinnaker2")
    _one_psp_cell(delay=1.0)  # 10 ticks of 0.1 ms
    with pytest.raises(MappingError, match=r"1\.\.8 ticks"):
        sim.run(10.0)
    sim.setup(timestep=1.0, backend="spinnaker2")
    cell = sim.Population(1, sim.IF_curr_exp())
    cell.inject(sim.DCSource(amplitude=0.1))
    with pytest.raises(ConfigError, match="DCSource"):
        sim.run(10.0)
    sim.end()


def test_bss2_runs_and_quantises_weights_to_6_bits():
    ideal = _spikes("ideal", 0.1)
    bss2 = _spikes("bss2", 0.1, weight_scale=0.05)
    assert ideal.size >= 2 and bss2.size == ideal.size
    assert np.all(np.abs(bss2 - ideal) < 1.0)
    sim.setup(timestep=0.1, backend="bss2", weight_scale=0.01)
    _one_psp_cell(weight=2.0)  # 200 LSB at 0.01 nA per LSB
    with pytest.raises(ConfigError, match="6-bit"):
        sim.run(10.0)
    sim.end()


@pytest.mark.parametrize(("backend", "error", "offers"), [
    ("bss2", MappingError, "exponential currents"),
    ("spinnaker2", ConfigError, "exponential synapses"),
])
@pytest.mark.parametrize(("cell_type", "synapses"), [
    ("IF_curr_alpha", "alpha-shaped currents"),
    ("IF_cond_exp", "exponential conductances"),
    ("EIF_cond_alpha_isfa_ista", "alpha-shaped conductances"),
])
def test_twins_refuse_synapses_their_neurons_lack(backend, error, offers, cell_type, synapses):
    sim.setup(timestep=1.0 if backend == "spinnaker2" else 0.1, backend=backend)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]))
    cell = sim.Population(1, getattr(sim, cell_type)())
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01, delay=1.0))
    with pytest.raises(error, match=f"{synapses}.*{offers}"):
        sim.run(10.0)
    sim.end()


def test_twins_run_cells_no_synapse_reaches_as_their_membrane():
    """Without synaptic input an IF_cond_exp cell is a LIF: the twin runs it as one (its
    gsyn 0 throughout), unless a conductance starts above 0."""
    sim.setup(timestep=1.0, backend="spinnaker2")
    cell = sim.Population(1, sim.IF_cond_exp(i_offset=0.5, v_thresh=-40.0, tau_m=10.0))
    cell.record(["v", "gsyn_exc"])
    sim.run(50.0)
    seg = cell.get_data().segments[0]
    sim.end()
    v = seg.filter(name="v")[0].magnitude[:, 0]
    assert v[-1] == pytest.approx(-65.0 + 0.5 * 10.0 * -np.expm1(-5.0), abs=0.01)  # R I
    assert np.all(seg.filter(name="gsyn_exc")[0].magnitude == 0.0)
    sim.setup(timestep=1.0, backend="spinnaker2")
    cell = sim.Population(1, sim.IF_cond_exp())
    cell.initialize(gsyn_exc=0.01)
    with pytest.raises(ConfigError, match="exponential conductances"):
        sim.run(5.0)
    sim.end()
