"""Connection rules drawn block by block (neurotwin.network.rules): NEST's
fixed_total_number statistics, the published weight and delay spreads, the same
synapses whoever draws them, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.errors import ConfigError
from neurotwin.network.rules import BLOCK_TARGETS, FixedTotalRule


def rule(**changes: object) -> FixedTotalRule:
    base = {"n_pre": 900, "n_post": 2500, "n_total": 200_000, "weight": 0.08, "delay": 1.5,
            "dt": 0.1, "seed": (7, 1, 2), "weight_rel_std": 0.1, "delay_rel_std": 0.5}
    base.update(changes)
    return FixedTotalRule(**base)  # type: ignore[arg-type]


def test_exactly_n_total_synapses_with_uniform_pairs():
    r = rule()
    counts = r.block_counts()
    assert counts.sum() == r.n_total and counts.size == math.ceil(2500 / BLOCK_TARGETS)
    drawn = r.draw_all()
    assert drawn.pre.size == r.n_total
    # in-degree of a target: Binomial(n_total, 1/n_post) (mean 80, variance 80 (1 - 1/2500))
    indegree = np.bincount(drawn.post, minlength=r.n_post)
    assert indegree.mean() == pytest.approx(80.0)
    assert indegree.var() == pytest.approx(80.0 * (1 - 1 / 2500), rel=0.1)
    outdegree = np.bincount(drawn.pre, minlength=r.n_pre)
    assert outdegree.var() == pytest.approx(r.n_total / 900 * (1 - 1 / 900), rel=0.1)
    # multapses: a pair drawn twice with probability ~ C(S, 2) / pairs^2 per pair
    pairs = drawn.pre * r.n_post + drawn.post
    repeats = pairs.size - np.unique(pairs).size
    expected = r.n_total**2 / 2 / (r.n_pre * r.n_post)
    assert repeats == pytest.approx(expected, rel=0.1)
    # sorted by (pre, post), as a CSR
    assert np.all(np.diff(pairs) >= 0)


def test_weights_and_delays_have_the_given_spread():
    drawn = rule(n_total=400_000).draw_all()
    assert drawn.weight.mean() == pytest.approx(0.08, rel=0.002)
    assert drawn.weight.std() / drawn.weight.mean() == pytest.approx(0.1, rel=0.01)
    # normal(1.5, 0.75) redrawn below dt / 2, rounded: mean of the truncated normal
    a = (0.05 - 1.5) / 0.75
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    tail = 1 - 0.5 * (1 + math.erf(a / math.sqrt(2)))
    assert (drawn.delay_steps * 0.1).mean() == pytest.approx(1.5 + 0.75 * phi / tail, abs=0.005)
    assert drawn.delay_steps.min() == 1
    capped = rule(max_delay=2.0).draw_all()
    assert capped.delay_steps.max() == 20
    fixed = rule(weight_rel_std=0.0, delay_rel_std=0.0).draw_all()
    assert set(fixed.weight) == {0.08} and set(fixed.delay_steps) == {15}
    assert rule(delay_rel_std=0.0).delay_steps_bounds() == (15, 15)
    assert rule().delay_steps_bounds() == (1, None)


def test_a_block_is_the_same_whoever_draws_it_and_seeds_differ():
    r = rule()
    counts = r.block_counts()
    first = r.draw(2, int(counts[2]))
    r.draw(0, int(counts[0]))  # drawing another block first changes nothing
    again = r.draw(2, int(counts[2]))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.all((first.post >= 2 * BLOCK_TARGETS) & (first.post < 2500))
    # the pass that needs no weights draws the same pairs and delays
    light = r.draw(2, int(counts[2]), weights=False)
    np.testing.assert_array_equal(light.pre, first.pre)
    np.testing.assert_array_equal(light.delay_steps, first.delay_steps)
    assert np.all(np.isnan(light.weight))
    other = rule(seed=(7, 1, 3)).draw(2, int(counts[2]))
    assert not np.array_equal(other.pre, first.pre)


def test_a_rule_is_a_projection_of_a_network():
    net = nt.Network(dt=0.1)
    a = net.add(nt.Population(900, nt.LIF(), label="a"))
    b = net.add(nt.Population(2500, nt.LIF(), label="b"))
    proj = net.connect(a, b, rule(), receptor="inh")
    assert proj.shape == (900, 2500) and proj.n_synapses == 200_000 and proj.rule is not None
    syn = proj.synapses()
    csr = proj.csr()
    assert np.array_equal(np.repeat(np.arange(900), np.diff(csr.indptr)), syn.pre)
    np.testing.assert_array_equal(csr.post, syn.post)
    assert np.all(np.isclose(net.delay_steps(proj) * 0.1, syn.delay))
    with pytest.raises(ConfigError, match="must have shape"):
        net.connect(b, a, rule(), receptor="exc")
    with pytest.raises(ConfigError, match=r"grid of 0\.2 ms"):
        net.connect(a, b, rule(dt=0.2), receptor="exc")
    with pytest.raises(ConfigError, match="receptor 'exc' or 'inh'"):
        net.connect(a, b, rule(), receptor=None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"n_pre": 0}, "n_pre"), ({"n_total": -1}, "n_total"), ({"weight": -0.1}, "weight"),
     ({"weight_rel_std": float("nan")}, "weight_rel_std"), ({"delay": 0.0}, "delay"),
     ({"seed": ()}, "seed"), ({"seed": (1, -2)}, "seed"), ({"max_delay": -1.0}, "max_delay")],
)
def test_bad_rules_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        rule(**changes)
