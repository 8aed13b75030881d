"""The engine's synapse table built in two passes (neurotwin.engines.synapse_build):
the order a plain stable sort of every synapse gives, per rank the same synapses
restricted to its targets, and a peak memory its estimate bounds."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.engines.step import compile_network
from neurotwin.engines.synapse_build import (
    build_synapse_table,
    estimate_table_bytes,
    shortest_neuron_delay,
    unpack_rows,
)
from neurotwin.network.rules import FixedTotalRule


def mixed_network(seed: int = 0) -> nt.Network:
    """Stored projections (dense, sparse with per-synapse delays, signed) and rules
    (several blocks, multapses) onto overlapping targets, and Poisson sources."""
    rng = np.random.default_rng(seed)
    net = nt.Network(dt=0.1)
    a = net.add(nt.Population(1500, nt.LIF(), label="a"))
    b = net.add(nt.Population(2300, nt.LIF(), label="b"))
    src = net.add(nt.SpikeSourcePoisson(40, rate=10.0, label="src"))
    net.connect(a, b, FixedTotalRule(1500, 2300, 60_000, 0.1, 1.5, 0.1, (seed, 0), 0.1, 0.5),
                "exc")
    net.connect(b, a, FixedTotalRule(2300, 1500, 30_000, 0.4, 0.8, 0.1, (seed, 1), 0.1, 0.5),
                "inh")
    dense = rng.uniform(0, 1, (40, 1500)) * (rng.random((40, 1500)) < 0.05)
    net.connect(src, a, dense, "exc", delays=0.3)
    pattern = sp.random_array((1500, 2300), density=0.002, random_state=seed, format="csr")
    net.connect(a, b, pattern, "exc", delays=rng.integers(1, 30, pattern.nnz) * 0.1)
    signed = (rng.uniform(-1, 1, (2300, 2300)) * (rng.random((2300, 2300)) < 0.001))
    net.connect(b, b, signed, None, delays=0.5)
    net.connect(a, b, FixedTotalRule(1500, 2300, 5_000, 0.2, 1.0, 0.1, (seed, 2)), "exc")
    return net


def reference(net: nt.Network) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pre, target, delay steps, weight) of every synapse, sorted as the engine's table
    should be, with plain numpy: all synapses concatenated in projection order, then one
    stable sort by (pre, target)."""
    first = {"a": 0, "b": 1500}
    n = 3800
    pres, targets, delays, weights = [], [], [], []
    for proj in net.projections:
        syn = proj.synapses()
        pre = syn.pre + (first[proj.pre] if proj.pre in first else n)
        receptor = ((syn.weight < 0) if proj.receptor is None
                    else np.full(syn.pre.size, proj.receptor == "inh"))
        pres.append(pre)
        targets.append(syn.post + first[proj.post] + n * receptor.astype(np.int64))
        delays.append(np.rint(syn.delay / 0.1).astype(np.int64))
        weights.append(np.abs(syn.weight))
    pre, target, delay, weight = (np.concatenate(x) for x in (pres, targets, delays, weights))
    order = np.lexsort((target, pre))
    return pre[order], target[order], delay[order], weight[order]


def test_the_table_is_a_stable_sort_of_every_synapse_by_pre_and_target():
    net = mixed_network()
    prog = compile_network(net)
    pre, target, delay, weight = reference(net)
    rows = np.repeat(np.arange(prog.indptr.size - 1), np.diff(prog.indptr))
    t, d, w = unpack_rows(prog.synapses, 0, prog.indptr[-1])
    np.testing.assert_array_equal(rows, pre)
    np.testing.assert_array_equal(t, target)
    np.testing.assert_array_equal(d, delay)
    np.testing.assert_array_equal(w, weight)
    assert prog.n_slots == delay.max() + 1
    assert not prog.synapses.codes.tabled and prog.synapses.codes.code.dtype == np.uint32
    assert shortest_neuron_delay(net) == 1  # the rules' spread reaches one step


@pytest.mark.parametrize("ranks", [2, 3])
def test_a_rank_holds_the_single_process_synapses_onto_its_neurons(ranks):
    net = mixed_network(1)
    prog = compile_network(net, synapses=False)
    pre, target, delay, weight = reference(net)
    post, receptor = target % 3800, target // 3800
    for rank in range(ranks):
        table = build_synapse_table(net, prog.pop_slices, prog.source_slices, 3800, 40,
                                    np.float64, rank, ranks)
        mine = post % ranks == rank
        n_local = len(range(rank, 3800, ranks))
        rows = np.repeat(np.arange(table.indptr.size - 1), np.diff(table.indptr))
        t, d, w = unpack_rows(table, 0, table.indptr[-1])
        np.testing.assert_array_equal(rows, pre[mine])
        np.testing.assert_array_equal(t, post[mine] // ranks + receptor[mine] * n_local)
        np.testing.assert_array_equal(d, delay[mine])
        np.testing.assert_array_equal(w, weight[mine])
        assert table.n_slots == delay.max() + 1  # the whole network's, on every rank


def test_few_distinct_weights_are_read_from_a_table():
    net = nt.Network(dt=0.1)
    a = net.add(nt.Population(3000, nt.LIF(), label="a"))
    net.connect(a, a, FixedTotalRule(3000, 3000, 20_000, 0.25, 1.0, 0.1, (3,)), "exc")
    pattern = sp.random_array((3000, 3000), density=0.001, random_state=1, format="csr")
    pattern.data[:] = 0.5
    net.connect(a, a, pattern, "inh", delays=2.0)
    table = compile_network(net, dtype="float32").synapses
    assert table.codes.tabled and table.codes.weights.tolist() == [0.25, 0.5]
    assert table.codes.weights.dtype == np.float32


@pytest.mark.parametrize("ranks", [1, 2])
def test_the_estimate_bounds_the_measured_peak(ranks):
    """tracemalloc (numpy reports its allocations to it) against the estimate, on a
    network of 4 million drawn synapses: the estimate holds the peak and is not loose."""
    net = nt.Network(dt=0.1)
    a = net.add(nt.Population(4000, nt.LIF(), label="a"))
    b = net.add(nt.Population(6000, nt.LIF(), label="b"))
    net.connect(a, b, FixedTotalRule(4000, 6000, 3_000_000, 0.1, 1.5, 0.1, (0,), 0.1, 0.5),
                "exc")
    net.connect(b, a, FixedTotalRule(6000, 4000, 1_000_000, 0.4, 0.8, 0.1, (1,), 0.1, 0.5),
                "inh")
    prog = compile_network(net, synapses=False)
    build_synapse_table(net, prog.pop_slices, prog.source_slices, 10_000, 0, np.float64,
                        0, ranks)  # compiles the kernels outside the measurement
    tracemalloc.start()
    try:
        table = build_synapse_table(net, prog.pop_slices, prog.source_slices, 10_000, 0,
                                    np.float64, 0, ranks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = estimate_table_bytes(net, ranks, 8)
    kept = table.codes.code.nbytes + table.codes.weights.nbytes
    assert kept == pytest.approx(12 * 4_000_000 / ranks, rel=0.01)
    assert 0.8 * estimate < peak <= estimate
