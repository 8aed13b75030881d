"""Projections (weighted, delayed connections between two nodes) and connectors that
build common random connectivity as sparse weight matrices.

Compact storage: the connectors store their one weight as a read-only broadcast array
(``np.broadcast_to``, 8 bytes for any number of synapses) in the CSR ``data``, and use
int32 indices where they fit, so that a billion synapses take 4 GB of indices and no
weight array. :meth:`Projection.csr` hands such a weight on as a 0-d array; everything
else sees an ordinary CSR matrix (:meth:`Projection.synapses` returns full, writable
arrays as always).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

from neurotwin.errors import (
    ConfigError,
    as_numbers,
    check_finite,
    check_in_range,
    check_int,
    check_positive,
    check_scalar,
)
from neurotwin.network.rules import FixedTotalRule
from neurotwin.network.synapse_types import SYNAPSE_TYPES, SynapseType, per_synapse

__all__ = [
    "Projection",
    "SynapseCSR",
    "Synapses",
    "fixed_fan_in",
    "fixed_probability",
    "fixed_total_number",
]

Receptor = Literal["exc", "inh"] | None
RECEPTORS = ("exc", "inh", None)


class Synapses(NamedTuple):
    """A projection as flat per-synapse arrays (one entry per existing synapse)."""

    pre: np.ndarray
    """Presynaptic index, int64, shape (S,)."""
    post: np.ndarray
    """Postsynaptic index, int64, shape (S,)."""
    weight: np.ndarray
    """Weight in nA, float64, shape (S,): >= 0 for "exc"/"inh", signed for receptor None."""
    delay: np.ndarray
    """Delay in ms, float64, shape (S,)."""


class SynapseCSR(NamedTuple):
    """A projection in compressed-row form, as stored (no per-synapse copies).

    The synapses of presynaptic neuron ``i`` are entries ``indptr[i]:indptr[i + 1]``,
    in increasing ``post`` order, each (pre, post) pair once (a rule's multapses: more
    than once, next to each other); the same order as
    :meth:`Projection.synapses`.
    """

    indptr: np.ndarray
    """(n_pre + 1,) int32 or int64 offsets."""
    post: np.ndarray
    """(S,) int32 or int64 postsynaptic indices."""
    weight: np.ndarray
    """Weights in nA: (S,) float64, or a 0-d float64 array when one weight is stored for all."""
    delay: np.ndarray
    """Delays in ms: (S,) float64, or a 0-d float64 array when one delay holds for all."""


def constant_value(values: np.ndarray) -> float | None:
    """The one value of a broadcast (stride-0) 1-D array, else None.

    Connectors store a constant weight this way; a materialised array is never inspected
    element by element here (None even if all its values happen to agree).
    """
    arr = np.asarray(values)
    if arr.ndim == 1 and arr.size > 0 and arr.strides[0] == 0:
        return float(arr[0])
    return None


def compact_weights(value: float, n: int) -> np.ndarray:
    """(n,) read-only float64 array holding ``value`` everywhere, stored once (8 bytes)."""
    return np.broadcast_to(np.float64(value), (n,))


def _index_dtype(limit: int) -> type[np.signedinteger[Any]]:
    """int32 if every index and offset up to ``limit`` fits, else int64."""
    return np.int32 if limit < 2**31 else np.int64


def _as_weights(weights: Any) -> np.ndarray | sp.csr_array:
    if sp.issparse(weights):
        # canonical form (sorted columns, no duplicates) is made in _canonical, which
        # keeps per-synapse delays aligned
        return sp.csr_array(weights, dtype=np.float64)
    if hasattr(weights, "detach"):  # torch tensor
        weights = weights.detach().cpu().numpy()
    return as_numbers("weights", weights)


def _canonical(w: sp.csr_array, delays: Any) -> tuple[sp.csr_array, Any]:
    """Sort ``w``'s columns within rows and sum duplicate entries, permuting per-synapse
    delays given as an array aligned with ``w.data`` in the same way."""
    if w.has_canonical_format:
        return w, delays
    per_synapse = not sp.issparse(delays) and np.ndim(delays) == 1
    if per_synapse and np.shape(delays) != (w.nnz,):
        raise ConfigError(
            f"delays must be a scalar or of shape ({w.nnz},) (one per stored entry), "
            f"got shape {np.shape(delays)}"
        )
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
    order = np.lexsort((w.indices, rows))
    rows, cols = rows[order], np.asarray(w.indices)[order]
    if np.any((np.diff(rows) == 0) & (np.diff(cols) == 0)):
        if per_synapse:
            raise ConfigError(
                "weights hold duplicate entries for one (pre, post) pair; with per-synapse "
                "delays each synapse must be stored once"
            )
        w = w.copy()
        w.sum_duplicates()
        return w, delays
    data = np.asarray(w.data)[order]
    canonical = sp.csr_array((data, cols, w.indptr.copy()), shape=w.shape)
    if per_synapse:
        delays = np.asarray(delays, dtype=np.float64)[order]
    return canonical, delays


@dataclass(frozen=True, eq=False)
class Projection:
    """Connections from every neuron of ``pre`` to ``post`` with weights and delays.

    Parameters
    ----------
    pre, post
        Labels of the source node and the target population.
    weights
        Dense array of shape (n_pre, n_post) or a scipy sparse matrix of that shape; in nA.
        Zeros in a dense matrix are absent synapses; a sparse matrix's stored entries are
        synapses, even where zero. For ``receptor`` "exc" or "inh" all weights are
        magnitudes >= 0; for ``receptor=None`` the sign selects the receptor. Or a
        :class:`~neurotwin.network.rules.FixedTotalRule`: synapses drawn when needed
        (weights and delays are the rule's; ``delays`` is ignored).
    receptor
        "exc", "inh", or None for a signed matrix.
    delays
        Transmission delay in ms: a scalar, or per synapse (an array of the weights' shape
        for dense weights; a sparse matrix of the same pattern or an array aligned with
        the CSR data for sparse weights). Must be > 0 (checked against dt by the network).
    synapse
        None (static), or a dynamic synapse type of :mod:`neurotwin.network.synapse_types`
        (short-term plasticity, STDP, stochastic transmission); needs receptor "exc" or
        "inh". For STDP the weights are the initial weights.
    """

    pre: str
    post: str
    weights: np.ndarray | sp.csr_array | FixedTotalRule
    receptor: Receptor = "exc"
    delays: float | np.ndarray = 1.0
    synapse: SynapseType | None = None

    def __post_init__(self) -> None:
        if self.receptor not in RECEPTORS:
            raise ConfigError(f"receptor must be 'exc', 'inh' or None, got {self.receptor!r}")
        if isinstance(self.weights, FixedTotalRule):
            if self.receptor is None:
                raise ConfigError("a rule's weights are magnitudes: give receptor 'exc' or 'inh'")
            object.__setattr__(self, "delays", float(self.weights.delay))
            return
        w = _as_weights(self.weights)
        if w.ndim != 2:
            raise ConfigError(f"weights must be 2-D (n_pre, n_post), got shape {w.shape}")
        values = np.asarray(w.data) if isinstance(w, sp.csr_array) else w
        one = constant_value(values) if isinstance(w, sp.csr_array) else None
        if one is not None:
            values = np.array([one])  # a stored constant: check it once, not per synapse
        check_finite("weights", values)
        if self.receptor is not None and np.any(values < 0):
            raise ConfigError(
                f"weights for receptor {self.receptor!r} must be >= 0 nA (magnitudes), "
                f"got {float(values.min())!r}; pass receptor=None for a signed matrix"
            )
        delays = self.delays
        if isinstance(w, sp.csr_array):
            w, delays = _canonical(w, delays)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "delays", self._check_delays(w, delays))
        if self.synapse is not None:
            if not isinstance(self.synapse, SYNAPSE_TYPES):
                raise ConfigError(
                    "synapse must be None (static) or one of "
                    f"{', '.join(t.__name__ for t in SYNAPSE_TYPES)}, got "
                    f"{type(self.synapse).__name__}")
            if self.receptor is None:
                raise ConfigError(f"a {type(self.synapse).__name__} projection needs receptor "
                                  "'exc' or 'inh' (its weights are magnitudes), not None")
            per_synapse(self.synapse, self.n_synapses)  # per-synapse sizes must match

    @staticmethod
    def _check_delays(w: np.ndarray | sp.csr_array, delays: Any) -> float | np.ndarray:
        if sp.issparse(delays):
            d = sp.csr_array(delays, dtype=np.float64)
            d.sort_indices()
            if not isinstance(w, sp.csr_array):
                raise ConfigError("sparse delays need sparse weights of the same pattern")
            w.sort_indices()
            if d.shape != w.shape or not (
                np.array_equal(d.indptr, w.indptr) and np.array_equal(d.indices, w.indices)
            ):
                raise ConfigError("sparse delays must have the same pattern as the weights")
            delays = d.data
        if hasattr(delays, "detach"):
            delays = delays.detach().cpu().numpy()
        arr = as_numbers("delays", delays)
        if arr.ndim == 0:
            check_positive("delays", arr, "ms")
            return float(arr)
        expected = (w.nnz,) if isinstance(w, sp.csr_array) else w.shape
        if arr.shape != expected:
            raise ConfigError(
                f"delays must be a scalar or of shape {expected} (one per synapse), "
                f"got shape {arr.shape}"
            )
        check_positive("delays", arr, "ms")
        return arr

    @property
    def shape(self) -> tuple[int, int]:
        """(n_pre, n_post)."""
        if isinstance(self.weights, FixedTotalRule):
            return self.weights.n_pre, self.weights.n_post
        n_pre, n_post = self.weights.shape
        return int(n_pre), int(n_post)

    @property
    def n_synapses(self) -> int:
        """Number of synapses (stored entries of a sparse matrix, non-zeros of a dense one)."""
        w = self.weights
        if isinstance(w, FixedTotalRule):
            return w.n_total
        return int(w.nnz) if isinstance(w, sp.csr_array) else int(np.count_nonzero(w))

    @property
    def rule(self) -> FixedTotalRule | None:
        """The rule the synapses are drawn from, or None for stored weights."""
        return self.weights if isinstance(self.weights, FixedTotalRule) else None

    def csr(self) -> SynapseCSR:
        """The synapses in compressed-row form without per-synapse copies where stored so.

        For sparse weights the arrays are the stored ones (do not modify them); a weight
        stored once (connectors) and a scalar delay come as 0-d arrays. Dense weights are
        converted (dense matrices are small). A rule's synapses are drawn (each time:
        nothing is kept), a pair drawn m times is m entries (multapses).
        """
        w = self.weights
        d = self.delays
        if isinstance(w, FixedTotalRule):
            drawn = w.draw_all()
            indptr = np.zeros(w.n_pre + 1, np.int64)
            np.cumsum(np.bincount(drawn.pre, minlength=w.n_pre), out=indptr[1:])
            return SynapseCSR(indptr, drawn.post, drawn.weight, drawn.delay_steps * w.dt)
        if isinstance(w, sp.csr_array):
            w.sort_indices()
            data = np.asarray(w.data)
            one = constant_value(data)
            weight = np.asarray(data if one is None else one, dtype=np.float64)
            delay = np.asarray(d, dtype=np.float64)
            return SynapseCSR(np.asarray(w.indptr), np.asarray(w.indices), weight, delay)
        pre, post = np.nonzero(w)
        indptr = np.zeros(w.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(pre, minlength=w.shape[0]), out=indptr[1:])
        delay = np.asarray(d, np.float64) if np.ndim(d) == 0 else np.asarray(d)[pre, post]
        return SynapseCSR(indptr, post.astype(np.int64), w[pre, post], delay)

    def synapses(self) -> Synapses:
        """The existing synapses as flat arrays, in row-major (pre, post) order."""
        w = self.weights
        if isinstance(w, FixedTotalRule):
            drawn = w.draw_all()
            return Synapses(drawn.pre, drawn.post, drawn.weight, drawn.delay_steps * w.dt)
        if isinstance(w, sp.csr_array):
            w.sort_indices()
            counts = np.diff(w.indptr)
            pre = np.repeat(np.arange(w.shape[0], dtype=np.int64), counts)
            post = np.asarray(w.indices, dtype=np.int64)
            data = np.asarray(w.data, dtype=np.float64)
            # a stored constant is expanded: callers get full, writable arrays as always
            weight = data if constant_value(data) is None else np.array(data)
            d = self.delays
            delay = np.full(pre.shape, d) if np.ndim(d) == 0 else np.asarray(d)
        else:
            pre, post = np.nonzero(w)
            weight = w[pre, post]
            d = self.delays
            delay = np.full(pre.shape, d) if np.ndim(d) == 0 else np.asarray(d)[pre, post]
        return Synapses(pre.astype(np.int64), post.astype(np.int64), weight, delay)


def fixed_probability(
    n_pre: int,
    n_post: int,
    p: float,
    weight: float,
    rng: np.random.Generator,
    allow_self: bool = True,
) -> sp.csr_array:
    """Each (pre, post) pair connected independently with probability ``p``.

    Parameters
    ----------
    n_pre, n_post
        Sizes of source and target.
    p
        Connection probability in [0, 1].
    weight
        Weight of every synapse, nA.
    rng
        Random generator (explicit, for reproducibility).
    allow_self
        If False, pairs with pre index == post index are excluded (recurrent projections).

    Returns
    -------
    scipy.sparse.csr_array of shape (n_pre, n_post); its ``data`` is the one weight,
    stored once (read-only; see the module docstring).
    """
    _check_count("n_pre", n_pre)
    _check_count("n_post", n_post)
    check_scalar("p", p)
    check_in_range("p", p, 0.0, 1.0)
    check_scalar("weight", weight, "nA")
    check_finite("weight", weight)
    counts = rng.binomial(n_post, p, size=n_pre)
    indices = [np.sort(rng.choice(n_post, size=k, replace=False)) for k in counts]
    cols = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(n_pre), counts)
    if not allow_self:
        # by index, not by value: a zero weight is still a synapse
        cols, rows = cols[cols != rows], rows[cols != rows]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_pre))])
    return sp.csr_array((compact_weights(weight, cols.size), cols, indptr), shape=(n_pre, n_post))


def fixed_fan_in(
    n_pre: int,
    n_post: int,
    fan_in: int,
    weight: float,
    rng: np.random.Generator,
    allow_self: bool = True,
    window: int | None = None,
) -> sp.csr_array:
    """Every target neuron receives exactly ``fan_in`` synapses from distinct sources,
    drawn for all targets at once (millions of targets in seconds).

    Parameters as :func:`fixed_probability`; ``fan_in`` <= the candidate sources (n_pre,
    or ``window``; one fewer without self where the own index is a candidate).

    window
        None: sources drawn from the whole pre population. Otherwise local connectivity on
        a ring: target ``q`` sits at pre position ``c = floor((q + 1/2) n_pre / n_post)``
        and draws its sources from the ``window`` pre neurons ``c - window // 2 ...
        c - window // 2 + window - 1`` (modulo n_pre), so that sources are near in index
        (a 1-D sheet; neurons that are near are placed near).

    The result is a CSR matrix by presynaptic neuron with int32 indices where they fit and
    the one weight stored once: about 4 bytes per synapse (1M x 1000 synapses: 4 GB).
    """
    _check_count("n_pre", n_pre)
    _check_count("n_post", n_post)
    check_int("fan_in", fan_in)
    if window is not None:
        check_int(f"window (None, or at most n_pre = {n_pre})", window, 1, n_pre)
    m = n_pre if window is None else int(window)  # candidate sources per target
    targets = np.arange(n_post, dtype=np.int64)
    if window is None:
        start = np.zeros(n_post, np.int64)
        own = targets  # the own index among the candidates
    else:
        start = (2 * targets + 1) * n_pre // (2 * n_post) - m // 2
        # targets beyond the pre population have no own index; >= m: not a candidate
        own = np.where(targets < n_pre, (targets - start) % n_pre, m)
    own_inside = bool(np.any(own < m)) if n_post else False
    limit = m if allow_self or not own_inside else m - 1
    if not 0 <= fan_in <= limit:
        raise ConfigError(f"fan_in must lie in [0, {limit}], got {int(fan_in)}")
    check_scalar("weight", weight, "nA")
    check_finite("weight", weight)
    dtype = _index_dtype(n_pre)
    if fan_in > 0.25 * m:
        # dense: the fan_in smallest of uniform keys per row, own source pushed last
        keys = rng.random((n_post, m))
        if not allow_self:
            rows = np.flatnonzero(own < m)
            keys[rows, own[rows]] = 2.0
        pre = np.argsort(keys, axis=1)[:, :fan_in].astype(dtype)
    else:
        # sparse: draw with replacement for all rows at once, redraw repeats (and, without
        # self, own indices) until none is left; every set of sources is equally likely.
        # Only rows that got a redraw are sorted and checked again (the others are clean),
        # which draws exactly the numbers a full pass would.
        pre = rng.integers(0, m, (n_post, fan_in), dtype=dtype)
        rows = targets
        while rows.size:
            block = pre if rows.size == n_post else pre[rows]
            block.sort(axis=1)
            bad = _mark_repeats(block, own[rows], allow_self)
            n_bad = int(np.count_nonzero(bad))
            if n_bad:
                block[bad] = rng.integers(0, m, n_bad, dtype=dtype)
            if block is not pre:
                pre[rows] = block
            rows = rows[bad.any(axis=1)] if n_bad else rows[:0]
            del bad
    if window is not None:  # candidate k of target q is pre neuron (start_q + k) mod n_pre
        _shift_to_window(pre, start % n_pre, n_pre)
    nnz = n_post * fan_in
    indptr, post = _by_pre(pre, n_pre, _index_dtype(max(nnz, n_post)))
    del pre
    out = sp.csr_array((compact_weights(weight, nnz), post, indptr), shape=(n_pre, n_post))
    out.has_canonical_format = True  # posts ascend within each row, no repeats
    return out


def fixed_total_number(
    n_pre: int,
    n_post: int,
    n_total: int,
    weight: float,
    rng: np.random.Generator,
    allow_self: bool = True,
) -> list[sp.csr_array]:
    """Exactly ``n_total`` synapses, each (pre, post) pair drawn independently and uniformly
    with replacement: NEST's ``fixed_total_number`` rule with multapses allowed, the
    connectivity of Potjans & Diesmann (2014).

    A pair drawn m times is m synapses (a multapse). A projection holds each pair once,
    so the synapses come as layers: the first matrix holds every connected pair once, the
    second the second synapse of the pairs drawn at least twice, and so on; connect each
    layer as its own projection (with its own per-synapse weights and delays, aligned with
    the layer's CSR ``data``). The in-degree of a target is Binomial(n_total, 1 / n_post),
    the probability that a pair is connected at least once 1 - (1 - 1/(n_pre n_post))^n_total.

    Parameters
    ----------
    n_pre, n_post
        Sizes of source and target.
    n_total
        Number of synapses (>= 0).
    weight
        Weight of every synapse, nA (stored once per layer, as :func:`fixed_probability`).
    rng
        Random generator (explicit, for reproducibility).
    allow_self
        If False, pairs with pre index == post index are redrawn (recurrent projections).

    Returns
    -------
    list of scipy.sparse.csr_array of shape (n_pre, n_post), at least one (empty when
    ``n_total`` is 0); their ``nnz`` sum to ``n_total``.
    """
    _check_count("n_pre", n_pre)
    _check_count("n_post", n_post)
    check_int("n_total", n_total, low=0)
    check_scalar("weight", weight, "nA")
    check_finite("weight", weight)
    pairs = int(n_pre) * int(n_post) - (0 if allow_self else min(n_pre, n_post))
    if n_total > 0 and pairs < 1:
        raise ConfigError(f"n_total = {n_total} synapses need at least one candidate pair; "
                          f"{n_pre} x {n_post} neurons{'' if allow_self else ' without self'} "
                          "have none")
    dtype = _index_dtype(max(n_pre, n_post, n_total))
    pre = rng.integers(0, max(n_pre, 1), n_total, dtype=np.int64)
    post = rng.integers(0, max(n_post, 1), n_total, dtype=np.int64)
    if not allow_self:
        bad = np.flatnonzero(pre == post)
        while bad.size:
            pre[bad] = rng.integers(0, n_pre, bad.size)
            post[bad] = rng.integers(0, n_post, bad.size)
            bad = bad[pre[bad] == post[bad]]
    key = pre * n_post + post
    del pre, post
    key.sort()
    # rank of each synapse among the synapses of its pair: its layer
    first = np.ones(key.size, bool)
    first[1:] = key[1:] != key[:-1]
    run_start = np.maximum.accumulate(np.where(first, np.arange(key.size), 0))
    layer = np.arange(key.size) - run_start
    del first, run_start
    layers = []
    for m in range(int(layer.max()) + 1 if key.size else 1):
        chosen = key[layer == m]
        rows = chosen // max(n_post, 1)
        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n_pre), out=indptr[1:])
        cols = (chosen - rows * n_post).astype(dtype)
        out = sp.csr_array((compact_weights(weight, cols.size), cols, indptr.astype(dtype)),
                           shape=(n_pre, n_post))
        out.has_canonical_format = True  # sorted keys: posts ascend within rows, no repeats
        layers.append(out)
    return layers


@numba.njit(cache=True)
def _shift_to_window(pre: np.ndarray, start: np.ndarray, n_pre: int) -> None:
    """``pre[q, j] = (start[q] + pre[q, j]) mod n_pre`` in place (``start`` in [0, n_pre))."""
    for q in range(pre.shape[0]):
        s = start[q]
        for j in range(pre.shape[1]):
            v = s + pre[q, j]
            pre[q, j] = v - n_pre if v >= n_pre else v


@numba.njit(cache=True)
def _mark_repeats(block: np.ndarray, own: np.ndarray, allow_self: bool) -> np.ndarray:
    """(r, k) bool: entries of the row-sorted ``block`` equal to their left neighbour
    or, without self connections, to the row's own index ``own[i]``."""
    bad = np.zeros(block.shape, np.bool_)
    for i in range(block.shape[0]):
        mine = own[i]
        for j in range(block.shape[1]):
            v = block[i, j]
            if (j > 0 and v == block[i, j - 1]) or (not allow_self and v == mine):
                bad[i, j] = True
    return bad


@numba.njit(cache=True)
def _by_pre_kernel(pre: np.ndarray, indptr: np.ndarray, post: np.ndarray) -> None:
    """Counting sort of the (post, pre) table ``pre`` (n_post, k) into CSR by pre; posts
    come out ascending within every row because they are visited in order."""
    for q in range(pre.shape[0]):
        for j in range(pre.shape[1]):
            indptr[pre[q, j] + 1] += 1
    for i in range(1, indptr.size):
        indptr[i] += indptr[i - 1]
    fill = indptr[:-1].copy()
    for q in range(pre.shape[0]):
        for j in range(pre.shape[1]):
            p = pre[q, j]
            post[fill[p]] = q
            fill[p] += 1


def _by_pre(
    pre: np.ndarray, n_pre: int, dtype: type[np.signedinteger[Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, post) of the CSR by presynaptic neuron of the table ``pre[post, k]``."""
    indptr = np.zeros(n_pre + 1, dtype)
    post = np.empty(pre.size, dtype)
    _by_pre_kernel(pre, indptr, post)
    return indptr, post


def _check_count(name: str, n: Any) -> None:
    check_int(name, n, low=0)
