r"""The event-driven LIF neuron: one signed synaptic current, simulated without a time grid.

:class:`EventLIF` is the neuron of the event engine (:mod:`neurotwin.engines.event`) and of
EventProp, the :class:`~neurotwin.dynamics.lif.LIF` with one synaptic time constant and
signed weights, its voltages measured from rest (``to_lif`` / ``from_lif`` convert).
:class:`EventLIFConstants` is the same neuron as one flat record of floats, with the
derived constants the compiled kernels need; numba takes it as one argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from neurotwin.dynamics.lif import LIF, exp_kernel_factor
from neurotwin.errors import ConfigError, check_finite, check_positive

__all__ = ["EventLIF", "EventLIFConstants", "event_lif_constants", "kernel_peak"]


@dataclass(frozen=True)
class EventLIF:
    r"""Parameters of the event-driven LIF neuron.

    Model time in ms, voltage in mV measured from rest, current in nA, capacitance in nF::

        dv/dt = -v / tau_mem + i / cm
        di/dt = -i / tau_syn                   (an input spike through weight w: i += w)
        v >= v_thresh  ->  spike; v <- v_reset; v held at v_reset for tau_refrac

    (Wunderlich & Pehle 2021 write tau_m V' = -V + I, tau_s I' = -I: their V is v, their I
    is i tau_mem / cm in mV, their weights w tau_mem / cm.)

    Parameters
    ----------
    tau_mem
        Membrane time constant, ms (> 0).
    tau_syn
        Synaptic current time constant, ms (> 0; may equal ``tau_mem``).
    v_thresh
        Threshold above rest, mV (> 0: a neuron at rest without input stays silent).
    v_reset
        Reset potential relative to rest, mV (< v_thresh).
    cm
        Membrane capacitance, nF (> 0).
    tau_refrac
        Absolute refractory period, ms (>= 0), exact (not rounded to a grid).
    """

    tau_mem: float = 20.0
    tau_syn: float = 5.0
    v_thresh: float = 1.0
    v_reset: float = 0.0
    cm: float = 1.0
    tau_refrac: float = 0.0

    def __post_init__(self) -> None:
        check_positive("tau_mem", self.tau_mem, "ms")
        check_positive("tau_syn", self.tau_syn, "ms")
        check_positive("v_thresh", self.v_thresh, "mV (above rest)")
        check_finite("v_reset", self.v_reset)
        check_positive("cm", self.cm, "nF")
        check_positive("tau_refrac", self.tau_refrac, "ms", allow_zero=True)
        if not self.v_reset < self.v_thresh:
            raise ConfigError(
                f"v_reset must be below v_thresh = {self.v_thresh} mV, got {self.v_reset} mV"
            )

    def to_lif(self, v_rest: float = 0.0) -> LIF:
        """The same neuron as a :class:`neurotwin.LIF` resting at ``v_rest`` mV; connect to it
        with ``receptor=None`` (signed weights split into exc and inh with one tau_syn)."""
        return LIF(
            tau_mem=self.tau_mem,
            tau_syn_exc=self.tau_syn,
            tau_syn_inh=self.tau_syn,
            cm=self.cm,
            v_rest=v_rest,
            v_reset=v_rest + self.v_reset,
            v_thresh=v_rest + self.v_thresh,
            tau_refrac=self.tau_refrac,
        )

    @classmethod
    def from_lif(cls, lif: LIF) -> EventLIF:
        """The event neuron of a :class:`neurotwin.LIF` with one synaptic time constant
        (``tau_syn_exc == tau_syn_inh``) and no bias current; voltages shift by v_rest."""
        if lif.tau_syn_exc != lif.tau_syn_inh:
            raise ConfigError(
                "the event engine needs tau_syn_exc == tau_syn_inh, got "
                f"{lif.tau_syn_exc} ms and {lif.tau_syn_inh} ms"
            )
        if lif.i_offset != 0.0:
            raise ConfigError(f"the event engine needs i_offset = 0 nA, got {lif.i_offset}")
        return cls(
            tau_mem=lif.tau_mem,
            tau_syn=lif.tau_syn_exc,
            v_thresh=lif.v_thresh - lif.v_rest,
            v_reset=lif.v_reset - lif.v_rest,
            cm=lif.cm,
            tau_refrac=lif.tau_refrac,
        )


def kernel_peak(p: EventLIF) -> float:
    """max over s >= 0 of K(s) = :func:`~neurotwin.dynamics.lif.exp_kernel_factor`, ms: the
    largest v (mV) that a unit current (nA) times cm (nF) can add, reached at
    s* = ln(tau_mem/tau_syn) / (1/tau_syn - 1/tau_mem) (s* = tau for equal time constants)."""
    if p.tau_mem == p.tau_syn:
        s_peak = p.tau_mem
    else:
        s_peak = math.log(p.tau_mem / p.tau_syn) / (1.0 / p.tau_syn - 1.0 / p.tau_mem)
    # rounding may put the computed K(s*) a hair below the true maximum
    return float(exp_kernel_factor(s_peak, p.tau_mem, p.tau_syn)) * (1.0 + 1e-12)


class EventLIFConstants(NamedTuple):
    """An :class:`EventLIF` as one record of floats, with the derived constants of the
    compiled kernels (a tuple of one type, which numba passes as one argument)."""

    tau_mem: float
    """Membrane time constant, ms."""
    tau_syn: float
    """Synaptic time constant, ms."""
    cm: float
    """Membrane capacitance, nF."""
    v_thresh: float
    """Threshold above rest, mV."""
    v_reset: float
    """Reset potential relative to rest, mV."""
    tau_refrac: float
    """Refractory period, ms."""
    tau_long: float
    """The longer of the two time constants, ms (the kernel factor's decay)."""
    rate: float
    """``|1/tau_mem - 1/tau_syn|``, 1/ms."""
    k_peak: float
    """Largest value of the synaptic kernel K, ms (:func:`kernel_peak`)."""


def event_lif_constants(p: EventLIF) -> EventLIFConstants:
    """The record of ``p`` that the compiled kernels take."""
    return EventLIFConstants(
        tau_mem=float(p.tau_mem),
        tau_syn=float(p.tau_syn),
        cm=float(p.cm),
        v_thresh=float(p.v_thresh),
        v_reset=float(p.v_reset),
        tau_refrac=float(p.tau_refrac),
        tau_long=float(max(p.tau_mem, p.tau_syn)),
        rate=float(abs(1.0 / p.tau_mem - 1.0 / p.tau_syn)),
        k_peak=kernel_peak(p),
    )
