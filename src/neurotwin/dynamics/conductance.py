r"""LIF and AdEx neurons with conductance-based synapses, exponential or alpha-shaped
(PyNN ``IF_cond_exp``, ``IF_cond_alpha``, ``EIF_cond_exp_isfa_ista``,
``EIF_cond_alpha_isfa_ista``; NEST ``iaf_cond_exp``, ``iaf_cond_alpha``,
``aeif_cond_exp``, ``aeif_cond_alpha``).

Equations (ms, mV, nA, nF, µS; µS mV = nA)::

    cm dv/dt = g_L (v_rest - v) + g_exc (e_rev_exc - v) + g_inh (e_rev_inh - v)
               + i_offset + i_ext [+ g_L delta_t exp((v - v_thresh)/delta_t) - w]   g_L = cm/tau_mem
    exponential:  dg_exc/dt = -g_exc / tau_syn_exc      (a spike of weight w: g_exc += w)
    alpha:        dg_exc/dt = -g_exc / tau_syn_exc + dg_exc,
                  ddg_exc/dt = -dg_exc / tau_syn_exc   (a spike: dg_exc += w e / tau_syn_exc,
                                                        so g_exc peaks at w after tau_syn_exc)
    (g_inh likewise; the bracket and tau_w dw/dt = a (v - v_rest) - w are AdEx' only)

    v >= v_thresh (LIF) or v_spike (AdEx)  ->  spike; v <- v_reset; [w <- w + b];
    v held at v_reset for tau_refrac

Integrator (:func:`cond_constants`, compiled in :mod:`neurotwin.engines.synaptic_update`).
The conductances are linear and propagated exactly. Over one step the membrane equation
is linear in v once the conductances are fixed; they are held at their exact averages
over the step (``g_avg = g avg_e [+ dg avg_de]``), and the AdEx exponential term and w at
their values at the start of the step, as in :mod:`neurotwin.dynamics.adex`. Then, with
``u = v - v_rest``::

    g_tot = g_L + g_exc_avg + g_inh_avg
    u_inf = (g_exc_avg (e_rev_exc - v_rest) + g_inh_avg (e_rev_inh - v_rest) + I) / g_tot
    u'    = u_inf + (u - u_inf) exp(-g_tot dt / cm)

An exponential integrator: stable for every dt (the conductances only shorten the
effective time constant), exact for constant conductances, and second order in dt for
the synaptic part (holding the coefficient at its step average makes the homogeneous
solution exact; the error is in how the drive is weighted over the step); the AdEx terms
held over the step are first order. Measured against NEST's adaptive Runge-Kutta
(``docs/engine.md``, ``scripts/nest_synapse_error.py``) at dt = 0.1 ms: the LIF models
within 2e-4 mV over 500 ms with every spike in the same step; the AdEx models' spikes
later by about two steps per inter-spike interval. With zero conductances it is the
exact LIF step. The step order is NEST's: propagate v (unless refractory), propagate the
conductances, add the input arriving in the step, test the threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, NamedTuple

import torch

from neurotwin.dynamics.adex import AdEx, AdExConstants
from neurotwin.dynamics.alpha import rise_moment
from neurotwin.dynamics.lif import LIF
from neurotwin.dynamics.models import MODELS
from neurotwin.errors import check_finite

__all__ = [
    "CondAlphaAdEx",
    "CondAlphaLIF",
    "CondConstants",
    "CondExpAdEx",
    "CondExpLIF",
    "CondState",
    "cond_constants",
    "cond_step",
]


@dataclass(frozen=True)
class CondLIF:
    """Parameters of the LIF neuron with conductance-based synapses: the fields, units and
    checks of :class:`~neurotwin.LIF` plus the reversal potentials; weights in µS.

    Parameters
    ----------
    e_rev_exc, e_rev_inh
        Reversal potentials of the excitatory / inhibitory conductances, mV.
    """

    tau_mem: float = 20.0
    tau_syn_exc: float = 5.0
    tau_syn_inh: float = 5.0
    cm: float = 1.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    tau_refrac: float = 0.1
    i_offset: float = 0.0
    e_rev_exc: float = 0.0
    e_rev_inh: float = -70.0

    alpha: ClassVar[bool] = False
    """Alpha-shaped conductances (two states per receptor) rather than exponential."""
    synapses: ClassVar[str] = "exponential conductances"
    """The shape and kind of the synaptic input (what a twin's neuron must offer)."""
    state_variables: ClassVar[tuple[str, ...]] = ("v", "g_exc", "g_inh")

    def __post_init__(self) -> None:
        self.membrane()  # the LIF checks
        for name in ("e_rev_exc", "e_rev_inh"):
            check_finite(name, getattr(self, name))

    def membrane(self) -> LIF:
        """The LIF of the same membrane parameters (no reversal potentials)."""
        names = {f.name for f in fields(LIF)}
        return LIF(**{k: v for k, v in asdict(self).items() if k in names})

    def initial_state(self) -> dict[str, float]:
        """Default initial values: at rest, no conductance."""
        return dict.fromkeys(self.state_variables, 0.0) | {"v": self.v_rest}

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (inverse: ``type(self)(**d)``)."""
        return asdict(self)


@MODELS.register("lif_cond_exp")
@dataclass(frozen=True)
class CondExpLIF(CondLIF):
    """LIF with exponential conductances (PyNN ``IF_cond_exp``); parameters of
    :class:`CondLIF`."""


@MODELS.register("lif_cond_alpha")
@dataclass(frozen=True)
class CondAlphaLIF(CondLIF):
    """LIF with alpha-shaped conductances (PyNN ``IF_cond_alpha``); parameters of
    :class:`CondLIF`, ``tau_syn_*`` the times to the conductances' peaks."""

    tau_syn_exc: float = 0.3
    tau_syn_inh: float = 0.5
    alpha: ClassVar[bool] = True
    synapses: ClassVar[str] = "alpha-shaped conductances"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "g_exc", "g_inh", "dg_exc", "dg_inh")


@dataclass(frozen=True)
class CondAdEx:
    """Parameters of the AdEx neuron with conductance-based synapses: the fields, units
    and checks of :class:`~neurotwin.AdEx` plus the reversal potentials (mV); weights
    in µS."""

    tau_mem: float = 9.3667
    tau_syn_exc: float = 5.0
    tau_syn_inh: float = 5.0
    e_rev_exc: float = 0.0
    e_rev_inh: float = -80.0
    cm: float = 0.281
    v_rest: float = -70.6
    v_reset: float = -70.6
    v_thresh: float = -50.4
    tau_refrac: float = 0.1
    i_offset: float = 0.0
    delta_t: float = 2.0
    v_spike: float = -40.0
    a: float = 4.0
    b: float = 0.0805
    tau_w: float = 144.0

    alpha: ClassVar[bool] = False
    synapses: ClassVar[str] = "exponential conductances"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "g_exc", "g_inh", "w")

    def __post_init__(self) -> None:
        self.membrane()  # the AdEx checks
        for name in ("e_rev_exc", "e_rev_inh"):
            check_finite(name, getattr(self, name))

    def membrane(self) -> AdEx:
        """The AdEx of the same membrane parameters (no reversal potentials)."""
        names = {f.name for f in fields(AdEx)}
        return AdEx(**{k: v for k, v in asdict(self).items() if k in names})

    def initial_state(self) -> dict[str, float]:
        """Default initial values: at rest, no conductance, no adaptation."""
        return dict.fromkeys(self.state_variables, 0.0) | {"v": self.v_rest}

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (inverse: ``type(self)(**d)``)."""
        return asdict(self)


@MODELS.register("adex_cond_exp")
@dataclass(frozen=True)
class CondExpAdEx(CondAdEx):
    """AdEx with exponential conductances (PyNN ``EIF_cond_exp_isfa_ista``)."""


@MODELS.register("adex_cond_alpha")
@dataclass(frozen=True)
class CondAlphaAdEx(CondAdEx):
    """AdEx with alpha-shaped conductances (PyNN ``EIF_cond_alpha_isfa_ista``)."""

    alpha: ClassVar[bool] = True
    synapses: ClassVar[str] = "alpha-shaped conductances"
    state_variables: ClassVar[tuple[str, ...]] = ("v", "g_exc", "g_inh", "w", "dg_exc",
                                                  "dg_inh")


class CondConstants(NamedTuple):
    """Everything one step of a conductance-based neuron needs (module docstring); floats.
    The rise fields are 0 for exponential conductances."""

    v_rest: Any
    """Leak reversal potential, mV."""
    v_reset: Any
    """Reset potential, mV."""
    v_thresh: Any
    """Spike detection threshold, mV (v_spike for AdEx)."""
    i_offset: Any
    """Bias current, nA."""
    g_l: Any
    """Leak conductance cm / tau_mem, µS."""
    e_exc_rel: Any
    """e_rev_exc - v_rest, mV."""
    e_inh_rel: Any
    """e_rev_inh - v_rest, mV."""
    dt_cm: Any
    """dt / cm, ms/nF."""
    p_ee: Any
    """exp(-dt/tau_syn_exc)."""
    p_nn: Any
    """exp(-dt/tau_syn_inh)."""
    avg_e: Any
    """Average of g_exc over the step per unit of its start value: (tau/dt)(1 - p_ee)."""
    avg_i: Any
    """Likewise for g_inh."""
    avg_de: Any
    """Average of g_exc over the step per unit of dg_exc at its start, ms (alpha)."""
    avg_dn: Any
    """Likewise for g_inh and dg_inh, ms (alpha)."""
    p_ede: Any
    """Response of g_exc to dg_exc over the step: dt p_ee, ms (alpha)."""
    p_ndn: Any
    """Response of g_inh to dg_inh, ms (alpha)."""
    jump_exc: Any
    """Increment of dg_exc per µS of weight: e / tau_syn_exc, 1/ms (alpha; 1 for exp, where
    the weight goes into g_exc directly)."""
    jump_inh: Any
    """Likewise for dg_inh, 1/ms."""
    refrac_steps: Any
    """Refractory period in whole steps: round(tau_refrac / dt)."""


def _averages(dt: float, tau: float, alpha: bool) -> tuple[float, float]:
    """Step averages of g(s) = (g + dg s) e^(-s/tau) over [0, dt] per unit g and dg (ms)."""
    x = dt / tau
    avg_g = -math.expm1(-x) / x
    avg_dg = dt * rise_moment(x, late=True) if alpha else 0.0
    return avg_g, avg_dg


def cond_constants(p: CondLIF | CondAdEx, dt: float) -> CondConstants:
    """Step constants of ``p`` for a time step ``dt`` in ms (module docstring)."""
    m = p.membrane()
    avg_e, avg_de = _averages(dt, p.tau_syn_exc, p.alpha)
    avg_i, avg_dn = _averages(dt, p.tau_syn_inh, p.alpha)
    p_ee, p_nn = math.exp(-dt / p.tau_syn_exc), math.exp(-dt / p.tau_syn_inh)
    return CondConstants(
        v_rest=p.v_rest,
        v_reset=p.v_reset,
        v_thresh=m.v_spike if isinstance(m, AdEx) else m.v_thresh,
        i_offset=p.i_offset,
        g_l=p.cm / p.tau_mem,
        e_exc_rel=p.e_rev_exc - p.v_rest,
        e_inh_rel=p.e_rev_inh - p.v_rest,
        dt_cm=dt / p.cm,
        p_ee=p_ee,
        p_nn=p_nn,
        avg_e=avg_e,
        avg_i=avg_i,
        avg_de=avg_de,
        avg_dn=avg_dn,
        p_ede=dt * p_ee if p.alpha else 0.0,
        p_ndn=dt * p_nn if p.alpha else 0.0,
        jump_exc=math.e / p.tau_syn_exc if p.alpha else 1.0,
        jump_inh=math.e / p.tau_syn_inh if p.alpha else 1.0,
        refrac_steps=round(p.tau_refrac / dt),
    )


class CondState(NamedTuple):
    """State of a group of conductance-based neurons: torch tensors of one shape."""

    v: torch.Tensor
    """Membrane potential, mV."""
    g_exc: torch.Tensor
    """Excitatory conductance, µS."""
    g_inh: torch.Tensor
    """Inhibitory conductance, µS."""
    dg_exc: torch.Tensor | None
    """Rise term of g_exc, µS/ms; None for exponential conductances."""
    dg_inh: torch.Tensor | None
    """Rise term of g_inh, µS/ms; None for exponential conductances."""
    w: torch.Tensor | None
    """Adaptation current, nA (AdEx); None for the LIF."""
    refrac: torch.Tensor
    """Remaining refractory steps (integer tensor)."""


def cond_step(
    state: CondState,
    input_exc: torch.Tensor,
    input_inh: torch.Tensor,
    i_ext: torch.Tensor | float,
    c: CondConstants,
    adex: AdExConstants | None = None,
) -> tuple[torch.Tensor, CondState]:
    """Advance conductance-based neurons by one step of dt (the module docstring's
    exponential integrator).

    Parameters and returns as :func:`neurotwin.dynamics.lif.lif_step`; the input weights
    are in µS; ``adex`` (its ``lif`` field unused) with ``state.w`` for the AdEx models.
    """
    v, g_exc, g_inh, dg_exc, dg_inh, w, refrac = state
    i_in = c.i_offset + i_ext
    w_next = w
    if adex is not None and w is not None:
        i_in = i_in + (adex.g_l_delta_t * torch.exp((v - adex.v_exp) / adex.delta_t) - w)
        w_next = w * adex.p_ww + adex.a_us * (v - c.v_rest) * (1.0 - adex.p_ww)
    g_e = g_exc * c.avg_e
    g_i = g_inh * c.avg_i
    if dg_exc is not None and dg_inh is not None:
        g_e = g_e + dg_exc * c.avg_de
        g_i = g_i + dg_inh * c.avg_dn
    g_tot = c.g_l + g_e + g_i
    u_inf = (g_e * c.e_exc_rel + g_i * c.e_inh_rel + i_in) / g_tot
    v_free = c.v_rest + u_inf + (v - c.v_rest - u_inf) * torch.exp(-g_tot * c.dt_cm)
    if dg_exc is None or dg_inh is None:
        g_exc = g_exc * c.p_ee + input_exc
        g_inh = g_inh * c.p_nn + input_inh
    else:
        g_exc = g_exc * c.p_ee + dg_exc * c.p_ede
        g_inh = g_inh * c.p_nn + dg_inh * c.p_ndn
        dg_exc = dg_exc * c.p_ee + input_exc * c.jump_exc
        dg_inh = dg_inh * c.p_nn + input_inh * c.jump_inh
    free = refrac <= 0
    v = torch.where(free, v_free, v)
    refrac = torch.where(free, refrac, refrac - 1)
    spikes = v >= c.v_thresh
    v = torch.where(spikes, c.v_reset, v)
    refrac = torch.where(spikes, c.refrac_steps, refrac)
    if adex is not None and w_next is not None:
        w_next = torch.where(spikes, w_next + adex.b, w_next)
    return spikes, CondState(v, g_exc, g_inh, dg_exc, dg_inh, w_next, refrac)
