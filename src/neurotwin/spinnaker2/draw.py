"""A picture of a placement: chips as hexagons coloured by PE occupancy, link loads as
lines. Uses matplotlib's object API with the Agg canvas (no pyplot state)."""

from __future__ import annotations

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import RegularPolygon

from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.specs import LINK_DELTAS

__all__ = ["chip_positions", "draw_placement"]

HEX_RADIUS = 1 / math.sqrt(3)
"""Circumradius of a chip hexagon when neighbouring chips are 1 apart."""


def chip_positions(xy: np.ndarray) -> np.ndarray:
    """(n, 2) drawing positions of chips (x, y): the triangular lattice of the six links,
    neighbours at distance 1."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([xy[:, 0] - 0.5 * xy[:, 1], xy[:, 1] * math.sqrt(3) / 2], axis=1)


def draw_placement(p: Placement, path: str | os.PathLike[str], title: str | None = None) -> None:
    """Write a PNG of ``p`` to ``path``.

    Chips are hexagons coloured by the fraction of their working PEs in use (dead chips
    dark grey with a cross); lines show outgoing link loads (width and darkness grow
    with load; wrap-around links are not drawn).
    """
    m = p.machine
    pos = chip_positions(m.chip_xy)
    pes_alive = m.pe_alive.sum(axis=1)
    used = np.bincount(p.slice_chip, minlength=m.n_chips)
    occupancy = np.where(pes_alive > 0, used / np.maximum(pes_alive, 1), 0.0)

    span = np.ptp(pos, axis=0) + 2
    scale = min(1.0, 40 / max(span.max(), 1))
    size = (max(4.0, span[0] * 0.45 * scale + 2), max(3.5, span[1] * 0.45 * scale + 1))
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    hexes = [RegularPolygon((px, py), 6, radius=HEX_RADIUS * 0.97) for px, py in pos]
    alive = m.chip_alive
    coll = PatchCollection(
        [h for h, a in zip(hexes, alive, strict=True) if a], cmap="viridis", edgecolor="white",
        linewidth=0.3,
    )
    coll.set_array(occupancy[alive])
    coll.set_clim(0.0, 1.0)
    ax.add_collection(coll)
    if (~alive).any():
        ax.add_collection(
            PatchCollection(
                [h for h, a in zip(hexes, alive, strict=True) if not a],
                facecolor="0.25", edgecolor="white", linewidth=0.3,
            )
        )
        dead = pos[~alive]
        ax.plot(dead[:, 0], dead[:, 1], "x", color="red", markersize=4)
    load = p.link_load
    if load.max(initial=0) > 0:
        segments, weights = [], []
        for c, d in zip(*np.nonzero(load), strict=True):
            dx, dy = LINK_DELTAS[d]
            x, y = m.chip_xy[c]
            if not (0 <= x + dx < m.width and 0 <= y + dy < m.height):
                continue
            end = chip_positions(np.array([[x + dx, y + dy]]))[0]
            segments.append([pos[c], pos[c] + 0.45 * (end - pos[c])])
            weights.append(load[c, d])
        if segments:
            w = np.array(weights) / max(weights)
            ax.add_collection(
                LineCollection(
                    segments,
                    linewidths=0.5 + 2.5 * w,
                    colors=[(1, 0.3, 0.1, 0.3 + 0.7 * v) for v in w],
                )
            )
    ax.set_xlim(pos[:, 0].min() - 1, pos[:, 0].max() + 1)
    ax.set_ylim(pos[:, 1].min() - 1, pos[:, 1].max() + 1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(coll, ax=ax, label="PEs used (fraction of working PEs)", shrink=0.8)
    ax.set_title(
        title
        or f"{p.n_slices} PEs on {int((used > 0).sum())} chips; link load in {p.link_load_unit}",
        fontsize=9,
    )
    fig.savefig(os.fspath(path), dpi=120, bbox_inches="tight", format="png")
