"""The comparison figure: a raster per backend, then bars of agreement and rates.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot state), as
:mod:`neurotwin.train.plots`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neurotwin.compare.comparison import Comparison
from neurotwin.errors import ConfigError

__all__ = ["comparison_figure"]

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
