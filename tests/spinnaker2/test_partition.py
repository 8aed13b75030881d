"""Partitioning: neuron and memory limits, the byte count, traffic pairs, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.errors import CapacityError, MappingError
from neurotwin.spinnaker2 import specs
from neurotwin.spinnaker2.partition import partition, slice_bounds, slice_of


def test_even_slices_and_slice_of_agree():
    for size, n in [(10, 3), (250, 1), (1001, 7), (5, 5)]:
        bounds = slice_bounds(size, n)
        assert bounds[0] == 0 and bounds[-1] == size
        assert np.ptp(np.diff(bounds)) <= 1
        expected = np.repeat(np.arange(n), np.diff(bounds))
        assert np.array_equal(slice_of(np.arange(size), size, n), expected)


def test_neuron_limit_is_respected(random_network):
    net = random_network(0, scale=3)
    part = partition(net, neurons_per_pe=50, sources_per_pe=40, data_bytes=specs.PE_DATA_BYTES)
    width = part.slice_hi - part.slice_lo
    is_pop = np.isin(part.slice_node, [i for i, k in enumerate(part.kinds) if k in ("LIF", "AdEx")])
    assert width[is_pop].max() <= 50 and width[~is_pop].max() <= 40
    assert np.all(part.slice_bytes <= specs.PE_DATA_BYTES)
    for i, size in enumerate(part.sizes):
        s = slice(part.slice_offsets[i], part.slice_offsets[i + 1])
        assert width[s].sum() == size


def test_bytes_of_an_all_to_all_projection():
    """100 sources all-to-all onto 100 LIF neurons: one slice, bytes counted by hand."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(100, rate=5.0, label="src"))
    pop = net.add(nt.Population(100, nt.LIF(), label="pop"))
    net.connect(src, pop, np.ones((100, 100)), receptor="exc")
    part = partition(net, 250, 250)
    rows = 100 * (4 + 100 * 2)  # 100 rows: 32-bit header + 100 16-bit words
    state = 100 * (52 + 2 * 8 * 4)  # LIF words + exc/inh ring buffers of 8 int32 slots
    master = 12  # one incoming source slice
    assert part.slice_bytes[1] == 4096 + state + rows + master
    assert part.slice_bytes[0] == 4096 + 100 * 8
    assert part.slice_synapses.tolist() == [0, 10_000]
    assert part.slice_rows.tolist() == [0, 100]
    pairs = zip(part.pair_src, part.pair_tgt, part.pair_synapses, strict=True)
    assert list(pairs) == [(0, 1, 10_000)]


def test_memory_limit_splits_further():
    """Dense input needs more bytes than a 250-neuron PE has: fewer neurons per PE."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(400, rate=5.0, label="src"))
    pop = net.add(nt.Population(250, nt.LIF(), label="pop"))
    net.connect(src, pop, np.ones((400, 250)), receptor="exc")
    part = partition(net, 250, 250)
    pop_slices = part.slice_node == 1
    assert pop_slices.sum() > 1
    assert np.all(part.slice_bytes <= specs.PE_DATA_BYTES)
    # one slice fewer would not have fitted: 400 rows of n synapses on its widest PE
    n = -(-250 // (int(pop_slices.sum()) - 1))
    wider = 4096 + n * 116 + 400 * (4 + 4 * ((2 * n + 3) // 4)) + 12
    assert wider > specs.PE_DATA_BYTES


def test_pairs_count_every_synapse(random_network):
    net = random_network(3)
    part = partition(net, 32, 32)
    total = sum(len(p.synapses().pre) for p in net.projections)
    assert part.pair_synapses.sum() == total == part.slice_synapses.sum()
    # each pair is unique and a target is always a population slice
    codes = part.pair_src * part.n_slices + part.pair_tgt
    assert len(np.unique(codes)) == len(codes)
    labels = np.array(part.kinds)[part.slice_node[part.pair_tgt]]
    assert set(labels) <= {"LIF", "AdEx"}


def test_pairs_match_a_per_synapse_count(random_network):
    net = random_network(5)
    part = partition(net, 20, 25)
    expected: dict[tuple[int, int], int] = {}
    for proj in net.projections:
        syn = proj.synapses()
        pre_i, post_i = part.labels.index(proj.pre), part.labels.index(proj.post)
        n_pre = part.slice_offsets[pre_i + 1] - part.slice_offsets[pre_i]
        n_post = part.slice_offsets[post_i + 1] - part.slice_offsets[post_i]
        s = slice_of(syn.pre, part.sizes[pre_i], n_pre) + part.slice_offsets[pre_i]
        t = slice_of(syn.post, part.sizes[post_i], n_post) + part.slice_offsets[post_i]
        for a, b in zip(s.tolist(), t.tolist(), strict=True):
            expected[(a, b)] = expected.get((a, b), 0) + 1
    got = dict(zip(zip(part.pair_src.tolist(), part.pair_tgt.tolist(), strict=True),
                   part.pair_synapses.tolist(), strict=True))
    assert got == expected


def test_a_neuron_that_cannot_fit_raises():
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(20_000, rate=1.0, label="src"))
    pop = net.add(nt.Population(1, nt.LIF(), label="hub"))
    net.connect(src, pop, sp.csr_array(np.ones((20_000, 1))), receptor="exc")
    with pytest.raises(CapacityError, match="hub") as err:
        partition(net, 250, 250)
    assert err.value.resource.startswith("PE data memory")
    assert err.value.needed > err.value.available == specs.PE_DATA_BYTES


def test_too_many_spikes_for_one_source_raise():
    net = nt.Network(dt=1.0)
    net.add(nt.SpikeSourceArray([np.arange(30_000.0)], label="busy"))
    with pytest.raises(CapacityError, match="busy"):
        partition(net, 250, 250)


def test_array_sources_split_by_spike_count():
    net = nt.Network(dt=1.0)
    net.add(nt.SpikeSourceArray([np.arange(5000.0)] * 10, label="arr"))
    part = partition(net, 250, 250)
    assert part.n_slices > 1 and np.all(part.slice_bytes <= specs.PE_DATA_BYTES)


def test_delays_beyond_the_synapse_word_raise():
    net = nt.Network(dt=0.5)
    a = net.add(nt.Population(3, nt.LIF(), label="a"))
    net.connect(a, a, np.ones((3, 3)), delays=4.5)  # 9 ticks
    with pytest.raises(MappingError, match="9 ticks"):
        partition(net, 250, 250)


def test_chunked_aggregation_gives_the_same_pairs(random_network, monkeypatch):
    net = random_network(8, scale=2)
    whole = partition(net, 11, 13)
    monkeypatch.setattr("neurotwin.spinnaker2.partition.BINCOUNT_LIMIT", 7)
    chunked = partition(net, 11, 13)
    for name in ("pair_src", "pair_tgt", "pair_synapses", "slice_bytes", "slice_rows"):
        a, b = getattr(whole, name), getattr(chunked, name)
        if name.startswith("pair"):
            order_a = np.lexsort((whole.pair_tgt, whole.pair_src))
            order_b = np.lexsort((chunked.pair_tgt, chunked.pair_src))
            a, b = a[order_a], b[order_b]
        assert np.array_equal(a, b), name
