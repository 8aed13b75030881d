"""The SpiNNaker2 runtime sharded by chips over ranks (``ranks=N``): spikes, traces and
every cost field bitwise those of one process, packets crossing ranks through the
routing tables, and the errors for what the sharded runtime refuses."""

from dataclasses import fields, replace

import numpy as np
import pytest
import torch

import neurotwin as nt
import neurotwin.spinnaker2 as s2
from neurotwin.spinnaker2.distributed import chip_ranks, rank_view
from neurotwin.spinnaker2.routing import Tables

TICK_MS = 0.1
CLOCK_MHZ = 150.0  # 15,000 cycles per tick: the busiest PEs miss some deadlines
SLICES = {"neurons_per_pe": 40, "sources_per_pe": 20}


def recurrent_network() -> nt.Network:
    """E/I LIF network with recurrent synapses of 1 to 8 tick delays, Poisson noise, and
    array spikes at t = 0 and twice in one tick; spikes and v recorded."""
    rng = np.random.default_rng(5)
    net = nt.Network(dt=TICK_MS)
    noise = net.add(nt.SpikeSourcePoisson(40, rate=rng.uniform(200.0, 600.0, 40), label="noise"))
    arr = net.add(nt.SpikeSourceArray([[0.0, 1.0], [0.0], [2.5, 2.5], [4.0]], label="arr"))
    exc = net.add(nt.Population(100, nt.LIF(v_thresh=-58.0, tau_refrac=0.5), label="exc"))
    inh = net.add(nt.Population(40, nt.LIF(v_thresh=-58.0), label="inh"))

    def weights(n_pre, n_post, density, scale):
        shape = (n_pre, n_post)
        return (rng.random(shape) < density) * rng.uniform(0.2, 1.0, shape) * scale

    def delays(n_pre, n_post):
        return rng.integers(1, 9, (n_pre, n_post)) * TICK_MS

    net.connect(noise, exc, weights(40, 100, 0.3, 2.0), receptor="exc", delays=delays(40, 100))
    net.connect(noise, inh, weights(40, 40, 0.3, 1.0), receptor="exc", delays=delays(40, 40))
    net.connect(arr, exc, weights(4, 100, 0.6, 2.0), receptor="exc")
    net.connect(exc, exc, weights(100, 100, 0.25, 0.6), receptor="exc", delays=delays(100, 100))
    net.connect(exc, inh, weights(100, 40, 0.15, 0.8), receptor="exc", delays=delays(100, 40))
    net.connect(inh, exc, weights(40, 100, 0.2, 1.5), receptor="inh", delays=delays(40, 100))
    for label in ("noise", "arr", "exc", "inh"):
        net.record(label, "spikes")
    net.record("exc", "v", neurons=[0, 57, 99])
    net.record("inh", "v", neurons=[3, 39])
    return net


def assert_identical(one: nt.Result, many: nt.Result) -> None:
    """Spike records, traces and every cost field but the wall and build times equal."""
    assert one.spike_records.keys() == many.spike_records.keys()
    for label, rec in one.spike_records.items():
        got = many.spike_records[label]
        for name in ("times", "ids", "trials"):
            np.testing.assert_array_equal(getattr(got, name), getattr(rec, name), err_msg=label)
    assert one.traces.keys() == many.traces.keys()
    for key, trace in one.traces.items():
        assert torch.equal(many.traces[key], trace), key
    for f in fields(one.cost):
        if f.name in ("wall_time_s", "build_time_s"):
            continue
        want, got = getattr(one.cost, f.name), getattr(many.cost, f.name)
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want, err_msg=f.name)
        else:
            assert got == want, f.name


def test_two_ranks_give_the_single_process_bits(few_pe_machine):
    net = recurrent_network()
    placement = s2.map(net, few_pe_machine(2), tick_ms=TICK_MS, **SLICES)
    assert np.unique(placement.slice_chip).size >= 4  # two or more chips per rank
    options = {"placement": placement, "tick_ms": TICK_MS, "clock_mhz": CLOCK_MHZ}
    one = nt.simulate(net, 30.0, backend="spinnaker2", seed=7, trials=2, **options)
    two = nt.simulate(net, 30.0, backend="spinnaker2", seed=7, trials=2, ranks=2, **options)
    assert_identical(one, two)
    # the run is not trivial: activity on both sides, traffic between ranks, late ticks
    assert one.spike_records["exc"].ids.size > 200 and one.spike_records["inh"].ids.size > 50
    assert 0 < one.cost.deadline_miss_count < 10_000 and one.cost.late_us > 0
    assert two.meta["ranks"] == 2 and two.meta["exchanges"] == 300
    assert min(two.meta["bytes_sent"]) > 8 * 300  # spike codes besides the counts


def remote_corrupted(placement: s2.Placement, ranks: np.ndarray) -> s2.Placement:
    """The placement with one PE bit cleared in a router entry, on a chip of rank 1, of a
    key sent from a chip of rank 0 that delivers to that PE: packets crossing ranks that
    the tables no longer deliver."""
    t = placement.tables
    route = t.route.copy()
    for s in np.unique(placement.pair_src):
        if ranks[placement.slice_chip[s]] != 0:
            continue
        key = int(placement.slice_key[s])
        for chip in np.flatnonzero(ranks == 1):
            lo, hi = int(t.offsets[chip]), int(t.offsets[chip + 1])
            hits = lo + np.flatnonzero((key & t.mask[lo:hi]) == t.key[lo:hi])
            pes = [int(pe) for pe in placement.slice_pe[placement.slice_chip == chip]]
            for e in hits[:1]:
                for pe in pes:
                    bit = 6 + pe
                    if (int(route[e, bit // 64]) >> (bit % 64)) & 1:
                        route[e, bit // 64] &= ~np.uint64(1 << (bit % 64))
                        return replace(placement, tables=Tables(t.offsets, t.key, t.mask, route))
    raise AssertionError("no entry on a rank-1 chip delivers a rank-0 key")


@pytest.mark.slow  # two runs of one process and one of two ranks: ~20 s
def test_a_corrupted_remote_entry_changes_the_spikes_in_both_modes_alike(few_pe_machine):
    net = recurrent_network()
    good = s2.map(net, few_pe_machine(2), tick_ms=TICK_MS, **SLICES)
    prog = s2.SpiNNaker2Backend().map(net, placement=good, tick_ms=TICK_MS)
    bad = remote_corrupted(good, chip_ranks(prog, 2))
    options = {"tick_ms": TICK_MS, "seed": 2}
    want = nt.simulate(net, 20.0, backend="spinnaker2", placement=good, **options)
    one = nt.simulate(net, 20.0, backend="spinnaker2", placement=bad, **options)
    two = nt.simulate(net, 20.0, backend="spinnaker2", placement=bad, ranks=2, **options)
    assert_identical(one, two)
    assert one.cost.packets_delivered < want.cost.packets_delivered
    assert not all(np.array_equal(one.spike_records[p].ids, want.spike_records[p].ids)
                   for p in ("exc", "inh"))


def test_rank_views_split_neurons_pes_and_synapses(few_pe_machine):
    net = recurrent_network()
    prog = s2.SpiNNaker2Backend().map(net, few_pe_machine(2), tick_ms=TICK_MS, **SLICES)
    ranks = chip_ranks(prog, 3)
    views = [rank_view(prog, ranks, r) for r in range(3)]
    assert sorted(np.concatenate([v.neurons for v in views]).tolist()) == list(
        range(prog.n_neurons))
    assert sorted(np.concatenate([v.slices for v in views]).tolist()) == list(
        range(prog.placement.n_slices))
    # every delivered synapse is held once, by the rank of its PE
    assert sum(v.view.syn_word.size for v in views) == prog.syn_word.size
    # a neuron's spikes go to rank r exactly when its route class reaches a PE of r
    # that holds a slice (read off the walk's deliveries, PE by PE)
    pl = prog.placement
    slice_pes = set(zip(pl.slice_chip.tolist(), pl.slice_pe.tolist(), strict=True))
    owner = {int(g): r for r, v in enumerate(views) for g in v.neurons}
    reaches = []
    for g in range(prog.n_neurons):
        c = prog.unit_class[g]
        pes = prog.class_pe[prog.class_ptr[c] : prog.class_ptr[c + 1]].tolist()
        reaches.append({int(ranks[pe // 152]) for pe in pes if (pe // 152, pe % 152) in slice_pes}
                       if prog.sends[g] else set())
    for r, v in enumerate(views):
        want = [g for g in range(prog.n_neurons) if owner[g] != r and r in reaches[g]]
        assert np.flatnonzero(v.remote_unit >= 0).tolist() == want
        assert v.crossing.tolist() == [bool(reaches[g] - {r}) for g in v.neurons]
    assert any(v.crossing.any() for v in views)


def test_what_the_sharded_runtime_refuses(few_pe_machine):
    net = recurrent_network()
    placement = s2.map(net, few_pe_machine(2), tick_ms=TICK_MS, **SLICES)
    chips = np.unique(placement.slice_chip).size
    with pytest.raises(nt.ConfigError, match=f"exceeds the {chips} chip"):
        nt.simulate(net, 5.0, backend="spinnaker2", placement=placement, tick_ms=TICK_MS,
                    ranks=chips + 1)
    with pytest.raises(nt.ConfigError, match="ranks"):
        nt.simulate(net, 5.0, backend="spinnaker2", placement=placement, tick_ms=TICK_MS,
                    ranks=0)
    with pytest.raises(nt.ConfigError, match="timeout_s"):
        nt.simulate(net, 5.0, backend="spinnaker2", placement=placement, tick_ms=TICK_MS,
                    ranks=2, timeout_s=0.0)
    with pytest.raises(nt.ConfigError, match="exchange_ms"):  # every tick: no option
        nt.simulate(net, 5.0, backend="spinnaker2", placement=placement, tick_ms=TICK_MS,
                    ranks=2, exchange_ms=0.5)
    with pytest.raises(nt.ConfigError, match="multiple of the time step"):  # before any process
        nt.simulate(net, 5.05, backend="spinnaker2", placement=placement, tick_ms=TICK_MS,
                    ranks=2)
