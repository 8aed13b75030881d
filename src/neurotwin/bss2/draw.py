"""Occupancy picture of a mapped chip: neuron circuits and both synapse arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.mapping import Mapping

__all__ = ["draw_mapping"]


def draw_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write a PNG of ``mapping``'s chip occupancy to ``path`` and return the path.

    Top: the 2 x 256 neuron circuits coloured by population (grey: unused). Below: each
    synapse array (256 rows x 256 columns) with the 6-bit weight of every used synapse,
    excitatory rows in red, inhibitory rows in blue; the margin shows each row's mode.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(8, 12), height_ratios=(1, 6, 6))
    owner = np.full(specs.N_NEURONS, np.nan)
    for k, pmap in enumerate(mapping.populations.values()):
        owner[pmap.circuits] = k
    axes[0].imshow(owner.reshape(specs.N_NEURON_ROWS, specs.N_NEURON_COLUMNS), aspect="auto",
                   cmap="tab20", interpolation="nearest", vmin=0, vmax=19)
    axes[0].set_title("neuron circuits by population: "
                      + ", ".join(mapping.populations), fontsize=9)
    axes[0].set_yticks([0, 1], ["top", "bottom"])
    weights = np.asarray(mapping.config.weights, dtype=float)
    modes = np.asarray(mapping.config.row_modes)
    for h in range(specs.N_HEMISPHERES):
        ax = axes[1 + h]
        sign = np.where(modes[h] == specs.ROW_MODES.index("inhibitory"), -1.0, 1.0)
        signed = np.where(weights[h] > 0, weights[h] * sign[:, None], np.nan)
        ax.imshow(signed, aspect="auto", cmap="coolwarm", vmin=-specs.WEIGHT_MAX,
                  vmax=specs.WEIGHT_MAX, interpolation="nearest")
        used = int((modes[h] != 0).sum())
        ax.set_title(f"synapse array {h}: {used} of {specs.SYNRAM_ROWS} rows in use "
                     f"(red exc, blue inh)", fontsize=9)
        ax.set_ylabel("row")
        ax.set_xlabel("column (neuron circuit)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
