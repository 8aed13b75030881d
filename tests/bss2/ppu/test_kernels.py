"""The compiled correlation update gives what the same program in vector ops gives: the
weights, the sensors after it and the cycles, for any stores, factors and rows; a store
beyond the CADC's range takes the vector path (clamped, with the CADC's warning)."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.ppu import PPURuntime, Timer
from neurotwin.bss2.ppu.rules import correlation_rows, scale_round, stdp, update_rows
from neurotwin.bss2.run_loop import PeriodicProgram
from neurotwin.bss2.specs import SaturationWarning

N_SRC, N_POP = 6, 40


def mapped():
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourcePoisson(N_SRC, rate=100.0, label="in"))
    pop = net.add(nt.Population(N_POP, nt.LIF(tau_mem=10.0, tau_syn_exc=5.0), label="pop"))
    net.connect(src, pop, np.full((N_SRC, N_POP), 1.0), receptor="exc")
    net.record(pop, "spikes")
    backend = Bss2Backend()
    return backend, backend.map(net, chip=Chip(3))


def prepared(seed: int, stores_mv: np.ndarray | None = None) -> tuple[PPURuntime, np.ndarray]:
    """A runtime (no programs) with random weights and sensor stores on the mapped rows:
    empty stores, small ones, ones at CADC bin edges and saturated ones; the touched
    bits of the non-zero stores and of some empty ones set (a reset leaves them)."""
    _, mapping = mapped()
    runtime = PPURuntime(mapping, ())
    rng = np.random.default_rng(seed)
    sensors = runtime.sensors
    rows = np.unique(sensors.placement[:, 1])
    runtime.weights[0][rows] = rng.integers(0, specs.WEIGHT_MAX + 1, (rows.size, 256))
    n = sensors.synapse.size
    # stores at which the read (baseline - S) crosses a CADC bin edge
    edges = specs.CORRELATION_BASELINE_MV - specs.CADC_ZERO_MV \
        - np.arange(1, 200) * specs.CADC_LSB_MV
    edges = edges[edges > 0]
    kind = rng.integers(0, 4, n)
    values = np.where(kind == 0, 0.0, np.where(
        kind == 1, rng.uniform(0, 50, n), np.where(
            kind == 2, rng.choice(edges, n) + rng.choice([-1e-9, 0.0, 1e-9], n),
            specs.CORRELATION_SATURATION_MV)))
    if stores_mv is not None:
        values = stores_mv
    sensors.causal[:] = values
    sensors.acausal[:] = rng.permutation(values)
    marked = (sensors.causal != 0) | (sensors.acausal != 0) | (rng.random(n) < 0.1)
    for s in np.flatnonzero(marked):
        sensors.touched[s >> 6] |= np.uint64(1) << np.uint64(s & 63)
    return runtime, rows


@pytest.mark.parametrize("q_causal, q_acausal, pick", [
    (13107, 9830, "all"), (13107, None, "all"), (-4096, 32767, "some"),
    (32767, -32768, "twice"), (-32768, None, "some"), (0, 0, "all")])
def test_compiled_update_equals_the_vector_ops(q_causal, q_acausal, pick):
    fused, rows = prepared(7)
    plain, _ = prepared(7)
    chosen = {"all": rows.tolist(), "some": rows[::2].tolist(),
              "twice": [*rows[:3].tolist(), int(rows[1])]}[pick]
    before = fused.weights.copy()
    ppu_f, ppu_v = fused.ppus[0], plain.ppus[0]
    assert ppu_f.correlation_update(chosen, q_causal, q_acausal)
    if q_acausal is None:
        update_rows(ppu_v, chosen, lambda c, a: scale_round(ppu_v, c, q_causal), acausal=False)
    else:
        update_rows(ppu_v, chosen, lambda c, a: ppu_v.sub_fs(
            scale_round(ppu_v, c, q_causal), scale_round(ppu_v, a, q_acausal), bits=16))
    np.testing.assert_array_equal(fused.weights, plain.weights)
    np.testing.assert_array_equal(fused.sensors.causal, plain.sensors.causal)
    np.testing.assert_array_equal(fused.sensors.acausal, plain.sensors.acausal)
    assert ppu_f.cycles == ppu_v.cycles > 0
    # the changes it reports are the weights that changed
    changed = np.sort(np.concatenate(ppu_f.changed))
    np.testing.assert_array_equal(changed, np.flatnonzero(fused.weights != before))
    if q_causal:
        assert changed.size > 100  # the case is not trivial
    # the rows' sensors left the touched set; others stay in it
    treated = np.isin(fused.sensors.placement[:, 1], chosen)
    bits = np.unpackbits(fused.sensors.touched.view(np.uint8), bitorder="little")
    assert not bits[:treated.size][treated].any()
    assert bits[:treated.size][~treated].any() or treated.all()


def test_a_store_beyond_the_cadc_takes_the_vector_path():
    stores = np.full(prepared(3)[0].sensors.synapse.size, 10.0)
    stores[5] = 800.0  # reads past 255: the CADC clamps, with a warning
    fused, rows = prepared(3, stores)
    plain, _ = prepared(3, stores)
    assert not fused.ppus[0].correlation_update(rows.tolist(), 13107, 9830)
    with pytest.warns(SaturationWarning, match="CADC"):
        correlation_rows(fused.ppus[0], rows.tolist(), 13107, 9830)
    with pytest.warns(SaturationWarning, match="CADC"):
        update_rows(plain.ppus[0], rows.tolist(), lambda c, a: plain.ppus[0].sub_fs(
            scale_round(plain.ppus[0], c, 13107), scale_round(plain.ppus[0], a, 9830),
            bits=16))
    np.testing.assert_array_equal(fused.weights, plain.weights)
    assert fused.ppus[0].cycles == plain.ppus[0].cycles


def test_every_non_zero_store_is_in_the_touched_set_during_a_run():
    backend, mapping = mapped()
    rows = sorted(set(mapping.tables.synapses.placement[:, 1].tolist()))
    seen = []

    def check(_step, _state):
        sensors = runtime.sensors
        bits = np.unpackbits(sensors.touched.view(np.uint8), bitorder="little")
        busy = (sensors.causal != 0) | (sensors.acausal != 0)
        seen.append(int(busy.sum()))
        assert bits[:busy.size][busy].all()

    runtime = PPURuntime(mapping, (stdp(rows, Timer(0.0, 30.0)),))
    programs = runtime.periodic()
    probe = PeriodicProgram(check, start=5, period=7)
    backend.run(mapping, 300.0, programs=(*programs, probe))
    assert max(seen) > 50


def test_the_lowest_set_bit_of_every_word():
    from neurotwin.bss2.ppu.kernels import _lowest_bit
    rng = np.random.default_rng(5)
    words = [1 << b for b in range(64)] + [int(w) for w in rng.integers(1, 2**63, 200)] \
        + [2**64 - 1, 2**63 + 2**40]
    for w in words:
        expected = (w & -w).bit_length() - 1  # plain Python integers
        assert _lowest_bit(np.uint64(w)) == expected, hex(w)


def test_runtimes_of_one_mapping_share_nothing_a_run_writes():
    """The second runtime of a mapping takes its table and sensors from the first's
    resolution: the same run gives the same weights, sensors and spikes, and a run leaves
    the next runtime's sensors empty."""
    backend, mapping = mapped()
    rows = sorted(set(mapping.tables.synapses.placement[:, 1].tolist()))

    def plastic():
        runtime = PPURuntime(mapping, (stdp(rows, Timer(0.0, 10.0), 0.4, 0.3),))
        fresh = runtime.sensors.record.copy(), runtime.sensors.counts.copy()
        result = backend.run(mapping, 60.0, seed=2, programs=runtime.periodic())
        return runtime, fresh, result

    first, fresh_1, result_1 = plastic()
    second, fresh_2, result_2 = plastic()
    assert first.sensors.record is not second.sensors.record
    assert np.array_equal(fresh_1[0], fresh_2[0]) and not fresh_2[1].any()
    assert np.all(fresh_2[0][:, :2] == 0.0) and np.all(fresh_2[0][:, 2] == -np.inf)
    assert np.any(first.sensors.record[:, :2] != 0.0)  # the run wrote the first's stores
    assert np.array_equal(first.weights, second.weights)
    assert np.array_equal(first.sensors.record, second.sensors.record)
    assert np.array_equal(first.sensors.counts, second.sensors.counts)
    spikes_1, spikes_2 = result_1.spikes("pop", 0), result_2.spikes("pop", 0)
    assert sum(a.size for a in spikes_1) > 0
    assert all(np.array_equal(a, b) for a, b in zip(spikes_1, spikes_2, strict=True))
    assert not np.array_equal(first.weights, np.asarray(mapping.config.weights))
