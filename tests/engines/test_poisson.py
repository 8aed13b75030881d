"""Poisson sources on the grid (engines/poisson.py, through plan.source_spikes): the
draws against the analytic Bernoulli process (counts Binomial(steps, p), intervals
Geometric(p), per-step counts Binomial(sources, p), no correlation between sources or
trials), at most one spike per source and step, windows, chunking, and the edge cases.

Every statistical check uses fixed seeds, so it is deterministic; each compares with the
analytic distribution at a significance of 1e-3 and fails for a generator off by one
step, or one that draws at a wrong rate."""

import numpy as np
import pytest
from scipy import stats

import neurotwin as nt
from neurotwin.engines.plan import source_plan, source_spikes, trial_rngs

DT = 0.1


def plan_of(*sources):
    net = nt.Network(dt=DT)
    for src in sources:
        net.add(src)
    return source_plan(net, DT)[0]


def raster(plan, n_sources, steps, seed=0, trial=0, chunks=(1000,)):
    """(steps, sources) bool raster of trial ``trial``, drawn in chunks of the given
    lengths (cycled)."""
    rngs = trial_rngs(seed, trial + 1)
    out = np.zeros((steps, n_sources), bool)
    j0, c = 0, 0
    while j0 < steps:
        j1 = min(j0 + chunks[c % len(chunks)], steps)
        ptr, ids = source_spikes(plan, rngs, j0, j1)
        k = np.repeat(np.arange(j0, j1), np.diff(ptr[trial]))
        sel = ids[ptr[trial, 0] : ptr[trial, -1]]
        assert not out[k, sel].any()
        out[k, sel] = True
        j0, c = j1, c + 1
    return out


def chi2_pvalue(observed, probabilities, min_expected=5.0):
    """Pearson chi-square p-value of counts against a pmf, pooling sparse tail bins."""
    expected = probabilities * observed.sum()
    obs, exp, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= min_expected:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp[-1] += acc_e
    obs_a, exp_a = np.array(obs), np.array(exp)
    chi2 = np.sum((obs_a - exp_a) ** 2 / exp_a)
    return stats.chi2.sf(chi2, obs_a.size - 1)


def test_counts_per_source_are_binomial():
    steps, p = 2000, 0.02  # 200 Hz at 0.1 ms
    r = raster(plan_of(nt.SpikeSourcePoisson(3000, rate=200.0)), 3000, steps)
    counts = r.sum(axis=0)
    pmf = stats.binom.pmf(np.arange(counts.max() + 1), steps, p)
    pmf[-1] += stats.binom.sf(counts.max(), steps, p)
    assert chi2_pvalue(np.bincount(counts), pmf) > 1e-3
    assert abs(counts.mean() - steps * p) < 4 * np.sqrt(steps * p * (1 - p) / counts.size)


def test_intervals_are_geometric():
    steps, p = 20000, 0.05
    r = raster(plan_of(nt.SpikeSourcePoisson(200, rate=500.0)), 200, steps)
    isis = np.concatenate([np.diff(np.nonzero(r[:, i])[0]) for i in range(200)])
    assert isis.min() >= 1  # at most one spike per step
    top = 200
    observed = np.bincount(np.minimum(isis, top), minlength=top + 1)[1:]
    pmf = stats.geom.pmf(np.arange(1, top + 1), p)
    pmf[-1] += stats.geom.sf(top, p)
    assert chi2_pvalue(observed, pmf) > 1e-3


def test_count_per_step_is_binomial_in_the_sources():
    """Independence across sources: how many of n sources spike in a step."""
    n, p, steps = 500, 0.01, 20000
    r = raster(plan_of(nt.SpikeSourcePoisson(n, rate=100.0)), n, steps)
    per_step = r.sum(axis=1)
    top = int(per_step.max())
    pmf = stats.binom.pmf(np.arange(top + 1), n, p)
    pmf[-1] += stats.binom.sf(top, n, p)
    assert chi2_pvalue(np.bincount(per_step, minlength=top + 1), pmf) > 1e-3


def test_sources_and_trials_are_uncorrelated():
    n, steps = 40, 20000
    plan = plan_of(nt.SpikeSourcePoisson(n, rate=300.0))
    a = raster(plan, n, steps, trial=0).astype(float)
    b = raster(plan, n, steps, trial=1).astype(float)
    limit = 4 / np.sqrt(steps)  # 4 sigma of a correlation coefficient near 0
    between_sources = np.corrcoef(a.T)[np.triu_indices(n, 1)]
    assert np.abs(between_sources).max() < limit + 0.01
    assert abs(np.mean(between_sources)) < limit / np.sqrt(between_sources.size) * 2
    between_trials = [np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(n)]
    assert np.abs(between_trials).max() < limit + 0.01
    lagged = [np.corrcoef(a[1:, i], a[:-1, i])[0, 1] for i in range(n)]  # steps independent
    assert np.abs(lagged).max() < limit + 0.01


def test_each_source_keeps_its_own_rate():
    """Thinning: sources of one node with rates 0 to 1000 Hz, each count against its own
    Binomial(steps, p_i) (sum of squared z-scores ~ chi2(n))."""
    n, steps = 300, 20000
    rates = np.linspace(0.0, 1000.0, n)
    counts = raster(plan_of(nt.SpikeSourcePoisson(n, rate=rates)), n, steps).sum(axis=0)
    p = rates * DT * 1e-3
    assert counts[0] == 0
    z2 = (counts[1:] - steps * p[1:]) ** 2 / (steps * p[1:] * (1 - p[1:]))
    assert stats.chi2.sf(z2.sum(), n - 1) > 1e-3


def test_window_and_edge_probabilities():
    plan = plan_of(
        nt.SpikeSourcePoisson(50, rate=400.0, start=10.0, stop=20.0, label="window"),
        nt.SpikeSourcePoisson(5, rate=1e4, label="always"),  # p = 1: every step
        nt.SpikeSourcePoisson(5, rate=0.0, label="never"),
    )
    r = raster(plan, 60, 400)
    active = np.nonzero(r[:, :50].any(axis=1))[0]
    # emitted in step j, stamped (j + 1) dt: active when 10 <= (j + 1) dt < 20 ms
    assert active.min() >= 99 and active.max() <= 198
    assert r[:, 50:55].all() and not r[:, 55:].any()


def test_chunking_and_trial_count_do_not_change_the_draws():
    """Two Poisson nodes and an array source: chunks of 1000 steps vs. 7/333/1 step
    chunks, and trial 1 of a 2-trial run vs. of a 3-trial run."""
    plan = plan_of(
        nt.SpikeSourcePoisson(30, rate=np.linspace(10, 900, 30)),
        nt.SpikeSourceArray([[0.5, 3.0], [1.0]]),
        nt.SpikeSourcePoisson(20, rate=250.0),
    )
    whole = raster(plan, 52, 2000, seed=3, trial=1)
    assert np.array_equal(whole, raster(plan, 52, 2000, seed=3, trial=1, chunks=(7, 333, 1)))
    ptr2, ids2 = source_spikes(plan, trial_rngs(3, 2), 0, 2000)
    ptr3, ids3 = source_spikes(plan, trial_rngs(3, 3), 0, 2000)
    assert np.array_equal(ids2[ptr2[1, 0] : ptr2[1, -1]], ids3[ptr3[1, 0] : ptr3[1, -1]])
    assert whole[[4, 29], 30].all() and whole[9, 31] and whole[:, 30:32].sum() == 3


def test_rate_above_one_per_step_is_refused():
    with pytest.raises(nt.ConfigError, match="rate"):
        plan_of(nt.SpikeSourcePoisson(3, rate=2e4))
