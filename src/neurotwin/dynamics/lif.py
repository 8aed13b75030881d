r"""Current-based leaky integrate-and-fire neuron with exponential synaptic currents.

Equations (model time in ms, voltage in mV, current in nA, capacitance in nF)::

    dv/dt     = (v_rest - v) / tau_mem + (i_exc - i_inh + i_offset + i_ext) / cm
    di_exc/dt = -i_exc / tau_syn_exc        (a spike through weight w: i_exc += w)
    di_inh/dt = -i_inh / tau_syn_inh        (a spike through weight w: i_inh += w)

    v >= v_thresh  ->  spike; v <- v_reset; v held at v_reset for tau_refrac

Between events the system is linear, so one step of length dt is propagated exactly
(:func:`lif_constants`): with input current constant over the step::

    v(t+dt) = v_rest + (v - v_rest) P_vv + (i_offset + i_ext) P_vi
              + i_exc P_ve - i_inh P_vn
    P_vv = exp(-dt/tau_mem),   P_vi = (tau_mem/cm) (1 - P_vv)
    P_ve = exp(-dt/tau_mem) expm1(a dt) / (a cm),   a = 1/tau_mem - 1/tau_syn_exc
    (P_vn likewise with tau_syn_inh)

and P_ve -> dt exp(-dt/tau_mem) / cm as tau_syn_exc -> tau_mem (computed stably by
:func:`exp_kernel_factor`, so the equal-time-constant case is exact too). The order of one
step is the one NEST's ``iaf_psc_exp`` uses (:func:`lif_step`): propagate v (unless
refractory), decay the currents, add the synaptic input arriving at the end of the step,
test the threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from neurotwin.dynamics.models import MODELS
from neurotwin.errors import ConfigError, check_finite, check_positive

__all__ = [
    "LIF",
    "LIFConstants",
    "LIFState",
    "exp_kernel_factor",
    "lif_constants",
    "lif_step",
]


@MODELS.register("lif")
@dataclass(frozen=True)
class LIF:
    """Parameters of the current-based LIF neuron (PyNN ``IF_curr_exp`` names).

    Parameters
    ----------
    tau_mem
        Membrane time constant, ms (> 0).
    tau_syn_exc, tau_syn_inh
        Excitatory / inhibitory synaptic current time constants, ms (> 0).
    cm
        Membrane capacitance, nF (> 0).
    v_rest, v_reset, v_thresh
        Resting, reset and threshold potential, mV (v_reset < v_thresh).
    tau_refrac
        Absolute refractory period, ms (>= 0); rounded to whole time steps.
    i_offset
        Constant bias current, nA.
    """

    tau_mem: float = 20.0
    tau_syn_exc: float = 5.0
    tau_syn_inh: float = 5.0
    cm: float = 1.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -50.0
    tau_refrac: float = 0.0
    i_offset: float = 0.0

    state_variables: ClassVar[tuple[str, ...]] = ("v", "i_exc", "i_inh")
    synapses: ClassVar[str] = "exponential currents"
    """The shape and kind of the synaptic input (what a twin's neuron must offer)."""

    def __post_init__(self) -> None:
        for name in ("tau_mem", "tau_syn_exc", "tau_syn_inh"):
            check_positive(name, getattr(self, name), "ms")
        check_positive("cm", self.cm, "nF")
        check_positive("tau_refrac", self.tau_refrac, "ms", allow_zero=True)
        for name in ("v_rest", "v_reset", "v_thresh", "i_offset"):
            check_finite(name, getattr(self, name))
        if not self.v_reset < self.v_thresh:
            raise ConfigError(
                f"v_reset must be below v_thresh, got v_reset={self.v_reset} mV, "
                f"v_thresh={self.v_thresh} mV"
            )

    def initial_state(self) -> dict[str, float]:
        """Default initial values of the state variables: at rest, no current."""
        return {"v": self.v_rest, "i_exc": 0.0, "i_inh": 0.0}

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (inverse: ``LIF(**d)``)."""
        return asdict(self)


def exp_kernel_factor(dt: Any, tau_mem: float, tau_syn: float) -> Any:
    """Integral of exp(-(dt-s)/tau_mem) exp(-s/tau_syn) ds over [0, dt], in ms.

    Equals tau_mem tau_syn / (tau_syn - tau_mem) (exp(-dt/tau_syn) - exp(-dt/tau_mem)),
    evaluated as ``dt exp(-dt/tau_long) expm1(-|a| dt) / (-|a| dt)``, with tau_long the longer
    time constant and a = 1/tau_mem - 1/tau_syn: no cancellation as tau_syn -> tau_mem
    (the limit dt exp(-dt/tau_mem) is exact) and no overflow for dt >> tau.

    Parameters
    ----------
    dt
        Elapsed time, ms (>= 0, finite): a float, a numpy array or a torch tensor.
    tau_mem, tau_syn
        Membrane and synaptic time constants, ms.

    Returns
    -------
    The integral in ms, of the type and shape of ``dt``.
    """
    tau_long = max(tau_mem, tau_syn)
    rate = abs(1.0 / tau_mem - 1.0 / tau_syn)
    if isinstance(dt, torch.Tensor | np.ndarray):
        xp: Any = torch if isinstance(dt, torch.Tensor) else np
        y = -rate * dt
        # expm1(y)/y -> 1 as y -> 0; the guard keeps the unused branch free of 0/0
        y_safe = xp.where(y == 0, -1.0, y)
        ratio = xp.where(y == 0, 1.0, xp.expm1(y_safe) / y_safe)
        return xp.exp(-dt / tau_long) * dt * ratio
    y = -rate * dt
    # below 1e-12 the series' first term is exact in float64
    ratio = 1.0 + 0.5 * y if abs(y) < 1e-12 else math.expm1(y) / y
    return math.exp(-dt / tau_long) * dt * ratio


class LIFConstants(NamedTuple):
    """Everything one exact step of :class:`LIF` needs (see the module docstring).

    Fields are floats for one neuron, or tensors/arrays broadcasting over neurons.
    """

    v_rest: Any
    """Resting potential, mV."""
    v_reset: Any
    """Reset potential, mV."""
    v_thresh: Any
    """Threshold, mV."""
    i_offset: Any
    """Bias current, nA."""
    p_vv: Any
    """exp(-dt/tau_mem), dimensionless."""
    p_vi: Any
    """Response of v to a current held constant over the step, mV/nA."""
    p_ve: Any
    """Response of v to i_exc at the start of the step, mV/nA."""
    p_vn: Any
    """Response of v to i_inh at the start of the step, mV/nA."""
    p_ee: Any
    """exp(-dt/tau_syn_exc)."""
    p_nn: Any
    """exp(-dt/tau_syn_inh)."""
    refrac_steps: Any
    """Refractory period in whole steps: round(tau_refrac / dt)."""


def lif_constants(p: LIF, dt: float) -> LIFConstants:
    """Step constants of ``p`` for a time step ``dt`` in ms."""
    check_positive("dt", dt, "ms")
    return LIFConstants(
        v_rest=p.v_rest,
        v_reset=p.v_reset,
        v_thresh=p.v_thresh,
        i_offset=p.i_offset,
        p_vv=math.exp(-dt / p.tau_mem),
        p_vi=-math.expm1(-dt / p.tau_mem) * p.tau_mem / p.cm,
        p_ve=exp_kernel_factor(dt, p.tau_mem, p.tau_syn_exc) / p.cm,
        p_vn=exp_kernel_factor(dt, p.tau_mem, p.tau_syn_inh) / p.cm,
        p_ee=math.exp(-dt / p.tau_syn_exc),
        p_nn=math.exp(-dt / p.tau_syn_inh),
        refrac_steps=round(p.tau_refrac / dt),
    )


class LIFState(NamedTuple):
    """State of a group of LIF neurons: torch tensors of one shape."""

    v: torch.Tensor
    """Membrane potential, mV."""
    i_exc: torch.Tensor
    """Excitatory synaptic current, nA."""
    i_inh: torch.Tensor
    """Inhibitory synaptic current, nA."""
    refrac: torch.Tensor
    """Remaining refractory steps (integer tensor)."""


def lif_step(
    state: LIFState,
    input_exc: torch.Tensor,
    input_inh: torch.Tensor,
    i_ext: torch.Tensor | float,
    c: LIFConstants,
) -> tuple[torch.Tensor, LIFState]:
    """Advance LIF neurons by one step of dt: the semantics every engine follows.

    Parameters
    ----------
    state
        State at time t.
    input_exc, input_inh
        Synaptic weight (nA) arriving during the step, added at its end.
    i_ext
        External current (nA) held constant over the step, added to ``c.i_offset``.
    c
        Step constants for this dt (:func:`lif_constants`), broadcasting over neurons.

    Returns
    -------
    spikes, state
        Boolean spike mask (the spike is stamped t + dt) and the state at t + dt.
    """
    v, i_exc, i_inh, refrac = state
    free = refrac <= 0
    v_free = (
        c.v_rest
        + (v - c.v_rest) * c.p_vv
        + (c.i_offset + i_ext) * c.p_vi
        + i_exc * c.p_ve
        - i_inh * c.p_vn
    )
    v = torch.where(free, v_free, v)
    refrac = torch.where(free, refrac, refrac - 1)
    i_exc = i_exc * c.p_ee + input_exc
    i_inh = i_inh * c.p_nn + input_inh
    spikes = v >= c.v_thresh
    v = torch.where(spikes, c.v_reset, v)
    refrac = torch.where(spikes, c.refrac_steps, refrac)
    return spikes, LIFState(v, i_exc, i_inh, refrac)
