"""Partitioning matrices over synapse arrays, hemispheres, runs and chips; the schedule.

One synapse array (a hemisphere) holds a block of at most 128 signed rows x 256 columns
(``specs.VMM_MATRIX_HEIGHT`` x ``specs.VMM_MATRIX_WIDTH``). A larger matrix is cut into
row blocks (their int8 partial sums are added digitally, as hxtorch does) and column
blocks. Blocks fill *slots* in order, column block by column block, row blocks within::

    slot k  ->  hemisphere k % 2,  chip (k // 2) % chips,  run k // (2 * chips)

A run is one configuration of all chips; the next run rewrites the synapse arrays. The
hemispheres and chips of one run execute concurrently (twin assumption), so a vector's
time on the chip per run is that of the run's largest block::

    t_vector = VMM_MEMBRANE_RESET_US + num_sends * rows * wait * FPGA_TICK_US
               + CADC_SAMPLE_PERIOD_US

(one event per row and send, ``wait_between_events`` FPGA cycles apart, as grenade's MAC
sends them; the reset time is an assumption, ``specs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from neurotwin.bss2 import specs
from neurotwin.errors import CapacityError, ConfigError, check_int

__all__ = ["Block", "Schedule", "Sends", "block_time_us", "partition", "row_slices",
           "slot_location"]

Sends = int | Mapping[str, int]
"""Sends per vector: one number for every matrix, or one per matrix name."""


def row_slices(rows: int) -> list[slice]:
    """Row blocks of at most 128 signed rows covering ``rows`` rows, in order."""
    step = specs.VMM_MATRIX_HEIGHT
    return [slice(i, min(i + step, rows)) for i in range(0, rows, step)]


def column_slices(columns: int) -> list[slice]:
    """Column blocks of at most 256 columns covering ``columns`` columns, in order."""
    step = specs.VMM_MATRIX_WIDTH
    return [slice(j, min(j + step, columns)) for j in range(0, columns, step)]


def slot_location(slot: int, chips: int) -> tuple[int, int, int]:
    """(run, chip, hemisphere) of slot ``slot`` with ``chips`` chips (module docstring)."""
    per_run = specs.N_HEMISPHERES * chips
    return slot // per_run, (slot // specs.N_HEMISPHERES) % chips, slot % specs.N_HEMISPHERES


def block_time_us(rows: int, num_sends: int, wait_between_events: int) -> float:
    """Hardware time of one vector through a block of ``rows`` signed rows, µs."""
    events_us = num_sends * rows * wait_between_events * specs.FPGA_TICK_US
    return specs.VMM_MEMBRANE_RESET_US + events_us + specs.CADC_SAMPLE_PERIOD_US


@dataclass(frozen=True)
class Block:
    """One block of one matrix and where it runs.

    ``rows`` and ``columns`` are (start, stop) in the matrix; ``slot`` numbers the block's
    place in the schedule; ``run``, ``chip``, ``hemisphere`` follow from it.
    """

    matrix: str
    rows: tuple[int, int]
    columns: tuple[int, int]
    slot: int
    run: int
    chip: int
    hemisphere: int


@dataclass(frozen=True)
class Schedule:
    """Where every block of some matrices runs: ``partition``'s result.

    Attributes
    ----------
    blocks
        Every block, in slot order.
    chips
        Chips used.
    """

    blocks: tuple[Block, ...]
    chips: int

    @property
    def runs(self) -> int:
        """Configurations needed (1 + the last block's run)."""
        return 1 + max((b.run for b in self.blocks), default=-1)

    def first_slot(self, matrix: str) -> int:
        """The first slot of matrix ``matrix``."""
        return min(b.slot for b in self.blocks if b.matrix == matrix)

    def sends(self, block: Block, num_sends: Sends) -> int:
        """Sends of ``block``'s vectors under ``num_sends``."""
        return num_sends if isinstance(num_sends, int) else num_sends[block.matrix]

    def hardware_time_us(self, num_sends: Sends = 1,
                         wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS) -> float:
        """Hardware time of one input vector through every run, µs (module docstring)."""
        per_run: dict[int, float] = {}
        for b in self.blocks:
            t = block_time_us(b.rows[1] - b.rows[0], self.sends(b, num_sends),
                              wait_between_events)
            per_run[b.run] = max(per_run.get(b.run, 0.0), t)
        return sum(per_run.values())

    def table(self, num_sends: Sends = 1,
              wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS) -> str:
        """The schedule as text: one line per block, then runs, chips and hardware time."""
        lines = [f"{'run':>3} {'chip':>4} {'hemi':>4}  {'matrix':<12} {'rows':>11} "
                 f"{'columns':>11}"]
        for b in self.blocks:
            lines.append(f"{b.run:>3} {b.chip:>4} {b.hemisphere:>4}  {b.matrix:<12} "
                         f"{b.rows[0]:>5}:{b.rows[1]:<5} {b.columns[0]:>5}:{b.columns[1]:<5}")
        t = self.hardware_time_us(num_sends, wait_between_events)
        lines.append(f"{len(self.blocks)} blocks, {self.runs} run(s) on {self.chips} chip(s), "
                     f"{t:.2f} µs of hardware time per vector (num_sends={num_sends}, "
                     f"wait_between_events={wait_between_events})")
        return "\n".join(lines)


def partition(matrices: Sequence[tuple[str, int, int]], chips: int = 1,
              max_runs: int | None = None) -> Schedule:
    """Cut matrices into blocks and place them on slots (module docstring).

    Parameters
    ----------
    matrices
        (name, rows, columns) of each matrix, in execution order (rows: signed inputs).
    chips
        Chips available.
    max_runs
        Configurations allowed per inference (None: as many as needed).

    Raises
    ------
    CapacityError
        When the blocks need more than ``2 * chips * max_runs`` synapse arrays; the
        message names what was needed: the blocks of every matrix and the chips or runs
        that would hold them.
    ConfigError
        For sizes below 1.
    """
    check_int("chips", chips, 1)
    if max_runs is not None:
        check_int("max_runs", max_runs, 1)
    blocks: list[Block] = []
    for name, rows, columns in matrices:
        check_int(f"rows of {name}", rows, 1)
        check_int(f"columns of {name}", columns, 1)
        for cs in column_slices(columns):
            for rs in row_slices(rows):
                run, chip, hemisphere = slot_location(len(blocks), chips)
                blocks.append(Block(name, (rs.start, rs.stop), (cs.start, cs.stop),
                                    len(blocks), run, chip, hemisphere))
    if not blocks:
        raise ConfigError("partition needs at least one matrix")
    if max_runs is not None:
        available = specs.N_HEMISPHERES * chips * max_runs
        if len(blocks) > available:
            per_matrix = {name: sum(b.matrix == name for b in blocks) for name, _, _ in matrices}
            listing = ", ".join(f"{n}: {k}" for n, k in per_matrix.items())
            raise CapacityError(
                "synapse arrays (128 x 256 blocks)", len(blocks), available,
                f"blocks per matrix {listing}; {chips} chip(s) x {max_runs} run(s) hold "
                f"{available}; needs {math.ceil(len(blocks) / (2 * max_runs))} chip(s) or "
                f"{math.ceil(len(blocks) / (2 * chips))} run(s)")
    return Schedule(tuple(blocks), chips)
