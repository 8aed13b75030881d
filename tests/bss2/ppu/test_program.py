"""Programs on a timer: called where due, cycles give a duration, overruns reported or
raised, bad writes refused; what a program writes reaches the synapses."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.chip import Deviations
from neurotwin.bss2.ppu import PPU, PlasticityProgram, PPURuntime, ProgramError, Timer
from neurotwin.errors import CapacityError, ConfigError

DT = 0.1


def mapped():
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([[5.0, 25.0], [10.0]], label="in"))
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-55.0, tau_refrac=1.0)
    pop = net.add(nt.Population(2, model, label="pop"))
    net.connect(src, pop, np.full((2, 2), 0.2), receptor="exc")
    net.record(pop, "spikes", "v")
    backend = Bss2Backend()
    return backend, backend.map(net, chip=Chip(0, Deviations.ideal()), weight_scale=0.01)


def run_with(*programs, duration=40.0, **kwargs):
    backend, mapping = mapped()
    runtime = PPURuntime(mapping, programs, **kwargs)
    result = backend.run(mapping, duration, programs=runtime.periodic())
    return mapping, runtime, result


def test_calls_cycles_and_duration():
    def body(ppu: PPU, call: int) -> None:
        ppu.read_weights(0, 0)
        ppu.add_fs(np.zeros(256, np.int64), np.ones(256, np.int64))  # 2 vector ops

    _, runtime, _ = run_with(PlasticityProgram(body, Timer(5.0, 10.0)))
    report = runtime.report()[0]
    assert report.calls == 4  # at 5, 15, 25, 35 µs
    per_call = (specs.PPU_CYCLES["call_overhead"] + specs.PPU_CYCLES["synapse_row_access"]
                + 2 * specs.PPU_CYCLES["vector"])
    assert report.cycles == 4 * per_call
    assert report.busy_us == pytest.approx(4 * per_call / 250.0)
    assert report.overruns == 0


def test_overruns_are_counted_or_raised():
    def slow(ppu: PPU, call: int) -> None:
        ppu.scalar(1000 + 500 * call)  # 4 µs + 2 µs per call at 250 MHz

    _, runtime, _ = run_with(PlasticityProgram(slow, Timer(0.0, 5.0)))
    report = runtime.report()[0]
    assert report.calls == 8
    assert report.overruns == 7  # all but the first exceed 5 µs
    assert report.worst_overrun_us == pytest.approx((200 + 1000 + 3500) / 250.0 - 5.0)
    with pytest.raises(ProgramError, match="longer than its period of 5 µs"):
        run_with(PlasticityProgram(slow, Timer(0.0, 5.0), on_overrun="raise"))


def test_a_written_weight_reaches_the_synapses_and_saturation_is_explicit():
    def silence(ppu: PPU, call: int) -> None:
        for row in range(4):
            ppu.write_weights(row, 0, np.zeros(128, np.int64))

    _, _, plain = run_with()
    _, _, silenced = run_with(PlasticityProgram(silence, Timer(0.0, 100.0)))
    v_plain = plain.trace("pop", "v", 0).numpy()
    v_silent = silenced.trace("pop", "v", 0).numpy()
    assert np.ptp(v_plain) > 1.0 and np.ptp(v_silent) < 1e-9

    def too_big(ppu: PPU, call: int) -> None:
        ppu.write_weights(0, 0, np.full(128, 64))

    with pytest.raises(ProgramError, match=r"outside the 6-bit range 0\.\.63"):
        run_with(PlasticityProgram(too_big, Timer(0.0, 10.0)))

    def saturating(ppu: PPU, call: int) -> None:
        ppu.write_weights(0, 0, np.full(128, 64), saturate=True)

    _, runtime, _ = run_with(PlasticityProgram(saturating, Timer(0.0, 10.0)))
    assert runtime.weights[0, 0, :128].max() == 63


def test_program_data_beyond_16_kib_and_bad_timers():
    with pytest.raises(CapacityError, match="PPU memory"):
        run_with(PlasticityProgram(lambda ppu, call: None, Timer(0.0, 10.0),
                                   setup=lambda mem: mem.allocate("big", 20000)))
    with pytest.raises(ConfigError, match="multiple of the time step"):
        run_with(PlasticityProgram(lambda ppu, call: None, Timer(0.0, 0.05)))
    with pytest.raises(ConfigError):
        Timer(0.0, 0.0)


def test_random_numbers_are_xorshift32():
    seen = []

    def draw(ppu: PPU, call: int) -> None:
        seen.append(ppu.random())

    run_with(PlasticityProgram(draw, Timer(0.0, 10.0, count=3)), seed=7)
    x, want = 7, []
    for _ in range(3):  # Marsaglia's xorshift32 (13, 17, 5), written out
        x ^= (x << 13) % 2**32
        x ^= x >> 17
        x ^= (x << 5) % 2**32
        want.append(x)
    assert seen == want


def test_spike_counters_and_correlation_reads():
    counts = []

    def look(ppu: PPU, call: int) -> None:
        counts.append(int(ppu.read_spike_counts([0, 1]).sum()))
        assert ppu.read_causal(0, 0).min() >= ppu.baseline_code()

    _, _, result = run_with(PlasticityProgram(look, Timer(39.9, 10.0)))
    assert counts == [result.spikes("pop", 0)[0].size]


@pytest.mark.parametrize("relabel", [False, True])
def test_a_program_that_writes_back_what_it_read_leaves_the_plain_run(relabel):
    """The plastic path (sensor reads, write-back, the runtime's own synapse table with
    its zero-weight entries, currents recomputed in place) against the run without a
    program, bit for bit: a chip with deviations, noise, recurrent synapses."""
    rng = np.random.default_rng(3)
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourcePoisson(8, rate=40.0, label="in"))
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-58.0, tau_refrac=1.0)
    pop = net.add(nt.Population(10, model, label="pop"))
    net.connect(src, pop, rng.integers(5, 40, (8, 10)) * 0.01, receptor="exc")
    net.connect(pop, pop, rng.integers(1, 20, (10, 10)) * 0.01, receptor="inh")
    net.record(pop, "spikes", "v")
    backend = Bss2Backend()
    mapping = backend.map(net, chip=Chip(3), weight_scale=0.01)
    rows = sorted(set(mapping.tables.synapses.placement[:, 1].tolist()))

    def body(ppu, call):
        ppu.read_causal(rows)
        ppu.read_acausal(rows)
        ppu.write_weights(rows, None, ppu.read_weights(rows))
        if relabel:
            ppu.write_labels(rows, None, ppu.read_labels(rows))
        ppu.reset_correlation(rows)

    runtime = PPURuntime(mapping, (PlasticityProgram(body, Timer(3.0, 7.0)),))
    plastic = backend.run(mapping, 300.0, seed=4, programs=runtime.periodic())
    plain = backend.run(mapping, 300.0, seed=4)
    assert runtime.report()[0].calls == 43
    t, i = plain.spikes("pop", 0)
    assert t.size > 30
    for got, want in zip(plastic.spikes("pop", 0), (t, i), strict=True):
        assert np.array_equal(got, want)
    assert np.array_equal(plastic.trace("pop", "v").numpy(), plain.trace("pop", "v").numpy())


def capmem_runs(step_us):
    """Neuron 0's leak potential raised by 30 CapMem codes from ``step_us`` on, by a program;
    the reference: the same mapping with the code in its configuration from the start,
    run without a program."""
    from dataclasses import replace

    backend, mapping = mapped()
    circuit = int(mapping.circuits[mapping.member_ptr[0]])
    h, col = divmod(circuit, specs.SYNRAM_COLUMNS)
    cell = specs.CAPMEM_CELLS.index("v_leak")
    code = int(mapping.config.neurons.capmem[cell, circuit]) + 30

    def body(ppu, call):
        ppu.write_capmem("v_leak", [col], [code])

    runtime = PPURuntime(mapping, (PlasticityProgram(body, Timer(step_us, 1000.0, 1), h),))
    plastic = backend.run(mapping, 40.0, programs=runtime.periodic())
    capmem = mapping.config.neurons.capmem.copy()
    capmem[cell, circuit] = code
    neurons = replace(mapping.config.neurons, capmem=capmem)
    lowered = replace(mapping, config=replace(mapping.config, neurons=neurons))
    return runtime, plastic, backend.run(lowered, 40.0), backend.run(mapping, 40.0)


def test_a_capmem_write_steps_the_neuron_with_the_new_code():
    runtime, plastic, reference, unchanged = capmem_runs(0.0)
    assert runtime.report()[0].worst_cycles == 200 + specs.PPU_CYCLES["capmem_write"]
    v = plastic.trace("pop", "v").numpy()
    assert not np.allclose(v, unchanged.trace("pop", "v").numpy())  # the write matters
    assert np.array_equal(v, reference.trace("pop", "v").numpy())
    for got, w in zip(plastic.spikes("pop", 0), reference.spikes("pop", 0), strict=True):
        assert np.array_equal(got, w)


def test_capmem_writes_check_cell_column_and_code():
    def run(body):
        run_with(PlasticityProgram(body, Timer(10.0, 10.0, 1)))

    with pytest.raises(ProgramError, match="unknown CapMem cell 'v_thresh'"):
        run(lambda ppu, call: ppu.write_capmem("v_thresh", [0], [300]))
    with pytest.raises(ProgramError, match=r"CapMem code 1023 .* 0\.\.1022"):
        run(lambda ppu, call: ppu.write_capmem("v_leak", [0], [1023]))
    with pytest.raises(ProgramError, match="circuits in use"):
        run(lambda ppu, call: ppu.write_capmem("v_leak", [200], [300]))


def test_a_capmem_write_during_the_run_acts_from_its_step_on():
    _, plastic, _, unchanged = capmem_runs(20.0)
    v, v0 = plastic.trace("pop", "v").numpy(), unchanged.trace("pop", "v").numpy()
    early = plastic.trace_times() <= 20.0  # recorded at the start of each step
    assert np.array_equal(v[early], v0[early])
    assert not np.allclose(v[~early], v0[~early])


def test_a_plastic_run_of_several_trials_is_refused_before_it_starts():
    calls = []
    backend, mapping = mapped()
    runtime = PPURuntime(mapping, (PlasticityProgram(lambda ppu, call: calls.append(call),
                                                     Timer(20.0, 10.0)),))
    with pytest.raises(ConfigError, match=r"one trial .*got trials=3"):
        backend.run(mapping, 40.0, trials=3, programs=runtime.periodic())
    assert calls == []  # refused before the first step, not at the first call (20 µs)
    backend.run(mapping, 40.0, trials=1, programs=runtime.periodic())
    assert calls == [0, 1]
