"""neurotwin.engines.result: the trial is explicit, and rates count every trial."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.errors import ConfigError


def _sources(trials: int) -> tuple[nt.Result, nt.SpikeSourceArray]:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0, 5.0], [2.0]], label="src"))
    pop = net.add(nt.Population(3, nt.LIF(), label="pop"))
    net.connect(src, pop, weights=np.zeros((2, 3)), receptor="exc")
    net.record(src, "spikes")
    net.record(pop, "v")
    return nt.simulate(net, duration=100.0, backend="ideal", seed=0, trials=trials), src


def test_one_trial_needs_no_trial_argument():
    res, src = _sources(1)
    times, ids = res.spikes(src)
    np.testing.assert_array_equal(times, [1.0, 2.0, 5.0])
    np.testing.assert_array_equal(ids, [0, 1, 0])
    assert res.trace("pop", "v").shape == (1000, 3)


def test_several_trials_need_the_trial_named():
    res, src = _sources(3)
    with pytest.raises(ConfigError, match="holds 3 trials: pass trial=k"):
        res.spikes(src)
    with pytest.raises(ConfigError, match="holds 3 trials"):
        res.trace("pop", "v")
    with pytest.raises(ConfigError, match=r"trial must lie in \[0, 2\], got 3"):
        res.spikes(src, 3)
    with pytest.raises(ConfigError, match="trial must be an integer"):
        res.spikes(src, True)
    for k in range(3):
        np.testing.assert_array_equal(res.spikes(src, k)[0], [1.0, 2.0, 5.0])
    everything = res.all_spikes(src)
    np.testing.assert_array_equal(everything.trials, np.repeat([0, 1, 2], 3))


def test_mean_rate_counts_all_trials():
    # 3 spikes of 2 sources per trial over 100 ms: 3 / (2 x 0.1 s) = 15 Hz in every trial,
    # so 15 Hz whatever the number of trials
    for trials in (1, 4):
        res, src = _sources(trials)
        assert res.mean_rate(src) == pytest.approx(15.0, rel=1e-12)


def test_mean_rate_of_poisson_sources_over_trials():
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourcePoisson(200, rate=40.0, label="p"))
    net.record(src, "spikes")
    res = nt.simulate(net, duration=500.0, backend="ideal", seed=1, trials=4)
    per_trial = [res.spikes(src, k)[0].size for k in range(4)]
    assert sum(per_trial) == res.all_spikes(src).times.size
    # 16,000 expected spikes: the Poisson spread of the mean is 0.8 % (5 sigma: 4 %)
    assert res.mean_rate(src) == pytest.approx(40.0, rel=0.04)


def test_a_node_of_another_network_is_not_read_by_its_label():
    res, _ = _sources(1)
    other = nt.Network(dt=0.1)
    impostor = other.add(nt.SpikeSourceArray([[3.0]], label="src"))
    with pytest.raises(ConfigError, match="not this network's node 'src'"):
        res.spikes(impostor)
    with pytest.raises(ConfigError, match="not in this network"):
        res.spikes("nope")


def test_runs_beyond_memory_are_capacity_errors_before_allocation():
    """A long delay (ring buffer of delay / dt slots) or a tiny dt with recording (traces
    of every step) is refused with the need and the machine's memory, before anything
    of that size is allocated (traced allocations stay small)."""
    import tracemalloc

    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0]]))
    pop = net.add(nt.Population(1000, nt.LIF(), label="pop"))
    net.connect(src, pop, weights=np.ones((1, 1000)), receptor="exc", delays=1e8)
    tracemalloc.start()
    try:
        with pytest.raises(nt.CapacityError, match="ring buffer of 1000000001 delay slots") as err:
            nt.simulate(net, 10.0, backend="ideal")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "this machine has" in str(err.value)
    assert peak < 256 * 2**20, f"{peak / 2**20:.0f} MiB allocated before the refusal"

    net = nt.Network(dt=1e-9)
    pop = net.add(nt.Population(1000, nt.LIF(), label="pop"))
    net.record(pop, "v")
    with pytest.raises(nt.CapacityError, match="traces"):
        nt.simulate(net, 100.0, backend="ideal")
