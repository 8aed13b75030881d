r"""Adaptive exponential integrate-and-fire neuron (AdEx) with exponential synaptic currents.

Equations (ms, mV, nA, nF; ``a`` in nS, so ``a * 1e-3`` is in µS = nA/mV)::

    cm dv/dt    = -g_L (v - v_rest) + g_L delta_t exp((v - v_thresh) / delta_t)
                  - w + i_exc - i_inh + i_offset + i_ext,          g_L = cm / tau_mem
    tau_w dw/dt = a (v - v_rest) - w
    di_exc/dt   = -i_exc / tau_syn_exc,   di_inh/dt = -i_inh / tau_syn_inh

    v >= v_spike  ->  spike; v <- v_reset; w <- w + b; v held at v_reset for tau_refrac

Integrator (:func:`adex_step`): first-order exponential time differencing. Over one step
the linear leak and the synaptic currents are propagated exactly (the LIF propagators of
:mod:`neurotwin.dynamics.lif`); the exponential term and the adaptation current ``w`` are
held at their values from the start of the step; ``w`` is then propagated exactly with
``v`` held. The scheme is stable for every dt (the stiff leak is never Euler-stepped) and
first-order accurate; because a step starts below ``v_spike`` (a spike resets), the
exponential never sees an argument above ``(v_spike - v_thresh) / delta_t``: finite unless
delta_t is tiny (below (v_spike - v_thresh) / 709 in float64, / 88 in float32), where the
term may reach +inf, which only makes that step spike (no NaN). With ``delta_t -> 0`` and
``a = b = 0`` it reduces to the exact LIF step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from neurotwin.dynamics.lif import LIF, LIFConstants, lif_constants
from neurotwin.dynamics.models import MODELS
from neurotwin.errors import ConfigError, check_finite, check_positive

__all__ = ["AdEx", "AdExConstants", "AdExState", "adex_constants", "adex_step"]


@MODELS.register("adex")
@dataclass(frozen=True)
class AdEx:
    """Parameters of the AdEx neuron (PyNN ``EIF_cond_exp_isfa_ista`` names, current-based).

    Parameters
    ----------
    tau_mem, tau_syn_exc, tau_syn_inh
        Membrane and synaptic time constants, ms (> 0).
    cm
        Membrane capacitance, nF (> 0).
    v_rest, v_reset
        Leak reversal and reset potential, mV.
    v_thresh
        Exponential threshold V_T, mV.
    tau_refrac
        Absolute refractory period, ms (>= 0).
    i_offset
        Constant bias current, nA.
    delta_t
        Slope factor, mV (> 0).
    v_spike
        Spike detection potential, mV (> v_thresh).
    a
        Subthreshold adaptation conductance, nS.
    b
        Spike-triggered adaptation current increment, nA.
    tau_w
        Adaptation time constant, ms (> 0).
    """

    tau_mem: float = 9.3667
    tau_syn_exc: float = 5.0
    tau_syn_inh: float = 5.0
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

    state_variables: ClassVar[tuple[str, ...]] = ("v", "i_exc", "i_inh", "w")
    synapses: ClassVar[str] = "exponential currents"
    """The shape and kind of the synaptic input (what a twin's neuron must offer)."""

    def __post_init__(self) -> None:
        for name in ("tau_mem", "tau_syn_exc", "tau_syn_inh", "tau_w"):
            check_positive(name, getattr(self, name), "ms")
        check_positive("cm", self.cm, "nF")
        check_positive("delta_t", self.delta_t, "mV")
        check_positive("tau_refrac", self.tau_refrac, "ms", allow_zero=True)
        for name in ("v_rest", "v_reset", "v_thresh", "v_spike", "i_offset", "a", "b"):
            check_finite(name, getattr(self, name))
        if not self.v_spike > self.v_thresh:
            raise ConfigError(
                f"v_spike must be above v_thresh, got v_spike={self.v_spike} mV, "
                f"v_thresh={self.v_thresh} mV"
            )
        if not self.v_reset < self.v_spike:
            raise ConfigError(
                f"v_reset must be below v_spike, got v_reset={self.v_reset} mV, "
                f"v_spike={self.v_spike} mV"
            )

    def initial_state(self) -> dict[str, float]:
        """Default initial values: at rest, no current, no adaptation."""
        return {"v": self.v_rest, "i_exc": 0.0, "i_inh": 0.0, "w": 0.0}

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (inverse: ``AdEx(**d)``)."""
        return asdict(self)


class AdExConstants(NamedTuple):
    """Step constants of :class:`AdEx`: the LIF part plus the exponential and adaptation."""

    lif: LIFConstants
    """Leak and synaptic propagators (``v_thresh`` there is the spike detection v_spike)."""
    g_l_delta_t: Any
    """g_L * delta_t, nA."""
    v_exp: Any
    """Exponential threshold V_T, mV."""
    delta_t: Any
    """Slope factor, mV."""
    p_ww: Any
    """exp(-dt/tau_w)."""
    a_us: Any
    """Adaptation conductance a in µS (nA/mV)."""
    b: Any
    """Spike-triggered increment of w, nA."""


def adex_constants(p: AdEx, dt: float) -> AdExConstants:
    """Step constants of ``p`` for a time step ``dt`` in ms."""
    lif = lif_constants(
        LIF(
            tau_mem=p.tau_mem,
            tau_syn_exc=p.tau_syn_exc,
            tau_syn_inh=p.tau_syn_inh,
            cm=p.cm,
            v_rest=p.v_rest,
            v_reset=p.v_reset,
            v_thresh=p.v_spike,
            tau_refrac=p.tau_refrac,
            i_offset=p.i_offset,
        ),
        dt,
    )
    return AdExConstants(
        lif=lif,
        g_l_delta_t=p.cm / p.tau_mem * p.delta_t,
        v_exp=p.v_thresh,
        delta_t=p.delta_t,
        p_ww=math.exp(-dt / p.tau_w),
        a_us=p.a * 1e-3,
        b=p.b,
    )


class AdExState(NamedTuple):
    """State of a group of AdEx neurons: torch tensors of one shape."""

    v: torch.Tensor
    """Membrane potential, mV."""
    i_exc: torch.Tensor
    """Excitatory synaptic current, nA."""
    i_inh: torch.Tensor
    """Inhibitory synaptic current, nA."""
    w: torch.Tensor
    """Adaptation current, nA."""
    refrac: torch.Tensor
    """Remaining refractory steps (integer tensor)."""


def adex_step(
    state: AdExState,
    input_exc: torch.Tensor,
    input_inh: torch.Tensor,
    i_ext: torch.Tensor | float,
    c: AdExConstants,
) -> tuple[torch.Tensor, AdExState]:
    """Advance AdEx neurons by one step of dt (scheme in the module docstring).

    Parameters and returns as :func:`neurotwin.dynamics.lif.lif_step`; ``state.w`` in nA.
    """
    v, i_exc, i_inh, w, refrac = state
    q = c.lif
    free = refrac <= 0
    i_nonlinear = c.g_l_delta_t * torch.exp((v - c.v_exp) / c.delta_t) - w
    v_free = (
        q.v_rest
        + (v - q.v_rest) * q.p_vv
        + (q.i_offset + i_ext + i_nonlinear) * q.p_vi
        + i_exc * q.p_ve
        - i_inh * q.p_vn
    )
    w = w * c.p_ww + c.a_us * (v - q.v_rest) * (1.0 - c.p_ww)
    v = torch.where(free, v_free, v)
    refrac = torch.where(free, refrac, refrac - 1)
    i_exc = i_exc * q.p_ee + input_exc
    i_inh = i_inh * q.p_nn + input_inh
    spikes = v >= q.v_thresh
    v = torch.where(spikes, q.v_reset, v)
    w = torch.where(spikes, w + c.b, w)
    refrac = torch.where(spikes, q.refrac_steps, refrac)
    return spikes, AdExState(v, i_exc, i_inh, w, refrac)
