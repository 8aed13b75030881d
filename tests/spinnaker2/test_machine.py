"""Machine geometry (counts, links, neighbours, wrap-around), faults, and (de)serialisation."""

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2 import DeadChip, DeadLink, DeadPE, Machine
from neurotwin.spinnaker2.specs import LINK_DELTAS

# The 48 chips of a SpiNNaker2 board as SpiNNMachine's version_248.py lists them.
SPINNMACHINE_BOARD = {
    (0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1),
    (2, 2), (2, 3), (2, 4), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (3, 6),
    (4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5), (4, 6), (4, 7), (5, 1), (5, 2), (5, 3),
    (5, 4), (5, 5), (5, 6), (5, 7), (6, 2), (6, 3), (6, 4), (6, 5), (6, 6), (6, 7), (7, 3),
    (7, 4), (7, 5), (7, 6), (7, 7),
}  # fmt: skip


def hex_distance(dx: int, dy: int) -> int:
    """Hops between chips on the six-link lattice (E, NE, N, W, SW, S), no wrap."""
    return max(abs(dx), abs(dy)) if dx * dy >= 0 else abs(dx) + abs(dy)


def test_one_board_counts_and_outline():
    m = Machine()
    assert m.n_chips == 48
    assert m.n_pes == 48 * 152
    assert {tuple(xy) for xy in m.chip_xy.tolist()} == SPINNMACHINE_BOARD
    assert not m.wrap and (m.width, m.height) == (8, 8)
    # links inside one board only: corner (0, 0) has E, NE and N
    assert set(m.neighbours(m.chip_index(0, 0))) == {"E", "NE", "N"}
    assert set(m.neighbours(m.chip_index(3, 3))) == {"E", "NE", "N", "W", "SW", "S"}


def test_links_are_symmetric_and_follow_the_deltas():
    for m in (Machine(1), Machine(3), Machine(4)):
        for d, (dx, dy) in enumerate(LINK_DELTAS):
            has = m.neighbour[:, d] >= 0
            other = m.neighbour[has, d]
            assert np.array_equal(m.neighbour[other, (d + 3) % 6], np.flatnonzero(has))
            step = (m.chip_xy[other] - m.chip_xy[has]) % [m.width, m.height]
            assert np.array_equal(step, np.broadcast_to([dx % m.width, dy % m.height], step.shape))


def test_three_boards_form_a_full_torus():
    m = Machine(3)
    assert m.n_chips == 144 and m.wrap and (m.width, m.height) == (12, 12)
    assert m.link_alive.all()
    assert len({tuple(xy) for xy in m.chip_xy.tolist()}) == 144
    # wrap-around: east of x = 11 is x = 0, south-west of (0, 0) is (11, 11)
    assert m.neighbours(m.chip_index(11, 5))["E"] == m.chip_index(0, 5)
    assert m.neighbours(m.chip_index(0, 0))["SW"] == m.chip_index(11, 11)


@pytest.mark.parametrize(("boards", "shape", "wrap"), [
    (2, (16, 16), False), (6, (24, 12), True), (7, (28, 28), False), (720, (192, 180), True),
])  # fmt: skip
def test_larger_machines(boards, shape, wrap):
    m = Machine(boards)
    assert m.n_chips == 48 * boards
    assert (m.width, m.height) == shape and m.wrap == wrap
    assert np.bincount(m.chip_board).tolist() == [48] * boards
    assert len(np.unique(m.chip_xy, axis=0)) == m.n_chips


def test_largest_machine_has_five_million_pes():
    assert Machine(720).n_pes == 5_253_120
    with pytest.raises(ConfigError, match="n_boards"):
        Machine(721)


def test_chips_are_numbered_in_snake_order():
    m = Machine(6)
    consecutive = [np.any(m.neighbour[c] == c + 1) for c in range(m.n_chips - 1)]
    within_board = [c for c in range(m.n_chips - 1) if m.chip_board[c] == m.chip_board[c + 1]]
    assert all(consecutive[c] for c in within_board)


def test_single_chip_machine():
    m = Machine(board_chips=1)
    assert m.n_chips == 1 and m.n_pes == 152 and not m.link_alive.any()
    with pytest.raises(ConfigError, match="single-chip"):
        Machine(2, board_chips=1)


def test_shortest_path_tree_has_hex_distances():
    m = Machine()
    for source in (0, 20, 47):
        parent, link = m.shortest_path_tree(source)
        assert parent[source] == -1
        sx, sy = m.xy(source)
        for chip in range(m.n_chips):
            depth, c = 0, chip
            while c != source:
                assert m.neighbour[parent[c], link[c]] == c
                c, depth = parent[c], depth + 1
            x, y = m.xy(chip)
            assert depth == hex_distance(x - sx, y - sy)


def test_faults_remove_chips_pes_and_links():
    m = Machine(faults=[DeadChip(3, 3), DeadPE(0, 0, 5), DeadLink(1, 1, "E")])
    dead = m.chip_index(3, 3)
    assert not m.chip_alive[dead] and not m.pe_alive[dead].any()
    assert not m.pe_alive[m.chip_index(0, 0), 5]
    assert m.n_pes == 47 * 152 - 1
    # links into the dead chip are gone from both sides
    assert not m.link_alive[dead].any()
    assert not any(v == dead for c in range(m.n_chips) for v in m.neighbours(c).values())
    # a dead link fails both ways
    a, b = m.chip_index(1, 1), m.chip_index(2, 1)
    assert "E" not in m.neighbours(a) and "W" not in m.neighbours(b)
    # trees route around faults
    parent, _ = m.shortest_path_tree(m.chip_index(2, 2))
    assert parent[dead] == -1
    assert np.all(parent[np.flatnonzero(m.chip_alive)] != dead)


@pytest.mark.parametrize("faults", [
    [DeadLink(0, 0, "E"), DeadLink(0, 0, "NE"), DeadLink(0, 0, "N")],
    [DeadChip(1, 0), DeadChip(1, 1), DeadChip(0, 1)],
    [DeadChip(x, y) for x in range(8) for y in range(8) if (x, y) in SPINNMACHINE_BOARD
     and y == 4],
])  # fmt: skip
def test_faults_that_disconnect_the_machine_raise(faults):
    with pytest.raises(ConfigError, match="disconnect"):
        Machine(faults=faults)


@pytest.mark.parametrize(("fault", "match"), [
    (DeadChip(0, 7), "no chip"),
    (DeadPE(0, 0, 152), "PE"),
    (DeadLink(0, 0, "W"), "no link W"),
    (DeadLink(0, 0, "NW"), "link must be"),
    ((0, 0), "DeadChip"),
])  # fmt: skip
def test_bad_faults_raise(fault, match):
    with pytest.raises(ConfigError, match=match):
        Machine(faults=[fault])


def test_every_chip_dead_raises():
    with pytest.raises(ConfigError, match="every chip"):
        Machine(board_chips=1, faults=[DeadChip(0, 0)])


def test_clock_levels():
    assert Machine(clock_mhz=150.0).clock_mhz == 150.0
    with pytest.raises(ConfigError, match="DVFS"):
        Machine(clock_mhz=200.0)


def test_round_trip_through_dict():
    m = Machine(4, faults=[DeadChip(3, 3), DeadLink(1, 1, 0), DeadPE(2, 2, 7)], clock_mhz=150.0)
    again = Machine.from_dict(m.to_dict())
    assert again.to_dict() == m.to_dict()
    assert np.array_equal(again.pe_alive, m.pe_alive)
    assert np.array_equal(again.link_alive, m.link_alive)
