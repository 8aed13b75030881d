"""Connection rules drawn on demand, block of targets by block: a projection that holds
its recipe (sizes, distributions, seed) instead of its synapses.

A network of a billion synapses cannot keep a matrix per projection next to the engine's
compiled copy; a rule is drawn when it is compiled, one block of :data:`BLOCK_TARGETS`
targets at a time, straight into the engine's arrays (:mod:`neurotwin.engines.synapse_build`),
and a rank of a sharded run keeps only the synapses onto its own neurons. Each block has
its own random stream, seeded by ``(seed, block)``, so the synapses of a block are the
same whoever draws them and whatever else is drawn: a rank's synapses are exactly the
single-process ones restricted to its targets.

:class:`FixedTotalRule` is NEST's ``fixed_total_number`` with multapses and autapses (the
connectivity of Potjans & Diesmann 2014): exactly ``n_total`` synapses, each (pre, post)
pair uniform. The synapses per block are one multinomial draw (stream ``(seed,)``), the
in-degree of a target is Binomial(n_total, 1 / n_post) as in NEST; within a block, pre
and post are uniform. Weights and delays are normal, redrawn below their floor (NEST's
``redraw``): weights below 0, delays below dt / 2, then rounded to the grid (at least one
step) and capped at ``max_delay`` if given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neurotwin.errors import ConfigError, check_int, check_positive

__all__ = ["BLOCK_TARGETS", "DrawnBlock", "FixedTotalRule", "positive_normal"]

BLOCK_TARGETS = 1024
"""Targets per block of a rule: its own random stream, drawn at once (a block of the
microcircuit's largest projection holds about 4 million synapses, ~100 MB to draw)."""


class DrawnBlock(NamedTuple):
    """The synapses of one block, in the order drawn."""

    pre: np.ndarray
    """Presynaptic index, int64, (S,)."""
    post: np.ndarray
    """Postsynaptic index (within the target population), int64, (S,)."""
    weight: np.ndarray
    """Weight magnitude, nA, float64, (S,)."""
    delay_steps: np.ndarray
    """Delay in time steps (>= 1), int64, (S,)."""


def positive_normal(rng: np.random.Generator, mean: float, std: float, low: float,
                    size: int) -> np.ndarray:
    """``size`` normal draws, those below ``low`` redrawn (NEST's ``redraw``)."""
    out = rng.normal(mean, std, size)
    bad = np.flatnonzero(out < low)
    while bad.size:
        out[bad] = rng.normal(mean, std, bad.size)
        bad = bad[out[bad] < low]
    return out


@dataclass(frozen=True)
class FixedTotalRule:
    """``n_total`` synapses from ``n_pre`` onto ``n_post`` neurons, pairs drawn uniformly
    with replacement (multapses and autapses allowed), weights ~ N(weight, (weight_rel_std
    weight)^2) redrawn below 0, delays ~ N(delay, (delay_rel_std delay)^2) redrawn below
    dt / 2 and rounded to the grid of ``dt`` (module docstring).

    Parameters
    ----------
    n_pre, n_post
        Sizes of source and target.
    n_total
        Number of synapses (>= 0).
    weight
        Mean weight magnitude, nA (>= 0).
    delay
        Mean delay, ms (> 0).
    dt
        Time step of the network, ms.
    seed
        Entropy of the rule's streams (e.g. (network seed, target index, source index)).
    weight_rel_std, delay_rel_std
        Standard deviations relative to the means (0: every synapse at the mean).
    max_delay
        If given, longer delays are set to it, ms.
    """

    n_pre: int
    n_post: int
    n_total: int
    weight: float
    delay: float
    dt: float
    seed: tuple[int, ...]
    weight_rel_std: float = 0.0
    delay_rel_std: float = 0.0
    max_delay: float | None = None

    def __post_init__(self) -> None:
        check_int("n_pre", self.n_pre, low=1)
        check_int("n_post", self.n_post, low=1)
        check_int("n_total", self.n_total, low=0)
        check_positive("dt", self.dt, "ms")
        check_positive("delay", self.delay, "ms")
        for name in ("weight", "weight_rel_std", "delay_rel_std"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.max_delay is not None:
            check_positive("max_delay", self.max_delay, "ms")
        if not self.seed or any(not isinstance(s, int | np.integer) or s < 0 for s in self.seed):
            raise ConfigError(f"seed must be a non-empty tuple of integers >= 0, got {self.seed!r}")

    @property
    def n_blocks(self) -> int:
        """Blocks of :data:`BLOCK_TARGETS` targets (the last one may be shorter)."""
        return -(-self.n_post // BLOCK_TARGETS)

    def block_counts(self) -> np.ndarray:
        """Synapses per block, (n_blocks,) int64, summing to ``n_total``."""
        sizes = np.minimum(BLOCK_TARGETS, self.n_post - BLOCK_TARGETS * np.arange(self.n_blocks))
        rng = np.random.default_rng([*self.seed, 0])
        return rng.multinomial(self.n_total, sizes / self.n_post).astype(np.int64)

    def delay_steps_bounds(self) -> tuple[int, int | None]:
        """(smallest, largest) delay in steps that any draw can give (largest None where
        the normal's tail has no bound)."""
        mean = max(round(self.delay / self.dt), 1)
        cap = None if self.max_delay is None else round(self.max_delay / self.dt)
        if self.delay_rel_std == 0.0:
            return (mean, mean) if cap is None else (min(mean, cap), min(mean, cap))
        return 1 if cap is None else min(1, cap), cap

    def draw(self, block: int, count: int, weights: bool = True) -> DrawnBlock:
        """The ``count`` synapses of ``block`` (from :meth:`block_counts`), in draw order
        (pre, post, delays, then weights from the block's stream; ``weights=False`` stops
        before the weights and gives them as NaN, for a pass that needs only the rest)."""
        lo = block * BLOCK_TARGETS
        hi = min(lo + BLOCK_TARGETS, self.n_post)
        rng = np.random.default_rng([*self.seed, 1, block])
        pre = rng.integers(0, self.n_pre, count, dtype=np.int64)
        post = rng.integers(lo, hi, count, dtype=np.int64)
        if self.delay_rel_std == 0.0:
            delay_ms = np.full(count, float(self.delay))
        else:
            delay_ms = positive_normal(rng, self.delay, self.delay_rel_std * self.delay,
                                       0.5 * self.dt, count)
        steps = np.maximum(np.rint(delay_ms / self.dt), 1.0).astype(np.int64)
        del delay_ms
        if self.max_delay is not None:
            steps = np.minimum(steps, round(self.max_delay / self.dt))
        if not weights:
            weight = np.full(count, np.nan)
        elif self.weight_rel_std == 0.0:
            weight = np.full(count, float(self.weight))
        else:
            weight = positive_normal(rng, self.weight, self.weight_rel_std * self.weight, 0.0,
                                     count)
        return DrawnBlock(pre, post, weight, steps)

    def draw_all(self) -> DrawnBlock:
        """Every synapse, sorted by (pre, post) (a stable sort of the blocks in order:
        the synapses of a pair keep their draw order)."""
        parts = [self.draw(b, int(k)) for b, k in enumerate(self.block_counts())]
        pre, post, weight, steps = (np.concatenate([getattr(p, f) for p in parts])
                                    if parts else np.zeros(0) for f in DrawnBlock._fields)
        order = np.lexsort((post, pre))
        return DrawnBlock(pre[order].astype(np.int64), post[order].astype(np.int64),
                          weight[order].astype(np.float64), steps[order].astype(np.int64))
