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
    assert s2res.all_spikes("exc").times.size > 1000
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


def test_follow_block_agrees_with_the_reference_walk_per_key(random_network, few_pe_machine,
                                                            reference_walk):
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
            want = reference_walk(placement.machine, tables, int(key), chip)
            sel = got.deliver_key == i
            pairs = np.stack([got.deliver_chip[sel], got.deliver_pe[sel]], axis=1)
            np.testing.assert_array_equal(pairs[np.lexsort(pairs.T[::-1])], want.deliveries)
            np.testing.assert_array_equal(np.sort(got.hop_link[got.hop_key == i]), want.hops)
            assert got.looped[i] == (want.loop_chip >= 0)


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
    half = {"neurons_per_pe": 125}  # two PEs, whatever the memory model would allow
    fast = nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=300.0, seed=1, **half)
    slow = nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=150.0, seed=1, **half)
    assert fast.cost.deadline_miss_count == 0
    assert slow.cost.budget_cycles == 150_000
    # expected cycles of each target PE from the source spikes: the packets processed in
    # tick m are the source spikes stamped m * tick (sent in tick m - 1)
    times, _ = slow.spikes("src")
    received = np.bincount(np.rint(times).astype(int), minlength=51)[:50]
    pl = s2.map(net, tick_ms=1.0, **half)
    assert len(pl.slices_of("pop")) == 2
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
        nt.simulate(net, 50.0, backend="spinnaker2", clock_mhz=150.0, deadline="raise", **half)


def test_one_simulate_checks_the_placement_once(monkeypatch):
    calls = []
    check = s2.Placement.check_network

    def counted(self: s2.Placement, network: nt.Network) -> None:
        calls.append(network)
        check(self, network)

    monkeypatch.setattr(s2.Placement, "check_network", counted)
    net = dense_network(10.0)
    nt.simulate(net, 5.0, backend="spinnaker2")
    assert calls == [net]


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


def traffic_network() -> nt.Network:
    """Slices whose packets reach most receiving PEs (stored as complements) and slices
    whose packets reach one PE; array spikes at t = 0 and twice in one tick."""
    rng = np.random.default_rng(3)
    net = nt.Network(dt=1.0)
    noise = net.add(nt.SpikeSourcePoisson(60, rate=30.0, label="noise"))
    probe = net.add(nt.SpikeSourcePoisson(20, rate=60.0, label="probe"))
    arr = net.add(nt.SpikeSourceArray([[0.0, 2.0], [0.0], [5.0, 5.0]], label="arr"))
    a = net.add(nt.Population(160, nt.LIF(v_thresh=-60.0, tau_refrac=1.0), label="a"))
    b = net.add(nt.Population(80, nt.LIF(v_thresh=-60.0), label="b"))

    def sparse(n_pre, n_post, density, weight):
        return (rng.random((n_pre, n_post)) < density) * weight

    def delays(n_pre, n_post):
        return rng.integers(1, 5, (n_pre, n_post)).astype(float)

    net.connect(noise, a, sparse(60, 160, 0.3, 0.4), receptor="exc", delays=delays(60, 160))
    to_b = np.zeros((20, 80))
    to_b[:, :10] = 0.5  # only the first slice of b
    net.connect(probe, b, to_b, receptor="exc")
    net.connect(arr, a, sparse(3, 160, 0.5, 0.6), receptor="exc")
    net.connect(a, a, sparse(160, 160, 0.05, 0.3) * np.where(rng.random((160, 160)) < 0.3, -1, 1),
                receptor=None, delays=delays(160, 160))
    net.connect(a, b, sparse(160, 80, 0.05, 0.3), receptor="exc", delays=delays(160, 80))
    net.connect(b, a, sparse(80, 160, 0.05, 0.4), receptor="inh", delays=delays(80, 160))
    for label in ("noise", "probe", "arr", "a", "b"):
        net.record(label, "spikes")
    return net


SMALL_SLICES = {"neurons_per_pe": 20, "sources_per_pe": 20}


def edited_tables(placement: s2.Placement, edit: str, seed: int) -> s2.Placement:
    """Tables with entries made to match one key, removed (default routing takes over),
    or with random route bits flipped (extra links, loops, dead links, extra PEs)."""
    rng = np.random.default_rng(seed)
    t = placement.tables
    pick = rng.choice(t.key.size, size=max(3, t.key.size // 5), replace=False)
    key, mask, route, offsets = t.key.copy(), t.mask.copy(), t.route.copy(), t.offsets
    if edit == "mask":
        mask[pick] = 0xFFFFFFFF
    elif edit == "flip":
        for e in pick:
            bit = int(rng.integers(0, 6 + 152))
            route[e, bit // 64] ^= np.uint64(1 << (bit % 64))
        # and a loop: the first hop of every sending slice is sent back where it came from
        machine = placement.machine
        for s in np.unique(placement.pair_src):
            chip, k = int(placement.slice_chip[s]), int(placement.slice_key[s])
            here = offsets[chip] + np.flatnonzero((k & mask[offsets[chip] : offsets[chip + 1]])
                                                  == key[offsets[chip] : offsets[chip + 1]])
            links = [d for d in range(6) if here.size and (int(route[here[0], 0]) >> d) & 1]
            if not links:
                continue
            nxt = int(machine.neighbour[chip, links[0]])
            there = offsets[nxt] + np.flatnonzero((k & mask[offsets[nxt] : offsets[nxt + 1]])
                                                  == key[offsets[nxt] : offsets[nxt + 1]])
            if there.size:
                route[there[0], 0] |= np.uint64(1 << ((links[0] + 3) % 6))
    else:  # remove
        keep = np.ones(t.key.size, bool)
        keep[pick] = False
        chip = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))[keep]
        offsets = np.concatenate([[0], np.cumsum(np.bincount(chip, minlength=offsets.size - 1))])
        key, mask, route = key[keep], mask[keep], route[keep]
    return replace(placement, tables=Tables(offsets, key, mask, route))


@pytest.mark.parametrize("edit", ["mask", "remove", "flip"])
def test_route_classes_are_what_the_tables_say_key_by_key(few_pe_machine, reference_walk,
                                                          edit):
    net = traffic_network()
    machine = few_pe_machine(3, faults=(s2.DeadLink(*s2.Machine(1).xy(1), "E"),))
    placement = edited_tables(s2.map(net, machine, tick_ms=1.0, **SMALL_SLICES), edit, seed=4)
    prog = s2.SpiNNaker2Backend().map(net, placement=placement)
    pl, tables = prog.placement, prog.placement.tables
    n_classes = 0
    for label in pl.labels:
        first = prog.pop_slices.get(label, (None,))[0]
        if first is None:
            first = prog.n_neurons + prog.source_slices[label][0]
        for s in pl.slices_of(label):
            chip = int(pl.slice_chip[s])
            for i in range(int(pl.slice_lo[s]), int(pl.slice_hi[s])):
                unit = first + i
                c = int(prog.unit_class[unit])
                if not prog.sends[unit]:
                    assert c == 0
                    continue
                key = int(pl.key_of(label, [i])[0])
                want = reference_walk(pl.machine, tables, key, chip)
                pe = prog.class_pe[prog.class_ptr[c] : prog.class_ptr[c + 1]]
                got = np.stack(np.divmod(pe, 152), axis=1)
                np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want.deliveries)
                hops = prog.hops[[c]]
                np.testing.assert_array_equal(np.sort(hops.indices), want.hops)
                assert hops.sum() == want.hops.size
                assert prog.looped[unit] == (want.loop_chip >= 0)
        n_classes = max(n_classes, int(prog.unit_class.max()))
    if edit == "mask":  # entries that match one key split slices into several classes
        assert n_classes > pl.n_slices
    if edit == "flip":
        assert prog.looped.any()


def test_pe_cycles_count_the_packets_and_synapses_the_tables_deliver(few_pe_machine,
                                                                    reference_walk):
    from neurotwin.spinnaker2 import specs

    net = traffic_network()
    machine = few_pe_machine(3)
    good = s2.map(net, machine, tick_ms=1.0, **SMALL_SLICES)
    a = list(good.slices_of("a"))
    src, tgt = next((s, t) for s in a for t in a
                    if s != t and good.slice_chip[s] == good.slice_chip[t])
    pl = corrupt_route(good, src, tgt)
    ticks = 80
    res = nt.simulate(net, float(ticks), backend="spinnaker2", placement=pl, seed=3)
    # independently: every recorded spike followed through the tables key by key
    n_sl = pl.n_slices
    pe_slice = {(int(c), int(p)): s
                for s, (c, p) in enumerate(zip(pl.slice_chip, pl.slice_pe, strict=True))}
    synapses: dict[tuple[str, int, int], int] = {}
    for proj in net.projections:
        syn = proj.synapses()
        tgt = pl.slice_of(proj.post, syn.post)
        for pre, t in zip(syn.pre.tolist(), tgt.tolist(), strict=True):
            synapses[(proj.pre, pre, t)] = synapses.get((proj.pre, pre, t), 0) + 1
    senders = set(pl.pair_src.tolist())
    recv = np.zeros((ticks + 1, n_sl), np.int64)
    rows = np.zeros((ticks + 1, n_sl), np.int64)  # packets whose key has a row there
    syn_n = np.zeros((ticks + 1, n_sl), np.int64)
    sent = np.zeros((ticks + 1, n_sl), np.int64)
    delivered = hops = 0
    for label in pl.labels:
        times, ids = res.spikes(label)
        for time_ms, i in zip(times.tolist(), ids.tolist(), strict=True):
            j = round(time_ms) - 1  # emitted in tick j (-1: before the first tick)
            s = int(pl.slice_of(label, [i])[0])
            if s not in senders:
                continue
            sent[max(j, 0), s] += 1
            key = int(pl.key_of(label, [i])[0])
            walk = reference_walk(pl.machine, pl.tables, key, int(pl.slice_chip[s]))
            dest = walk.deliveries
            hops += walk.hops.size
            delivered += len(dest)
            for chip, pe in dest.tolist():
                t = pe_slice.get((chip, pe))
                if t is not None:
                    recv[j + 1, t] += 1
                    syn_n[j + 1, t] += synapses.get((label, i, t), 0)
                    rows[j + 1, t] += (label, i, t) in synapses
    width = pl.slice_hi - pl.slice_lo
    kinds = np.array(pl.kinds)[pl.slice_node]
    base = (specs.CYCLES_TICK_OVERHEAD + (kinds == "LIF") * width * specs.CYCLES_PER_NEURON
            + (kinds == "SpikeSourcePoisson") * width * specs.CYCLES_PER_POISSON_SOURCE)
    cycles = (base + rows * specs.CYCLES_PER_PACKET
              + (recv - rows) * specs.CYCLES_PER_FILTERED_PACKET
              + syn_n * specs.CYCLES_PER_SYNAPSE + sent * specs.CYCLES_PER_SPIKE_SENT)[:ticks]
    assert recv[1:ticks].sum() > 1000 and (recv[:ticks] == 0).any()
    assert 0 < rows.sum() < recv.sum()  # packets with and without rows
    np.testing.assert_array_equal(res.cost.pe_max_cycles, cycles.max(axis=0))
    np.testing.assert_allclose(res.cost.pe_mean_cycles * ticks, cycles.sum(axis=0), rtol=1e-12)
    assert res.cost.packets_delivered == delivered
    assert res.cost.packets_sent == sent.sum()
    assert res.cost.link_packets.sum() == hops


@pytest.mark.parametrize("repeats", [1, 300])
def test_ring_buffer_holds_the_largest_sum_a_slot_can_receive(repeats):
    # 300 synapses x 127 LSB arrive in one slot: more than 16 bits hold
    net = nt.Network(dt=1.0)
    n_src = 300 // repeats
    src = net.add(nt.SpikeSourceArray([[1.0] * repeats] * n_src, label="in"))
    pop = net.add(nt.Population(1, nt.LIF(v_thresh=1e6), label="pop"))
    scale = 2.0**-10
    net.connect(src, pop, np.full((n_src, 1), 127 * scale), receptor="exc")
    net.record(pop, "i_exc")
    res = nt.simulate(net, 5.0, backend="spinnaker2", weight_format="int8", weight_scale=scale,
                      rounding="exact")
    i_exc = res.trace("pop", "i_exc")[:, 0].numpy()
    # emitted in tick 0, acts after one tick: in the current from the start of tick 2 on
    assert i_exc[1] == 0.0
    assert i_exc[2] == np.float32(300 * 127 * scale)


@pytest.mark.parametrize("fmt", ["int4_delay", "int8"])
def test_synapse_words_hold_the_quantised_rows(fmt):
    from neurotwin.spinnaker2.rows import build_rows

    net = exact_network(fmt=fmt)
    placement = s2.map(net, tick_ms=1.0)
    prog = s2.SpiNNaker2Backend().map(net, placement=placement, weight_format=fmt)
    rows = build_rows(net, placement, weight_format=fmt, scales=prog.scales, tick_ms=1.0)
    n = prog.n_neurons
    post, receptor, weight, delay = rows.decode()
    unit = np.repeat(np.arange(rows.unit_ptr.size - 1), np.diff(rows.unit_ptr))
    want = np.stack([unit, rows.slice, delay, receptor, post, weight], axis=1)
    word = prog.syn_word.astype(np.int64)
    index, slot = word & 0xFFFFFFFF, word >> 40
    got = np.stack([np.repeat(np.arange(n + prog.n_sources), np.diff(prog.syn_ptr)), slot,
                    index // (2 * n), index % (2 * n) // n, index % n, (word >> 32) & 0xFF], axis=1)
    assert got.shape[0] == sum(p.synapses().pre.size for p in net.projections)
    np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])
    assert prog.n_slots == delay.max() + 1


def held_network(dt: float) -> nt.Network:
    """The same network on any dt grid that divides 1 ms: Poisson and array drive, a
    recurrent population, delays in whole ms, every state variable recorded."""
    rng = np.random.default_rng(5)
    net = nt.Network(dt=dt)
    noise = net.add(nt.SpikeSourcePoisson(40, rate=rng.uniform(20, 60, 40), label="noise"))
    arr = net.add(nt.SpikeSourceArray([[0.0, 4.0], [9.0], [2.0, 13.0]], label="arr"))
    pop = net.add(nt.Population(60, nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0,
                                           v_thresh=-58.0, tau_refrac=2.0), label="pop"))
    net.connect(noise, pop, rng.integers(1, 16, (40, 60)) * LSB * (rng.random((40, 60)) < 0.4),
                receptor="exc", delays=rng.integers(1, 5, (40, 60)).astype(float))
    net.connect(arr, pop, np.full((3, 60), 8 * LSB), receptor="exc", delays=1.0)
    net.connect(pop, pop, rng.integers(1, 16, (60, 60)) * LSB * (rng.random((60, 60)) < 0.1),
                receptor="inh", delays=rng.integers(1, 4, (60, 60)).astype(float))
    net.record(pop, "spikes", "v", "i_exc", "i_inh")
    net.record(noise, "spikes")
    return net


def test_tick_longer_than_dt_gives_the_spikes_and_held_traces_of_dt_equal_tick():
    """tick 1 ms on a dt 0.1 ms network equals the dt = tick = 1 ms run: the same spikes,
    and every trace sample k * dt holds the tick that contains it (floor(k * dt / tick))."""
    kw = {"backend": "spinnaker2", "tick_ms": 1.0, "seed": 2, "rounding": "exact",
          "weight_scale": LSB}
    coarse = nt.simulate(held_network(1.0), 30.0, **kw)
    fine = nt.simulate(held_network(0.1), 30.0, **kw)
    assert assert_same_spikes(coarse, fine, ["pop", "noise"], trials=1) > 50
    for var in ("v", "i_exc", "i_inh"):
        a = coarse.trace("pop", var).numpy()
        b = fine.trace("pop", var).numpy()
        assert a.shape == (30, 60) and b.shape == (300, 60)
        assert np.unique(a, axis=0).shape[0] > 20  # the traces move from tick to tick
        np.testing.assert_array_equal(b, a[np.arange(300) // 10])


def test_a_network_of_spike_sources_only_runs_and_returns_its_spikes():
    """No neuron, no neuron slot in the ring buffers: the sources' spikes come back as
    given (a PyNN script may record a SpikeSourceArray alone)."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourceArray([[1.0, 5.0], [3.0]], label="s"))
    net.record(src, "spikes")
    times, ids = nt.simulate(net, 10.0, backend="spinnaker2", seed=0).spikes(src)
    order = np.lexsort((ids, times))
    assert times[order].tolist() == [1.0, 3.0, 5.0]
    assert ids[order].tolist() == [0, 1, 0]
