"""Synapses onto the two synapse arrays: rows, labels, drivers (see
:mod:`~neurotwin.bss2.mapping` for the packing rules).

In each hemisphere a greedy packer walks the presynaptic units in order and, per
receptor, puts each unit's synapses into open rows of that receptor's mode where one of
the target neuron's columns is still free, opening new rows as needed; a unit has one
6-bit address, fixed when it is first placed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.neuron_mapping import PopulationMap
from neurotwin.errors import CapacityError, ConfigError
from neurotwin.network import Network

__all__ = ["SynapseArrays", "place_synapses"]

ROW_MODE = {"exc": specs.ROW_MODES.index("excitatory"), "inh": specs.ROW_MODES.index("inhibitory")}


@dataclass
class _Hemisphere:
    """Packing state of one synapse array (rows may grow past 256 to count the need)."""

    free: np.ndarray = field(default_factory=lambda: np.ones((0, specs.SYNRAM_COLUMNS), bool))
    mode: list[int] = field(default_factory=list)
    owner: dict[tuple[int, int], int] = field(default_factory=dict)
    """(driver, address) -> presynaptic unit."""

    def open_row(self, mode: int) -> int:
        self.free = np.vstack([self.free, np.ones((1, specs.SYNRAM_COLUMNS), bool)])
        self.mode.append(mode)
        return len(self.mode) - 1


def _pack(hemi: _Hemisphere, unit: int, mode: int, targets: np.ndarray, owner: np.ndarray,
          address: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Place ``unit``'s synapses onto the neurons ``targets`` (one entry per synapse,
    repeats allowed) in rows of ``mode``, each into a free column of its neuron.

    ``owner`` gives the neuron of every column of the hemisphere (-1: none); a neuron's
    columns are contiguous and owners rise with the column. Returns (row, entry
    positions, columns) triples; sets ``address[unit]`` on first placement.
    """
    remaining = np.ones(targets.size, bool)
    placed: list[tuple[int, np.ndarray, np.ndarray]] = []
    stride = specs.SYNRAM_COLUMNS + 1

    def accepts(row: int) -> bool:
        driver = row // 2
        a = int(address[unit])
        if a < 0:
            used = {addr for (d, addr) in hemi.owner if d == driver}
            free = [x for x in range(specs.ADDRESS_MAX + 1) if x not in used]
            if not free:
                return False
            a = free[0]
            address[unit] = a
        holder = hemi.owner.get((driver, a), unit)
        if holder != unit:
            return False
        hemi.owner[(driver, a)] = unit
        return True

    def matches(row: int) -> tuple[np.ndarray, np.ndarray]:
        """Entries that find a free column of their neuron in ``row``, and the columns."""
        entries = np.nonzero(remaining)[0]
        order = entries[np.argsort(targets[entries], kind="stable")]
        t = targets[order]
        rank = np.arange(t.size) - np.searchsorted(t, t)  # k-th synapse onto its neuron
        cols = np.nonzero(hemi.free[row] & (owner >= 0))[0]
        o = owner[cols]
        col_rank = np.arange(o.size) - np.searchsorted(o, o)  # k-th free column of it
        col_keys = o * stride + col_rank
        keys = t * stride + rank
        if not col_keys.size:
            return order[:0], cols
        pos = np.minimum(np.searchsorted(col_keys, keys), col_keys.size - 1)
        hit = col_keys[pos] == keys
        return order[hit], cols[pos[hit]]

    def take(row: int) -> bool:
        entries, cols = matches(row)
        if not entries.size or not accepts(row):
            return False
        hemi.free[row, cols] = False
        remaining[entries] = False
        placed.append((row, entries, cols))
        return True

    modes = np.asarray(hemi.mode)
    if modes.size:
        wanted = np.isin(owner, targets)
        candidates = np.nonzero((modes == mode) & (hemi.free & wanted).any(axis=1))[0]
        for row in candidates:
            take(int(row))
            if not remaining.any():
                return placed
    while remaining.any():
        take(hemi.open_row(mode))
    return placed



@dataclass(frozen=True, eq=False)
class SynapseArrays:
    """The packed synapse arrays and what the events need to reach them."""

    weights: np.ndarray
    """(2, 256, 256) int 6-bit weights."""
    addresses: np.ndarray
    """(2, 256, 256) int 6-bit labels."""
    delay_steps: np.ndarray
    """(2, 256, 256) int delay in time steps of each synapse's event path."""
    row_modes: np.ndarray
    """(2, 256) int row mode (index into ``specs.ROW_MODES``)."""
    address: np.ndarray
    """(n_pre,) 6-bit address of every presynaptic unit, -1 where it has no synapse."""
    routes: np.ndarray
    """(R, 3) int: (presynaptic unit, hemisphere, driver) for every driver a unit reaches."""
    placements: tuple[np.ndarray, ...]
    """Per projection the (hemisphere, row, column) of each synapse, (S, 3) int."""


def place_synapses(network: Network, pops: dict[str, PopulationMap], first: dict[str, int],
                   pre_first: dict[str, int], k_of: dict[str, int], n_pre: int
                   ) -> SynapseArrays:
    """Pack every projection's synapses into the two synapse arrays (module docstring).

    ``first``/``pre_first``: first neuron / presynaptic unit of each population / node;
    ``k_of``: circuits per neuron of each population.

    Raises
    ------
    ConfigError
        A weight above 63 LSB.
    CapacityError
        More than 256 synapse rows in a hemisphere.
    """
    # synapses: (unit, neuron, mode, q, delay), packed per hemisphere and (unit, mode)
    entries: list[tuple[np.ndarray, ...]] = []
    for proj in network.projections:
        syn = proj.synapses()
        lsb = pops[proj.post].weight_lsb_na
        magnitude = np.abs(syn.weight)
        if magnitude.size and float(magnitude.max()) / lsb >= specs.WEIGHT_MAX + 0.5:
            raise ConfigError(
                f"weights of projection {proj.pre}->{proj.post} overflow the 6-bit synapse: "
                f"the largest, {float(magnitude.max()):.6g} nA, is "
                f"{float(magnitude.max()) / lsb:.1f} LSB at {lsb:.6g} nA per LSB "
                f"(at most {specs.WEIGHT_MAX}); pass a larger weight_scale")
        q = specs.quantize_weight(magnitude / lsb).astype(np.int64)
        vanished = int(np.count_nonzero((magnitude > 0) & (q == 0)))
        if vanished:
            # the chip has no such synapse: say so instead of dropping it silently
            warnings.warn(
                f"{vanished} of {magnitude.size} weights of projection {proj.pre}->"
                f"{proj.post} quantise to 0 LSB and vanish: the smallest representable "
                f"weight is {0.5 * lsb:.6g} nA (half of {lsb:.6g} nA per LSB, rounded up "
                f"to 1 LSB); pass a smaller weight_scale", specs.QuantizationWarning,
                stacklevel=3)
        if proj.receptor is None:
            mode = np.where(syn.weight < 0, ROW_MODE["inh"], ROW_MODE["exc"])
        else:
            mode = np.full(syn.pre.shape, ROW_MODE[proj.receptor])
        entries.append((syn.pre + pre_first[proj.pre], syn.post + first[proj.post], mode, q,
                        network.delay_steps(proj)))
    anchor_of = np.concatenate([pops[str(p.label)].anchors for p in network.populations]
                               + [np.zeros(0, np.int64)])
    size_of = np.concatenate([np.full(p.size, k_of[str(p.label)])
                              for p in network.populations] + [np.zeros(0, np.int64)])
    shape = (specs.N_HEMISPHERES, specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS)
    weights = np.zeros(shape, np.int64)
    addresses = np.zeros(shape, np.int64)
    delays = np.zeros(shape, np.int64)
    row_modes = np.zeros((specs.N_HEMISPHERES, specs.SYNRAM_ROWS), np.int64)
    address = np.full(n_pre, -1, np.int64)
    routes: set[tuple[int, int, int]] = set()
    slots = np.full((sum(e[0].size for e in entries), 3), -1, np.int64)
    if entries:
        unit, post, mode, q, dsteps = (np.concatenate(x) for x in zip(*entries, strict=True))
        hemisphere = anchor_of[post] // specs.SYNRAM_COLUMNS
        order = np.lexsort((post, mode, unit, hemisphere))
        for h in range(specs.N_HEMISPHERES):
            owner = np.full(specs.SYNRAM_COLUMNS, -1, np.int64)
            here = np.nonzero(anchor_of // specs.SYNRAM_COLUMNS == h)[0]
            for i in here:
                col = anchor_of[i] % specs.SYNRAM_COLUMNS
                owner[col:col + size_of[i]] = i
            hemi = _Hemisphere()
            sel = order[hemisphere[order] == h]
            if not sel.size:
                continue
            keys = np.stack([unit[sel], mode[sel]], axis=1)
            bounds = np.nonzero(np.any(np.diff(keys, axis=0) != 0, axis=1))[0] + 1
            for group in np.split(sel, bounds):
                u_, m_ = int(unit[group[0]]), int(mode[group[0]])
                for row, at, cols in _pack(hemi, u_, m_, post[group], owner, address):
                    idx = group[at]
                    if row < specs.SYNRAM_ROWS:
                        weights[h, row, cols] = q[idx]
                        addresses[h, row, cols] = address[u_]
                        delays[h, row, cols] = dsteps[idx]
                    slots[idx] = np.stack([np.full(cols.size, h), np.full(cols.size, row),
                                           cols], axis=1)
                    routes.add((u_, h, row // 2))
            if len(hemi.mode) > specs.SYNRAM_ROWS:
                raise CapacityError(
                    "synapse rows", len(hemi.mode), specs.SYNRAM_ROWS,
                    f"hemisphere {h}; {math.ceil(len(hemi.mode) / 2)} synapse drivers needed, "
                    f"{specs.N_SYNAPSE_DRIVERS} available")
            row_modes[h, :len(hemi.mode)] = hemi.mode
    return SynapseArrays(
        weights=weights, addresses=addresses, delay_steps=delays, row_modes=row_modes,
        address=address, routes=np.array(sorted(routes), dtype=np.int64).reshape(-1, 3),
        placements=tuple(np.split(slots, np.cumsum([e[0].size for e in entries])[:-1]))
        if entries else ())
