"""The shipped rules against an independent reference: the same rule written plainly in
numpy/Python, on the spikes the run recorded (ideal chip, so every sensor has the nominal
amplitude and time constant).

Reference, per synapse (pre i, post j), between two calls of the program:

    post spike at t (= (k + 1) dt):     S_c += eta * exp(-(t - last pre arrival < t) / tau)
    pre arrival at t (= emit + delay):  S_a += eta * exp(-(t - last post spike < t) / tau)
    (at equal times posts first; stores clamp at 550 mV; the call at step s sees t <= s dt)
    read  = clip(floor((baseline - S - zero) / lsb), 0, 255);   c = max(base - read, 0)
    r(x, f) = ((64 x q) // 2**15 + 32) // 64,   q = round(f * 2**15)
    STDP:    w = clip(w + r(c, eta_plus) - r(a, eta_minus), 0, 63), then S = 0
    R-STDP:  w = clip(w + r(c, lr (R - R_bar)), 0, 63), R_bar += (R - R_bar) / 2, S = 0
"""

import math

import numpy as np

import neurotwin as nt
from neurotwin.bss2 import Chip, specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.chip import Deviations
from neurotwin.bss2.ppu import PPURuntime, Timer
from neurotwin.bss2.ppu.rules import homeostasis, rstdp, stdp

DT = 0.1
T = 200.0
PERIOD = 20.0
N_PRE, N_POST = 6, 4


def network(lsb: np.ndarray | None = None) -> nt.Network:
    rng = np.random.default_rng(5)
    times = [np.unique(np.round(rng.uniform(1.0, T - 1.0, 25), 1)) for _ in range(N_PRE)]
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray(times, label="in"))
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-55.0, tau_refrac=1.0)
    pop = net.add(nt.Population(N_POST, model, label="pop"))
    lsb = np.full((N_PRE, N_POST), 30) if lsb is None else lsb
    net.connect(src, pop, lsb * 0.01, receptor="exc", delays=1.0)
    net.record(pop, "spikes")
    net.record(src, "spikes")
    return net


ETA_MV = 2.0 * specs.CADC_LSB_MV
"""Sensor amplitude of the rule tests: 2 LSB per pair, the top of calix's feasible range
(the default 0.5 LSB needs longer runs for a rule to move a weight)."""


def plastic_run(program_for):
    backend = Bss2Backend()
    mapping = backend.map(network(), chip=Chip(0, Deviations.ideal()), weight_scale=0.01)
    table = mapping.tables.synapses
    rows = sorted(set(table.placement[:, 1].tolist()))
    runtime = PPURuntime(mapping, (program_for(rows),), sensor_eta_mv=ETA_MV)
    result = backend.run(mapping, T + DT, programs=runtime.periodic())
    return mapping, runtime, result


def r(x: int, f: float) -> int:
    q = int(np.clip(np.rint(f * 2**15), -2**15, 2**15 - 1))
    return ((64 * x * q) // 2**15 + 32) // 64


def read(stored: float) -> int:
    x = (specs.CORRELATION_BASELINE_MV - stored - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV
    return min(max(math.floor(x), 0), 255)


def reference(mapping, result, update):
    """Weights (pre, post) after every call, the rule ``update(call, w, c, a)``."""
    table = mapping.tables.synapses
    n = mapping.n_neurons
    steps = lambda t: np.rint(np.asarray(t) / DT).astype(int)  # noqa: E731 - k + 1
    t_in, id_in = result.spikes("in", 0)
    t_out, id_out = result.spikes("pop", 0)
    weights = {}
    events = {}
    for i in range(N_PRE):
        for e in range(table.indptr[n + i], table.indptr[n + i + 1]):
            j = int(table.target[e])  # one circuit per neuron, circuits in order
            weights[i, j] = int(table.weight[e])
            arrive = (steps(t_in[id_in == i]) + table.delay_steps[e]) * DT
            post = steps(t_out[id_out == j]) * DT
            # (time, kind): posts (0) before pres (1) at the same time
            events[i, j] = sorted([(t, 0) for t in post] + [(t, 1) for t in arrive])
    base = read(0.0)
    eta, tau, sat = ETA_MV, specs.CORRELATION_TAU_US, \
        specs.CORRELATION_SATURATION_MV
    history = []
    for call, s in enumerate(np.arange(PERIOD / DT, T / DT + 1, PERIOD / DT)):
        horizon = s * DT + 1e-9
        for key, evs in events.items():
            sc = sa = 0.0
            last_pre = last_post = -np.inf
            start = (call * PERIOD) + 1e-9 if call else -np.inf
            for t, kind in evs:
                if t > horizon:
                    break
                counts = t > start  # pairings since the last reset
                if kind == 0:
                    if last_pre < t and counts:
                        sc = min(sc + eta * math.exp(-(t - last_pre) / tau), sat)
                    last_post = t
                else:
                    if last_post < t and counts:
                        sa = min(sa + eta * math.exp(-(t - last_post) / tau), sat)
                    last_pre = t
            c, a = max(base - read(sc), 0), max(base - read(sa), 0)
            weights[key] = min(max(weights[key] + update(call, c, a), 0), 63)
        history.append(dict(weights))
    return history


def learned(mapping, runtime):
    table = mapping.tables.synapses
    n = mapping.n_neurons
    out = {}
    for i in range(N_PRE):
        for e in range(table.indptr[n + i], table.indptr[n + i + 1]):
            h, row, col = table.placement[e]
            out[i, int(table.target[e])] = int(runtime.weights[h, row, col])
    return out


def test_pair_stdp_matches_the_plain_reference():
    timer = Timer(PERIOD, PERIOD)
    mapping, runtime, result = plastic_run(lambda rows: stdp(rows, timer, 0.4, 0.3))
    assert result.spikes("pop", 0)[0].size > 10
    want = reference(mapping, result, lambda call, c, a: r(c, 0.4) - r(a, 0.3))
    assert runtime.report()[0].calls == len(want)
    assert learned(mapping, runtime) == want[-1]
    assert want[-1] != want[0] or any(v != 30 for v in want[-1].values())


def test_rstdp_matches_the_plain_reference():
    rewards = [1.0, 0.0, 0.7, 0.4, 1.0, 0.1, 0.0, 1.0, 0.7, 1.0]
    mean: list[float] = []

    def update(call, c, a):
        return r(c, 0.9 * success[call])

    success = []
    for reward in rewards:
        if not mean:
            mean.append(reward)
        success.append(reward - mean[0])
        mean[0] += success[-1] / 2
    timer = Timer(PERIOD, PERIOD)
    mapping, runtime, result = plastic_run(
        lambda rows: rstdp(rows, timer, lambda call: rewards[call], learning_rate=0.9))
    want = reference(mapping, result, update)
    assert learned(mapping, runtime) == want[-1]
    assert any(want[-1][k] != 30 for k in want[-1])


def test_homeostasis_matches_the_plain_reference():
    """Reference: per call, count = spikes of the column's neuron since the last call
    (at most 255); w = clip(w + (+1 if count < 2, -1 if count > 2, else 0), 0, 63)."""
    backend = Bss2Backend()
    lsb = np.tile([15, 25, 35, 45], (N_PRE, 1))  # neurons firing at different rates
    mapping = backend.map(network(lsb), chip=Chip(0, Deviations.ideal()), weight_scale=0.01)
    table = mapping.tables.synapses
    rows = sorted(set(table.placement[:, 1].tolist()))
    runtime = PPURuntime(mapping, ())
    program = homeostasis(rows, Timer(PERIOD, PERIOD), runtime.column_neurons(0), 2)
    runtime = PPURuntime(mapping, (program,))
    result = backend.run(mapping, T + DT, programs=runtime.periodic())
    t_out, id_out = result.spikes("pop", 0)
    k = np.rint(t_out / DT).astype(int)  # spike in step k - 1 ends at k dt
    weights = {(i, j): int(lsb[i, j]) for (i, j) in learned(mapping, runtime)}
    for s in np.arange(PERIOD / DT, T / DT + 1, PERIOD / DT):
        for (i, j) in weights:
            count = min(int(np.sum((id_out == j) & (k <= s) & (k > s - PERIOD / DT))), 255)
            change = 1 if count < 2 else (-1 if count > 2 else 0)
            weights[i, j] = min(max(weights[i, j] + change, 0), 63)
    assert learned(mapping, runtime) == weights
    assert len(set(weights.values())) > 1
