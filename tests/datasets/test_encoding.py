"""Latency encoding, padded spike batches and their conversion to SpikeSourceArray times."""

from __future__ import annotations

import math

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.datasets import latency_encode, to_source_times
from neurotwin.errors import ConfigError
from neurotwin.spikes import PAD_ID, SpikeBatch

INF = math.inf


def test_linear_times_sorted_with_source_ids():
    batch = latency_encode([[0.0, 1.0, 0.5], [0.25, 0.25, 0.0]], t_early=1.0, t_late=11.0)
    assert batch.n_sources == 3
    assert batch.times.tolist() == [[1.0, 6.0, 11.0], [1.0, 3.5, 3.5]]
    # ties keep source order
    assert batch.ids.tolist() == [[0, 2, 1], [2, 0, 1]]
    assert batch.times.dtype == np.float64 and batch.ids.dtype == np.int64


def test_larger_earlier_and_bias():
    batch = latency_encode(
        [[0.0, 1.0, 0.5]], t_early=2.0, t_late=12.0, larger_earlier=True, bias_time=0.0
    )
    assert batch.n_sources == 4
    assert batch.times.tolist() == [[0.0, 2.0, 7.0, 12.0]]
    assert batch.ids.tolist() == [[3, 1, 2, 0]]


def test_yinyang_style_encoding_round_trips():
    # t = x t_late with a bias at 0 (jaxsnn's Yin-Yang input): times recover the features
    x = np.random.default_rng(0).random((5, 4))
    batch = latency_encode(x, 0.0, 30.0, bias_time=0.0)
    recovered = np.empty((5, 5))
    np.put_along_axis(recovered, batch.ids, batch.times, axis=1)
    np.testing.assert_allclose(recovered[:, :4], 30.0 * x, rtol=0, atol=1e-12)
    assert np.all(recovered[:, 4] == 0.0)


@pytest.mark.parametrize(
    ("x", "t_early", "t_late", "match"),
    [
        ([[0.5, 1.2]], 0.0, 10.0, "x must lie in"),
        ([[0.5, -0.1]], 0.0, 10.0, "x must lie in"),
        ([[0.5, math.nan]], 0.0, 10.0, "x must be finite"),
        ([0.5, 0.2], 0.0, 10.0, "shape"),
        ([[0.5]], 5.0, 5.0, "t_late"),
        ([[0.5]], -1.0, 5.0, "t_early"),
        ([[0.5]], 0.0, math.inf, "t_late"),
    ],
)
def test_encode_rejects_bad_input(x, t_early, t_late, match):
    with pytest.raises(ConfigError, match=match):
        latency_encode(x, t_early, t_late)


def test_encode_rejects_negative_bias():
    with pytest.raises(ConfigError, match="bias_time"):
        latency_encode([[0.5]], 0.0, 1.0, bias_time=-1.0)


@pytest.mark.parametrize(
    ("times", "ids", "n_sources", "match"),
    [
        ([[2.0, 1.0]], [[0, 1]], 2, "ascending"),
        ([[1.0, INF]], [[0, 1]], 2, "PAD_ID"),
        ([[1.0, 2.0]], [[0, 2]], 2, r"\[0, 2\)"),
        ([[1.0, 2.0]], [[0, PAD_ID]], 2, r"\[0, 2\)"),
        ([[1.0, 2.0]], [[0]], 2, "shape"),
        ([[-1.0, 2.0]], [[0, 1]], 2, ">= 0"),
        ([[math.nan, 2.0]], [[0, 1]], 2, "finite"),
        ([[1.0, 2.0]], [[0, 1]], 0, "n_sources"),
        ([[1.0, 2.0]], [[0.0, 1.0]], 2, "integers"),
    ],
)
def test_spike_batch_validation(times, ids, n_sources, match):
    with pytest.raises(ConfigError, match=match):
        SpikeBatch(np.array(times), np.array(ids), n_sources)


def test_take_selects_rows():
    batch = SpikeBatch(np.array([[1.0, INF], [0.5, 2.0]]), np.array([[1, PAD_ID], [0, 1]]), 2)
    assert batch.take([1]).times.tolist() == [[0.5, 2.0]]
    assert len(batch.take(slice(0, 2))) == 2
    assert batch.take(0).ids.tolist() == [[1, PAD_ID]]


def test_source_times_one_sample():
    batch = SpikeBatch(np.array([[0.5, 1.0, 3.0, INF]]), np.array([[2, 0, 2, PAD_ID]]), 4)
    times = to_source_times(batch)
    assert [t.tolist() for t in times] == [[1.0], [], [0.5, 3.0], []]


def test_source_times_samples_laid_out_by_period():
    batch = SpikeBatch(
        np.array([[0.5, 1.0, INF], [0.0, 2.0, 4.0]]), np.array([[1, 0, PAD_ID], [0, 0, 1]]), 2
    )
    times = to_source_times(batch, period=10.0)
    assert [t.tolist() for t in times] == [[1.0, 10.0, 12.0], [0.5, 14.0]]


def test_source_times_period_checks():
    batch = latency_encode([[0.0], [1.0]], 0.0, 5.0)
    with pytest.raises(ConfigError, match="period is required"):
        to_source_times(batch)
    with pytest.raises(ConfigError, match="exceed the latest spike"):
        to_source_times(batch, period=5.0)
    with pytest.raises(ConfigError, match="period"):
        to_source_times(batch, period=-1.0)


def test_source_times_drive_the_time_stepped_engine():
    batch = latency_encode([[0.2, 1.0], [0.6, 0.0]], t_early=1.0, t_late=6.0, bias_time=0.5)
    net = nt.Network(dt=0.1)
    source = net.add(nt.SpikeSourceArray(to_source_times(batch, period=10.0), label="inp"))
    assert source.size == batch.n_sources == 3
    net.record(source, "spikes")
    result = nt.simulate(net, duration=20.0, backend="ideal", seed=0)
    times, ids = result.spikes(source)
    expected = sorted(
        [(2.0, 0), (6.0, 1), (0.5, 2), (14.0, 0), (11.0, 1), (10.5, 2)], key=lambda p: p[0]
    )
    np.testing.assert_allclose(times, [t for t, _ in expected], atol=1e-9)
    assert ids.tolist() == [i for _, i in expected]
