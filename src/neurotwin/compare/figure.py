"""The comparison figure: a raster per backend, then bars of agreement and rates.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot state), as
:mod:`neurotwin.train.plots`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neurotwin.compare.classifier import ClassifierComparison
from neurotwin.compare.comparison import Comparison
from neurotwin.errors import ConfigError

__all__ = ["classifier_figure", "comparison_figure"]

DPI = 120


def comparison_figure(
    comparison: Comparison, path: str | Path | None = None, population: str | None = None
) -> Figure:
    """Top row: the spikes of ``population`` on each backend, side by side (a backend that
    could not run says why). Bottom row: the coincidence factor Gamma against the
    reference and the mean rate (Hz), one group of bars per population, one bar per
    backend that ran.

    Parameters
    ----------
    comparison
        What :func:`~neurotwin.compare.compare` returned.
    path
        If given, the PNG is saved there.
    population
        The population of the rasters (default: the first compared one).
    """
    label = comparison.populations[0] if population is None else population
    if label not in comparison.populations:
        raise ConfigError(f"population {label!r} was not compared; compared: "
                          f"{', '.join(comparison.populations)}")
    runs = comparison.runs
    fig = Figure(figsize=(3.2 * max(len(runs), 2), 6.0), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.2, 1.0], squeeze=False)[:, 0]
    rasters = top.subplots(1, len(runs), sharex=True, sharey=True, squeeze=False)[0]
    for ax, run in zip(rasters, runs, strict=True):
        ax.set_title(run.backend + (" (reference)" if run.backend == comparison.reference
                                    else ""), fontsize=10)
        ax.set_xlabel("time (ms)")
        ax.set_xlim(0.0, comparison.duration)
        if run.result is None:
            ax.text(0.5, 0.5, f"cannot run:\n{run.cannot_run}", ha="center", va="center",
                    wrap=True, fontsize=7, transform=ax.transAxes)
            continue
        times, ids = run.result.spikes(label)
        ax.scatter(times, ids, s=2, marker="|", color="k", linewidths=0.6)
    rasters[0].set_ylabel(f"{label} neuron")
    bars_gamma, bars_rate = bottom.subplots(1, 2)
    ran = [run for run in runs if run.result is not None]
    positions = np.arange(len(comparison.populations))
    width = 0.8 / max(len(ran), 1)
    for k, run in enumerate(ran):
        gamma = [np.nan if p.coincidence is None else p.coincidence for p in run.populations]
        rate = [p.rate_hz for p in run.populations]
        bars_gamma.bar(positions + k * width, gamma, width, label=run.backend)
        bars_rate.bar(positions + k * width, rate, width, label=run.backend)
    for ax, ylabel in ((bars_gamma, f"Gamma vs {comparison.reference} "
                        f"(window {comparison.window_ms:g} ms)"), (bars_rate, "rate (Hz)")):
        ax.set_xticks(positions + 0.4 - width / 2, comparison.populations)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    bars_gamma.axhline(1.0, color="grey", lw=0.5)
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig


def classifier_figure(comparison: ClassifierComparison, path: str | Path | None = None) -> Figure:
    """Bars per backend that ran: task accuracy (%, the event engine's as a line), median
    decision latency (ms), hardware time (µs) and energy (J) where the backend models them.

    Parameters
    ----------
    comparison
        What :func:`~neurotwin.compare.compare_classifier` returned.
    path
        If given, the PNG is saved there.
    """
    ran = [r for r in comparison.runs if r.cannot_run is None]
    names = [r.backend for r in ran]
    fig = Figure(figsize=(12.0, 3.2), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = (
        ("accuracy (%)", [100 * (r.accuracy or 0.0) for r in ran]),
        ("median latency (ms)", [np.nan if r.latency_ms is None else r.latency_ms for r in ran]),
        ("hardware time (µs)", [np.nan if r.hardware_time_us is None else r.hardware_time_us
                                for r in ran]),
        ("energy (J)", [np.nan if r.energy_j is None else r.energy_j for r in ran]),
    )
    for ax, (ylabel, values) in zip(axes, panels, strict=True):
        ax.bar(np.arange(len(ran)), values, color="0.4")
        ax.set_xticks(np.arange(len(ran)), names)
        ax.set_ylabel(ylabel)
    if comparison.event_accuracy is not None:
        axes[0].axhline(100 * comparison.event_accuracy, color="C1", lw=1,
                        label="event engine")
        axes[0].legend(fontsize=8)
    fig.suptitle(f"{comparison.task}, {comparison.n_samples} test samples", fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig
