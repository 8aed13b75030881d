r"""Current-based LIF neuron with alpha-shaped synaptic currents (PyNN ``IF_curr_alpha``,
NEST ``iaf_psc_alpha``).

Equations (ms, mV, nA, nF)::

    dv/dt      = (v_rest - v) / tau_mem + (i_exc - i_inh + i_offset + i_ext) / cm
    di_exc/dt  = -i_exc / tau_syn_exc + di_exc
    ddi_exc/dt = -di_exc / tau_syn_exc      (a spike through weight w: di_exc += w e / tau_syn_exc)
    (i_inh, di_inh likewise with tau_syn_inh)

    v >= v_thresh  ->  spike; v <- v_reset; v held at v_reset for tau_refrac

so a spike of weight w (nA) at t = 0 gives the current i(t) = w (t / tau_syn) e^(1 - t / tau_syn),
which peaks at w when t = tau_syn. ``di_exc`` (nA/ms) is the rise term of that current.

The system is linear, so one step of length dt is propagated exactly: the LIF
propagators of :mod:`neurotwin.dynamics.lif` plus, per receptor::

    v      += di_exc P_vde - di_inh P_vdn
    i_exc' = i_exc P_ee + di_exc P_ede,     P_ede = dt exp(-dt/tau_syn_exc)
    di_exc' = di_exc P_ee + w e / tau_syn_exc
    P_vde  = (1/cm) integral_0^dt exp(-(dt-s)/tau_mem) s exp(-s/tau_syn_exc) ds

(:func:`alpha_kernel_factor`, stable for every pair of time constants). A step follows
:func:`neurotwin.dynamics.lif.lif_step`'s order, which is NEST's: propagate v (unless
refractory), propagate the currents, add the input arriving in the step, test the
threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from neurotwin.dynamics.lif import LIF, LIFConstants, lif_constants
from neurotwin.dynamics.models import MODELS

__all__ = ["AlphaConstants", "AlphaLIF", "AlphaState", "alpha_constants",
           "alpha_kernel_factor", "alpha_step", "rise_moment"]

_SERIES_BELOW = 0.1
"""|x| below which the moments of :func:`rise_moment` are summed as series (no cancellation)."""


def rise_moment(x: float, late: bool) -> float:
    """``integral_0^1 t e^(-x t) dt`` (``late``) or ``integral_0^1 (1 - t) e^(-x t) dt``,
    for x >= 0: closed forms with expm1 for x >= 0.1, their Taylor series below (the
    closed forms cancel as x -> 0; the series' terms are below 1e-18 by the 12th)."""
    if x < _SERIES_BELOW:
        total, term = 0.0, 1.0  # term = (-x)^k / k!
        for k in range(14):
            total += term * ((k + 1) if late else 1) / ((k + 1) * (k + 2))
            term *= -x / (k + 1)
        return total
    if late:
        return (-math.expm1(-x) - x * math.exp(-x)) / (x * x)
    return (x + math.expm1(-x)) / (x * x)


def alpha_kernel_factor(dt: float, tau_mem: float, tau_syn: float) -> float:
    """``integral_0^dt exp(-(dt-s)/tau_mem) s exp(-s/tau_syn) ds``, in ms²: the response
    of the membrane (times cm) to a current rise term of 1 nA/ms at the start of a step.

    Computed as ``dt² exp(-dt/tau_long) m(|1/tau_mem - 1/tau_syn| dt)`` with the longer
    time constant factored out and ``m`` one of :func:`rise_moment`'s two moments, so no
    exponential grows and nothing cancels as tau_syn -> tau_mem (the limit
    dt² exp(-dt/tau_mem) / 2 is exact).

    Parameters
    ----------
    dt
        Step, ms (> 0).
    tau_mem, tau_syn
        Membrane and synaptic time constants, ms (> 0).
    """
    x = abs(1.0 / tau_mem - 1.0 / tau_syn) * dt
    if tau_mem >= tau_syn:  # the s-weighted factor decays faster: e^(-dt/tau_mem) outside
        return dt * dt * math.exp(-dt / tau_mem) * rise_moment(x, late=True)
    return dt * dt * math.exp(-dt / tau_syn) * rise_moment(x, late=False)


@MODELS.register("lif_alpha")
@dataclass(frozen=True)
class AlphaLIF:
    """Parameters of the LIF neuron with alpha-shaped synaptic currents (PyNN
    ``IF_curr_alpha``): the fields, units and checks of :class:`~neurotwin.LIF`, with
    ``tau_syn_exc``/``tau_syn_inh`` the times to the peak of the alpha currents, ms.
    Weights are peak currents, nA."""

    tau_mem: float = 20.0
    tau_syn_exc: float = 0.5
    tau_syn_inh: float = 0.5
    cm: float = 1.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    tau_refrac: float = 0.1
    i_offset: float = 0.0

    state_variables: ClassVar[tuple[str, ...]] = ("v", "i_exc", "i_inh", "di_exc", "di_inh")
    synapses: ClassVar[str] = "alpha-shaped currents"
    """The shape and kind of the synaptic input (what a twin's neuron must offer)."""

    def __post_init__(self) -> None:
        self.membrane()  # the same checks as LIF's

    def membrane(self) -> LIF:
        """The LIF of the same parameters: this model's linear part, and the whole model
        where no synaptic input arrives."""
        return LIF(**asdict(self))

    def initial_state(self) -> dict[str, float]:
        """Default initial values of the state variables: at rest, no current."""
        return {"v": self.v_rest, "i_exc": 0.0, "i_inh": 0.0, "di_exc": 0.0, "di_inh": 0.0}

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (inverse: ``AlphaLIF(**d)``)."""
        return asdict(self)


class AlphaConstants(NamedTuple):
    """What the rise terms add to a step (see the module docstring); floats."""

    p_vde: Any
    """Response of v to di_exc at the start of the step, mV per nA/ms."""
    p_vdn: Any
    """Response of v to di_inh at the start of the step, mV per nA/ms."""
    p_ede: Any
    """Response of i_exc to di_exc: dt exp(-dt/tau_syn_exc), ms."""
    p_ndn: Any
    """Response of i_inh to di_inh, ms."""
    jump_exc: Any
    """Increment of di_exc per nA of weight: e / tau_syn_exc, 1/ms."""
    jump_inh: Any
    """Increment of di_inh per nA of weight, 1/ms."""


def alpha_constants(p: AlphaLIF, dt: float) -> tuple[LIFConstants, AlphaConstants]:
    """Step constants of ``p`` for a time step ``dt`` in ms: the LIF part and the rise."""
    lif = lif_constants(p.membrane(), dt)
    return lif, AlphaConstants(
        p_vde=alpha_kernel_factor(dt, p.tau_mem, p.tau_syn_exc) / p.cm,
        p_vdn=alpha_kernel_factor(dt, p.tau_mem, p.tau_syn_inh) / p.cm,
        p_ede=dt * lif.p_ee,
        p_ndn=dt * lif.p_nn,
        jump_exc=math.e / p.tau_syn_exc,
        jump_inh=math.e / p.tau_syn_inh,
    )


class AlphaState(NamedTuple):
    """State of a group of alpha-current LIF neurons: torch tensors of one shape."""

    v: torch.Tensor
    """Membrane potential, mV."""
    i_exc: torch.Tensor
    """Excitatory synaptic current, nA."""
    i_inh: torch.Tensor
    """Inhibitory synaptic current, nA."""
    di_exc: torch.Tensor
    """Rise term of i_exc, nA/ms."""
    di_inh: torch.Tensor
    """Rise term of i_inh, nA/ms."""
    refrac: torch.Tensor
    """Remaining refractory steps (integer tensor)."""


def alpha_step(
    state: AlphaState,
    input_exc: torch.Tensor,
    input_inh: torch.Tensor,
    i_ext: torch.Tensor | float,
    lif: LIFConstants,
    rise: AlphaConstants,
) -> tuple[torch.Tensor, AlphaState]:
    """Advance alpha-current LIF neurons by one exact step of dt (module docstring).

    Parameters and returns as :func:`neurotwin.dynamics.lif.lif_step`; the input weights
    (nA, peak currents) go into the rise terms; ``lif, rise`` from :func:`alpha_constants`.
    """
    v, i_exc, i_inh, di_exc, di_inh, refrac = state
    free = refrac <= 0
    v_free = (
        lif.v_rest
        + (v - lif.v_rest) * lif.p_vv
        + (lif.i_offset + i_ext) * lif.p_vi
        + i_exc * lif.p_ve
        - i_inh * lif.p_vn
        + di_exc * rise.p_vde
        - di_inh * rise.p_vdn
    )
    v = torch.where(free, v_free, v)
    refrac = torch.where(free, refrac, refrac - 1)
    i_exc = i_exc * lif.p_ee + di_exc * rise.p_ede
    i_inh = i_inh * lif.p_nn + di_inh * rise.p_ndn
    di_exc = di_exc * lif.p_ee + input_exc * rise.jump_exc
    di_inh = di_inh * lif.p_nn + input_inh * rise.jump_inh
    spikes = v >= lif.v_thresh
    v = torch.where(spikes, lif.v_reset, v)
    refrac = torch.where(spikes, lif.refrac_steps, refrac)
    return spikes, AlphaState(v, i_exc, i_inh, di_exc, di_inh, refrac)
