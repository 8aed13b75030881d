"""Structural plasticity and label writes from programs.

The structural rule is checked synapse for synapse against the same rule written plainly
here, on the spikes the run recorded (ideal chip):

    per synapse (row, column): its source is the unit of the row's driver whose address
    equals the label in effect when the unit sent the event (labels written at the call
    of step s hold for events sent in steps >= s, i.e. recorded at t > s dt); arrival at
    t_send + delay; causal store at a post spike t: S += eta exp(-(t - last arrival < t)
    / tau), clamped at 550 mV, reset after every call; at each call:
        w = clip(w + r(c, eta) - decay, 0, 63)
        w < threshold (columns with a neuron, row-major order):
            label = pool[x % len(pool)] (x: xorshift32 13/17/5 from the seed 1), w = w_init
"""

import math

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.chip import Deviations
from neurotwin.bss2.ppu import PlasticityProgram, PPURuntime, ProgramError, Timer
from neurotwin.bss2.ppu.rules import structural

DT = 0.1
T = 300.0
PERIOD = 20.0
N_PRE, N_POST = 6, 4
ETA, DECAY, THRESHOLD, W_INIT = 0.3, 3, 12, 20


def network(lsb: np.ndarray) -> nt.Network:
    rng = np.random.default_rng(7)
    rates = [40, 15, 40, 15, 40, 15]
    times = [np.unique(np.round(rng.uniform(1.0, T - 1.0, int(rates[i] * T / 100)), 1))
             for i in range(N_PRE)]
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray(times, label="in"))
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-55.0, tau_refrac=1.0)
    pop = net.add(nt.Population(N_POST, model, label="pop"))
    net.connect(src, pop, lsb * 0.01, receptor="exc", delays=1.0)
    net.record(pop, "spikes")
    net.record(src, "spikes")
    return net


def xorshift(x: int) -> int:
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def r(x: int, f: float) -> int:
    q = int(np.clip(np.rint(f * 2**15), -2**15, 2**15 - 1))
    return ((64 * x * q) // 2**15 + 32) // 64


def read(stored: float) -> int:
    x = (specs.CORRELATION_BASELINE_MV - stored - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV
    return min(max(math.floor(x), 0), 255)


def reference(mapping, result, rows, columns, calls):
    """Weights and labels (rows, 256) after ``calls`` calls, the rule written plainly."""
    n = mapping.n_neurons
    unit, hemi, drv = mapping.routes.T
    t_in, id_in = result.spikes("in", 0)
    t_out, id_out = result.spikes("pop", 0)
    delay = 10 * DT  # 1 ms, as connected
    w = mapping.config.weights[0][rows].astype(int).copy()
    label = mapping.config.addresses[0][rows].astype(int).copy()
    # label epochs per synapse: [(valid for events sent at t > since, label)]
    epochs = {(i, c): [(-np.inf, int(label[i, c]))] for i in range(len(rows))
              for c in range(specs.SYNRAM_COLUMNS)}
    last_pre = {key: -np.inf for key in epochs}
    base = read(0.0)
    eta, tau, sat = specs.CORRELATION_ETA_MV, specs.CORRELATION_TAU_US, \
        specs.CORRELATION_SATURATION_MV
    x = 1
    col_neuron = {int(c): j for j, c in enumerate(columns)}  # one circuit per neuron
    prev = -np.inf
    for call in range(calls):
        horizon = (call + 1) * PERIOD + 1e-9
        store = {key: 0.0 for key in epochs}
        for (i, c), ep in epochs.items():
            if c not in col_neuron:
                continue
            j = col_neuron[c]
            drivers = unit[(hemi == 0) & (drv == rows[i] // 2)]
            arrivals = []
            for u in drivers:
                sent = t_in[id_in == u - n]
                for t in sent:
                    # the label in effect when the event was sent
                    lab = [lb for since, lb in ep if t > since + 1e-9][-1]
                    if lab == mapping.address[u] and prev < t + delay <= horizon:
                        arrivals.append(t + delay)
            posts = t_out[(id_out == j) & (t_out > prev) & (t_out <= horizon)]
            events = sorted([(t, 0) for t in posts] + [(t, 1) for t in arrivals])
            lp = last_pre[i, c]
            s = 0.0
            for t, kind in events:
                if kind == 0:
                    if lp < t:
                        s = min(s + eta * math.exp(-(t - lp) / tau), sat)
                else:
                    lp = t
            last_pre[i, c] = lp
            store[i, c] = s
        pools = {i: np.unique(mapping.address[unit[(hemi == 0) & (drv == rows[i] // 2)]])
                 for i in range(len(rows))}
        for i in range(len(rows)):
            for c in range(specs.SYNRAM_COLUMNS):
                cause = max(base - read(store[i, c]), 0)
                w[i, c] = min(max(w[i, c] + r(cause, ETA) - DECAY, 0), 63)
                if c in col_neuron and w[i, c] < THRESHOLD:
                    x = xorshift(x)
                    label[i, c] = pools[i][x % pools[i].size]
                    w[i, c] = W_INIT
                    epochs[i, c].append(((call + 1) * PERIOD, int(label[i, c])))
        prev = horizon
    return w, label


def structural_run():
    lsb = np.full((N_PRE, N_POST), 30)
    lsb[1::2] = 14  # the sparse sources start weak
    backend = Bss2Backend()
    mapping = backend.map(network(lsb), chip=Chip(0, Deviations.ideal()), weight_scale=0.01)
    rows = sorted(set(mapping.tables.synapses.placement[:, 1].tolist()))
    probe = PPURuntime(mapping, ())
    columns = np.nonzero(probe.column_neurons(0) >= 0)[0]
    pools = {row: probe.driver_labels(0, row) for row in rows}
    program = structural(pools, Timer(PERIOD, PERIOD), ETA, DECAY, THRESHOLD, W_INIT,
                         columns=columns)
    runtime = PPURuntime(mapping, (program,))
    result = backend.run(mapping, T + DT, programs=runtime.periodic())
    return mapping, runtime, result, rows, columns


def test_structural_rule_matches_the_plain_reference():
    mapping, runtime, result, rows, columns = structural_run()
    calls = runtime.report()[0].calls
    assert calls == int(T / PERIOD)
    w, label = reference(mapping, result, rows, columns, calls)
    assert np.array_equal(runtime.weights[0][rows], w)
    assert np.array_equal(runtime.labels[0][rows], label)
    # the rule did rewire: labels moved between the two sources of a driver
    start = mapping.config.addresses[0][rows][:, columns]
    assert np.count_nonzero(runtime.labels[0][rows][:, columns] != start) >= 5


def test_structural_rule_keeps_the_fan_in():
    mapping, runtime, _, rows, _ = structural_run()
    nc = mapping.n_circuits
    before = np.bincount(mapping.tables.synapses.target % nc, minlength=nc)
    after = np.bincount(runtime.table.target % nc, minlength=nc)
    assert np.array_equal(before, after)
    assert np.array_equal(after, np.full(nc, len(rows)))
    # ... while the sources feeding each neuron changed
    n = mapping.n_neurons
    pre_before = np.repeat(np.arange(mapping.tables.synapses.indptr.size - 1),
                           np.diff(mapping.tables.synapses.indptr))
    pre_after = np.repeat(np.arange(runtime.table.indptr.size - 1),
                          np.diff(runtime.table.indptr))
    assert sorted(zip(pre_before - n, mapping.tables.synapses.target, strict=True)) != \
        sorted(zip(pre_after - n, runtime.table.target, strict=True))


def label_run(write: bool):
    """Source 0 drives neuron 0 strongly, source 1 drives neuron 1; at 100 ms a program
    relabels neuron 0's synapse of source 0 to source 1's address."""
    times = [np.arange(5.0, T, 20.0), np.arange(15.0, T, 20.0)]
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray(times, label="in"))
    # one event of 63 LSB lifts the membrane past a threshold 1 mV above rest
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-64.0, tau_refrac=1.0)
    pop = net.add(nt.Population(2, model, label="pop"))
    net.connect(src, pop, np.array([[0.63, 0.0], [0.0, 0.63]]), receptor="exc")
    net.record(pop, "spikes")
    backend = Bss2Backend()
    mapping = backend.map(net, chip=Chip(0, Deviations.ideal()), weight_scale=0.01)
    table = mapping.tables.synapses
    n = mapping.n_neurons
    h, row, col = table.placement[table.indptr[n]]  # source 0 -> neuron 0
    other = int(mapping.address[n + 1])
    assert mapping.address[n] != other
    assert row // 2 == table.placement[table.indptr[n + 1], 1] // 2  # one driver

    def body(ppu, call):
        labels = ppu.read_labels(int(row))
        labels[col] = other
        if write:
            ppu.write_labels(int(row), None, labels)

    runtime = PPURuntime(mapping, (PlasticityProgram(body, Timer(100.0, 1.0, 1), int(h)),))
    result = backend.run(mapping, T, programs=runtime.periodic())
    return result.spikes("pop", 0)


@pytest.mark.parametrize("write", [False, True])
def test_a_label_write_changes_which_source_drives_the_synapse(write):
    t, i = label_run(write)
    before = t[(i == 0) & (t < 100.0)]
    after = t[(i == 0) & (t > 100.0)]
    # source 0's events (5, 25, ... ms) fire neuron 0 within 10 ms, source 1's (15, 35,
    # ... ms) in the other half of each 20 ms cycle
    assert before.size >= 5 and np.all((before - 5.0) % 20.0 < 10.0)
    assert after.size >= 10
    phase = (after - 5.0) % 20.0
    if write:  # now source 1 drives it
        assert np.all(phase >= 10.0)
    else:
        assert np.all(phase < 10.0)


def test_label_access_cycles_and_range():
    lsb = np.full((N_PRE, N_POST), 30)
    mapping = Bss2Backend().map(network(lsb), chip=Chip(0, Deviations.ideal()),
                                weight_scale=0.01)

    def body(ppu, call):
        labels = ppu.read_labels([0, 2], 1)          # 2 half rows: 2 accesses
        ppu.write_labels([0, 2], 1, labels)          # 2 accesses
        ppu.write_labels(4, None, ppu.read_labels(4))  # 2 + 2 accesses

    runtime = PPURuntime(mapping, (PlasticityProgram(body, Timer(10.0, 10.0, 1)),))
    Bss2Backend().run(mapping, 20.0, programs=runtime.periodic())
    assert runtime.report()[0].worst_cycles == 200 + 8 * 8  # overhead + 8 accesses of 8

    def bad(ppu, call):
        ppu.write_labels(0, 0, np.full(128, 64))

    runtime = PPURuntime(mapping, (PlasticityProgram(bad, Timer(10.0, 10.0, 1)),))
    with pytest.raises(ProgramError, match=r"label 64 .* 0\.\.63"):
        Bss2Backend().run(mapping, 20.0, programs=runtime.periodic())
