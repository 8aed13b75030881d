"""Shared plots: binned population rate against hand counts, PNG files written."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurotwin.experiments import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_binned_rate_counts_spikes_per_neuron_per_second():
    # 2 neurons, 10 ms bins over 25 ms: bins [0,10) [10,20) [20,25]
    times = np.array([1.0, 2.0, 9.9, 10.0, 24.0])
    centres, rate = plots.binned_rate(times, n_neurons=2, duration=25.0, bin_ms=10.0)
    np.testing.assert_allclose(centres, [5.0, 15.0, 22.5])
    # 3 spikes / (2 neurons * 0.01 s); 1 / (2 * 0.01); 1 / (2 * 0.005)
    np.testing.assert_allclose(rate, [150.0, 50.0, 100.0])


def test_binned_rate_mean_equals_overall_rate():
    rng = np.random.default_rng(0)
    times = rng.uniform(0.0, 1000.0, size=500)
    _, rate = plots.binned_rate(times, n_neurons=10, duration=1000.0, bin_ms=5.0)
    assert rate.mean() == pytest.approx(500 / (10 * 1.0))


def test_raster_rate_and_traces_write_pngs(tmp_path):
    spikes = {
        "exc": (np.array([1.0, 2.0]), np.array([0, 3])),
        "inh": (np.array([1.5]), np.array([0])),
    }
    fig = plots.raster(spikes, {"exc": 4, "inh": 1}, 10.0, tmp_path / "raster.png")
    assert isinstance(fig, Figure)
    centres = np.array([2.5, 7.5])
    plots.rate(
        centres, {"exc": np.array([1.0, 2.0]), "inh": np.array([0.0, 3.0])}, tmp_path / "rate.png"
    )
    t = np.arange(100) * 0.1
    v = np.stack([np.sin(t), np.cos(t)], axis=1)
    fig = plots.traces(t, v, ["a", "b"], path=tmp_path / "traces.png", hlines={"threshold": 0.5})
    assert len(fig.axes) == 2
    for name in ("raster.png", "rate.png", "traces.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


def test_figures_are_returned_without_saving(tmp_path):
    fig = plots.traces(np.arange(3.0), np.zeros((3, 1)), ["only"])
    assert len(fig.axes) == 1
    assert list(tmp_path.iterdir()) == []
