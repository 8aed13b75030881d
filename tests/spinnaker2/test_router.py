"""The one router walk (``spinnaker2.router``): route classes, ``follow`` and ``follow_block``
give, key by key, what a plain per-key walk of the same tables gives."""

import numpy as np
import pytest

from neurotwin.errors import MappingError
from neurotwin.spinnaker2 import DeadLink, Machine, Tables, follow, follow_block, map_network
from neurotwin.spinnaker2.router import route_classes


def scrambled(machine: Machine, tables: Tables, seed: int) -> Tables:
    """Tables with some entries narrowed to one key, some route bits flipped (extra links
    and PEs, default routing past chips whose entry now misses) and loops: an entry after
    a link sends its keys back."""
    rng = np.random.default_rng(seed)
    mask, route = tables.mask.copy(), tables.route.copy()
    n = tables.key.size
    chip = tables.chip_of_entries()
    for e in np.flatnonzero(route[:, 0] & np.uint64(0x3F))[:6]:
        d = int(np.flatnonzero([(int(route[e, 0]) >> k) & 1 for k in range(6)])[0])
        nxt = int(machine.neighbour[chip[e], d])
        back = np.flatnonzero((chip == nxt) & (tables.key == tables.key[e]))
        route[back, 0] |= np.uint64(1 << ((d + 3) % 6))
    mask[rng.choice(n, size=max(2, n // 6), replace=False)] = 0xFFFFFFFF
    for e in rng.choice(n, size=max(2, n // 4), replace=False):
        bit = int(rng.integers(0, 6 + 152))
        route[e, bit // 64] ^= np.uint64(1 << (bit % 64))
    return Tables(tables.offsets, tables.key, mask, route)


@pytest.mark.parametrize("seed", [0, 1])
def test_route_classes_are_the_reference_walk_key_by_key(random_network, few_pe_machine,
                                                          reference_walk, seed):
    machine = few_pe_machine(3, faults=(DeadLink(*Machine(1).xy(1), "E"),))
    p = map_network(random_network(seed), machine, neurons_per_pe=12, sources_per_pe=12)
    tables = scrambled(machine, p.tables, seed)
    senders = np.unique(p.pair_src)
    sizes = (p.slice_hi - p.slice_lo)[senders].astype(np.int64)
    block_ptr = np.concatenate([[0], np.cumsum(sizes)])
    keys = np.concatenate([p.slice_key[s].astype(np.int64) + np.arange(k)
                           for s, k in zip(senders, sizes, strict=True)])
    walk = route_classes(machine, tables, keys, block_ptr, p.slice_chip[senders])
    assert walk.block_classes.sum() == walk.n_classes > senders.size  # edits split slices
    hop_ptr = np.concatenate([[0], np.cumsum(np.bincount(walk.hop_class,
                                                         minlength=walk.n_classes))])
    for b, s in enumerate(senders):
        chip = int(p.slice_chip[s])
        for q in range(int(block_ptr[b]), int(block_ptr[b + 1])):
            want = reference_walk(machine, tables, int(keys[q]), chip)
            c = int(walk.key_class[q])
            pe = walk.class_pe[walk.class_ptr[c] : walk.class_ptr[c + 1]]
            got = np.stack(np.divmod(pe, 152), axis=1)
            np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want.deliveries)
            np.testing.assert_array_equal(np.sort(walk.hop_link[hop_ptr[c] : hop_ptr[c + 1]]),
                                          want.hops)
            assert walk.loop_chip[q] == want.loop_chip
    assert (walk.loop_chip >= 0).any()


def test_the_mapper_tables_give_one_class_per_slice(random_network, few_pe_machine):
    p = map_network(random_network(2), few_pe_machine(4), neurons_per_pe=10)
    senders = np.unique(p.pair_src)
    sizes = (p.slice_hi - p.slice_lo)[senders].astype(np.int64)
    keys = np.repeat(p.slice_key[senders].astype(np.int64), sizes) + np.concatenate(
        [np.arange(k) for k in sizes])
    walk = route_classes(p.machine, p.tables, keys, np.concatenate([[0], np.cumsum(sizes)]),
                         p.slice_chip[senders])
    assert walk.block_classes.tolist() == [1] * senders.size
    assert np.array_equal(walk.key_class, np.repeat(np.arange(senders.size), sizes))
    assert (walk.loop_chip == -1).all()
    for c, s in enumerate(senders):
        pe = walk.class_pe[walk.class_ptr[c] : walk.class_ptr[c + 1]]
        got = np.unique(np.stack(np.divmod(pe, 152), axis=1), axis=0)
        np.testing.assert_array_equal(got, p.targets(int(s)))


def test_follow_and_follow_block_are_views_of_the_walk(random_network, few_pe_machine,
                                                       reference_walk):
    p = map_network(random_network(1), few_pe_machine(3), neurons_per_pe=9)
    tables = scrambled(p.machine, p.tables, 5)
    rng = np.random.default_rng(5)
    chip = int(p.slice_chip[0])
    keys = rng.choice(p.slice_key.astype(np.int64) + 2, size=40)  # any keys, any order
    block = follow_block(p.machine, tables, keys, chip)
    for i, key in enumerate(keys.tolist()):
        want = reference_walk(p.machine, tables, key, chip)
        np.testing.assert_array_equal(follow(p.machine, tables, key, chip, loops="drop"),
                                      want.deliveries)
        sel = block.deliver_key == i
        pairs = np.stack([block.deliver_chip[sel], block.deliver_pe[sel]], axis=1)
        np.testing.assert_array_equal(pairs[np.lexsort(pairs.T[::-1])], want.deliveries)
        np.testing.assert_array_equal(np.sort(block.hop_link[block.hop_key == i]), want.hops)
        assert block.looped[i] == (want.loop_chip >= 0)


def test_a_loop_names_the_chip_reached_twice():
    m = Machine()
    a, b, c = m.chip_index(0, 0), m.chip_index(1, 0), m.chip_index(2, 0)
    full = 0xFFFFFFFF
    # a -> b -> c -> back W to b: b is reached twice, not a
    entries = [(a, 7, 1 << 0), (b, 7, 1 << 0), (c, 7, (1 << 3) | (1 << 6))]
    route = np.zeros((3, 3), np.uint64)
    route[:, 0] = [e[2] for e in entries]
    t = Tables.from_entries(m.n_chips, np.array([e[0] for e in entries]), np.full(3, 7),
                            np.full(3, full), route)
    with pytest.raises(MappingError, match=r"chip \(1, 0\) twice"):
        follow(m, t, 7, a)
    assert follow(m, t, 7, a, loops="drop").tolist() == [[c, 0]]
