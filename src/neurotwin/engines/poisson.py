r"""Poisson spike sources on a time grid, drawn at a cost proportional to their spikes.

A source with probability p per step spikes in each step independently with probability
p, at most once per step (a Bernoulli process on the grid: a source's spike count over s
steps is Binomial(s, p), its inter-spike intervals in steps are Geometric(p), sources are
independent). Drawing one uniform per source and step costs sources x steps; here the
sources of a node that spike in a step are found by jumping over those that do not. In a
sequence of Bernoulli(p) trials the number G of failures before the next success is
geometric, and by inversion

.. math::

    G = \lfloor \log U / \log(1 - p) \rfloor,\quad U \text{ uniform in } (0, 1],
    \qquad P(G \ge g) = P(U \le (1 - p)^g) = (1 - p)^g,

so a node costs one uniform per spike plus one per step (Devroye 1986, *Non-Uniform
Random Variate Generation*, the geometric distribution by inversion). Sources of one node
with different probabilities are thinned (Lewis & Shedler 1979): candidates are drawn at
the node's largest probability p_max and each is kept with probability p_i / p_max (one
more uniform), which leaves independent Bernoulli(p_i) per source and step.

The jumps restart at every step (the geometric distribution is memoryless, so this
changes nothing in distribution) and steps are drawn in order, nodes in order within a
step: a trial's stream is consumed the same way however a run cuts its steps into chunks,
so chunked, single-process and sharded runs see the same spikes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["PoissonNodes", "draw_poisson", "poisson_nodes"]


@dataclass(frozen=True, eq=False)
class PoissonNodes:
    """The Poisson nodes of a network as flat arrays, m nodes in source-index order."""

    first: np.ndarray
    """First source index of each node, (m,)."""
    prob: np.ndarray
    """Spike probability per step of every source, node after node (float64)."""
    ptr: np.ndarray
    """Node k's sources are ``prob[ptr[k]:ptr[k + 1]]``, (m + 1,)."""
    p_max: np.ndarray
    """Largest probability of each node, (m,)."""
    uniform: np.ndarray
    """Whether all sources of the node share one probability (no thinning), (m,)."""
    start: np.ndarray
    """First step in which the node is active, (m,)."""
    stop: np.ndarray
    """First step in which it is no longer active, (m,)."""

    def expected_spikes(self, j0: int, j1: int) -> float:
        """Mean number of spikes of all nodes in steps [j0, j1)."""
        active = np.clip(np.minimum(self.stop, j1) - np.maximum(self.start, j0), 0, None)
        per_step = np.add.reduceat(self.prob, self.ptr[:-1]) if self.prob.size else 0.0
        return float(np.sum(active * per_step))


def poisson_nodes(nodes: list[tuple[int, np.ndarray, int, int]]) -> PoissonNodes:
    """Flatten (first source index, probability per step per source, first step, end
    step) of every Poisson node (in increasing source index) for :func:`draw_poisson`."""
    probs = [np.asarray(prob, np.float64).reshape(-1) for _, prob, _, _ in nodes]
    sizes = [p.size for p in probs]
    return PoissonNodes(
        first=np.array([first for first, _, _, _ in nodes], np.int64),
        prob=np.concatenate(probs) if probs else np.zeros(0),
        ptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        p_max=np.array([p.max(initial=0.0) for p in probs], np.float64),
        uniform=np.array([bool(np.all(p == p[0])) if p.size else True for p in probs]),
        start=np.array([start for _, _, start, _ in nodes], np.int64),
        stop=np.array([stop for _, _, _, stop in nodes], np.int64),
    )


def draw_poisson(
    nodes: PoissonNodes, rng: np.random.Generator, j0: int, j1: int
) -> tuple[np.ndarray, np.ndarray]:
    """The Poisson spikes of one trial in steps [j0, j1), drawn from ``rng``.

    Returns (step - j0, source index) pairs, both int64, sorted by step, then index.
    """
    if nodes.first.size == 0:  # no Poisson nodes: do not compile the draw (~3 s cold)
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cap = int(1.2 * nodes.expected_spikes(j0, j1)) + 64
    return _draw(rng, j0, j1, nodes.first, nodes.prob, nodes.ptr, nodes.p_max,
                 nodes.uniform, nodes.start, nodes.stop, cap)


@numba.njit(cache=True)
def _grown(a):  # pragma: no cover - compiled
    out = np.empty(2 * a.size, a.dtype)
    out[: a.size] = a
    return out


@numba.njit(cache=True)
def _draw(
    rng, j0, j1, first, prob, ptr, p_max, uniform, start, stop, cap
):  # pragma: no cover - compiled; tested through draw_poisson
    """:func:`draw_poisson`'s loop: per step, per active node, geometric jumps over the
    node's sources at p_max (every source when p_max = 1), thinned to each source's p."""
    ks = np.empty(cap, np.int64)
    ids = np.empty(cap, np.int64)
    count = 0
    for j in range(j0, j1):
        for m in range(first.size):
            p = p_max[m]
            if p <= 0.0 or j < start[m] or j >= stop[m]:
                continue
            size = ptr[m + 1] - ptr[m]
            log_q = math.log1p(-p) if p < 1.0 else -math.inf
            pos = -1
            while True:
                if p < 1.0:
                    gap = math.log(1.0 - rng.random()) / log_q  # U = 1 - random() in (0, 1]
                    if gap >= size - 1 - pos:  # compared as float: the gap may be huge
                        break
                    pos += int(gap) + 1
                else:
                    pos += 1
                    if pos >= size:
                        break
                if not uniform[m] and rng.random() * p >= prob[ptr[m] + pos]:
                    continue
                if count == ks.size:
                    ks = _grown(ks)
                    ids = _grown(ids)
                ks[count] = j - j0
                ids[count] = first[m] + pos
                count += 1
    return ks[:count], ids[:count]
