"""Plots shared by the experiments: spike raster, population rate, state traces.

Figures are built as :class:`matplotlib.figure.Figure` objects directly, never through
``pyplot``: no global figure state, no GUI backend, PNGs rendered by Agg. Every function
takes plain arrays, returns the figure and, given ``path``, also saves it as a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["binned_rate", "raster", "rate", "save", "traces"]

DPI = 120


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, PNG for ``.png``); return the path."""
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    return path


def binned_rate(
    times: np.ndarray, n_neurons: int, duration: float, bin_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Population rate: spikes per neuron per second in consecutive bins.

    Parameters
    ----------
    times
        Spike times of the population, ms, shape (K,).
    n_neurons
        Size of the population.
    duration
        Length of the run, ms; the last bin may be shorter and is normalised by its length.
    bin_ms
        Bin width, ms.

    Returns
    -------
    (centres, rate): bin centres in ms and the rate in Hz, both of shape (n_bins,).
    """
    edges = np.arange(0.0, duration, bin_ms)
    edges = np.append(edges, duration)
    counts, _ = np.histogram(times, bins=edges)
    widths_s = np.diff(edges) * 1e-3
    return 0.5 * (edges[:-1] + edges[1:]), counts / (n_neurons * widths_s)


def raster(
    spikes: Mapping[str, tuple[np.ndarray, np.ndarray]],
    sizes: Mapping[str, int],
    duration: float,
    path: str | Path | None = None,
    title: str = "Spike raster",
) -> Figure:
    """Dot raster of several populations stacked bottom to top in the given order.

    Parameters
    ----------
    spikes
        Population label -> (times in ms, neuron ids within the population), shape (K,).
    sizes
        Population label -> number of neurons (the height of its band).
    duration
        Length of the run, ms (the x range).
    path
        If given, the PNG is saved there.
    title
        Figure title.
    """
    fig = Figure(figsize=(8.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    offset = 0
    for label, (times, ids) in spikes.items():
        ax.scatter(times, ids + offset, s=1.0, marker=".", linewidths=0, label=label)
        offset += sizes[label]
    ax.set_xlim(0.0, duration)
    ax.set_ylim(0, max(offset, 1))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_title(title)
    if len(spikes) > 1:
        ax.legend(loc="upper right", markerscale=8, frameon=True)
    if path is not None:
        save(fig, path)
    return fig


def rate(
    times: np.ndarray,
    rates: Mapping[str, np.ndarray],
    path: str | Path | None = None,
    title: str = "Population rate",
) -> Figure:
    """Population rate over time, one line per population.

    Parameters
    ----------
    times
        Bin centres, ms, shape (n_bins,) (see :func:`binned_rate`).
    rates
        Population label -> rate in Hz, shape (n_bins,).
    path
        If given, the PNG is saved there.
    title
        Figure title.
    """
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    for label, values in rates.items():
        ax.plot(times, values, linewidth=1.0, label=label)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(title)
    ax.set_ylim(bottom=0.0)
    if len(rates) > 1:
        ax.legend(loc="upper right")
    if path is not None:
        save(fig, path)
    return fig


def traces(
    times: np.ndarray,
    values: np.ndarray,
    labels: Sequence[str],
    ylabel: str = "v (mV)",
    path: str | Path | None = None,
    title: str = "Membrane traces",
    hlines: Mapping[str, float] | None = None,
) -> Figure:
    """One panel per recorded neuron, sharing the time axis.

    Parameters
    ----------
    times
        Sample times, ms, shape (steps,).
    values
        Recorded values, shape (steps, k): one column per neuron.
    labels
        Name of each column, length k.
    ylabel
        Y axis label with unit.
    path
        If given, the PNG is saved there.
    title
        Figure title.
    hlines
        Optional reference levels drawn dashed in every panel, name -> value
        (e.g. ``{"threshold": -50.0}``).
    """
    values = np.asarray(values)
    k = values.shape[1]
    fig = Figure(figsize=(8.0, 1.2 + 1.3 * k), layout="constrained")
    axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
    for column, (ax, label) in enumerate(zip(axes, labels, strict=True)):
        ax.plot(times, values[:, column], linewidth=0.8)
        for name, level in (hlines or {}).items():
            ax.axhline(level, linestyle="--", linewidth=0.6, color="0.5")
            ax.annotate(
                name,
                (1.0, level),
                xycoords=("axes fraction", "data"),
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
                fontsize="x-small",
                color="0.4",
            )
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize="small", loc="left")
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(title)
    if path is not None:
        save(fig, path)
    return fig
