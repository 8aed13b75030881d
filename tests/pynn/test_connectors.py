"""Every standard connector builds the connections it promises, and they reach the
neurons: PSP amplitudes count the connections (analytic PSP peak per connection)."""

import math

import numpy as np
import pytest
from pyNN.space import Grid2D

import neurotwin.pynn as sim

TAU_M, TAU_S = 20.0, 5.0
PEAK_T = math.log(TAU_M / TAU_S) * TAU_M * TAU_S / (TAU_M - TAU_S)
UNIT_PEAK = (TAU_M * TAU_S / (TAU_M - TAU_S)
             * (math.exp(-PEAK_T / TAU_M) - math.exp(-PEAK_T / TAU_S)))
"""Peak PSP in mV of one 1 nA connection onto a 1 nF cell (tau_m 20 ms, tau_syn 5 ms)."""


def _pops(n_pre, n_post, **kw):
    pre = sim.Population(n_pre, sim.SpikeSourceArray(spike_times=[1.0]), **kw)
    post = sim.Population(n_post, sim.IF_curr_exp(tau_m=TAU_M, tau_syn_E=TAU_S, v_thresh=0.0),
                          **kw)
    return pre, post


def _peaks(post, t=30.0):
    post.record("v")
    sim.run(t)
    v = post.get_data().segments[0].filter(name="v")[0].magnitude
    return v.max(axis=0) - v[0]


def _connected(prj):
    return ~np.isnan(prj.get("weight", format="array"))


def test_all_to_all_and_its_psps(ideal):
    pre, post = _pops(3, 4)
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    assert len(prj) == 12 and _connected(prj).all()
    np.testing.assert_allclose(_peaks(post), 3 * 0.1 * UNIT_PEAK, rtol=1e-3)


def test_all_to_all_without_self_connections(ideal):
    cells = sim.Population(4, sim.IF_curr_exp())
    prj = sim.Projection(cells, cells, sim.AllToAllConnector(allow_self_connections=False),
                         sim.StaticSynapse(weight=0.1))
    assert len(prj) == 12 and not _connected(prj).diagonal().any()


def test_one_to_one(ideal):
    pre, post = _pops(4, 4)
    prj = sim.Projection(pre, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.2))
    np.testing.assert_array_equal(_connected(prj), np.eye(4, dtype=bool))
    np.testing.assert_allclose(_peaks(post), 0.2 * UNIT_PEAK, rtol=1e-3)


def test_fixed_probability_extremes_and_rate(ideal):
    pre, post = _pops(50, 40)
    rng = sim.NumpyRNG(seed=3)
    full = sim.Projection(pre, post, sim.FixedProbabilityConnector(1.0, rng=rng))
    empty = sim.Projection(pre, post, sim.FixedProbabilityConnector(0.0, rng=rng))
    some = sim.Projection(pre, post, sim.FixedProbabilityConnector(0.3, rng=rng))
    assert len(full) == 2000 and len(empty) == 0
    sd = math.sqrt(2000 * 0.3 * 0.7)
    assert abs(len(some) - 600) < 5 * sd


def test_fixed_number_pre_and_post(ideal):
    pre, post = _pops(10, 6)
    rng = sim.NumpyRNG(seed=1)
    by_pre = sim.Projection(pre, post, sim.FixedNumberPreConnector(3, rng=rng),
                            sim.StaticSynapse(weight=0.1))
    np.testing.assert_array_equal(_connected(by_pre).sum(axis=0), 3)
    by_post = sim.Projection(pre, post, sim.FixedNumberPostConnector(2, rng=rng))
    np.testing.assert_array_equal(_connected(by_post).sum(axis=1), 2)
    np.testing.assert_allclose(_peaks(post), 3 * 0.1 * UNIT_PEAK, rtol=1e-3)


def test_from_list_with_a_repeated_pair(ideal):
    pre, post = _pops(2, 2)
    conns = [(0, 0, 0.1, 1.0), (0, 0, 0.1, 1.0), (1, 1, 0.3, 2.0)]
    prj = sim.Projection(pre, post, sim.FromListConnector(conns, column_names=["weight", "delay"]))
    assert len(prj) == 3
    got = sorted(prj.get(["weight", "delay"], format="list"))
    assert got == sorted((float(i), float(j), w, d) for i, j, w, d in conns)
    # the two connections between the same pair both act: twice the PSP
    np.testing.assert_allclose(_peaks(post), [0.2 * UNIT_PEAK, 0.3 * UNIT_PEAK], rtol=1e-3)


def test_array_connector(ideal):
    pre, post = _pops(3, 2)
    mask = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)
    prj = sim.Projection(pre, post, sim.ArrayConnector(mask), sim.StaticSynapse(weight=0.1))
    np.testing.assert_array_equal(_connected(prj), mask)
    np.testing.assert_allclose(_peaks(post), [0.2 * UNIT_PEAK, 0.1 * UNIT_PEAK], rtol=1e-3)


def test_distance_dependent_probability_on_a_grid(ideal):
    cells = sim.Population(9, sim.IF_curr_exp(), structure=Grid2D(dx=1.0, dy=1.0))
    prj = sim.Projection(cells, cells, sim.DistanceDependentProbabilityConnector(
        "d < 1.1", allow_self_connections=False))
    positions = cells.positions.T[:, :2]
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    expected = (distance < 1.1) & (distance > 0)
    np.testing.assert_array_equal(_connected(prj), expected)


def test_population_views_and_assemblies_connect_the_right_cells(ideal):
    pre, post = _pops(4, 4)
    view = post[[1, 3]]
    prj = sim.Projection(pre[0:1], view, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5))
    peaks = _peaks(post)
    np.testing.assert_allclose(peaks[[1, 3]], 0.5 * UNIT_PEAK, rtol=1e-3)
    np.testing.assert_allclose(peaks[[0, 2]], 0.0, atol=1e-12)
    assert len(prj) == 2


def test_assembly_target(ideal):
    pre, a = _pops(1, 2)
    b = sim.Population(3, sim.IF_curr_exp(tau_m=TAU_M, tau_syn_E=TAU_S, v_thresh=0.0))
    sim.Projection(pre, a + b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5),
                   receptor_type="excitatory")
    b.record("v")
    peaks = _peaks(a)
    v_b = b.get_data().segments[0].filter(name="v")[0].magnitude
    np.testing.assert_allclose(peaks, 0.5 * UNIT_PEAK, rtol=1e-3)
    np.testing.assert_allclose(v_b.max(axis=0) - v_b[0], 0.5 * UNIT_PEAK, rtol=1e-3)


@pytest.mark.parametrize("delay", [0.1, 2.0, 3.7])
def test_delays_shift_the_psp(ideal, delay):
    pre, post = _pops(1, 1)
    sim.Projection(pre, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=delay))
    post.record("v")
    sim.run(10.0)
    v = post.get_data().segments[0].filter(name="v")[0].magnitude[:, 0]
    first = int(np.flatnonzero(v > v[0])[0])
    assert first * 0.1 == pytest.approx(1.0 + delay + 0.1)
