"""Table compression: the same destinations for every key, and smaller tables."""

import numpy as np

import neurotwin as nt
from neurotwin.spinnaker2 import Machine, follow, map_network
from neurotwin.spinnaker2.compression import compress
from neurotwin.spinnaker2.routing import Tables


def tables_of(m: Machine, entries: list[tuple[int, int, int, int]]) -> Tables:
    chip = np.array([e[0] for e in entries])
    route = np.zeros((len(entries), 3), dtype=np.uint64)
    route[:, 0] = [e[3] for e in entries]
    return Tables.from_entries(m.n_chips, chip, np.array([e[1] for e in entries]),
                               np.array([e[2] for e in entries]), route)


def same_routing(m: Machine, a: Tables, b: Tables, keys, chips) -> bool:
    return all(
        np.array_equal(follow(m, a, k, c), follow(m, b, k, c)) for k in keys for c in chips
    )


def test_buddies_merge_and_strangers_do_not():
    m = Machine(board_chips=1)
    m16 = 0xFFFFFFF0
    pe = [1 << 6, 1 << 7]
    t = tables_of(m, [(0, 0x00, m16, pe[0]), (0, 0x10, m16, pe[0]), (0, 0x20, m16, pe[0]),
                      (0, 0x30, m16, pe[0]), (0, 0x40, m16, pe[1]), (0, 0x50, m16, pe[0])])
    c = compress(t, capacity=16)
    assert c.sizes.tolist() == [3]  # 0x00-0x3F -> one entry; 0x40 and 0x50 stay
    assert sorted(zip(c.key.tolist(), c.mask.tolist(), strict=True)) == [
        (0x00, 0xFFFFFFC0), (0x40, m16), (0x50, m16)]
    assert same_routing(m, t, c, range(0, 0x70), [0])


def test_thorough_pass_runs_only_over_capacity():
    m = Machine(board_chips=1)
    m16 = 0xFFFFFFF0
    entries = [(0, 0x00, m16, 1 << 6), (0, 0x10, m16, 1 << 7), (0, 0x20, m16, 1 << 6)]
    t = tables_of(m, entries)
    assert compress(t, capacity=3).sizes.tolist() == [3]
    c = compress(t, capacity=2)  # 0x00 and 0x20 differ in bit 5 only
    assert c.sizes.tolist() == [2]
    assert (0x00, 0xFFFFFFD0) in set(zip(c.key.tolist(), c.mask.tolist(), strict=True))
    assert same_routing(m, t, c, range(0, 0x40), [0])


def fan_network() -> nt.Network:
    """40 source slices on one chip all projecting to every neuron of 3 target chips."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(400, rate=3.0, label="src"))
    pop = net.add(nt.Population(300, nt.LIF(), label="pop"))
    rng = np.random.default_rng(0)
    net.connect(src, pop, (rng.random((400, 300)) < 0.5) * 0.1, receptor="exc")
    return net


def test_compression_preserves_every_route_and_shrinks_tables(few_pe_machine):
    net = fan_network()
    m = few_pe_machine(40)
    raw = map_network(net, m, neurons_per_pe=100, sources_per_pe=10, compress=False)
    small = map_network(net, m, neurons_per_pe=100, sources_per_pe=10)
    assert np.array_equal(raw.entries_before, small.entries_before)
    assert np.array_equal(raw.tables.sizes, raw.entries_before)
    assert small.tables.sizes.sum() < raw.tables.sizes.sum() / 4
    assert np.all(small.tables.sizes <= raw.tables.sizes)
    rng = np.random.default_rng(1)
    for s in range(raw.n_slices):
        block = int(~np.int64(raw.slice_mask[s]) & 0xFFFFFFFF) + 1
        keys = int(raw.slice_key[s]) + rng.integers(0, block, 4)
        chip = int(raw.slice_chip[s])
        assert same_routing(m, raw.tables, small.tables, keys.tolist(), [chip])


def test_compressed_random_network_routes_like_the_raw_one(random_network, few_pe_machine):
    net = random_network(7, scale=2)
    m = few_pe_machine(10)
    raw = map_network(net, m, neurons_per_pe=10, compress=False)
    small = map_network(net, m, neurons_per_pe=10)
    assert small.tables.sizes.sum() <= raw.tables.sizes.sum()
    chips = np.unique(raw.slice_chip).tolist()
    keys = np.concatenate([raw.slice_key.astype(np.int64),
                           raw.slice_key.astype(np.int64) + 3, [0xFFFFFFFF]])
    for k in keys.tolist():
        for c in chips[:3]:
            assert np.array_equal(follow(m, raw.tables, k, c, loops="drop"),
                                  follow(m, small.tables, k, c, loops="drop"))
