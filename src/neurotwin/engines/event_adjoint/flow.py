r"""Adjoint flow between events, in reverse time: the forward flow with tau_mem and tau_syn
swapped.

The adjoint state of a neuron is its *costate* (lam_v, lam_i) = (dL/dv(t), dL/di(t)): the
sensitivity of the loss to the state at time t, in 1/mV and 1/nA (times the loss's unit).
Between events the forward dynamics are linear, x' = A x with
A = [[-1/tau_mem, 1/cm], [0, -1/tau_syn]], and the costate obeys lam' = -A^T lam. With
s = t_later - t the time run backwards (ms)::

    d lam_v / ds = -lam_v / tau_mem
    d lam_i / ds = -lam_i / tau_syn + lam_v / cm

This is the forward neuron with the roles exchanged: lam_v is a "current" decaying with
tau_mem, lam_i a "membrane" leaking with tau_syn and driven by lam_v / cm. Its closed form
uses the same kernel K (symmetric in the two time constants)::

    lam_v(t - s) = lam_v(t) exp(-s / tau_mem)
    lam_i(t - s) = lam_i(t) exp(-s / tau_syn) + lam_v(t) K(s) / cm

so :func:`adjoint_flow` is :func:`neurotwin.engines.event_maps.flow` on the mirrored neuron
(:func:`adjoint_params`) in the time coordinate -t: no new integrator.

(In Wunderlich & Pehle's notation, with their V = v, I = i tau_mem / cm:
lambda_V = -lam_v / tau_mem and lambda_I = -(cm / tau_mem) lam_i / tau_syn; their
tau_m lambda_V' = -lambda_V, tau_s lambda_I' = -lambda_I + lambda_V in reverse time is the
pair of equations above.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_maps import NeuronState, flow

__all__ = ["AdjointState", "adjoint_flow", "adjoint_params"]


class AdjointState(NamedTuple):
    """Costate of a group of neurons: tensors of one shape, e.g. (B, n)."""

    lam_v: torch.Tensor
    """dL/dv at time ``t``, 1/mV (times the loss unit)."""
    lam_i: torch.Tensor
    """dL/di at time ``t``, 1/nA (times the loss unit)."""
    t: torch.Tensor
    """Forward time at which the costate holds, ms."""


def adjoint_params(p: EventLIF) -> EventLIF:
    """The mirrored neuron whose forward flow is the adjoint flow of ``p``: time constants
    swapped, same cm (threshold and reset unused: the adjoint has no threshold)."""
    return EventLIF(tau_mem=p.tau_syn, tau_syn=p.tau_mem, v_thresh=1.0, v_reset=0.0, cm=p.cm)


def adjoint_flow(state: AdjointState, t: torch.Tensor, mirror: EventLIF) -> AdjointState:
    """Carry the costate back from ``state.t`` to the earlier time ``t`` (ms, <= state.t,
    broadcasting); ``mirror`` is :func:`adjoint_params` of the layer's neuron."""
    neg_inf = torch.full_like(state.lam_v, -math.inf)
    mirrored = NeuronState(v=state.lam_i, i=state.lam_v, t=-state.t, free_at=neg_inf)
    moved = flow(mirrored, -t, mirror)
    return AdjointState(lam_v=moved.i, lam_i=moved.v, t=-moved.t)
