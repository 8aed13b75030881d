"""Recording into Neo blocks, writing them, counting spikes; segments and clearing."""

import numpy as np
import pytest
from neo.io import PickleIO
from pyNN import errors

import neurotwin.pynn as sim


def _driven(n=2):
    cells = sim.Population(n, sim.IF_curr_exp(i_offset=np.linspace(1.0, 2.0, n)), label="exc")
    cells.record(["spikes", "v"])
    return cells


def test_get_data_is_a_neo_block(ideal):
    cells = _driven()
    sim.run(50.0)
    block = cells.get_data()
    (seg,) = block.segments
    assert block.name == "exc" and block.annotations["simulator"] == "neurotwin"
    assert len(seg.spiketrains) == 2 and all(st.t_stop == 50.0 for st in seg.spiketrains)
    (v,) = seg.analogsignals
    assert v.name == "v" and v.shape == (501, 2) and str(v.units.dimensionality) == "mV"
    assert [st.annotations["source_index"] for st in seg.spiketrains] == [0, 1]


def test_write_data_round_trips_through_pickle(ideal, tmp_path):
    cells = _driven()
    sim.run(30.0)
    path = tmp_path / "exc.pkl"
    cells.write_data(str(path))
    (seg,) = PickleIO(str(path)).read_block().segments
    original = cells.get_data().segments[0]
    np.testing.assert_array_equal(seg.analogsignals[0].magnitude,
                                  original.analogsignals[0].magnitude)
    for a, b in zip(seg.spiketrains, original.spiketrains, strict=True):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


def test_sampling_interval_and_counts(ideal):
    cells = sim.Population(3, sim.IF_curr_exp(i_offset=1.0))
    cells.record("v", sampling_interval=1.0)
    cells.record("spikes")
    sim.run(100.0)
    v = cells.get_data().segments[0].filter(name="v")[0]
    assert v.shape == (101, 3) and float(v.sampling_period) == 1.0
    counts = cells.get_spike_counts()
    assert set(counts) == {int(c) for c in cells} and len(set(counts.values())) == 1
    assert cells.mean_spike_count() == next(iter(counts.values())) > 0


def test_clear_keeps_only_later_data(ideal):
    cells = _driven(1)
    sim.run(50.0)
    first = cells.get_data(clear=True).segments[0].spiketrains[0].magnitude
    sim.run(50.0)
    second = cells.get_data().segments[0].spiketrains[0].magnitude
    assert first.max() <= 50.0 and second.min() > 50.0
    v = cells.get_data().segments[0].filter(name="v")[0]
    assert float(v.t_start) == 50.0 and v.shape[0] == 501


def test_reset_starts_a_new_identical_segment_with_poisson_input(ideal):
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0))
    cell = sim.Population(1, sim.IF_curr_exp(tau_syn_E=2.0))
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0))
    cell.record(["v", "spikes"])
    sim.run(100.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(100.0)
    first, second = cell.get_data().segments
    np.testing.assert_array_equal(first.analogsignals[0].magnitude,
                                  second.analogsignals[0].magnitude)


def test_recording_what_the_cell_has_not_is_refused(ideal):
    cells = sim.Population(1, sim.IF_curr_exp())
    with pytest.raises(errors.RecordingError):
        cells.record("gsyn_exc")
