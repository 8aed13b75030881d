"""Simulation control: continued runs, reset, changes between runs, the procedural API."""

import numpy as np
import pytest
from neo.io import PickleIO

import neurotwin.pynn as sim


def _poisson_net():
    src = sim.Population(30, sim.SpikeSourcePoisson(rate=40.0))
    cells = sim.Population(5, sim.IF_curr_exp(tau_syn_E=2.0))
    sim.Projection(src, cells, sim.FixedProbabilityConnector(0.5, rng=sim.NumpyRNG(seed=2)),
                   sim.StaticSynapse(weight=0.8, delay=1.0))
    cells.record(["spikes", "v"])
    return cells


def _data(cells):
    seg = cells.get_data().segments[-1]
    return ([st.magnitude for st in seg.spiketrains], seg.filter(name="v")[0].magnitude)


def test_two_runs_equal_one_long_run():
    sim.setup(timestep=0.1, seed=5)
    cells = _poisson_net()
    sim.run(150.0)
    early = _data(cells)
    sim.run(1050.0)  # past the 1000-step blocks in which Poisson input is drawn
    assert sim.get_current_time() == pytest.approx(1200.0)
    split = _data(cells)
    sim.setup(timestep=0.1, seed=5)
    cells = _poisson_net()
    sim.run_until(1200.0)
    whole = _data(cells)
    sim.end()
    np.testing.assert_array_equal(split[1], whole[1])
    for a, b, c in zip(split[0], whole[0], early[0], strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c, b[b <= 150.0])  # the first run's data stand
    np.testing.assert_array_equal(early[1], whole[1][:1501])
    assert sum(len(t) for t in whole[0]) > 0


def test_a_change_after_running_is_refused_until_reset(ideal):
    cells = sim.Population(1, sim.IF_curr_exp(i_offset=1.0))
    cells.record("spikes")
    sim.run(20.0)
    cells.set(i_offset=2.0)
    with pytest.raises(NotImplementedError, match="reset"):
        sim.run(20.0)
    sim.reset()
    sim.run(20.0)
    first, second = cells.get_data().segments
    assert len(second.spiketrains[0]) > len(first.spiketrains[0])


def test_run_until_the_past_is_an_error(ideal):
    sim.Population(1, sim.IF_curr_exp())
    sim.run(10.0)
    with pytest.raises(ValueError, match="past"):
        sim.run_until(5.0)


def test_state_queries(ideal):
    assert sim.get_time_step() == 0.1 and sim.get_min_delay() == 0.1
    assert sim.rank() == 0 and sim.num_processes() == 1


def test_auto_min_delay_is_the_smallest_projection_delay_on_the_grid():
    sim.setup(timestep=0.1, min_delay="auto")
    assert sim.get_min_delay() == pytest.approx(0.1)  # no projection yet: the time step
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(2, sim.IF_curr_exp())
    sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(delay=0.72))
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(delay=2.0))
    assert sim.get_min_delay() == pytest.approx(0.7)
    sim.end()


def test_procedural_api(ideal, tmp_path):
    src = sim.create(sim.SpikeSourceArray(spike_times=[1.0, 2.0]), n=2)
    cells = sim.create(sim.IF_curr_exp(tau_syn_E=1.0), n=3)
    prj = sim.connect(src, cells, weight=5.0, delay=0.5, p=1.0)
    path = tmp_path / "cells.pkl"
    sim.record(["v", "spikes"], cells, str(path))
    sim.set(cells, tau_m=15.0)
    sim.initialize(cells, v=-60.0)
    sim.run(20.0)
    assert len(prj) == 6
    np.testing.assert_array_equal(cells.get("tau_m"), 15.0)
    v = cells.get_data().segments[0].filter(name="v")[0].magnitude
    assert np.all(v[0] == -60.0) and np.all(v.max(axis=0) > -60.0)
    sim.end()  # writes what record() asked for
    (seg,) = PickleIO(str(path)).read_block().segments
    np.testing.assert_array_equal(seg.filter(name="v")[0].magnitude, v)


def test_projection_set_and_get(ideal):
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(2, sim.IF_curr_exp())
    prj = sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    prj.set(weight=np.array([[0.1, 0.2], [0.3, 0.4]]), delay=2.0)
    w, d = prj.get(["weight", "delay"], format="array")
    np.testing.assert_array_equal(w, [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(d, 2.0)
    prj[0].weight = 0.7
    assert prj.get("weight", format="list")[0][2] == 0.7
