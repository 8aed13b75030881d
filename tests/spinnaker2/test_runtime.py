"""The SpiNNaker2 runtime: spike-for-spike equality with the ideal backend, routing
through the tables, deadline misses, traffic and errors."""

from dataclasses import replace

import numpy as np
import pytest

import neurotwin as nt
from neurotwin import spinnaker2 as s2
from neurotwin.spinnaker2.routing import Tables

LSB = 2.0**-4  # nA: a power of two, so float32 sums of weights are exact


def exact_network(dt: float = 1.0, fmt: str = "int4_delay", seed: int = 0) -> nt.Network:
    """Recurrent exc/inh network driven by Poisson and array sources, weights k * LSB."""
    rng = np.random.default_rng(seed)
    wmax = 15 if fmt == "int4_delay" else 127
    lsb = LSB if fmt == "int4_delay" else LSB / 8
    max_delay = 8 if fmt == "int4_delay" else 1
    net = nt.Network(dt=dt)
    noise = net.add(nt.SpikeSourcePoisson(80, rate=rng.uniform(5, 40, 80), label="noise"))
    arr = net.add(nt.SpikeSourceArray([[0.0, 3.0, 7.0], [5.0], [10.0, 11.0]], label="arr"))
    exc = net.add(nt.Population(300, nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0,
                                            v_thresh=-55.0, tau_refrac=2.0), label="exc"))
    inh = net.add(nt.Population(70, nt.LIF(tau_mem=8.0, v_thresh=-56.0), label="inh"))

    def weights(n_pre, n_post, density, signed=False):
        w = rng.integers(1, wmax + 1, (n_pre, n_post)) * lsb
        w *= rng.random((n_pre, n_post)) < density
        if signed:
            w *= np.where(rng.random((n_pre, n_post)) < 0.3, -1.0, 1.0)
        return w

    def delays(n_pre, n_post):
        return rng.integers(1, max_delay + 1, (n_pre, n_post)) * dt

    net.connect(noise, exc, weights(80, 300, 0.5), receptor="exc", delays=delays(80, 300))
    net.connect(noise, inh, weights(80, 70, 0.08), receptor="exc", delays=delays(80, 70))
    net.connect(arr, exc, weights(3, 300, 0.9), receptor="exc", delays=dt)
    net.connect(exc, exc, weights(300, 300, 0.05, signed=True), receptor=None,
                delays=delays(300, 300))
    net.connect(exc, inh, weights(300, 70, 0.1), receptor="exc", delays=delays(300, 70))
    net.connect(inh, exc, weights(70, 300, 0.05), receptor="inh", delays=delays(70, 300))
    net.record(exc, "spikes", "v", "i_exc", "i_inh")
    net.record(inh, "spikes")
    net.record(noise, "spikes")
    return net


def assert_same_spikes(a: nt.Result, b: nt.Result, labels, trials: int) -> int:
    total = 0
    for label in labels:
        for t in range(trials):
            ta, ia = a.spikes(label, t)
            tb, ib = b.spikes(label, t)
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(ia, ib)
            total += ta.size
    return total


@pytest.mark.parametrize("fmt", ["int4_delay", "int8"])
def test_spike_for_spike_equal_to_ideal_float32(fmt):
    net = exact_network(fmt=fmt)
    opts = {"weight_format": fmt, "weight_scale": LSB if fmt == "int4_delay" else LSB / 8,
            "rounding": "exact", "tick_ms": 1.0}
    s2res = nt.simulate(net, 300.0, backend="spinnaker2", seed=5, trials=2, **opts)
    ideal = nt.simulate(net, 300.0, backend="ideal", seed=5, trials=2, dtype="float32")
    n = assert_same_spikes(s2res, ideal, ["exc", "inh", "noise"], 2)
    assert n > 2000  # a busy network, not a silent one
    assert s2res.spikes("exc")[0].size > 500
    for var in ("v", "i_exc", "i_inh"):
        np.testing.assert_array_equal(s2res.trace("exc", var, 1).numpy(),
                                      ideal.trace("exc", var, 1).numpy())


def test_default_scale_is_largest_weight_over_limit():
    net = exact_network()
    prog = s2.SpiNNaker2Backend().map(net)
    assert prog.scales[("exc", "exc")] == 15 * LSB / 15
    assert prog.scales[("exc", "inh")] == LSB * max(
        np.abs(p.weights).max() for p in net.projections if p.post == "exc" and p.receptor != "exc"
    ) / LSB / 15


def corrupt_route(placement: s2.Placement, src_slice: int, tgt_slice: int) -> s2.Placement:
    """Placement whose table entry on the source chip no longer delivers ``src_slice``'s
    keys to ``tgt_slice``'s PE (one bit of one entry cleared)."""
    t = placement.tables
    chip = int(placement.slice_chip[src_slice])
    lo, hi = int(t.offsets[chip]), int(t.offsets[chip + 1])
    key = int(placement.slice_key[src_slice])
    hit = lo + int(np.flatnonzero((key & t.mask[lo:hi]) == t.key[lo:hi])[0])
    route = t.route.copy()
    bit = 6 + int(placement.slice_pe[tgt_slice])
    assert (int(route[hit, bit // 64]) >> (bit % 64)) & 1
    route[hit, bit // 64] &= ~np.uint64(1 << (bit % 64))
    return replace(placement, tables=Tables(t.offsets, t.key, t.mask, route))


def test_corrupted_router_entry_changes_spikes():
    net = exact_network()
    placement = s2.map(net, s2.Machine(1), tick_ms=1.0)
    good = nt.simulate(net, 200.0, backend="spinnaker2", placement=placement, seed=2)
    inh_slice = placement.slices_of("inh")[0]
    exc_slice = placement.slices_of("exc")[0]
    noise_slice = placement.slices_of("noise")[0]
    # inhibition lost -> extra spikes in exc; excitation lost -> missing spikes in inh
    no_inh = nt.simulate(net, 200.0, backend="spinnaker2", seed=2,
                         placement=corrupt_route(placement, inh_slice, exc_slice))
    inh_target = placement.slices_of("inh")[0]
    no_exc = nt.simulate(net, 200.0, backend="spinnaker2", seed=2,
                         placement=corrupt_route(placement, noise_slice, inh_target))
    assert no_inh.spikes("exc")[0].size > good.spikes("exc")[0].size
    assert no_exc.spikes("inh")[0].size < good.spikes("inh")[0].size
    assert no_exc.cost.packets_delivered < good.cost.packets_delivered
    # the sources themselves are untouched
    np.testing.assert_array_equal(no_exc.spikes("noise")[0], good.spikes("noise")[0])


def test_follow_block_agrees_with_follow_per_key(random_network, few_pe_machine):
    net = random_network(3)
    placement = s2.map(net, few_pe_machine(3), tick_ms=1.0)
    t = placement.tables
    mask = t.mask.copy()
    mask[len(mask) // 2] = 0xFFFFFFFF  # one entry now matches a single key
    tables = Tables(t.offsets, t.key, mask, t.route)
    for s in range(placement.n_slices):
        size = int(placement.slice_hi[s] - placement.slice_lo[s])
        keys = placement.slice_key[s].astype(np.int64) + np.arange(size)
        chip = int(placement.slice_chip[s])
        got = s2.follow_block(placement.machine, tables, keys, chip)
        for i, key in enumerate(keys):
            want = s2.follow(placement.machine, tables, int(key), chip, loops="drop")
            sel = got.deliver_key == i
            pairs = np.stack([got.deliver_chip[sel], got.deliver_pe[sel]], axis=1)
            np.testing.assert_array_equal(pairs[np.lexsort(pairs.T[::-1])], want)


def dense_network(rate: float) -> nt.Network:
    """250 Poisson sources all-to-all onto 250 silent neurons: synaptic work only."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(250, rate=rate, label="src"))
    pop = net.add(nt.Population(250, nt.LIF(v_thresh=1e3), label="pop"))
    net.connect(src, pop, np.full((250, 250), 0.01), receptor="exc", delays=1.0)
    net.record(src, "spikes")
    return net


def test_deadline_misses_at_low_clock_with_pe_tick_and_amount():
    from neurotwin.spinnaker2 import specs

    net = dense_network(200.0)
    fast = nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=300.0, seed=1)
    slow = nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=150.0, seed=1)
    assert fast.cost.deadline_miss_count == 0
    assert slow.cost.budget_cycles == 150_000
    # expected cycles of each target PE from the source spikes: the packets processed in
    # tick m are the source spikes stamped m * tick (sent in tick m - 1)
    times, _ = slow.spikes("src")
    received = np.bincount(np.rint(times).astype(int), minlength=51)[:50]
    pl = s2.map(net, tick_ms=1.0)
    want = []
    for m in range(50):
        for s in pl.slices_of("pop"):
            width = int(pl.slice_hi[s] - pl.slice_lo[s])
            cycles = (specs.CYCLES_TICK_OVERHEAD + width * specs.CYCLES_PER_NEURON
                      + received[m] * (specs.CYCLES_PER_PACKET + width * specs.CYCLES_PER_SYNAPSE))
            if cycles > 150_000:
                xy = pl.machine.xy(int(pl.slice_chip[s]))
                want.append((m, xy, int(pl.slice_pe[s]), "pop", int(cycles),
                             pytest.approx((cycles - 150_000) / 150.0)))
    assert len(want) > 5
    got = [(m.tick, m.chip, m.pe, m.node, m.cycles, m.over_us) for m in slow.cost.deadline_misses]
    assert got == want
    assert slow.cost.deadline_miss_count == len(want)
    with pytest.raises(nt.CapacityError, match="PE cycles per tick"):
        nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=150.0, deadline="raise")


def test_link_packets_count_the_routed_packets(few_pe_machine):
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(20, rate=50.0, label="src"))
    pop = net.add(nt.Population(10, nt.LIF(), label="pop"))
    net.connect(src, pop, np.full((20, 10), 0.1), receptor="exc")
    net.record(src, "spikes")
    machine = few_pe_machine(1)
    res = nt.simulate(net, 100.0, backend="spinnaker2", machine=machine, seed=0, trials=2)
    n_spikes = sum(res.spikes("src", t)[0].size for t in range(2))
    assert n_spikes > 0
    # source on chip 0, population on chip 1 (neighbours): one hop per packet
    assert res.cost.link_packets.sum() == n_spikes
    assert res.cost.packets_sent == res.cost.packets_delivered == n_spikes
    pl = s2.map(net, machine, tick_ms=1.0)
    c0, c1 = int(pl.slice_chip[0]), int(pl.slice_chip[1])
    link = int(np.flatnonzero(machine.neighbour[c0] == c1)[0])
    assert res.cost.link_packets[c0, link] == n_spikes
    e = res.cost.energy_breakdown
    assert e["links"] == pytest.approx(25e-12 * 40 * n_spikes)
    assert res.cost.energy_j == pytest.approx(sum(e.values()))
    assert res.cost.hardware_time_us == 2 * 100.0 * 1e3


def test_bad_weights_and_delays_are_errors():
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourceArray([[1.0]], label="in"))
    pop = net.add(nt.Population(2, nt.LIF(), label="pop"))
    net.connect(src, pop, np.array([[0.5, 0.05]]), receptor="exc")
    with pytest.raises(nt.ConfigError, match=r"0\.5 nA of in->pop.*0\.15 nA"):
        nt.simulate(net, 5.0, backend="spinnaker2", weight_scale=0.01)
    with pytest.raises(nt.ConfigError, match="not a multiple"):
        nt.simulate(net, 5.0, backend="spinnaker2", rounding="exact", weight_scale=0.04)
    long = nt.Network(dt=1.0)
    a = long.add(nt.SpikeSourceArray([[1.0]], label="in"))
    b = long.add(nt.Population(2, nt.LIF(), label="pop"))
    long.connect(a, b, np.full((1, 2), 0.1), receptor="exc", delays=9.0)
    with pytest.raises(nt.MappingError, match="9 ticks"):
        nt.simulate(long, 5.0, backend="spinnaker2")
    short = nt.Network(dt=1.0)
    a = short.add(nt.SpikeSourceArray([[1.0]], label="in"))
    b = short.add(nt.Population(2, nt.LIF(), label="pop"))
    short.connect(a, b, np.full((1, 2), 0.1), receptor="exc", delays=2.0)
    with pytest.raises(nt.MappingError, match="int8"):
        nt.simulate(short, 5.0, backend="spinnaker2", weight_format="int8")


def test_unsupported_models_and_options():
    net = nt.Network(dt=1.0)
    net.add(nt.Population(2, nt.AdEx(), label="a"))
    with pytest.raises(nt.ConfigError, match="LIF application"):
        nt.simulate(net, 5.0, backend="spinnaker2")
    with pytest.raises(nt.ConfigError, match="deadline"):
        nt.simulate(dense_network(1.0), 5.0, backend="spinnaker2", deadline="ignore")
    fine = nt.Network(dt=0.5)
    fine.add(nt.Population(2, nt.LIF(), label="p"))
    with pytest.raises(nt.ConfigError, match="multiple of the tick"):
        nt.simulate(fine, 5.5, backend="spinnaker2", tick_ms=1.0)
