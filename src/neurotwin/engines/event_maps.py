r"""The event engine's pure maps on a :class:`NeuronState`, as torch tensors (any device).

The neuron is :class:`neurotwin.dynamics.event_lif.EventLIF` (equations there). Between
events the state evolves in closed form (:func:`neurotwin.dynamics.spike_time.free_evolution`,
exact also for tau_syn == tau_mem), so a simulation is a sequence of three maps:

* :func:`flow` — free evolution up to a time (refractoriness included);
* :func:`input_jump` / :func:`spike_jump` — the jump at an input spike (i += w) and at an
  output spike (v <- v_reset, refractory until t + tau_refrac);
* :func:`next_crossing` — the next threshold crossing before a given time, by
  :func:`neurotwin.dynamics.spike_time.next_spike_times` (analytic extremum, then a
  safeguarded Newton solve to ``xtol``, never early).

:func:`fire_until` applies them to let every neuron of a layer fire all its crossings up to
a time. The torch kernels (:mod:`neurotwin.engines.event_torch`) walk layers with these
maps; the adjoint (:mod:`neurotwin.engines.event_adjoint`) mirrors them.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import torch

from neurotwin.dynamics.event_lif import EventLIF, kernel_peak
from neurotwin.dynamics.lif import LIF
from neurotwin.dynamics.spike_time import free_evolution, next_spike_times

__all__ = [
    "NeuronState",
    "fire_until",
    "flow",
    "initial_state",
    "input_jump",
    "next_crossing",
    "spike_jump",
]


class NeuronState(NamedTuple):
    """State of a group of event-driven neurons: tensors of one shape, e.g. (B, n)."""

    v: torch.Tensor
    """Membrane potential relative to rest at time ``t``, mV."""
    i: torch.Tensor
    """Synaptic current at time ``t``, nA."""
    t: torch.Tensor
    """Time at which ``v`` and ``i`` hold, ms."""
    free_at: torch.Tensor
    """End of the refractory period, ms (<= ``t`` when the neuron is free)."""


@functools.cache
def _as_lif(p: EventLIF) -> LIF:
    """The :class:`LIF` the solver evaluates: rest 0 mV, signed current in ``i_exc``."""
    return p.to_lif(v_rest=0.0)


def initial_state(
    shape: tuple[int, ...], dtype: torch.dtype = torch.float64, device: Any = None
) -> NeuronState:
    """Neurons at rest with no current and not refractory, at time 0 ms."""
    zeros = torch.zeros(shape, dtype=dtype, device=device)
    return NeuronState(zeros, zeros.clone(), zeros.clone(), zeros.clone())


def _free_start(state: NeuronState, p: EventLIF) -> tuple[torch.Tensor, torch.Tensor]:
    """When free evolution starts (the later of ``t`` and ``free_at``), and the current then."""
    start = torch.maximum(state.t, state.free_at)
    return start, state.i * torch.exp(-(start - state.t) / p.tau_syn)


def flow(state: NeuronState, t: torch.Tensor | float, p: EventLIF) -> NeuronState:
    """Evolve freely (no threshold) from ``state.t`` to ``t`` (ms, >= ``state.t``,
    broadcasting): v stays at v_reset until ``free_at``, the current decays throughout."""
    t = torch.as_tensor(t, dtype=state.v.dtype, device=state.v.device).expand_as(state.v)
    start = torch.minimum(torch.maximum(state.t, state.free_at), t)
    i_start = state.i * torch.exp(-(start - state.t) / p.tau_syn)
    elapsed = torch.clamp(t - start, min=0.0)
    v, i, _ = free_evolution(state.v, i_start, 0.0, _as_lif(p), elapsed)
    return NeuronState(v, i, t.clone(), state.free_at)


def input_jump(state: NeuronState, w: torch.Tensor) -> NeuronState:
    """Add ``w`` (nA, broadcasting to the state) to the synaptic current: input spikes at
    ``state.t``. Differentiable in ``w``."""
    return state._replace(i=state.i + w)


def spike_jump(
    state: NeuronState, fired: torch.Tensor, t_spike: torch.Tensor, p: EventLIF
) -> NeuronState:
    """Where ``fired`` (bool), let the neuron spike at ``t_spike`` (ms, >= ``state.t``):
    flow there, reset v to ``p.v_reset`` and start the refractory period."""
    t_to = torch.where(fired, t_spike, state.t)
    moved = flow(state, t_to, p)
    return NeuronState(
        v=torch.where(fired, torch.full_like(state.v, p.v_reset), state.v),
        i=torch.where(fired, moved.i, state.i),
        t=t_to,
        free_at=torch.where(fired, t_to + p.tau_refrac, state.free_at),
    )


def next_crossing(
    state: NeuronState,
    t_end: torch.Tensor | float,
    p: EventLIF,
    active: torch.Tensor | None = None,
    xtol: float = 1e-10,
) -> torch.Tensor:
    """Time of each neuron's next threshold crossing in (start, ``t_end``], ms; +inf if none.

    Parameters
    ----------
    state
        The neurons, each at its own time ``state.t``.
    t_end
        End of the search, ms (finite), broadcasting to the state.
    p
        Neuron parameters.
    active
        Optional bool mask: only these neurons are searched (others get +inf).
    xtol
        Solver tolerance, ms: a returned time lies at most ``xtol`` after the true crossing
        from the state it starts at (earlier spikes' errors carry over through resets:
        docs/event_engine.md, "Tolerance").

    Returns
    -------
    Tensor of the state's shape. The search starts where free evolution starts
    (``max(t, free_at)``); the solver runs only on neurons that can reach the threshold by
    the bound v(s) <= max(v, 0) + max(i, 0) min(s, K_max) / cm, where K(s) <= s and K_max
    is the peak of the synaptic kernel (:func:`kernel_peak`).
    """
    t_end = torch.as_tensor(t_end, dtype=state.v.dtype, device=state.v.device)
    start, i_start = _free_start(state, p)
    horizon = t_end - start
    reach = torch.clamp(horizon, max=kernel_peak(p))
    bound = torch.clamp(state.v, min=0.0) + torch.clamp(i_start, min=0.0) / p.cm * reach
    candidate = (horizon >= 0) & (bound >= p.v_thresh)
    if active is not None:
        candidate &= active
    out = torch.full_like(state.v, math.inf)
    idx = candidate.nonzero(as_tuple=True)
    if idx[0].numel():
        dt = next_spike_times(
            state.v[idx], i_start[idx], 0.0, _as_lif(p), horizon[idx], xtol=xtol
        )
        out[idx] = start[idx] + dt
    return out


def fire_until(
    state: NeuronState,
    t_end: torch.Tensor,
    p: EventLIF,
    counts: torch.Tensor,
    max_spikes: int | None,
    xtol: float,
    emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> NeuronState:
    """Emit every crossing up to ``t_end`` (each neuron independently), appending
    (sample, neuron, time) index tensors to ``emitted``; ``counts`` is updated in place.

    After the first round only the neurons that just fired are searched again: the others
    were found not to cross before ``t_end`` and their state has not changed."""
    active = None if max_spikes is None else counts < max_spikes
    while True:
        t_cross = next_crossing(state, t_end, p, active, xtol)
        fired = torch.isfinite(t_cross)
        b, n = fired.nonzero(as_tuple=True)
        if not b.numel():
            return state
        emitted.append((b, n, t_cross[b, n]))
        counts += fired
        state = spike_jump(state, fired, t_cross, p)
        active = fired if max_spikes is None else fired & (counts < max_spikes)


