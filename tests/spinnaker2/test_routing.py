"""Routing correctness: every key reaches exactly the PEs holding its synapses."""

import numpy as np
import pytest

from neurotwin.errors import MappingError
from neurotwin.spinnaker2 import DeadChip, DeadLink, DeadPE, Machine, follow, map_network
from neurotwin.spinnaker2.routing import Tables, route_links, route_pes, route_words_for_pes
from neurotwin.spinnaker2.specs import LINK_DELTAS


def check_every_synapse_is_routed(p, neurons_per_slice: int = 3) -> None:
    """For sample neurons of every slice: deliveries == PEs that hold its slice's synapses,
    and every synapse of the network has its target PE among the deliveries."""
    for s in range(p.n_slices):
        expected = p.targets(s)
        lo, hi = int(p.slice_lo[s]), int(p.slice_hi[s])
        label = p.labels[p.slice_node[s]]
        for neuron in np.unique(np.linspace(lo, hi - 1, neurons_per_slice).astype(int)):
            key = int(p.key_of(label, [neuron])[0])
            got = p.destinations(key)
            assert np.array_equal(got, expected), (label, neuron)


def check_synapses_reached(p, net) -> None:
    for proj in net.projections:
        syn = proj.synapses()
        src_slice = p.slice_of(proj.pre, syn.pre)
        tgt_slice = p.slice_of(proj.post, syn.post)
        for s in np.unique(src_slice):
            got = {tuple(x) for x in p.destinations(int(p.slice_key[s])).tolist()}
            need = {(int(p.slice_chip[t]), int(p.slice_pe[t])) for t in tgt_slice[src_slice == s]}
            assert need <= got


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_networks_route_exactly(random_network, few_pe_machine, seed):
    net = random_network(seed, scale=4)
    p = map_network(net, few_pe_machine(12), neurons_per_pe=9, sources_per_pe=11)
    assert len(np.unique(p.slice_chip)) > 5  # spread over several chips
    check_every_synapse_is_routed(p)
    check_synapses_reached(p, net)


def test_trees_built_in_batches_route_the_same(random_network, few_pe_machine, monkeypatch):
    """Source chips' trees are built a few at a time on large machines: one chip per batch
    gives the same tables and link loads, and every synapse is still reached."""
    net = random_network(3, scale=3)
    m = few_pe_machine(2, 3)
    rates = {"a": np.linspace(0.5, 9.5, net.nodes["a"].size), "b": 3.3, "c": 0.7}
    whole = map_network(net, m, neurons_per_pe=9, sources_per_pe=11, rates=rates)
    monkeypatch.setattr("neurotwin.spinnaker2.routing.TREE_BATCH_ELEMENTS", m.n_chips)
    batched = map_network(net, m, neurons_per_pe=9, sources_per_pe=11, rates=rates)
    assert len(np.unique(whole.slice_chip)) > 10
    for name in ("offsets", "key", "mask", "route"):
        assert np.array_equal(getattr(whole.tables, name), getattr(batched.tables, name))
    assert np.array_equal(whole.entries_before, batched.entries_before)
    assert np.array_equal(whole.link_load, batched.link_load)
    check_every_synapse_is_routed(batched, neurons_per_slice=1)
    check_synapses_reached(batched, net)


def test_routes_avoid_faults(random_network, few_pe_machine):
    faults = (DeadChip(1, 1), DeadChip(2, 2), DeadLink(0, 0, "E"), DeadLink(3, 3, "N"),
              DeadPE(0, 0, 3), DeadPE(1, 0, 0))
    m = few_pe_machine(6, faults=faults)
    p = map_network(random_network(4, scale=3), m, neurons_per_pe=8, sources_per_pe=8)
    assert m.pe_alive[p.slice_chip, p.slice_pe].all()
    assert p.tables.sizes[m.chip_index(1, 1)] == 0
    check_every_synapse_is_routed(p)
    load = p.link_load
    assert np.all(load[~m.link_alive] == 0)


def test_routes_wrap_around_a_torus(random_network, few_pe_machine):
    m = few_pe_machine(1, 3, faults=(DeadChip(1, 0), DeadChip(0, 1), DeadChip(1, 1)))
    p = map_network(random_network(6), m, neurons_per_pe=4, sources_per_pe=4)
    assert len(np.unique(p.slice_chip)) > 70  # half of the 12 x 12 torus
    chip, link = np.nonzero(p.link_load)
    step = m.chip_xy[chip] + np.array(LINK_DELTAS)[link]
    assert np.any((step < 0) | (step >= 12))  # some trees use wrap-around links
    check_every_synapse_is_routed(p, neurons_per_slice=1)


def test_keys_outside_every_block_go_nowhere(random_network):
    p = map_network(random_network(2), neurons_per_pe=10)
    used = set(np.unique(p.slice_chip).tolist())
    for key in (0xFFFFFFF0, 0xDEADBEEF):
        owned = (np.uint32(key) & p.slice_mask) == p.slice_key
        assert not owned.any()
        for chip in used:
            assert follow(p.machine, p.tables, key, chip).size == 0


def test_route_words_round_trip():
    pes = np.array([0, 57, 58, 121, 122, 151])
    words = np.bitwise_or.reduce(route_words_for_pes(pes), axis=0)
    assert route_pes(words).tolist() == pes.tolist()
    assert route_links(words).size == 0
    words[0] |= np.uint64(0b100101)
    assert route_links(words).tolist() == [0, 2, 5]


def hand_tables(m: Machine, entries: list[tuple[int, int, int, int]]) -> Tables:
    """Tables from (chip, key, mask, route bits as a Python int) entries."""
    chip = np.array([e[0] for e in entries])
    route = np.array([[(e[3] >> (64 * w)) & (2**64 - 1) for w in range(3)] for e in entries],
                     dtype=np.uint64)
    return Tables.from_entries(m.n_chips, chip, np.array([e[1] for e in entries]),
                               np.array([e[2] for e in entries]), route)


def test_a_wrong_entry_gives_wrong_deliveries():
    """The follower obeys the tables, including default routing past a chip with no entry."""
    m = Machine()
    a, b, c = m.chip_index(0, 0), m.chip_index(1, 0), m.chip_index(2, 0)
    pe = lambda p: 1 << (6 + p)  # noqa: E731
    full = 0xFFFFFFFF
    # a sends E; b has no entry (default route: on to the E); c delivers to PE 4
    t = hand_tables(m, [(a, 0x100, full, 1 << 0), (c, 0x100, full, pe(4))])
    assert follow(m, t, 0x100, a).tolist() == [[c, 4]]
    # the same key with a wrong entry on b: delivered to b's PE 9, never reaches c
    t = hand_tables(m, [(a, 0x100, full, 1 << 0), (b, 0x100, full, pe(9)),
                        (c, 0x100, full, pe(4))])
    assert follow(m, t, 0x100, a).tolist() == [[b, 9]]


def test_routing_loops_are_detected():
    m = Machine()
    a, b = m.chip_index(0, 0), m.chip_index(1, 0)
    full = 0xFFFFFFFF
    t = hand_tables(m, [(a, 7, full, 1 << 0), (b, 7, full, (1 << 3) | (1 << 6))])
    with pytest.raises(MappingError, match="twice"):
        follow(m, t, 7, a)
    assert follow(m, t, 7, a, loops="drop").tolist() == [[b, 0]]
