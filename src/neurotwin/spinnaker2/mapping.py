"""Map a network onto a SpiNNaker2 machine: partition, place, allocate keys, route, compress.

1. **Partition** (:mod:`.partition`): every population and spike source is cut into
   slices of at most ``neurons_per_pe`` / ``sources_per_pe`` whose data fit a PE's SRAM
   and whose synaptic rows fit a chip's DRAM.
2. **Place**: slices fill the working PEs in chip order (boards in a snake over the
   triads, chips in a snake within a board), node after node in network order, so a
   population occupies a contiguous run of neighbouring chips. A chip whose DRAM cannot
   take the next slice's rows leaves its remaining PEs empty.
3. **Keys** (:mod:`.keys`): an aligned power-of-two key block per slice.
4. **Routes** (:mod:`.routing`): shortest-path multicast trees from each slice's chip
   to the chips of its targets; one router entry per (slice, chip on its tree).
5. **Compress** (:mod:`.compression`): exact merging until each table fits, otherwise
   :class:`~neurotwin.errors.CapacityError` naming the chip and the population.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np

from neurotwin.errors import CapacityError, ConfigError, check_int, check_positive
from neurotwin.network import Network, SpikeSourceArray, SpikeSourcePoisson
from neurotwin.spinnaker2.compression import compress as compress_tables
from neurotwin.spinnaker2.keys import allocate_keys
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.partition import DRAM, Partition, partition
from neurotwin.spinnaker2.placement import Placement
from neurotwin.spinnaker2.routing import RouteEntries, Tables, build_routes
from neurotwin.spinnaker2.specs import (
    BOARD_CHIPS,
    CHIP_DRAM_BYTES,
    CHIP_PES,
    DEFAULT_NEURONS_PER_PE,
    DEFAULT_SOURCES_PER_PE,
    MAX_BOARDS,
    SYNAPSE_TARGET_BITS,
)

__all__ = ["map_network"]


def _check_count(name: str, value: Any, high: int) -> int:
    return check_int(name, value, 1, high)


def _node_rates(network: Network, rates: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Firing rate (Hz) of every neuron of every node, for link loads."""
    unknown = sorted(set(rates) - set(network.nodes))
    if unknown:
        raise ConfigError(
            f"rates given for unknown nodes {unknown}; nodes: {', '.join(network.nodes)}"
        )
    out = {}
    missing = []
    for label, node in network.nodes.items():
        if label in rates:
            r = np.asarray(rates[label], dtype=np.float64)
            if r.ndim not in (0, 1) or (r.ndim == 1 and r.shape[0] != node.size):
                raise ConfigError(
                    f"rates[{label!r}] must be a scalar or of shape ({node.size},), "
                    f"got shape {r.shape}"
                )
            check_positive(f"rates[{label!r}]", r, "Hz", allow_zero=True)
            out[label] = np.broadcast_to(r, (node.size,)).astype(np.float64)
        elif isinstance(node, SpikeSourcePoisson):
            out[label] = np.asarray(node.rate, dtype=np.float64)
        elif isinstance(node, SpikeSourceArray):
            times = [np.asarray(t, dtype=np.float64) for t in node.spike_times]
            counts = np.array([t.size for t in times], dtype=np.float64)
            last = max((float(t[-1]) for t in times if t.size), default=0.0)
            out[label] = counts / (last * 1e-3) if last > 0 else np.zeros(node.size)
        else:
            missing.append(label)
    if missing:
        raise ConfigError(
            f"rates must cover every population when given; missing: {', '.join(missing)}"
        )
    return out


def _slice_weights(
    network: Network, part: Partition, rates: Mapping[str, Any] | None
) -> tuple[np.ndarray, str]:
    """Per-slice link-load weight and its unit."""
    if rates is None:
        weight = np.bincount(
            part.pair_src, weights=part.pair_synapses, minlength=part.n_slices
        ).astype(np.float64)
        return weight, "synapses"
    per_node = _node_rates(network, rates)
    weight = np.zeros(part.n_slices)
    for i, label in enumerate(part.labels):
        cum = np.concatenate([[0.0], np.cumsum(per_node[label])])
        s = slice(int(part.slice_offsets[i]), int(part.slice_offsets[i + 1]))
        weight[s] = cum[part.slice_hi[s]] - cum[part.slice_lo[s]]
    return weight, "packets/s"


def _pack(dram: np.ndarray, free: list[np.ndarray], capacity: int) -> tuple[np.ndarray, int, int]:
    """Slices in order onto chips in order: each chip takes slices while it has free PEs
    and DRAM. ``free[c]``: working PEs of chip c. Returns (global PE of each placed
    slice, slices placed, first chip whose DRAM ran out before its PEs, or -1)."""
    n = dram.size
    cum = np.concatenate([[0], np.cumsum(dram)])
    flat = np.empty(n, np.int64)
    cursor, limited = 0, -1
    for c, pes in enumerate(free):
        if cursor == n:
            break
        if pes.size == 0:
            continue
        k = min(pes.size, n - cursor)
        fits = int(np.searchsorted(cum, cum[cursor] + capacity, side="right")) - 1 - cursor
        if fits < k:
            k = fits
            if limited < 0:
                limited = c
        flat[cursor : cursor + k] = c * CHIP_PES + pes[:k]
        cursor += k
    return flat[:cursor], cursor, limited


def _default_machine(part: Partition) -> Machine:
    per_board = BOARD_CHIPS * CHIP_PES
    n_slices = part.n_slices
    full = np.arange(CHIP_PES)
    chips = math.ceil(n_slices / CHIP_PES)
    if part.slice_dram_bytes.sum() > CHIP_DRAM_BYTES:
        chips = 0
        placed = 0
        while placed < n_slices:  # chips of full DRAM and PEs, as _place packs them
            _, k, _ = _pack(part.slice_dram_bytes[placed:], [full], CHIP_DRAM_BYTES)
            if k == 0:  # partition() keeps every slice within one chip's DRAM
                raise AssertionError("a slice's rows exceed a chip's DRAM")
            placed += k
            chips += 1
    boards = max(1, math.ceil(chips / BOARD_CHIPS))
    if boards > MAX_BOARDS:
        raise CapacityError(
            "PEs", n_slices, MAX_BOARDS * per_board,
            f"more than the largest published machine ({MAX_BOARDS} boards)",
        )
    return Machine(n_boards=boards)


def _place(machine: Machine, part: Partition) -> tuple[np.ndarray, np.ndarray]:
    free = np.flatnonzero(machine.pe_alive.ravel())
    n = part.n_slices
    dram = part.slice_dram_bytes
    capacity = machine.dram_bytes
    if n <= free.size:
        flat = free[:n]
        per_chip = np.bincount(flat // CHIP_PES, weights=dram, minlength=machine.n_chips)
        if per_chip.max(initial=0) <= capacity:
            return flat // CHIP_PES, flat % CHIP_PES
    alive = machine.pe_alive
    flat, placed, limited = _pack(dram, [np.flatnonzero(row) for row in alive], capacity)
    if placed == n:
        return flat // CHIP_PES, flat % CHIP_PES
    node = int(part.slice_node[placed])
    counts = np.diff(part.slice_offsets)
    per_node = ", ".join(f"{lab}: {int(c)}" for lab, c in zip(part.labels, counts, strict=True))
    first = f"{part.labels[node]!r} is the first node that does not fit"
    if limited < 0:
        raise CapacityError("PEs", n, int(free.size), f"{first}; PEs per node: {per_node}")
    x, y = machine.xy(limited)
    on_chip = part.slice_node[:placed][flat // CHIP_PES == limited]
    owner = part.labels[int(np.bincount(on_chip).argmax())] if on_chip.size else "none"
    raise CapacityError(
        DRAM,
        int(dram.sum()),
        int(machine.chip_alive.sum()) * capacity,
        f"synaptic rows fill the DRAM of chip ({x}, {y}) (mostly {owner!r}) with "
        f"{int(alive[limited].sum()) - on_chip.size} of its PEs left; {first}",
    )


def _check_tables(
    machine: Machine,
    tables: Tables,
    entries: RouteEntries,
    part: Partition,
    before: np.ndarray,
    compressed: bool,
) -> None:
    sizes = tables.sizes
    over = np.flatnonzero(sizes > machine.router_entries)
    if over.size == 0:
        return
    chip = int(over[np.argmax(sizes[over])])
    nodes = part.slice_node[entries.slice[entries.chip == chip]]
    by_node = np.bincount(nodes, minlength=len(part.labels))
    worst = int(np.argmax(by_node))
    x, y = machine.xy(chip)
    raise CapacityError(
        "routing entries",
        int(sizes[chip]),
        machine.router_entries,
        f"chip ({x}, {y}) "
        + (f"after compression ({int(before[chip])} before)" if compressed else "uncompressed")
        + f"; most entries come from {part.labels[worst]!r} ({int(by_node[worst])} of "
        f"{int(before[chip])} before compression); {over.size} chip(s) over",
    )


def map_network(
    network: Network,
    machine: Machine | None = None,
    *,
    neurons_per_pe: int = DEFAULT_NEURONS_PER_PE,
    sources_per_pe: int = DEFAULT_SOURCES_PER_PE,
    rates: Mapping[str, Any] | None = None,
    compress: bool = True,
    tick_ms: float | None = None,
    place: Callable[[Machine, Partition], tuple[np.ndarray, np.ndarray]] | None = None,
) -> Placement:
    """Map ``network`` onto ``machine``.

    Parameters
    ----------
    network
        The network (not modified).
    machine
        Target machine; default the fewest 48-chip boards with enough PEs.
    neurons_per_pe
        Most neurons of a population per PE (1..256; default 250, py-spinnaker2's LIF).
        Fewer are placed where synapses would not fit the PE's data memory.
    sources_per_pe
        Most spike sources per PE.
    rates
        Optional firing rates in Hz per node label (scalar or per neuron); then link
        loads are expected packets per second. Poisson sources default to their rate,
        array sources to spikes / last spike time; every population must be given.
        Without ``rates``, link loads weight each slice by its outgoing synapses.
    compress
        Compress router tables (exactly; default True). Without compression, tables over
        capacity raise.
    tick_ms
        Tick of the runtime, ms (default ``network.dt``): delays are checked in ticks.
    place
        Optional placer replacing step 2: ``place(machine, partition)`` returns the
        (chip, PE) of every slice, chip-major (the slices of a chip consecutive, as
        :func:`~neurotwin.spinnaker2.keys.allocate_keys` needs); used by
        :mod:`~neurotwin.spinnaker2.hybrid` to send from the PEs of a DNN stage.

    Raises
    ------
    CapacityError
        Not enough PEs, PE data memory, chip DRAM, routing keys or router entries.
    MappingError
        Delays beyond what a synapse word holds.
    """
    start = time.perf_counter()
    if not isinstance(network, Network):
        raise ConfigError(f"network must be a Network, got {type(network).__name__}")
    if not network.nodes:
        raise ConfigError("the network is empty; add() populations or sources first")
    if machine is not None and not isinstance(machine, Machine):
        raise ConfigError(f"machine must be a spinnaker2.Machine, got {type(machine).__name__}")
    neurons_per_pe = _check_count("neurons_per_pe", neurons_per_pe, 1 << SYNAPSE_TARGET_BITS)
    sources_per_pe = _check_count("sources_per_pe", sources_per_pe, 1 << 16)

    if tick_ms is not None:
        check_positive("tick_ms", tick_ms, "ms")
    tick = float(network.dt if tick_ms is None else tick_ms)
    dram = CHIP_DRAM_BYTES if machine is None else machine.dram_bytes
    part = partition(network, neurons_per_pe, sources_per_pe, tick_ms=tick, dram_bytes=dram)
    weight, unit = _slice_weights(network, part, rates)
    if machine is None:
        machine = _default_machine(part)
    slice_chip, slice_pe = (_place if place is None else place)(machine, part)
    keys, masks = allocate_keys(slice_chip, part.slice_hi - part.slice_lo)
    entries = build_routes(machine, slice_chip, slice_pe, part.pair_src, part.pair_tgt, weight)
    tables = Tables.from_entries(
        machine.n_chips, entries.chip, keys[entries.slice], masks[entries.slice], entries.route
    )
    before = tables.sizes
    if compress:
        tables = compress_tables(tables, machine.router_entries)
    _check_tables(machine, tables, entries, part, before, compress)
    return Placement(
        **{f.name: getattr(part, f.name) for f in fields(Partition)},
        machine=machine,
        options={
            "neurons_per_pe": neurons_per_pe,
            "sources_per_pe": sources_per_pe,
            "compress": bool(compress),
            "dt": float(network.dt),
            "tick_ms": tick,
        },
        slice_chip=slice_chip,
        slice_pe=slice_pe,
        slice_key=keys,
        slice_mask=masks,
        tables=tables,
        entries_before=before,
        link_load=entries.link_load,
        link_load_unit=unit,
        map_time_s=time.perf_counter() - start,
    )
