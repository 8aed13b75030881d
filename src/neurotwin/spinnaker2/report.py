"""Utilisation of a :class:`~neurotwin.spinnaker2.placement.Placement`: per chip, per PE,
per node, as arrays and as text."""

from __future__ import annotations

import numpy as np

from neurotwin.spinnaker2.keys import KEY_SPACE
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.specs import CHIP_PES, LINK_NAMES, PE_DATA_BYTES

__all__ = ["report_text", "resources", "utilisation"]


def utilisation(p: Placement) -> dict[str, dict[str, np.ndarray]]:
    """Per-chip and per-PE utilisation.

    Returns
    -------
    {"chip": {...}, "pe": {...}}
        ``chip``: arrays of shape (n_chips,): ``x``, ``y``, ``alive``, ``pes_alive``,
        ``pes_used``, ``neurons``, ``data_bytes_used``, ``data_bytes_available`` (PE data
        SRAM summed over the chip's PEs), ``dram_bytes_used``, ``dram_bytes_available``
        (synaptic rows in the chip's DRAM), ``entries_before``, ``entries_after`` (router
        entries before / after compression), ``entries_available``.
        ``pe``: arrays of shape (n_slices,), one per used PE: ``chip``, ``pe``, ``node``,
        ``neurons``, ``data_bytes_used``, ``data_fraction`` (of the 96 KiB data memory),
        ``dram_bytes_used``, ``synapses``, ``rows``.
    """
    m = p.machine
    n_chips = m.n_chips
    neurons = p.slice_hi - p.slice_lo
    pes_alive = m.pe_alive.sum(axis=1)
    chip = {
        "x": m.chip_xy[:, 0].copy(),
        "y": m.chip_xy[:, 1].copy(),
        "alive": m.chip_alive.copy(),
        "pes_alive": pes_alive,
        "pes_used": np.bincount(p.slice_chip, minlength=n_chips),
        "neurons": np.bincount(p.slice_chip, weights=neurons, minlength=n_chips).astype(np.int64),
        "data_bytes_used": np.bincount(
            p.slice_chip, weights=p.slice_bytes, minlength=n_chips
        ).astype(np.int64),
        "data_bytes_available": pes_alive * PE_DATA_BYTES,
        "dram_bytes_used": np.bincount(
            p.slice_chip, weights=p.slice_dram_bytes, minlength=n_chips
        ).astype(np.int64),
        "dram_bytes_available": np.where(m.chip_alive, m.dram_bytes, 0).astype(np.int64),
        "entries_before": p.entries_before.copy(),
        "entries_after": p.tables.sizes,
        "entries_available": np.full(n_chips, m.router_entries),
    }
    pe = {
        "chip": p.slice_chip.copy(),
        "pe": p.slice_pe.copy(),
        "node": p.slice_node.copy(),
        "neurons": neurons,
        "data_bytes_used": p.slice_bytes.copy(),
        "data_fraction": p.slice_bytes / PE_DATA_BYTES,
        "dram_bytes_used": p.slice_dram_bytes.copy(),
        "synapses": p.slice_synapses.copy(),
        "rows": p.slice_rows.copy(),
    }
    return {"chip": chip, "pe": pe}


def resources(p: Placement) -> dict[str, tuple[float, float]]:
    """Resource name -> (used, available)."""
    sizes = p.tables.sizes
    key_blocks = (~p.slice_mask.astype(np.int64) & (KEY_SPACE - 1)) + 1
    return {
        "PEs": (float(p.n_slices), float(p.machine.n_pes)),
        "chips": (float(len(np.unique(p.slice_chip))), float(p.machine.chip_alive.sum())),
        "PE data memory, max per PE (bytes)": (
            float(p.slice_bytes.max(initial=0)),
            float(PE_DATA_BYTES),
        ),
        "chip DRAM, max per chip (bytes)": (
            float(np.bincount(p.slice_chip, weights=p.slice_dram_bytes).max(initial=0)),
            float(p.machine.dram_bytes),
        ),
        "routing entries, max per chip": (
            float(sizes.max(initial=0)),
            float(p.machine.router_entries),
        ),
        "routing keys": (float(key_blocks.sum()), float(KEY_SPACE)),
    }


def _stats(values: np.ndarray) -> str:
    if values.size == 0:
        return "none"
    return f"max {values.max():g}, mean {values.mean():.4g}, min {values.min():g}"


def report_text(p: Placement) -> str:
    """Summary of a placement as text: machine, nodes, PEs, memory, tables, links."""
    m = p.machine
    u = utilisation(p)
    chip, pe = u["chip"], u["pe"]
    used = np.flatnonzero(chip["pes_used"] > 0)
    lines = [
        m.describe(),
        f"mapped in {p.map_time_s:.3f} s: {p.n_slices} PEs on {len(used)} chips "
        f"({p.n_slices / max(m.n_pes, 1):.1%} of working PEs)",
        "",
        f"{'node':<16}{'kind':<20}{'size':>9}{'PEs':>7}{'max/PE':>8}{'chips':>7}"
        f"{'max data':>10}{'synapses in':>13}{'rows MiB':>10}",
    ]
    for i, label in enumerate(p.labels):
        s = slice(int(p.slice_offsets[i]), int(p.slice_offsets[i + 1]))
        n_chips = len(np.unique(p.slice_chip[s]))
        lines.append(
            f"{label:<16}{p.kinds[i]:<20}{int(p.sizes[i]):>9}{s.stop - s.start:>7}"
            f"{int(pe['neurons'][s].max(initial=0)):>8}{n_chips:>7}"
            f"{pe['data_fraction'][s].max(initial=0):>10.1%}"
            f"{int(pe['synapses'][s].sum()):>13}"
            f"{pe['dram_bytes_used'][s].sum() / 2**20:>10.1f}"
        )
    lines += [
        "",
        f"PE data memory used (of {PE_DATA_BYTES} bytes): {_stats(pe['data_bytes_used'])}",
        f"chip DRAM used by synaptic rows (of {m.dram_bytes} bytes): "
        f"{_stats(chip['dram_bytes_used'][used])}",
        f"PEs used per chip (of {CHIP_PES}): {_stats(chip['pes_used'][used])}",
        f"router entries per chip before compression: {_stats(chip['entries_before'][used])}",
        f"router entries per chip after compression (of {m.router_entries}): "
        f"{_stats(chip['entries_after'][chip['entries_after'] > 0])}",
        f"router entries in total: {int(chip['entries_before'].sum())} -> "
        f"{int(chip['entries_after'].sum())}",
    ]
    load = p.link_load
    busy = np.flatnonzero(load.ravel() > 0)
    lines.append(
        f"link load ({p.link_load_unit}) on {busy.size} used links: {_stats(load.ravel()[busy])}"
    )
    for flat in busy[np.argsort(load.ravel()[busy])[::-1][:5]]:
        c, d = divmod(int(flat), load.shape[1])
        x, y = m.xy(c)
        lines.append(f"  chip ({x}, {y}) link {LINK_NAMES[d]}: {load[c, d]:g}")
    return "\n".join(lines)
