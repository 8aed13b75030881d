"""Dynamic synapses in the time-stepped engine: per-synapse state and a compiled delivery.

The static synapses stay packed in :mod:`neurotwin.engines.synapse_codes`; the synapses
of projections with a ``synapse`` type (:mod:`neurotwin.network.synapse_types`, whose
docstring has the equations) get their own CSR over the presynaptic index, with their
parameters (S, 6), a state per trial and synapse, and two compiled steps that the numba
kernel of :mod:`neurotwin.engines.step` calls when the network has such synapses:

* :func:`dynamic_post` after the neuron update of step j: postsynaptic spikes of the
  step enter the STDP targets' trace history, and the STDP synapses that *see* a
  postsynaptic spike at the end of step j (fired d steps earlier, d the synapse's delay:
  the delay is dendritic, as NEST's ``stdp_synapse`` takes it) are potentiated;
* :func:`dynamic_pre` when a neuron or source spikes in step j: each of its dynamic
  synapses updates its state at the spike's stamp (j + 1) dt and adds its efficacy to
  the ring buffer, ``delay`` slots ahead, as the static synapses do.

Times are kept as integer stamps (steps), so every interval is exact. The STDP target's
trace K- is looked up at (stamp - delay), counting postsynaptic spikes strictly before;
a ring of the last ``max delay + 2`` postsynaptic spikes per target always holds the one
needed. Potentiation is applied when the postsynaptic spike reaches the synapse, not
deferred to the next presynaptic spike as NEST defers it, so weights read after a run
include the postsynaptic spikes after the last presynaptic one (NEST's lag them).

Stochastic transmission draws u = SplitMix64(trial seed, synapse, step) / 2^64: a
counter-based stream of the run's seed, so a seed reproduces a run whatever the number
of threads, trials or chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from neurotwin.errors import ConfigError, NeurotwinError
from neurotwin.network import Network
from neurotwin.network.synapse_types import Bernoulli, PairSTDP, TsodyksMarkram, per_synapse

__all__ = [
    "DynamicSynapses",
    "compile_dynamic",
    "dynamic_early",
    "dynamic_post",
    "dynamic_pre",
    "dynamic_state",
    "refuse_dynamic",
]

TM, STDP, BERNOULLI = 0, 1, 2
"""Kind codes of a dynamic synapse."""
N_PARAMS = 6
"""Parameter columns: TM (U, tau_rec, tau_facil, tau_psc), STDP (tau_plus, A_plus,
A_minus, w_min, w_max, multiplicative), Bernoulli (p)."""


def refuse_dynamic(network: Network, where: str, need: str | Mapping[str, str],
                   error: type[NeurotwinError] = ConfigError) -> None:
    """Raise ``error`` if ``network`` has a dynamic projection; ``where`` names the
    backend or engine, ``need`` says what it would take to run one there (one text, or
    one per synapse type name)."""
    for proj in network.projections:
        if proj.synapse is not None:
            kind = type(proj.synapse).__name__
            why = need if isinstance(need, str) else need[kind]
            raise error(f"{where} runs static synapses only; projection {proj.pre}->"
                        f"{proj.post} has {kind} synapses: {why}. Run it on the 'ideal' "
                        "backend")


@dataclass(frozen=True, eq=False)
class DynamicSynapses:
    """The dynamic synapses of a network, as the numba kernel reads them."""

    indptr: np.ndarray
    """(n_pre + 1,) CSR offsets over the presynaptic index (neurons, then sources)."""
    target: np.ndarray
    """(S,) post + receptor * n_neurons."""
    delay: np.ndarray
    """(S,) delay in steps (>= 1)."""
    weight: np.ndarray
    """(S,) weight magnitudes, nA (STDP: initial)."""
    kind: np.ndarray
    """(S,) TM, STDP or BERNOULLI."""
    param: np.ndarray
    """(S, N_PARAMS) parameters (see :data:`N_PARAMS`)."""
    post_slot: np.ndarray
    """(S,) STDP target slot of each synapse (-1 for the other kinds)."""
    slot_neuron: np.ndarray
    """(P,) neuron of each STDP target slot (one per (projection, target neuron))."""
    slot_tau_minus: np.ndarray
    """(P,) tau_minus of each slot, ms."""
    col_ptr: np.ndarray
    """(P + 1,) offsets of each slot's STDP synapses in ``col_syn``."""
    col_syn: np.ndarray
    """Synapse indices, by slot, each slot's sorted by delay."""
    col_delay: np.ndarray
    """Their delays, steps."""
    ring: int
    """Postsynaptic spikes kept per slot: longest STDP delay + 2."""
    positions: dict[int, np.ndarray]
    """Projection index -> where its synapses (in ``Projection.synapses()`` order) are."""

    def final_weights(self, state: tuple[Any, ...]) -> dict[int, np.ndarray]:
        """Projection index -> weights (nA) at the end of a run with ``state``
        (:func:`dynamic_state`), shape (trials, S) in ``Projection.synapses()`` order
        (STDP changes them; the other kinds keep theirs)."""
        w = state[11]
        return {k: w[:, pos].copy() for k, pos in self.positions.items()}


def _params(proj: Any, n: int, tau_psc: float) -> tuple[int, np.ndarray]:
    values = per_synapse(proj.synapse, n)
    param = np.zeros((n, N_PARAMS))
    if isinstance(proj.synapse, TsodyksMarkram):
        for k, name in enumerate(("U", "tau_rec", "tau_facil")):
            param[:, k] = values[name]
        param[:, 3] = tau_psc
        return TM, param
    if isinstance(proj.synapse, PairSTDP):
        for k, name in enumerate(("tau_plus", "A_plus", "A_minus", "w_min", "w_max")):
            param[:, k] = values[name]
        param[:, 5] = proj.synapse.weight_dependence == "multiplicative"
        return STDP, param
    assert isinstance(proj.synapse, Bernoulli)
    param[:, 0] = values["p"]
    return BERNOULLI, param


def compile_dynamic(
    network: Network,
    pop_slices: dict[str, tuple[int, int]],
    source_slices: dict[str, tuple[int, int]],
    n_neurons: int,
    n_pre: int,
) -> DynamicSynapses | None:
    """The dynamic synapses of ``network`` (None if it has none), indexed as the engine
    indexes neurons (``pop_slices``) and sources (after the neurons)."""
    parts: list[tuple[np.ndarray, ...]] = []
    index: list[int] = []
    slots = 0
    slot_neuron, slot_tau = [], []
    for k, proj in enumerate(network.projections):
        if proj.synapse is None:
            continue
        syn = proj.synapses()
        if proj.pre in pop_slices:
            pre = syn.pre + pop_slices[proj.pre][0]
        else:
            pre = syn.pre + n_neurons + source_slices[proj.pre][0]
        first = pop_slices[proj.post][0]
        receptor = 0 if proj.receptor == "exc" else 1
        model = network.population(proj.post).model
        name = "tau_syn_exc" if receptor == 0 else "tau_syn_inh"
        if isinstance(proj.synapse, TsodyksMarkram) and not hasattr(model, name):
            raise ConfigError(f"TsodyksMarkram synapses onto {proj.post!r} need its {name} "
                              f"(NEST's tau_psc); {type(model).__name__} has none")
        tau_psc = float(getattr(model, name, 0.0))
        code, param = _params(proj, syn.pre.size, tau_psc)
        slot = np.full(syn.pre.size, -1, np.int64)
        if code == STDP:
            assert isinstance(proj.synapse, PairSTDP)
            size = network.population(proj.post).size
            slot = syn.post + slots
            slot_neuron.append(first + np.arange(size))
            slot_tau.append(np.full(size, float(proj.synapse.tau_minus)))
            slots += size
        parts.append((pre, syn.post + first + receptor * n_neurons,
                      network.delay_steps(proj), syn.weight,
                      np.full(syn.pre.size, code, np.int64), param, slot))
        index.append(k)
    if not parts:
        return None
    pre_all, target, delay, weight, kind, param, slot = (np.concatenate(c) for c in zip(
        *parts, strict=True))
    order = np.lexsort((target, pre_all))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    bounds = np.cumsum([0] + [p[0].size for p in parts])
    positions = {k: inverse[bounds[m]:bounds[m + 1]] for m, k in enumerate(index)}
    target, delay, weight = target[order], delay[order].astype(np.int64), weight[order]
    kind, param, slot = kind[order], param[order], slot[order]
    plastic = np.flatnonzero(slot >= 0)
    by_slot = plastic[np.lexsort((delay[plastic], slot[plastic]))]
    col_ptr = np.concatenate([[0], np.cumsum(np.bincount(slot[plastic], minlength=slots))])
    return DynamicSynapses(
        indptr=np.concatenate([[0], np.cumsum(np.bincount(pre_all, minlength=n_pre))]),
        target=target.astype(np.int64), delay=delay, weight=weight.astype(np.float64),
        kind=kind, param=param, post_slot=slot,
        slot_neuron=(np.concatenate(slot_neuron) if slot_neuron else np.zeros(0, np.int64)),
        slot_tau_minus=np.concatenate(slot_tau) if slot_tau else np.zeros(0),
        col_ptr=col_ptr.astype(np.int64), col_syn=by_slot.astype(np.int64),
        col_delay=delay[by_slot],
        ring=int(delay[plastic].max(initial=0)) + 2, positions=positions,
    )


def dynamic_state(dyn: DynamicSynapses, trials: int, seed: int, dt: float) -> tuple[Any, ...]:
    """The numba kernel's tuple of a run: ``dyn``'s arrays and a fresh state per trial
    (weights, TM's u x y or STDP's K+, last stamps, postsynaptic rings, trial seeds)."""
    n, slots = dyn.target.size, dyn.slot_neuron.size
    st = np.zeros((trials, n, 3))
    st[:, :, 1] = 1.0  # TM: all resources recovered (x = 1)
    seeds = np.array([np.random.SeedSequence([seed, b, 0xB5]).generate_state(1, np.uint64)[0]
                      for b in range(trials)], np.uint64)
    return (
        dyn.indptr, dyn.target, dyn.delay, dyn.kind, dyn.param, dyn.post_slot,
        dyn.slot_neuron, dyn.slot_tau_minus, dyn.col_ptr, dyn.col_syn, dyn.col_delay,
        np.repeat(dyn.weight[None, :], trials, axis=0), st, np.zeros((trials, n), np.int64),
        np.zeros((trials, slots, dyn.ring), np.int64), np.zeros((trials, slots, dyn.ring)),
        np.zeros((trials, slots), np.int64), seeds, float(dt),
    )


@numba.njit(cache=True, nogil=True)
def _mix(z):  # pragma: no cover - compiled
    """SplitMix64's finaliser (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _uniform(seed, q, stamp):  # pragma: no cover - compiled
    """A uniform number in [0, 1) for (trial seed, synapse q, stamp)."""
    z = _mix(seed ^ _mix(np.uint64(q) * np.uint64(0x9E3779B97F4A7C15)
                          + _mix(np.uint64(stamp) + np.uint64(0x632BE59BD9B4E019))))
    return np.float64(z >> np.uint64(11)) * 2.0**-53


@numba.njit(cache=True, nogil=True)
def dynamic_post(dyn, b, j, fl):  # pragma: no cover - compiled; tested through run_program
    """Step j's postsynaptic spikes (flags ``fl``) into the rings of trial b, then the
    potentiation of every STDP synapse that sees a postsynaptic spike at stamp j + 1."""
    (_, _, _, _, param, _, slot_neuron, tau_minus, col_ptr, col_syn, col_delay,
     w, st, last, ring_step, ring_k, ring_n, _, dt) = dyn
    ring = ring_step.shape[2]
    now = j + 1
    for p in range(slot_neuron.shape[0]):
        cnt = ring_n[b, p]
        if fl[slot_neuron[p]]:
            k = 1.0
            if cnt > 0:
                e = (cnt - 1) % ring
                k += ring_k[b, p, e] * np.exp((ring_step[b, p, e] - now) * dt / tau_minus[p])
            ring_step[b, p, cnt % ring] = now
            ring_k[b, p, cnt % ring] = k
            cnt += 1
            ring_n[b, p] = cnt
        lo, hi = col_ptr[p], col_ptr[p + 1]
        for back in range(min(cnt, ring)):
            d = now - ring_step[b, p, (cnt - 1 - back) % ring]
            if d > ring - 2:
                break  # older spikes have reached every synapse
            if d < 1:
                continue
            c = lo + np.searchsorted(col_delay[lo:hi], d)
            while c < hi and col_delay[c] == d:
                q = col_syn[c]
                kplus = st[b, q, 0] * np.exp((last[b, q] - now) * dt / param[q, 0])
                wq, w_max = w[b, q], param[q, 4]
                if param[q, 5] != 0.0:
                    wq += param[q, 1] * (w_max - wq) * kplus
                else:
                    wq += w_max * param[q, 1] * kplus
                w[b, q] = min(wq, w_max)
                c += 1


@numba.njit(cache=True, nogil=True)
def _k_minus(ring_step, ring_k, ring_n, b, p, at, dt, tau_minus):  # pragma: no cover
    """Slot p's postsynaptic trace at stamp ``at``, from its spikes strictly before."""
    ring = ring_step.shape[2]
    cnt = ring_n[b, p]
    for back in range(min(cnt, ring)):
        e = (cnt - 1 - back) % ring
        if ring_step[b, p, e] < at:
            return ring_k[b, p, e] * np.exp((ring_step[b, p, e] - at) * dt / tau_minus)
    return 0.0


@numba.njit(cache=True, nogil=True)
def dynamic_pre(dyn, buf, b, j, slot, i):  # pragma: no cover - compiled; via run_program
    """The spike of presynaptic index i (emitted in step j, ring slot ``slot``) through
    its dynamic synapses in trial b: update each synapse, add its efficacy to ``buf``."""
    (indptr, target, delay, kind, param, post_slot, _, tau_minus, _, _, _,
     w, st, last, ring_step, ring_k, ring_n, seeds, dt) = dyn
    n_slots = buf.shape[0]
    now = j + 1
    for q in range(indptr[i], indptr[i + 1]):
        s = slot + delay[q]
        if s >= n_slots:
            s -= n_slots
        kd = kind[q]
        if kd == 0:  # Tsodyks-Markram, NEST's tsodyks_synapse
            h = (now - last[b, q]) * dt
            tau_rec, tau_facil, tau_psc = param[q, 1], param[q, 2], param[q, 3]
            p_uu = 0.0 if tau_facil == 0.0 else np.exp(-h / tau_facil)
            p_yy = np.exp(-h / tau_psc)
            p_zz = np.exp(-h / tau_rec)
            if abs(tau_psc - tau_rec) > 1e-12 * tau_rec:
                p_xy = ((p_zz - 1.0) * tau_rec - (p_yy - 1.0) * tau_psc) / (tau_psc - tau_rec)
            else:  # the limit tau_psc -> tau_rec
                p_xy = 1.0 - p_zz - h / tau_rec * p_zz
            u, x, y = st[b, q, 0], st[b, q, 1], st[b, q, 2]
            z = 1.0 - x - y
            u *= p_uu
            x += p_xy * y + (1.0 - p_zz) * z
            y *= p_yy
            u += param[q, 0] * (1.0 - u)
            step = u * x
            st[b, q, 0], st[b, q, 1], st[b, q, 2] = u, x - step, y + step
            buf[s, b, target[q]] += step * w[b, q]
        elif kd == 1:  # pair STDP, NEST's stdp_synapse: depression, then transmission
            p = post_slot[q]
            kminus = _k_minus(ring_step, ring_k, ring_n, b, p, now - delay[q], dt,
                              tau_minus[p])
            wq, w_min = w[b, q], param[q, 3]
            if param[q, 5] != 0.0:
                wq -= param[q, 2] * (wq - w_min) * kminus
            else:
                wq -= param[q, 4] * param[q, 2] * kminus
            wq = max(wq, w_min)
            w[b, q] = wq
            buf[s, b, target[q]] += wq
            st[b, q, 0] = st[b, q, 0] * np.exp((last[b, q] - now) * dt / param[q, 0]) + 1.0
        elif _uniform(seeds[b], q, now) < param[q, 0]:  # Bernoulli
            buf[s, b, target[q]] += w[b, q]
        last[b, q] = now


@numba.njit(cache=True, nogil=True)
def dynamic_early(dyn, buf, rows):  # pragma: no cover - compiled; tested through run_program
    """The spikes emitted before the first step (sources at t = 0, stamp 0) by the
    presynaptic indices ``rows``, through their dynamic synapses, in every trial."""
    for b in range(buf.shape[1]):
        for i in rows:
            dynamic_pre(dyn, buf, b, -1, buf.shape[0] - 1, i)
