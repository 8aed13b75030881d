"""The SpiNNaker2 cost model term by term, against formulas computed here from analytic
counts: cycles per PE and tick, the bit-field filter, late ticks, DVFS, idle power over
the machine's chips, link energy, the worst lateness over all misses, the clock check."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin import spinnaker2 as s2
from neurotwin.spinnaker2 import runtime, specs

SRC_TIMES = [[2.0, 5.0], [3.0], [5.0, 7.0]]
"""Spike times of the three array sources, ms (on the 1 ms tick grid)."""


def silent_network(sources: list[list[float]] | None = SRC_TIMES, n: int = 10,
                   dt: float = 1.0) -> nt.Network:
    """A silent population ``pop`` (threshold out of reach) of ``n`` neurons and, if given,
    three array sources: source 0 reaches every neuron, source 1 the first half only,
    source 2 none (its packets still reach the population's PEs: the route is per slice)."""
    net = nt.Network(dt=dt)
    pop = net.add(nt.Population(n, nt.LIF(v_thresh=1e3), label="pop"))
    if sources is not None:
        src = net.add(nt.SpikeSourceArray(sources, label="src"))
        w = np.zeros((3, n))
        w[0, :] = 0.1
        w[1, : n // 2] = 0.1
        net.connect(src, pop, w, receptor="exc", delays=dt)  # one tick
        net.record(src, "spikes")
    net.record(pop, "spikes")
    return net


def energy_per_cycle(clock_mhz: float) -> float:
    """E_cycle at the level's supply, J, from the constants (the CV^2 law)."""
    volts = {150.0: 0.50, 300.0: 0.60}[clock_mhz]
    assert specs.DVFS_SUPPLY_V[clock_mhz] == volts
    return specs.ENERGY_PER_CYCLE_J * (volts / specs.ENERGY_REFERENCE_V) ** 2


@pytest.mark.parametrize("clock", [300.0, 150.0])
def test_every_energy_term_equals_its_formula_from_analytic_counts(few_pe_machine,
                                                                   reference_walk, clock):
    """One PE per chip, so source and the population's two halves sit on three chips of a
    48-chip board. Per tick, from the spike times alone: the source PE sends, the PE of
    neurons 0-4 finds rows for sources 0 and 1 (5 synapses each) and filters source 2, the
    PE of neurons 5-9 finds a row for source 0 only and filters sources 1 and 2."""
    net = silent_network()
    machine = few_pe_machine(1)
    ticks = 10
    res = nt.simulate(net, float(ticks), backend="spinnaker2", machine=machine,
                      clock_mhz=clock, neurons_per_pe=5)
    pl = s2.map(net, machine, tick_ms=1.0, neurons_per_pe=5)
    src_pe = int(pl.slices_of("src")[0])
    half = {int(pl.slice_of("pop", [0])[0]): (0, 1), int(pl.slice_of("pop", [9])[0]): (0,)}
    assert len(set(half) | {src_pe}) == pl.n_slices == 3
    assert len(set(pl.slice_chip.tolist())) == 3 and machine.n_chips == 48

    times, ids = res.spikes("src")
    assert sorted(zip(times.tolist(), ids.tolist(), strict=True)) == [
        (t, i) for t, i in sorted((t, i) for i, ts in enumerate(SRC_TIMES) for t in ts)]
    assert res.spikes("pop")[0].size == 0
    cycles = np.zeros((ticks, pl.n_slices), np.int64)
    base_pop = specs.CYCLES_TICK_OVERHEAD + 5 * specs.CYCLES_PER_NEURON
    cycles[:, src_pe] = specs.CYCLES_TICK_OVERHEAD
    for s in half:
        cycles[:, s] = base_pop
    hops = 0
    for t, i in zip(times.tolist(), ids.tolist(), strict=True):
        j = round(t) - 1  # sent at the end of tick j, processed in tick j + 1
        cycles[j, src_pe] += specs.CYCLES_PER_SPIKE_SENT
        for s, with_rows in half.items():
            if i in with_rows:
                cycles[j + 1, s] += specs.CYCLES_PER_PACKET + 5 * specs.CYCLES_PER_SYNAPSE
            else:
                cycles[j + 1, s] += specs.CYCLES_PER_FILTERED_PACKET
        key = int(pl.key_of("src", [i])[0])
        hops += reference_walk(pl.machine, pl.tables, key, int(pl.slice_chip[src_pe])).hops.size
    c = res.cost
    np.testing.assert_array_equal(c.pe_max_cycles, cycles.max(axis=0))
    np.testing.assert_array_equal(c.pe_mean_cycles * ticks, cycles.sum(axis=0))
    hardware_s = ticks * 1e-3  # real time: no PE near the budget
    assert c.late_us == 0.0 and c.hardware_time_us == ticks * 1e3
    e = c.energy_breakdown
    assert e["idle"] == pytest.approx(specs.CHIP_IDLE_POWER_W * 48 * hardware_s, rel=1e-12)
    assert e["pe_cycles"] == pytest.approx(energy_per_cycle(clock) * cycles.sum(), rel=1e-12)
    assert hops >= 2 * times.size  # two other chips, at least one hop to each
    assert e["links"] == pytest.approx(
        specs.ENERGY_PER_BIT_ROUTED_J * specs.PACKET_BITS * hops, rel=1e-12)
    assert c.energy_j == pytest.approx(sum(e.values()), rel=1e-12)


def test_idle_power_counts_every_chip_of_the_machine():
    """Two boards, one chip used: all 96 chips draw idle power, dead ones included."""
    machine = s2.Machine(2, faults=[s2.DeadChip(5, 5)])
    res = nt.simulate(silent_network(None), 4.0, backend="spinnaker2", machine=machine)
    assert res.cost.resources["chips"][0] == 1 and machine.n_chips == 96
    assert res.cost.energy_breakdown["idle"] == pytest.approx(
        specs.CHIP_IDLE_POWER_W * 96 * 4e-3, rel=1e-12)


def late_network() -> nt.Network:
    """500 silent neurons at a 0.05 ms tick: 2 PEs of 250 neurons need 27,000 cycles per
    tick against a budget of 15,000 (300 MHz) or 7,500 (150 MHz): every tick is late."""
    return silent_network(None, n=500, dt=0.05)


@pytest.mark.parametrize("clock", [300.0, 150.0])
def test_late_ticks_stretch_the_run_and_bound_the_cycle_energy(clock):
    ticks, tick = 40, 0.05
    res = nt.simulate(late_network(), ticks * tick, backend="spinnaker2", tick_ms=tick,
                      clock_mhz=clock)
    c = res.cost
    need = specs.CYCLES_TICK_OVERHEAD + 250 * specs.CYCLES_PER_NEURON
    budget = round(clock * 1e3 * tick)
    assert c.budget_cycles == budget and c.max_pe_cycles == need
    assert c.deadline_miss_count == 2 * ticks
    # each tick lasts as long as its slowest PE: need / clock µs instead of tick * 1000
    assert c.late_us == pytest.approx(ticks * (need - budget) / clock, rel=1e-12)
    assert c.hardware_time_us == pytest.approx(ticks * need / clock, rel=1e-12)
    e = c.energy_breakdown
    assert e["pe_cycles"] == pytest.approx(energy_per_cycle(clock) * 2 * ticks * need, rel=1e-12)
    assert e["idle"] == pytest.approx(
        specs.CHIP_IDLE_POWER_W * 48 * c.hardware_time_us * 1e-6, rel=1e-12)
    # physical: no more cycles than clock x hardware time on every PE in use
    pes = c.resources["PEs"][0]
    assert e["pe_cycles"] <= energy_per_cycle(clock) * clock * c.hardware_time_us * pes * (
        1 + 1e-12)


def test_the_same_late_network_costs_different_energy_at_150_and_300_mhz():
    kw = {"backend": "spinnaker2", "tick_ms": 0.05}
    fast = nt.simulate(late_network(), 2.0, clock_mhz=300.0, **kw).cost
    slow = nt.simulate(late_network(), 2.0, clock_mhz=150.0, **kw).cost
    assert fast.deadline_miss_count == slow.deadline_miss_count == 80
    assert fast.energy_breakdown["pe_cycles"] / slow.energy_breakdown["pe_cycles"] == (
        pytest.approx((0.60 / 0.50) ** 2, rel=1e-12))
    assert slow.hardware_time_us == pytest.approx(2 * fast.hardware_time_us, rel=1e-12)
    assert fast.energy_j != pytest.approx(slow.energy_j, rel=1e-3)


def test_a_poisson_driven_network_never_reports_more_cycle_energy_than_clock_times_time():
    """250 Poisson sources at 200 Hz all-to-all onto 250 neurons on two PEs: ticks of
    varying load, late at 150 MHz only."""
    net = nt.Network(dt=1.0)
    src = net.add(nt.SpikeSourcePoisson(250, rate=200.0, label="src"))
    pop = net.add(nt.Population(250, nt.LIF(v_thresh=1e3), label="pop"))
    net.connect(src, pop, np.full((250, 250), 0.01), receptor="exc", delays=1.0)
    for clock, late in ((150.0, True), (300.0, False)):
        c = nt.simulate(net, 30.0, backend="spinnaker2", clock_mhz=clock, neurons_per_pe=125,
                        seed=1).cost
        assert (c.deadline_miss_count > 0) == late == (c.late_us > 0)
        pes = c.resources["PEs"][0]
        bound = energy_per_cycle(clock) * clock * c.hardware_time_us * pes
        assert c.energy_breakdown["pe_cycles"] <= bound * (1 + 1e-12)


def test_worst_lateness_is_taken_over_all_misses_not_the_kept_ones(monkeypatch):
    """Every tick is late by 12,000 cycles; the array spikes at 1.5 ms make tick 30 later
    still. With one miss kept (the first), the worst lateness must still be tick 30's."""
    monkeypatch.setattr(runtime, "MISS_CAPACITY", 1)
    net = silent_network([[1.5], [1.5], [1.5]], n=500, dt=0.05)
    c = nt.simulate(net, 2.0, backend="spinnaker2", tick_ms=0.05, clock_mhz=300.0).cost
    assert len(c.deadline_misses) == 1 and c.deadline_miss_count >= 80
    first = c.deadline_misses[0]
    assert first.tick == 0 and first.over_us == pytest.approx(12_000 / 300.0)
    assert c.max_pe_cycles > first.cycles
    assert c.max_over_us == pytest.approx((c.max_pe_cycles - 15_000) / 300.0, rel=1e-12)
    assert c.max_over_us > first.over_us


@pytest.mark.parametrize("clock", [200.0, 0.0, "300", True])
def test_one_clock_check_for_the_machine_and_the_backend(clock):
    with pytest.raises(nt.ConfigError, match="DVFS level") as by_machine:
        s2.Machine(clock_mhz=clock)
    with pytest.raises(nt.ConfigError, match="DVFS level") as by_simulate:
        nt.simulate(silent_network(None), 2.0, backend="spinnaker2", clock_mhz=clock)
    assert str(by_machine.value) == str(by_simulate.value)
    assert s2.Machine(clock_mhz=150).clock_mhz == 150
    assert nt.simulate(silent_network(None), 2.0, backend="spinnaker2",
                       clock_mhz=150).cost.clock_mhz == 150.0
