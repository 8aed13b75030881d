"""The SpiNNaker2 machine: chips on 48-chip boards, the links between them, declared faults.

Geometry (SpiNNMachine's, shared by SpiNNaker1 and SpiNNaker2 48-chip boards): chips sit
on an integer (x, y) grid; each has six links E (+1, 0), NE (+1, +1), N (0, +1),
W (-1, 0), SW (-1, -1), S (0, -1), so the grid is a triangular lattice (drawn as
hexagons). A board is the 48-chip hexagon inside an 8 x 8 box; three boards (a triad)
tile a 12 x 12 torus. A machine of ``n_boards``:

* 1 board: the 8 x 8 box, no wrap-around;
* a multiple of 3: ``tw x th`` triads (as square as the divisors allow), a full torus of
  ``12 tw x 12 th`` chips;
* otherwise: the first ``n_boards`` boards of ``ceil(n / 3)`` triads laid out in a
  ``(12 tw + 4) x (12 th + 4)`` box without wrap-around (what spalloc allocates).

Chips are numbered in placement order: boards in a snake over the triads, and within a
board row by row, alternating direction, so consecutive chips are neighbours.

A single-chip machine (``board_chips=1``, SpiNNMachine's "version 201" evaluation board)
is available for small studies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from neurotwin.errors import ConfigError, check_int
from neurotwin.spinnaker2.specs import (
    BOARD_CHIP_OFFSETS,
    BOARD_CHIPS,
    BOARD_SHAPE,
    CHIP_DRAM_BYTES,
    CHIP_PES,
    CLOCK_LEVELS_MHZ,
    DEFAULT_CLOCK_MHZ,
    LINK_DELTAS,
    LINK_NAMES,
    LINKS_PER_CHIP,
    MAX_BOARDS,
    ROUTER_ENTRIES,
    TRIAD_BOARD_ORIGINS,
    TRIAD_SIZE,
)

__all__ = ["DeadChip", "DeadLink", "DeadPE", "Fault", "Machine", "check_clock", "link_index"]


def check_clock(clock_mhz: object) -> float:
    """``clock_mhz`` as a float, MHz, if it is a DVFS performance level
    (``specs.CLOCK_LEVELS_MHZ``: 150 or 300). The one check of a PE clock: a Machine and
    the backend's ``clock_mhz`` option both use it.

    Raises
    ------
    ConfigError
        Anything else (another number, a string, a bool).
    """
    if isinstance(clock_mhz, int | float | np.integer | np.floating) and not isinstance(
        clock_mhz, bool
    ) and float(clock_mhz) in CLOCK_LEVELS_MHZ:
        return float(clock_mhz)
    levels = ", ".join(f"{f:g}" for f in CLOCK_LEVELS_MHZ)
    raise ConfigError(f"clock_mhz must be a DVFS level ({levels} MHz), got {clock_mhz!r}")


def link_index(link: str | int) -> int:
    """Route-bit index (0..5) of a link given by name ("E", "NE", ...) or index."""
    if isinstance(link, str) and link in LINK_NAMES:
        return LINK_NAMES.index(link)
    if isinstance(link, int | np.integer) and not isinstance(link, bool):
        if 0 <= int(link) < LINKS_PER_CHIP:
            return int(link)
    raise ConfigError(f"link must be one of {', '.join(LINK_NAMES)} or 0..5, got {link!r}")


@dataclass(frozen=True)
class DeadChip:
    """The chip at (x, y) does not work: no PEs, no router, no links."""

    x: int
    y: int


@dataclass(frozen=True)
class DeadLink:
    """The link of chip (x, y) in direction ``link`` is broken (both ways)."""

    x: int
    y: int
    link: str | int


@dataclass(frozen=True)
class DeadPE:
    """PE ``pe`` (0..151) of chip (x, y) does not work; its router still does."""

    x: int
    y: int
    pe: int


Fault = DeadChip | DeadLink | DeadPE
_FAULT_KINDS: dict[str, type[DeadChip] | type[DeadLink] | type[DeadPE]] = {
    "chip": DeadChip,
    "link": DeadLink,
    "pe": DeadPE,
}


def _snake_board_offsets() -> np.ndarray:
    """The 48 chip offsets of a board, rows by increasing y, alternating x direction."""
    rows: list[tuple[int, int]] = []
    for y in range(BOARD_SHAPE[1]):
        xs = sorted(x for x, yy in BOARD_CHIP_OFFSETS if yy == y)
        rows.extend((x, y) for x in (xs if y % 2 == 0 else xs[::-1]))
    return np.array(rows, dtype=np.int64)


def _layout(n_boards: int, board_chips: int) -> tuple[int, int, bool, np.ndarray, np.ndarray]:
    """(width, height, wrap, chip_xy (n, 2), board of each chip) in placement order."""
    if board_chips == 1:
        return 1, 1, False, np.zeros((1, 2), np.int64), np.zeros(1, np.int64)
    offsets = _snake_board_offsets()
    if n_boards == 1:
        return BOARD_SHAPE[0], BOARD_SHAPE[1], False, offsets, np.zeros(len(offsets), np.int64)
    if n_boards % 3 == 0:
        triads = n_boards // 3
        th = max(d for d in range(1, math.isqrt(triads) + 1) if triads % d == 0)
        tw = triads // th
        width, height, wrap = TRIAD_SIZE * tw, TRIAD_SIZE * th, True
    else:
        triads = math.ceil(n_boards / 3)
        tw = math.ceil(math.sqrt(triads))
        th = math.ceil(triads / tw)
        width, height, wrap = TRIAD_SIZE * tw + 4, TRIAD_SIZE * th + 4, False
    origins = []
    for ty in range(th):
        for tx in range(tw) if ty % 2 == 0 else reversed(range(tw)):
            for ox, oy in TRIAD_BOARD_ORIGINS:
                origins.append((TRIAD_SIZE * tx + ox, TRIAD_SIZE * ty + oy))
    origins_arr = np.array(origins[:n_boards], dtype=np.int64)
    xy = (origins_arr[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    if wrap:
        xy = xy % np.array([width, height])
    board = np.repeat(np.arange(n_boards, dtype=np.int64), len(offsets))
    return width, height, wrap, xy, board


@dataclass(frozen=True, eq=False)
class Machine:
    """A SpiNNaker2 machine of ``n_boards`` boards, with declared faults.

    Parameters
    ----------
    n_boards
        Number of 48-chip boards, 1..720 (the largest published system).
    faults
        Dead chips, links and PEs (:class:`DeadChip`, :class:`DeadLink`, :class:`DeadPE`);
        mapping and routing avoid them. Faults that split the working chips into parts
        that cannot reach each other raise :class:`~neurotwin.errors.ConfigError`.
    clock_mhz
        DVFS performance level the PEs run at, one of ``CLOCK_LEVELS_MHZ`` (150, 300).
    board_chips
        48 (the production board) or 1 (single-chip evaluation board; ``n_boards`` = 1).
    router_entries
        Router table capacity per chip (default the hardware's 16,384; smaller values
        are for what-if studies and tests).
    dram_bytes
        DRAM per chip, bytes, shared by its PEs' synaptic rows (default the hardware's
        2 GiB; other values are for what-if studies and tests).

    Attributes
    ----------
    width, height
        Extent of the chip grid.
    wrap
        Whether links wrap around (a torus).
    chip_xy
        (n_chips, 2) chip coordinates, in placement order (chip index = row).
    chip_board
        (n_chips,) board of each chip.
    chip_alive
        (n_chips,) False for dead chips.
    pe_alive
        (n_chips, 152) False for dead PEs (and every PE of a dead chip).
    neighbour
        (n_chips, 6) chip index across each link, -1 where the grid has no chip.
    link_alive
        (n_chips, 6) the link exists and both ends and the link itself work.
    """

    n_boards: int = 1
    faults: Sequence[Fault] = ()
    clock_mhz: float = DEFAULT_CLOCK_MHZ
    board_chips: int = BOARD_CHIPS
    router_entries: int = ROUTER_ENTRIES
    dram_bytes: int = CHIP_DRAM_BYTES
    width: int = field(init=False)
    height: int = field(init=False)
    wrap: bool = field(init=False)
    chip_xy: np.ndarray = field(init=False, repr=False)
    chip_board: np.ndarray = field(init=False, repr=False)
    chip_alive: np.ndarray = field(init=False, repr=False)
    pe_alive: np.ndarray = field(init=False, repr=False)
    neighbour: np.ndarray = field(init=False, repr=False)
    link_alive: np.ndarray = field(init=False, repr=False)
    _grid: np.ndarray = field(init=False, repr=False)
    _graph: sp.csr_array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = self.n_boards
        check_int("n_boards", n, 1, MAX_BOARDS)
        if self.board_chips not in (1, BOARD_CHIPS):
            raise ConfigError(f"board_chips must be 1 or {BOARD_CHIPS}, got {self.board_chips!r}")
        if self.board_chips == 1 and n != 1:
            raise ConfigError(f"single-chip boards do not tile; n_boards must be 1, got {n}")
        check_clock(self.clock_mhz)
        r = self.router_entries
        check_int("router_entries", r, low=1)
        d = self.dram_bytes
        check_int("dram_bytes", d, low=1)
        width, height, wrap, xy, board = _layout(int(n), self.board_chips)
        grid = np.full((width, height), -1, dtype=np.int64)
        grid[xy[:, 0], xy[:, 1]] = np.arange(len(xy))
        neighbour = np.full((len(xy), LINKS_PER_CHIP), -1, dtype=np.int64)
        for d, (dx, dy) in enumerate(LINK_DELTAS):
            nx, ny = xy[:, 0] + dx, xy[:, 1] + dy
            if wrap:
                nx, ny = nx % width, ny % height
            inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
            neighbour[inside, d] = grid[nx[inside], ny[inside]]
        sets = object.__setattr__
        sets(self, "faults", tuple(self.faults))
        sets(self, "width", width)
        sets(self, "height", height)
        sets(self, "wrap", wrap)
        sets(self, "chip_xy", xy)
        sets(self, "chip_board", board)
        sets(self, "neighbour", neighbour)
        sets(self, "_grid", grid)
        self._apply_faults()

    def _apply_faults(self) -> None:
        n_chips = len(self.chip_xy)
        chip_alive = np.ones(n_chips, dtype=bool)
        pe_alive = np.ones((n_chips, CHIP_PES), dtype=bool)
        link_ok = self.neighbour >= 0
        for fault in self.faults:
            if not isinstance(fault, DeadChip | DeadLink | DeadPE):
                raise ConfigError(
                    f"faults must be DeadChip, DeadLink or DeadPE, got {type(fault).__name__}"
                )
            chip = self.chip_index(fault.x, fault.y)
            if isinstance(fault, DeadChip):
                chip_alive[chip] = False
            elif isinstance(fault, DeadPE):
                pe = fault.pe
                if isinstance(pe, bool) or not isinstance(pe, int | np.integer) or not (
                    0 <= pe < CHIP_PES
                ):
                    raise ConfigError(f"PE of a DeadPE must lie in [0, {CHIP_PES - 1}], got {pe!r}")
                pe_alive[chip, pe] = False
            else:
                d = link_index(fault.link)
                other = self.neighbour[chip, d]
                if other < 0:
                    raise ConfigError(
                        f"chip ({fault.x}, {fault.y}) has no link {LINK_NAMES[d]} in this "
                        f"machine (edge of a machine without wrap-around)"
                    )
                link_ok[chip, d] = False
                link_ok[other, (d + 3) % LINKS_PER_CHIP] = False
        if not chip_alive.any():
            raise ConfigError("faults declare every chip dead; nothing is left to map onto")
        pe_alive &= chip_alive[:, None]
        safe = np.where(self.neighbour >= 0, self.neighbour, 0)
        link_alive = link_ok & chip_alive[:, None] & chip_alive[safe]
        cols = self.neighbour.ravel()[link_alive.ravel()]
        indptr = np.concatenate([[0], np.cumsum(link_alive.sum(axis=1))])
        graph = sp.csr_array(
            (np.ones(len(cols), dtype=np.int8), cols, indptr), shape=(n_chips, n_chips)
        )
        sets = object.__setattr__
        sets(self, "chip_alive", chip_alive)
        sets(self, "pe_alive", pe_alive)
        sets(self, "link_alive", link_alive)
        sets(self, "_graph", graph)
        if self.faults:  # without faults the boards' chips are connected by construction
            self._check_connected()

    def _check_connected(self) -> None:
        alive = np.flatnonzero(self.chip_alive)
        _, label = csgraph.connected_components(self._graph, directed=False)
        parts, sizes = np.unique(label[alive], return_counts=True)
        if len(parts) > 1:
            main = parts[np.argmax(sizes)]
            cut = alive[label[alive] != main]
            shown = ", ".join(f"({x}, {y})" for x, y in self.chip_xy[cut[:8]])
            more = f" and {len(cut) - 8} more" if len(cut) > 8 else ""
            raise ConfigError(
                f"the faults disconnect the machine: {len(cut)} working chip(s) cannot reach "
                f"the other {int(sizes.max())} through working links: {shown}{more}; "
                "declare them dead too, or remove faults"
            )

    def __repr__(self) -> str:
        return (
            f"Machine(n_boards={self.n_boards}, faults=<{len(self.faults)}>, "
            f"clock_mhz={self.clock_mhz:g}, board_chips={self.board_chips}, "
            f"router_entries={self.router_entries}, dram_bytes={self.dram_bytes})"
        )

    # ---- queries ---------------------------------------------------------------------
    @property
    def n_chips(self) -> int:
        """Chips in the machine, dead ones included."""
        return len(self.chip_xy)

    @property
    def n_pes(self) -> int:
        """Working application PEs."""
        return int(self.pe_alive.sum())

    def chip_index(self, x: int, y: int) -> int:
        """Index of the chip at (x, y); ConfigError if the machine has none there."""
        for v in (x, y):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ConfigError(f"chip coordinates must be integers, got ({x!r}, {y!r})")
        if not (0 <= x < self.width and 0 <= y < self.height) or self._grid[x, y] < 0:
            raise ConfigError(
                f"no chip at ({x}, {y}) in this {self.n_boards}-board machine "
                f"({self.width} x {self.height} grid)"
            )
        return int(self._grid[x, y])

    def xy(self, chip: int) -> tuple[int, int]:
        """(x, y) of chip index ``chip``."""
        x, y = self.chip_xy[chip]
        return int(x), int(y)

    def neighbours(self, chip: int) -> dict[str, int]:
        """Working neighbours of ``chip``: link name -> chip index."""
        return {
            LINK_NAMES[d]: int(self.neighbour[chip, d])
            for d in range(LINKS_PER_CHIP)
            if self.link_alive[chip, d]
        }

    def shortest_path_tree(self, source: int) -> tuple[np.ndarray, np.ndarray]:
        """Breadth-first tree of working links from chip ``source``.

        Returns
        -------
        parent
            (n_chips,) parent chip of each chip on a shortest path from ``source``
            (-1 for the source and for dead chips).
        parent_link
            (n_chips,) link index on the parent that leads to the chip (-1 where no parent).
        """
        _, parent = csgraph.breadth_first_order(
            self._graph, source, directed=True, return_predecessors=True
        )
        parent = np.where(parent < 0, -1, parent).astype(np.int64)
        has = parent >= 0
        parent_link = np.full(self.n_chips, -1, dtype=np.int64)
        hit = self.neighbour[parent[has]] == np.flatnonzero(has)[:, None]
        parent_link[has] = np.argmax(hit, axis=1)
        return parent, parent_link

    # ---- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (inputs only; everything else is derived)."""
        faults = []
        for f in self.faults:
            if isinstance(f, DeadChip):
                faults.append({"kind": "chip", "x": f.x, "y": f.y})
            elif isinstance(f, DeadPE):
                faults.append({"kind": "pe", "x": f.x, "y": f.y, "pe": int(f.pe)})
            else:
                name = LINK_NAMES[link_index(f.link)]
                faults.append({"kind": "link", "x": f.x, "y": f.y, "link": name})
        return {
            "n_boards": int(self.n_boards),
            "faults": faults,
            "clock_mhz": float(self.clock_mhz),
            "board_chips": int(self.board_chips),
            "router_entries": int(self.router_entries),
            "dram_bytes": int(self.dram_bytes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Machine:
        """Inverse of :meth:`to_dict`."""
        faults: list[Fault] = []
        for f in data.get("faults", []):
            args = {k: v for k, v in f.items() if k != "kind"}
            if f.get("kind") not in _FAULT_KINDS:
                raise ConfigError(f"unknown fault kind {f.get('kind')!r}; known: chip, link, pe")
            faults.append(_FAULT_KINDS[f["kind"]](**args))
        return cls(
            n_boards=int(data["n_boards"]),
            faults=tuple(faults),
            clock_mhz=float(data["clock_mhz"]),
            board_chips=int(data["board_chips"]),
            router_entries=int(data["router_entries"]),
            dram_bytes=int(data.get("dram_bytes", CHIP_DRAM_BYTES)),
        )

    def describe(self) -> str:
        """One line: boards, chips, working PEs, topology, clock."""
        topo = "torus" if self.wrap else "mesh"
        dead = int((~self.chip_alive).sum())
        return (
            f"SpiNNaker2, {self.n_boards} board(s), {self.n_chips} chips "
            f"({dead} dead), {self.n_pes} working PEs, {self.width} x {self.height} {topo}, "
            f"{self.clock_mhz:g} MHz"
        )
