"""Learning curves of a training run: loss and accuracies per epoch.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot state), as
:mod:`neurotwin.experiments.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = ["learning_curves", "sample_raster"]

DPI = 120


def learning_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | Path | None = None,
    *,
    accuracies: Sequence[str] = ("train_accuracy", "validation_accuracy", "test_accuracy"),
    title: str = "Learning curves",
) -> Figure:
    """Training loss (left) and accuracies in % (right) against the epoch.

    Parameters
    ----------
    history
        One mapping per epoch with ``epoch``, ``loss`` and some of ``accuracies``
        (fractions in [0, 1]); missing keys are skipped.
    path
        If given, the PNG is saved there.
    accuracies
        Keys of the accuracies to draw.
    title
        Figure title.
    """
    fig = Figure(figsize=(9.0, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [int(r["epoch"]) for r in history]
    ax_loss.plot(epochs, [float(r["loss"]) for r in history], marker="o", markersize=3)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    for key in accuracies:
        points = [(int(r["epoch"]), 100.0 * float(r[key])) for r in history if key in r]
        if points:
            xs, ys = zip(*points, strict=True)
            ax_acc.plot(xs, ys, marker="o", markersize=3, label=key.removesuffix("_accuracy"))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    if ax_acc.lines:
        ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    if path is not None:
        fig.savefig(Path(path), dpi=DPI)
    return fig


def sample_raster(
    spikes: Mapping[str, tuple[Any, Any]],
    sizes: Mapping[str, int],
    duration: float,
    path: str | Path | None = None,
    *,
    title: str = "Spikes of one sample",
) -> Figure:
    """Spikes of one sample, one panel per layer (top to bottom in the order given),
    with markers large enough for a few hundred spikes.

    Parameters
    ----------
    spikes
        Layer name -> (times in ms, neuron ids), shape (K,) each.
    sizes
        Layer name -> number of neurons.
    duration
        x range, ms.
    path
        If given, the PNG is saved there.
    title
        Figure title.
    """
    names = list(spikes)
    heights = [max(1.0, min(4.0, sizes[n] / 50.0)) for n in names]
    fig = Figure(figsize=(8.0, 1.2 + 1.1 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, name in zip(axes, names, strict=True):
        times, ids = spikes[name]
        ax.scatter(times, ids, s=6.0 if sizes[name] > 20 else 30.0, marker="|", color="k")
        ax.set_ylim(-0.5, sizes[name] - 0.5)
        ax.set_ylabel(f"{name}\nneuron")
    axes[-1].set_xlim(0.0, duration)
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(title)
    if path is not None:
        fig.savefig(Path(path), dpi=DPI)
    return fig
