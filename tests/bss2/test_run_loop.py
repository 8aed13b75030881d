"""The bss2 run loop's periodic programs: called at exact step boundaries, a no-op
changes nothing, a write takes effect from its step on only."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.run_loop import EmulationState, PeriodicProgram
from neurotwin.engines.plan import CHUNK_STEPS
from neurotwin.errors import ConfigError

DT = 0.1
DURATION = 150.0  # 1500 steps: more than one block of CHUNK_STEPS


def network() -> nt.Network:
    rng = np.random.default_rng(3)
    net = nt.Network(dt=DT)
    model = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0,
                   v_reset=-65.0, v_thresh=-55.0, tau_refrac=1.0)
    noise = net.add(nt.SpikeSourcePoisson(20, rate=60.0, label="noise"))
    pop = net.add(nt.Population(16, model, label="pop"))
    # every weight at least one LSB (0.6 / 63): none vanishes on the chip
    net.connect(noise, pop, rng.uniform(0.01, 0.6, (20, 16)), receptor="exc")
    signs = np.where(rng.random((16, 16)) < 4 / 7, -1.0, 1.0)
    net.connect(pop, pop, signs * rng.uniform(0.01, 0.4, (16, 16)), receptor=None)
    net.record(pop, "spikes", "v")
    return net


def run(programs: tuple[PeriodicProgram, ...] = ()):
    backend = Bss2Backend()
    mapping = backend.map(network(), chip=Chip(4))  # deviations and membrane noise
    return mapping, backend.run(mapping, DURATION, seed=2, trials=2, programs=programs)


def test_a_no_op_program_changes_nothing_and_is_called_where_due():
    _, plain = run()
    calls: list[int] = []

    def record(step: int, state: EmulationState) -> None:
        assert state.v.shape == (2, 16)
        calls.append(step)

    period = 333  # not a divisor of CHUNK_STEPS: the loop splits its blocks
    _, probed = run((PeriodicProgram(record, start=10, period=period),))
    assert calls == list(range(10, round(DURATION / DT), period))
    assert any(c > CHUNK_STEPS for c in calls)
    for trial in range(2):
        t_a, id_a = plain.spikes("pop", trial)
        t_b, id_b = probed.spikes("pop", trial)
        assert t_a.size > 20
        np.testing.assert_array_equal(t_a, t_b)
        np.testing.assert_array_equal(id_a, id_b)
        np.testing.assert_array_equal(plain.trace("pop", "v", trial).numpy(),
                                      probed.trace("pop", "v", trial).numpy())


def test_a_weight_written_at_a_step_changes_the_run_from_that_step_on_only():
    at = 700

    def silence(step: int, state: EmulationState) -> None:
        state.weight[:] = 0  # every synapse to 0 LSB

    mapping, plain = run()
    weights_before = mapping.tables.synapses.weight.copy()
    mapping_after, changed = run((PeriodicProgram(silence, start=at, period=10**6),))
    # the mapping's own table is not the run's copy
    np.testing.assert_array_equal(mapping_after.tables.synapses.weight, weights_before)
    for trial in range(2):
        t_a, id_a = plain.spikes("pop", trial)
        t_b, id_b = changed.spikes("pop", trial)
        before_a, before_b = t_a <= at * DT, t_b <= at * DT
        assert before_a.sum() > 10
        np.testing.assert_array_equal(t_a[before_a], t_b[before_b])
        np.testing.assert_array_equal(id_a[before_a], id_b[before_b])
        v_a = plain.trace("pop", "v", trial).numpy()
        v_b = changed.trace("pop", "v", trial).numpy()
        np.testing.assert_array_equal(v_a[: at + 1], v_b[: at + 1])
        assert not np.array_equal(v_a[at + 1:], v_b[at + 1:])
        # input already on its way arrives; after the longest delay nothing else does
        assert (t_b > at * DT + 5.0).sum() < (t_a > at * DT + 5.0).sum()


@pytest.mark.parametrize("kwargs", [{"period": 0}, {"start": -1}, {"count": 1.5}])
def test_bad_program_timers_are_refused(kwargs):
    with pytest.raises(ConfigError):
        PeriodicProgram(lambda step, state: None, **kwargs)
