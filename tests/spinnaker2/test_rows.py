"""Per-PE synaptic rows: every synapse's word decodes to its target, receptor, integer
weight and delay, computed here independently from ``Projection.synapses()``."""

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.errors import ConfigError, MappingError
from neurotwin.network import fixed_fan_in
from neurotwin.spinnaker2 import map_network
from neurotwin.spinnaker2.numerics import get_format
from neurotwin.spinnaker2.rows import build_rows, largest_weights, weight_scales


def lif_network(seed: int) -> nt.Network:
    """LIF populations and sources; signed, exc and inh projections; two projections
    leaving one node into different populations and two between the same nodes."""
    rng = np.random.default_rng(seed)
    net = nt.Network(dt=1.0)
    net.add(nt.Population(300, nt.LIF(), label="a"))
    net.add(nt.Population(170, nt.LIF(), label="b"))
    net.add(nt.SpikeSourcePoisson(90, rate=5.0, label="noise"))
    for pre, post, receptor, n_pre, n_post in [
        ("a", "b", None, 300, 170), ("a", "a", "exc", 300, 300), ("b", "a", "inh", 170, 300),
        ("noise", "b", "exc", 90, 170), ("a", "b", "inh", 300, 170),
    ]:
        w = sp.random(n_pre, n_post, density=0.08, random_state=rng, format="csr")
        if receptor is None:
            w.data -= 0.5
        delays = rng.integers(1, 9, w.nnz).astype(float)
        net.connect(pre, post, w, receptor=receptor, delays=delays)
    return net


def expected_synapses(net, placement, scales):
    """Sorted (unit, slice, post, receptor, weight, delay) rows from the projections."""
    base, n = {}, 0
    for node in (*net.populations, *net.sources):
        base[str(node.label)] = n
        n += node.size
    parts = []
    for proj in net.projections:
        syn = proj.synapses()
        receptor = (syn.weight < 0).astype(np.int64) if proj.receptor is None else np.full(
            syn.pre.shape, int(proj.receptor == "inh"))
        scale = np.array([scales[(proj.post, "exc")], scales[(proj.post, "inh")]])[receptor]
        weight = np.floor(np.abs(syn.weight) / scale + 0.5).astype(np.int64)  # half up
        parts.append(np.stack([
            syn.pre + base[proj.pre], placement.slice_of(proj.post, syn.post),
            syn.post + base[proj.post], receptor, weight, np.rint(syn.delay).astype(np.int64),
        ], axis=1))
    rows = np.concatenate(parts)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize("chunk", [1 << 24, 7])
def test_words_decode_to_the_network(chunk):
    net = lif_network(0)
    p = map_network(net, neurons_per_pe=40, sources_per_pe=30)
    rows = build_rows(net, p, chunk_synapses=chunk)
    largest = {}
    for proj in net.projections:
        w = proj.synapses().weight
        for r, sel in (("exc", w >= 0 if proj.receptor is None else proj.receptor == "exc"),
                       ("inh", w < 0 if proj.receptor is None else proj.receptor == "inh")):
            mags = np.abs(w[sel]) if np.ndim(sel) else (np.abs(w) if sel else w[:0])
            if mags.size:
                largest[(proj.post, r)] = max(largest.get((proj.post, r), 0.0), mags.max())
    assert largest_weights(net) == pytest.approx(largest)
    scales = {(pop, r): largest.get((pop, r), 15.0) / 15 for pop in ("a", "b")
              for r in ("exc", "inh")}
    assert rows.scales == pytest.approx(scales)
    unit = np.repeat(np.arange(rows.unit_ptr.size - 1), np.diff(rows.unit_ptr))
    post, receptor, weight, delay = rows.decode()
    got = np.stack([unit, rows.slice.astype(np.int64), post, receptor, weight, delay], axis=1)
    got = got[np.lexsort(got.T[::-1])]
    assert np.array_equal(got, expected_synapses(net, p, scales))
    # rows are contiguous: within a unit the slices never decrease
    same_unit = unit[1:] == unit[:-1]
    assert np.all(np.diff(rows.slice.astype(np.int64))[same_unit] >= 0)
    assert rows.max_delay == 8 and rows.word.dtype == np.uint16


def test_constant_weights_give_one_word_pattern():
    net = nt.Network(dt=1.0)
    pop = net.add(nt.Population(1000, nt.LIF(), label="pop"))
    net.connect(pop, pop, fixed_fan_in(1000, 1000, 20, 0.3, np.random.default_rng(1)),
                receptor="inh", delays=3.0)
    p = map_network(net)
    rows = build_rows(net, p)
    # weight 15 (0.3 nA is the largest: 15 LSB), inh, delay 3 ticks: 1111 1 010 <index>
    assert np.all(rows.word >> 8 == 0b11111010)
    post, receptor, weight, _ = rows.decode()
    syn = net.projections[0].synapses()
    assert np.array_equal(np.sort(post), np.sort(syn.post))
    assert set(receptor.tolist()) == {1} and set(weight.tolist()) == {15}


def test_int8_words_and_delays():
    net = nt.Network(dt=1.0)
    a = net.add(nt.Population(50, nt.LIF(), label="a"))
    w = np.random.default_rng(2).uniform(0, 1, (50, 50))
    net.connect(a, a, w, receptor=None)
    p = map_network(net)
    rows = build_rows(net, p, weight_format="int8")
    _, receptor, weight, delay = rows.decode()
    assert weight.max() == 127 and set(delay.tolist()) == {1}
    assert np.array_equal(receptor, np.zeros_like(receptor))
    slow = nt.Network(dt=1.0)
    b = slow.add(nt.Population(5, nt.LIF(), label="b"))
    slow.connect(b, b, np.ones((5, 5)), delays=2.0)
    with pytest.raises(MappingError, match="int8"):
        build_rows(slow, map_network(slow), weight_format="int8")


def test_unrepresentable_weight_names_the_projection():
    net = nt.Network(dt=1.0)
    a = net.add(nt.Population(5, nt.LIF(), label="a"))
    net.connect(a, a, np.full((5, 5), 2.0))
    with pytest.raises(ConfigError, match="a->a"):
        build_rows(net, map_network(net), scales={("a", "exc"): 0.1, ("a", "inh"): 0.1})
    with pytest.raises(ConfigError, match="chunk_synapses"):
        build_rows(net, map_network(net), chunk_synapses=0)


def test_threads_give_the_same_rows_and_partition(monkeypatch):
    from neurotwin.spinnaker2.partition import partition

    net = lif_network(3)
    p = map_network(net, neurons_per_pe=40, sources_per_pe=30)
    one = build_rows(net, p)
    part_one = partition(net, 40, 30)
    monkeypatch.setattr("neurotwin.spinnaker2.parallel.MIN_PART_WORK", 1)
    monkeypatch.setattr("neurotwin.spinnaker2.parallel.numba.get_num_threads", lambda: 3)
    many = build_rows(net, p)
    part_many = partition(net, 40, 30)
    assert np.array_equal(one.unit_ptr, many.unit_ptr)
    assert np.array_equal(one.slice, many.slice) and np.array_equal(one.word, many.word)
    for name in ("slice_bytes", "slice_dram_bytes", "slice_rows", "pair_src", "pair_tgt",
                 "pair_synapses"):
        assert np.array_equal(getattr(part_one, name), getattr(part_many, name)), name


def test_weight_scales_default_override_and_errors():
    """The one place the weight scale is chosen: the largest incoming weight per (population,
    receptor) maps to the format's 15 LSB; a float or per-population values override."""
    net = nt.Network(dt=1.0)
    net.add(nt.SpikeSourceArray([[1.0], [2.0]], label="in"))
    net.add(nt.Population(3, nt.LIF(), label="a"))
    net.add(nt.Population(2, nt.LIF(), label="b"))
    net.connect("in", "a", np.array([[0.375, -0.75, 0.0], [0.125, 0.25, 0.0]]), receptor=None)
    net.connect("in", "b", np.full((2, 2), 0.5), receptor="exc")
    fmt = get_format("int4_delay")
    want = {("a", "exc"): 0.375 / 15, ("a", "inh"): 0.75 / 15, ("b", "exc"): 0.5 / 15,
            ("b", "inh"): 1.0}
    assert weight_scales(net, fmt) == want
    assert build_rows(net, map_network(net), tick_ms=1.0).scales == want
    assert set(weight_scales(net, fmt, 0.01).values()) == {0.01}
    some = weight_scales(net, fmt, {"b": 0.02})
    assert some == {**want, ("b", "exc"): 0.02, ("b", "inh"): 0.02}
    with pytest.raises(ConfigError, match="unknown populations"):
        weight_scales(net, fmt, {"c": 1.0})
    with pytest.raises(ConfigError, match="weight scale"):
        weight_scales(net, fmt, -1.0)
