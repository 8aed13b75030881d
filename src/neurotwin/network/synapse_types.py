"""Dynamic synapses: what a projection's synapses do beyond a fixed weight.

A :class:`~neurotwin.network.Projection` with ``synapse=None`` is static (its weight is
added to the target's synaptic current at every presynaptic spike). Otherwise
``synapse`` is one of the types here; each parameter is a scalar or one value per
synapse, shape (S,), in the order of :meth:`Projection.synapses` (row-major (pre, post)).
Every synapse has its own state, per trial. The equations, as NEST 3 computes them:

* :class:`TsodyksMarkram` (NEST's ``tsodyks_synapse``, PyNN's ``TsodyksMarkramSynapse``;
  Tsodyks, Uziel & Markram 2000). Resources are recovered (x), active (y) or inactive
  (z = 1 - x - y); u is the utilisation. Between spikes, exactly over h ms:
  u <- u exp(-h / tau_facil) (u <- 0 for tau_facil = 0), y <- y exp(-h / tau_psc),
  x <- x + Pxy y + (1 - exp(-h / tau_rec)) z with
  Pxy = ((exp(-h/tau_rec) - 1) tau_rec - (exp(-h/tau_psc) - 1) tau_psc) / (tau_psc - tau_rec).
  At a spike: u <- u + U (1 - u); the PSC amplitude is weight u x; then x <- x - u x,
  y <- y + u x. tau_psc is the target's synaptic time constant of the receptor; initial
  u = 0, x = 1, y = 0. For a regular train of period T (tau_facil = 0, so u = U) the
  amplitude settles at weight U (1 - E) / (1 - (1 - U) E), E = exp(-T / tau_rec), in
  the limit tau_psc -> 0.
* :class:`PairSTDP` (NEST's ``stdp_synapse``, PyNN's ``STDPMechanism`` with
  ``SpikePairRule``, all-to-all pairing). The whole delay d is dendritic (PyNN's
  ``dendritic_delay_fraction = 1``): the synapse sees a presynaptic spike at its
  emission time and a postsynaptic spike d ms after the soma fired it. Traces: K+ of the
  presynaptic spikes (tau_plus, per synapse), K- of the postsynaptic ones (tau_minus,
  per target neuron), each jumping by 1. A postsynaptic spike seen at time t potentiates
  w by w_max A_plus K+(t) (additive) or A_plus (w_max - w) K+(t) (multiplicative); a
  presynaptic spike at t depresses it by w_max A_minus K-(t) or A_minus (w - w_min) K-(t),
  with K- counting postsynaptic spikes strictly before t, and then transmits the new w.
  Each change is clipped to [w_min, w_max]. With w_min = 0 these are NEST's formulas
  with lambda = A_plus, alpha = A_minus / A_plus, Wmax = w_max and mu = 0 (additive)
  or 1 (multiplicative).
* :class:`Bernoulli` (NEST's ``bernoulli_synapse``, PyNN's ``SimpleStochasticSynapse``):
  each spike is transmitted with probability p, drawn from the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from neurotwin.errors import ConfigError, as_numbers, check_finite

__all__ = ["Bernoulli", "PairSTDP", "SynapseType", "TsodyksMarkram", "per_synapse"]


def _check(name: str, value: Any, low: float, high: float = np.inf, unit: str = "",
           open_low: bool = False) -> None:
    arr = as_numbers(name, value)
    if arr.ndim > 1:
        raise ConfigError(f"{name} must be a scalar or one value per synapse (1-D), "
                          f"got shape {arr.shape}")
    check_finite(name, arr)
    bad = (arr <= low) if open_low else (arr < low)
    if np.any(bad) or np.any(arr > high):
        shown = float(arr.ravel()[np.flatnonzero(bad | (arr > high))[0]])
        side = f"> {low}" if open_low else f">= {low}"
        limit = f"{side}" + (f" and <= {high}" if np.isfinite(high) else "")
        raise ConfigError(f"{name} must be {limit}{' ' + unit if unit else ''}, got {shown!r}")


@dataclass(frozen=True, eq=False)
class TsodyksMarkram:
    """Short-term depression and facilitation (equations in the module docstring).

    Parameters
    ----------
    U
        Utilisation increment per spike, in (0, 1].
    tau_rec
        Recovery time constant of the resources, ms (> 0).
    tau_facil
        Facilitation time constant, ms (>= 0; 0: no facilitation, u = U at every spike).
    """

    U: float | np.ndarray = 0.5
    tau_rec: float | np.ndarray = 100.0
    tau_facil: float | np.ndarray = 0.0

    def __post_init__(self) -> None:
        _check("U", self.U, 0.0, 1.0, open_low=True)
        _check("tau_rec", self.tau_rec, 0.0, unit="ms", open_low=True)
        _check("tau_facil", self.tau_facil, 0.0, unit="ms")


@dataclass(frozen=True, eq=False)
class PairSTDP:
    """Pair-based STDP with all-to-all pairing (equations in the module docstring).

    Parameters
    ----------
    tau_plus, tau_minus
        Time constants of the presynaptic and postsynaptic traces, ms (> 0);
        ``tau_minus`` is one value for the projection (a trace of the target neuron).
    A_plus, A_minus
        Potentiation and depression amplitudes (>= 0), relative to w_max (additive) or
        to the distance to the bound (multiplicative).
    w_min, w_max
        Bounds of the weight, nA (0 <= w_min <= w_max).
    weight_dependence
        "additive" or "multiplicative".
    """

    tau_plus: float | np.ndarray = 20.0
    tau_minus: float = 20.0
    A_plus: float | np.ndarray = 0.01
    A_minus: float | np.ndarray = 0.01
    w_min: float | np.ndarray = 0.0
    w_max: float | np.ndarray = 1.0
    weight_dependence: Literal["additive", "multiplicative"] = "additive"

    def __post_init__(self) -> None:
        _check("tau_plus", self.tau_plus, 0.0, unit="ms", open_low=True)
        if as_numbers("tau_minus", self.tau_minus).ndim != 0:
            raise ConfigError("tau_minus must be one value per projection (a trace of the "
                              f"target neuron), got shape {np.shape(self.tau_minus)}")
        _check("tau_minus", self.tau_minus, 0.0, unit="ms", open_low=True)
        _check("A_plus", self.A_plus, 0.0)
        _check("A_minus", self.A_minus, 0.0)
        _check("w_min", self.w_min, 0.0, unit="nA")
        _check("w_max", self.w_max, 0.0, unit="nA")
        if np.any(np.asarray(self.w_min) > np.asarray(self.w_max)):
            raise ConfigError(f"w_min must be <= w_max, got w_min = {self.w_min!r}, "
                              f"w_max = {self.w_max!r}")
        if self.weight_dependence not in ("additive", "multiplicative"):
            raise ConfigError("weight_dependence must be 'additive' or 'multiplicative', "
                              f"got {self.weight_dependence!r}")


@dataclass(frozen=True, eq=False)
class Bernoulli:
    """Stochastic transmission: each spike crosses the synapse with probability ``p``.

    Parameters
    ----------
    p
        Transmission probability in [0, 1].
    """

    p: float | np.ndarray = 0.5

    def __post_init__(self) -> None:
        _check("p", self.p, 0.0, 1.0)


SynapseType = TsodyksMarkram | PairSTDP | Bernoulli
"""A dynamic synapse type (None on a projection: static)."""

SYNAPSE_TYPES = (TsodyksMarkram, PairSTDP, Bernoulli)


def per_synapse(synapse: SynapseType, n: int) -> dict[str, np.ndarray]:
    """Every numeric parameter of ``synapse`` as a float64 array of shape (n,).

    Raises
    ------
    ConfigError
        If a per-synapse array does not have n entries.
    """
    out = {}
    for f in fields(synapse):
        value = getattr(synapse, f.name)
        if isinstance(value, str):
            continue
        arr = np.asarray(value, np.float64)
        if arr.ndim == 1 and arr.shape[0] != n:
            raise ConfigError(f"{type(synapse).__name__}.{f.name} has {arr.shape[0]} values "
                              f"but the projection has {n} synapses (give a scalar or one "
                              f"per synapse, in the order of Projection.synapses())")
        out[f.name] = np.broadcast_to(arr, (n,)).copy()
    return out
