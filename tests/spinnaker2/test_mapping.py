"""The mapper end to end: placement order, capacity errors, link loads, the Placement
artefact (save/load, report, utilisation, drawing)."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin import spinnaker2 as s2
from neurotwin.errors import CapacityError, ConfigError, DataError, MappingError
from neurotwin.spinnaker2 import DeadChip, DeadPE, Machine, Placement, map_network


def test_map_alias_and_default_machine(random_network):
    p = s2.map(random_network(0))
    assert isinstance(p, Placement) and p.machine.n_boards == 1
    big = nt.Network(dt=1.0)
    big.add(nt.SpikeSourcePoisson(8000, rate=1.0, label="many"))
    assert map_network(big, sources_per_pe=1).machine.n_boards == 2


def test_nodes_fill_pes_in_order(random_network):
    m = Machine(faults=[DeadPE(0, 0, 2), DeadChip(2, 0)])
    p = map_network(random_network(1, scale=3), m, neurons_per_pe=7, sources_per_pe=7)
    flat = p.slice_chip * 152 + p.slice_pe
    assert np.all(np.diff(flat) > 0)  # consecutive slices take the next working PE
    assert np.array_equal(flat, np.flatnonzero(m.pe_alive.ravel())[: p.n_slices])
    assert np.all(np.diff(p.slice_node) >= 0)  # nodes contiguous, in network order
    assert p.labels == tuple(random_network(1, scale=3).nodes)


def test_too_few_pes_names_the_node():
    net = nt.Network(dt=1.0)
    net.add(nt.Population(100, nt.LIF(), label="fits"))
    net.add(nt.Population(60, nt.LIF(), label="spills"))
    with pytest.raises(CapacityError, match="'spills'") as err:
        map_network(net, Machine(board_chips=1), neurons_per_pe=1)
    assert err.value.resource == "PEs"
    assert (err.value.needed, err.value.available) == (160, 152)


def test_router_table_overflow_names_chip_and_population():
    """One-to-one projection: every source slice has its own route, nothing merges."""
    net = nt.Network(dt=1.0)
    a = net.add(nt.SpikeSourcePoisson(30, rate=1.0, label="drive"))
    b = net.add(nt.Population(30, nt.LIF(), label="target"))
    net.connect(a, b, np.eye(30), receptor="exc")
    ok = map_network(net, Machine(board_chips=1, router_entries=30), neurons_per_pe=1,
                     sources_per_pe=1)
    assert ok.tables.sizes.tolist() == [30]
    with pytest.raises(CapacityError, match=r"chip \(0, 0\).*'drive'") as err:
        map_network(net, Machine(board_chips=1, router_entries=29), neurons_per_pe=1,
                    sources_per_pe=1)
    assert err.value.resource == "routing entries"
    assert (err.value.needed, err.value.available) == (30, 29)


def test_uncompressed_tables_overflow_where_compressed_fit():
    net = nt.Network(dt=1.0)
    a = net.add(nt.SpikeSourcePoisson(32, rate=1.0, label="drive"))
    b = net.add(nt.Population(4, nt.LIF(), label="target"))
    net.connect(a, b, np.ones((32, 4)), receptor="exc")
    m = Machine(board_chips=1, router_entries=4)
    p = map_network(net, m, sources_per_pe=1)
    assert p.entries_before.tolist() == [32] and p.tables.sizes.tolist() == [1]
    with pytest.raises(CapacityError, match="routing entries"):
        map_network(net, m, sources_per_pe=1, compress=False)


def link_network() -> tuple[nt.Network, Machine]:
    """Two Poisson sources on chip (0, 0) drive one neuron on chip (1, 0), east of it."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(2, rate=[5.0, 7.0], label="src"))
    net.add(nt.Population(150, nt.LIF(), label="filler"))
    t = net.add(nt.Population(1, nt.LIF(), label="t"))
    net.connect(src, t, np.ones((2, 1)), receptor="exc")
    return net, Machine()


def test_link_loads_in_packets_and_synapses():
    net, m = link_network()
    p = map_network(net, m, neurons_per_pe=1, sources_per_pe=1, rates={"filler": 0.0, "t": 1.0})
    a, b = m.chip_index(0, 0), m.chip_index(1, 0)
    assert p.slice_chip[p.slices_of("t")[0]] == b
    expected = np.zeros((m.n_chips, 6))
    expected[a, 0] = 12.0  # E link: 5 Hz + 7 Hz, one packet per spike
    assert p.link_load_unit == "packets/s"
    assert np.array_equal(p.link_load, expected)
    q = map_network(net, m, neurons_per_pe=1, sources_per_pe=1)
    expected[a, 0] = 2.0  # one synapse from each source slice
    assert q.link_load_unit == "synapses" and np.array_equal(q.link_load, expected)


def test_rates_must_cover_populations():
    net, m = link_network()
    with pytest.raises(ConfigError, match="filler"):
        map_network(net, m, rates={"t": 1.0})
    with pytest.raises(ConfigError, match="unknown"):
        map_network(net, m, rates={"nope": 1.0})
    with pytest.raises(ConfigError, match=r"rates\['t'\]"):
        map_network(net, m, rates={"t": [1.0, 2.0], "filler": 0.0})


@pytest.mark.parametrize(("option", "value"), [
    ("neurons_per_pe", 0), ("neurons_per_pe", 257), ("sources_per_pe", 2.5),
])  # fmt: skip
def test_bad_options(random_network, option, value):
    with pytest.raises(ConfigError, match=option):
        map_network(random_network(0), **{option: value})


def test_empty_network_and_wrong_machine():
    with pytest.raises(ConfigError, match="empty"):
        map_network(nt.Network())
    net, _ = link_network()
    with pytest.raises(ConfigError, match="Machine"):
        map_network(net, "big")  # type: ignore[arg-type]


def test_save_and_load_round_trip(random_network, tmp_path):
    m = Machine(faults=[DeadChip(2, 2), DeadPE(0, 0, 1)], clock_mhz=150.0)
    p = map_network(random_network(2, scale=2), m, neurons_per_pe=12)
    path = tmp_path / "placement.npz"
    p.save(path)
    q = Placement.load(path)
    assert q.machine.to_dict() == p.machine.to_dict()
    assert (q.labels, q.kinds, q.options, q.link_load_unit) == (
        p.labels, p.kinds, p.options, p.link_load_unit)
    for name in ("slice_chip", "slice_pe", "slice_key", "slice_mask", "slice_bytes",
                 "slice_dram_bytes", "pair_src", "pair_tgt", "pair_synapses", "link_load",
                 "entries_before"):
        assert np.array_equal(getattr(q, name), getattr(p, name)), name
        assert getattr(q, name).dtype == getattr(p, name).dtype
    for name in ("offsets", "key", "mask", "route"):
        assert np.array_equal(getattr(q.tables, name), getattr(p.tables, name))
    for s in range(0, p.n_slices, 5):
        key = int(p.slice_key[s])
        assert np.array_equal(q.destinations(key), p.destinations(key))


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array('{"format": "something else"}'))
    with pytest.raises(DataError, match="format"):
        Placement.load(bad)
    text = tmp_path / "text.npz"
    text.write_text("not a placement")
    with pytest.raises(DataError, match="not a saved Placement"):
        Placement.load(text)


def test_report_utilisation_and_resources(random_network):
    p = map_network(random_network(3, scale=2), neurons_per_pe=20)
    text = s2.report_text(p)
    for label in p.labels:
        assert label in text
    assert "router entries" in text and "link load (synapses)" in text
    u = s2.utilisation(p)
    assert u["chip"]["pes_used"].sum() == p.n_slices
    assert u["chip"]["neurons"].sum() == p.sizes.sum()
    assert u["chip"]["data_bytes_used"].sum() == p.slice_bytes.sum()
    assert u["chip"]["dram_bytes_used"].sum() == p.slice_dram_bytes.sum() > 0
    assert "chip DRAM used by synaptic rows" in text
    assert np.array_equal(u["chip"]["entries_after"], p.tables.sizes)
    assert np.all(u["pe"]["data_fraction"] <= 1.0)
    r = s2.resources(p)
    assert r["PEs"] == (p.n_slices, 48 * 152)
    assert r["routing entries, max per chip"][1] == 16_384


def test_draw_writes_a_png(random_network, tmp_path):
    m = Machine(faults=[DeadChip(4, 4)])
    p = map_network(random_network(4, scale=2), m, neurons_per_pe=5)
    path = tmp_path / "machine.png"
    s2.draw_placement(p, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_network(random_network):
    net = random_network(5)
    p = map_network(net)
    p.check_network(net)
    with pytest.raises(MappingError, match="another network"):
        p.check_network(random_network(5, scale=2))


def test_queries_reject_unknown_labels_and_keys(random_network):
    p = map_network(random_network(0))
    with pytest.raises(ConfigError, match="no node"):
        p.slices_of("nope")
    with pytest.raises(ConfigError, match="belongs to no slice"):
        p.destinations(0xFFFFFFFF)
    with pytest.raises(ConfigError, match="neuron indices"):
        p.key_of("a", [10_000])


def fan_in_network(n: int, fan_in: int, seed: int = 0) -> nt.Network:
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    net = nt.Network(dt=1.0)
    pop = net.add(nt.Population(n, nt.LIF(), label="exc"))
    pre = rng.integers(0, n, size=n * fan_in)
    w = sp.csr_array((np.full(pre.size, 0.1), pre, np.arange(0, n * fan_in + 1, fan_in)),
                     shape=(n, n)).T.tocsr()
    net.connect(pop, pop, w, receptor="exc")
    return net


def test_fan_in_network_fits_memory():
    p = map_network(fan_in_network(5000, 100))
    assert np.all(p.slice_bytes <= s2.specs.PE_DATA_BYTES)
    assert p.slice_synapses.sum() == p.pair_synapses.sum()
    assert np.all(p.slice_hi - p.slice_lo == 250)  # rows in DRAM: the default 250 per PE


def dram_network() -> nt.Network:
    """Four slices of 10 LIF neurons, each with 100 rows of 10 synapses (2,400 bytes)."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(100, rate=1.0, label="src"))
    pop = net.add(nt.Population(40, nt.LIF(), label="pop"))
    net.connect(src, pop, np.ones((100, 40)), receptor="exc")
    return net


def test_chip_dram_limits_slices_per_chip():
    m = Machine(dram_bytes=5_000)  # two slices' rows per chip
    p = map_network(dram_network(), m, neurons_per_pe=10)
    pop = np.asarray(p.slices_of("pop"))
    assert p.slice_dram_bytes[pop].tolist() == [100 * (4 + 20)] * 4
    assert np.bincount(p.slice_chip[pop]).max() == 2  # a third would need 7,200 bytes
    used = s2.utilisation(p)["chip"]["dram_bytes_used"]
    assert used.max() <= 5_000 and used.sum() == 4 * 2_400
    assert s2.resources(p)["chip DRAM, max per chip (bytes)"] == (4_800.0, 5_000.0)
    check = map_network(dram_network(), Machine(), neurons_per_pe=10)
    assert len(np.unique(check.slice_chip)) == 1  # 2 GiB: everything on one chip


def test_chip_dram_overflow_names_chip_resource_and_population():
    m = Machine(board_chips=1, dram_bytes=5_000)
    with pytest.raises(CapacityError, match=r"chip \(0, 0\).*'pop'") as err:
        map_network(dram_network(), m, neurons_per_pe=10)
    assert err.value.resource == "chip DRAM (bytes)"
    assert (err.value.needed, err.value.available) == (4 * 2_400, 5_000)
    with pytest.raises(ConfigError, match="dram_bytes"):
        Machine(dram_bytes=0)


@pytest.mark.slow
def test_100k_neurons_fan_in_100_map_whole():
    """100k neurons x 100: every slice fits, every synapse is in a pair (speed is checked by
    `neurotwin bench s2-mapping`, not here)."""
    net = fan_in_network(100_000, 100)
    p = map_network(net)
    assert np.all(p.slice_bytes <= s2.specs.PE_DATA_BYTES)
    assert int(p.pair_synapses.sum()) == net.projections[0].n_synapses > 9_900_000
    assert (p.slice_hi - p.slice_lo).max() <= 250


def test_default_machine_counts_chips_by_dram():
    from dataclasses import replace

    from neurotwin.spinnaker2.mapping import _default_machine
    from neurotwin.spinnaker2.partition import partition

    net = nt.Network(dt=1.0)
    net.add(nt.Population(300, nt.LIF(), label="pop"))
    part = partition(net, 1, 1)
    assert _default_machine(part).n_boards == 1  # 300 PEs: two chips
    heavy = replace(part, slice_dram_bytes=np.full(300, 2**30))  # 1 GiB each: 2 per chip
    assert _default_machine(heavy).n_boards == 4  # 150 chips of 48 per board


def test_a_placement_is_its_partition_placed(random_network):
    from dataclasses import fields

    from neurotwin.spinnaker2.partition import Partition, partition

    net = random_network(1)
    p = map_network(net, neurons_per_pe=20, sources_per_pe=30)
    part = partition(net, 20, 30, tick_ms=net.dt)
    assert isinstance(p, Partition)
    for f in fields(Partition):
        assert np.array_equal(getattr(p, f.name), getattr(part, f.name)), f.name
    assert p.n_slices == part.n_slices == p.slice_chip.size
