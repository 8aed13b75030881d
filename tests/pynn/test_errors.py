"""Bad arguments give PyNN's own errors (or neurotwin's ConfigError for its options)."""

import pytest
from pyNN import errors

import neurotwin.pynn as sim
from neurotwin.errors import ConfigError


def test_bad_cell_parameters(ideal):
    with pytest.raises(errors.InvalidParameterValueError, match="tau_m must be"):
        sim.Population(1, sim.IF_curr_exp(tau_m=-1.0))
    with pytest.raises(errors.InvalidParameterValueError, match="v_reset"):
        sim.Population(1, sim.IF_curr_exp(v_reset=-40.0, v_thresh=-50.0))
    cells = sim.Population(2, sim.IF_curr_exp())
    with pytest.raises(errors.InvalidParameterValueError, match="cm"):
        cells.set(cm=[1.0, 0.0])
    assert cells.get("cm") == 1.0  # the refused value was not kept
    with pytest.raises(errors.NonExistentParameterError):
        sim.IF_curr_exp(tau_x=1.0)


def test_bad_sources(ideal):
    with pytest.raises(errors.InvalidParameterValueError, match="sorted"):
        sim.Population(1, sim.SpikeSourceArray(spike_times=[3.0, 1.0]))
    with pytest.raises(errors.InvalidParameterValueError, match="rate"):
        sim.Population(1, sim.SpikeSourcePoisson(rate=-5.0))
    with pytest.raises(ValueError, match="increasing"):
        sim.StepCurrentSource(times=[1.0, 0.5], amplitudes=[0.1, 0.2])
    with pytest.raises(errors.InvalidParameterValueError, match="one amplitude per time"):
        sim.StepCurrentSource(times=[1.0, 2.0], amplitudes=[0.1])


def test_bad_connections(ideal):
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(2, sim.IF_curr_exp())
    with pytest.raises(errors.ConnectionError, match="negative"):
        sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5),
                       receptor_type="inhibitory")
    with pytest.raises(errors.ConnectionError, match="time step"):
        sim.Projection(src, cells, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=0.5, delay=0.05))
    with pytest.raises(errors.ConnectionError, match="receptor_type"):
        sim.Projection(src, cells, sim.AllToAllConnector(), receptor_type="nmda")
    inh = sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.5),
                         receptor_type="inhibitory")
    assert inh.get("weight", format="array")[0, 0] == -0.5


def test_bad_setup():
    with pytest.raises(errors.InvalidParameterValueError, match="backend"):
        sim.setup(backend="loihi")
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        sim.setup(backend="ideal", colour="red")
    with pytest.raises(ConfigError, match="tick"):
        sim.setup(timestep=1.0, backend="spinnaker2", tick_ms=0.5)
    with pytest.raises(NotImplementedError, match="grid"):
        sim.setup(spike_precision="off_grid")
    sim.setup(threads=4, rng_seed=3, verbosity="error")  # NEST's options run unchanged
    sim.end()


def test_runs_off_the_grid(ideal):
    sim.Population(1, sim.IF_curr_exp())
    with pytest.raises(ConfigError, match="multiple of the time step"):
        sim.run(10.05)
