"""The kernels' view of the populations: segments of neurons sharing one model and its
step constants, one numba step of every segment (:func:`update_segments`), and the torch
step of the kinds beyond LIF and AdEx (:func:`shaped_step`).

Each population is a segment (a contiguous run of neuron indices) of one kind, its neuron
model's class in :data:`KINDS`; the populations are ordered by kind (LIF first, then
AdEx, then the models of :mod:`neurotwin.engines.synaptic_update`). A segment's constants
are one column of a float table whose rows are :data:`SEGMENT_CONSTANTS`; a model leaves
the rows it does not use at 0. Shared by the single-process engine
(:mod:`neurotwin.engines.step`) and the sharded one (:mod:`neurotwin.engines.distributed`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import torch

from neurotwin.dynamics.adex import AdEx, AdExConstants, adex_constants
from neurotwin.dynamics.alpha import (
    AlphaConstants,
    AlphaLIF,
    AlphaState,
    alpha_constants,
    alpha_step,
)
from neurotwin.dynamics.conductance import (
    CondAdEx,
    CondAlphaAdEx,
    CondAlphaLIF,
    CondConstants,
    CondExpAdEx,
    CondExpLIF,
    CondLIF,
    CondState,
    cond_constants,
    cond_step,
)
from neurotwin.dynamics.lif import LIF, LIFConstants, lif_constants
from neurotwin.engines.neuron_update import Adaptation, SynapticInput, lif_update
from neurotwin.engines.synaptic_update import alpha_update, cond_update

__all__ = [
    "ADEX_CONSTANT_NAMES",
    "CONSTANT_NAMES",
    "KINDS",
    "LIF_CONSTANT_NAMES",
    "SEGMENT_CONSTANTS",
    "kind_of",
    "model_constants",
    "segment_table",
    "shaped_step",
    "update_segments",
]

KINDS: tuple[type, ...] = (LIF, AdEx, AlphaLIF, CondExpLIF, CondAlphaLIF, CondExpAdEx,
                           CondAlphaAdEx)
"""Neuron model classes the engine steps, in segment order; a segment's kind is the index."""

LIF_CONSTANT_NAMES = LIFConstants._fields
ADEX_CONSTANT_NAMES = ("g_l_delta_t", "v_exp", "delta_t", "p_ww", "a_us", "b")
SHAPED_CONSTANT_NAMES = AlphaConstants._fields + tuple(
    n for n in CondConstants._fields if n not in LIF_CONSTANT_NAMES + AlphaConstants._fields
)
"""Constants of the alpha-shaped and conductance-based models beyond the LIF/AdEx names."""
CONSTANT_NAMES = LIF_CONSTANT_NAMES + ADEX_CONSTANT_NAMES + SHAPED_CONSTANT_NAMES
"""Every per-neuron step constant of a compiled program."""
SEGMENT_CONSTANTS = tuple(n for n in CONSTANT_NAMES if n != "refrac_steps")
"""Float constants of a segment in the numba kernel, in its row order (the LIF names, the
AdEx extras, then ``p_vde p_vdn p_ede p_ndn jump_exc jump_inh g_l e_exc_rel e_inh_rel
dt_cm avg_e avg_i avg_de avg_dn``: :func:`update_segments` reads them by these rows)."""


def kind_of(model: Any) -> int:
    """The segment kind of a neuron model (its class's index in :data:`KINDS`)."""
    return KINDS.index(type(model))


def model_constants(model: Any, dt: float) -> dict[str, float]:
    """Every name of :data:`CONSTANT_NAMES` -> the value for ``model`` at step ``dt`` ms
    (0 where the model has no such constant)."""
    values = dict.fromkeys(CONSTANT_NAMES, 0.0)
    if isinstance(model, LIF):
        values.update(lif_constants(model, dt)._asdict())
    elif isinstance(model, AdEx):
        c = adex_constants(model, dt)
        values.update(c.lif._asdict())
        values.update({name: getattr(c, name) for name in ADEX_CONSTANT_NAMES})
    elif isinstance(model, AlphaLIF):
        lif, rise = alpha_constants(model, dt)
        values.update(lif._asdict())
        values.update(rise._asdict())
    else:
        values.update(cond_constants(model, dt)._asdict())
        if isinstance(model, CondAdEx):
            c = adex_constants(model.membrane(), dt)
            values.update({name: getattr(c, name) for name in ADEX_CONSTANT_NAMES})
    return values


def shaped_step(
    kind: int,
    state: torch.Tensor,
    refrac: torch.Tensor,
    input_exc: torch.Tensor,
    input_inh: torch.Tensor,
    i_ext: torch.Tensor,
    const: dict[str, torch.Tensor],
) -> torch.Tensor:
    """One step of the torch kernel for the neurons of one kind > 1 (alpha-shaped or
    conductance-based synapses): their state rows (6, trials, n) and refractory counters
    (trials, n) are updated in place; returns the spikes (trials, n). ``const`` holds
    every constant of :data:`CONSTANT_NAMES` per neuron, (n,)."""
    lif = LIFConstants(*(const[name] for name in LIF_CONSTANT_NAMES))
    if kind == 2:
        rise = AlphaConstants(*(const[name] for name in AlphaConstants._fields))
        z, a = alpha_step(AlphaState(state[0], state[1], state[2], state[4], state[5], refrac),
                          input_exc, input_inh, i_ext, lif, rise)
        state[0], state[1], state[2], state[4], state[5] = a.v, a.i_exc, a.i_inh, a.di_exc, a.di_inh
        refrac[:] = a.refrac
        return z
    model = KINDS[kind]
    assert issubclass(model, CondLIF | CondAdEx)  # every kind > 2
    k = CondConstants(*(const[name] for name in CondConstants._fields))
    adex = None
    if issubclass(model, CondAdEx):
        adex = AdExConstants(lif, *(const[name] for name in ADEX_CONSTANT_NAMES))
    shaped = model.alpha
    z, c = cond_step(
        CondState(state[0], state[1], state[2], state[4] if shaped else None,
                  state[5] if shaped else None, state[3] if adex else None, refrac),
        input_exc, input_inh, i_ext, k, adex)
    state[0], state[1], state[2] = c.v, c.g_exc, c.g_inh
    if c.dg_exc is not None and c.dg_inh is not None:
        state[4], state[5] = c.dg_exc, c.dg_inh
    if c.w is not None:
        state[3] = c.w
    refrac[:] = c.refrac
    return z


def segment_table(
    pop_slices: dict[str, tuple[int, int]],
    n_neurons: int,
    kinds: dict[str, int],
    constants: dict[str, np.ndarray],
    dtype: type,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The numba kernel's view of the populations: segment bounds (n_segments + 1,), the
    kind of each segment (``kinds``: label -> kind), the float constants
    (len(SEGMENT_CONSTANTS), n_segments) in ``dtype`` and the refractory steps per segment.

    The refractory counter is the narrowest integer that holds the longest refractory
    period: less memory traffic in the neuron loop, which is bandwidth-bound for large
    networks.
    """
    firsts = np.array([first for first, _ in pop_slices.values()], np.int64)
    segments = np.append(firsts, n_neurons).astype(np.int64)
    kind = np.array([kinds[label] for label in pop_slices], np.int64)
    c: np.ndarray = np.stack([constants[name][firsts] for name in SEGMENT_CONSTANTS]).astype(dtype)
    longest = int(constants["refrac_steps"].max(initial=0))
    counter = np.int16 if longest <= np.iinfo(np.int16).max else np.int64
    return segments, kind, c, constants["refrac_steps"][firsts].astype(counter)


@numba.njit(cache=True, nogil=True)
def update_segments(
    v, ie, ii, w, de, dn, rf, fl, ix, bex, bin_, segments, kinds, c, n_refrac, rails
):  # pragma: no cover - compiled; tested through the engines
    """One step of every neuron of one trial, segment (population) by segment.

    The views of state (v, i_exc or g_exc, i_inh or g_inh, w, the rise terms of alpha
    synapses, refractory counters, spike flags, injected current) and of the ring-buffer
    slot (``bex``, ``bin_``) are indexed by neuron; ``c[:, s]`` holds segment s's
    constants in the order of :data:`SEGMENT_CONSTANTS`, ``kinds[s]`` its kind
    (:data:`KINDS`).
    """
    for s in range(segments.shape[0] - 1):
        lo, hi = segments[s], segments[s + 1]
        lif_c = LIFConstants(c[0, s], c[1, s], c[2, s], c[3, s], c[4, s], c[5, s],
                             c[6, s], c[7, s], c[8, s], c[9, s], n_refrac[s])
        ext = None if ix is None else ix[lo:hi]
        kind = kinds[s]
        if kind <= 1:  # LIF, AdEx: the update every twin shares
            syn = SynapticInput(bex[lo:hi], bin_[lo:hi], None, None, None)
            if kind == 0:
                lif_update(v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], fl[lo:hi], lif_c, syn,
                           ext, None, None, None, rails[0], rails[1])
            else:
                extras = AdExConstants(lif_c, c[10, s], c[11, s], c[12, s], c[13, s],
                                       c[14, s], c[15, s])
                lif_update(v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], fl[lo:hi], lif_c, syn,
                           ext, None, None, Adaptation(True, w[lo:hi], extras),
                           rails[0], rails[1])
        elif kind == 2:
            rise = AlphaConstants(c[16, s], c[17, s], c[18, s], c[19, s], c[20, s], c[21, s])
            alpha_update(v[lo:hi], ie[lo:hi], ii[lo:hi], de[lo:hi], dn[lo:hi], rf[lo:hi],
                         fl[lo:hi], lif_c, rise, bex[lo:hi], bin_[lo:hi], ext)
        else:
            k = CondConstants(c[0, s], c[1, s], c[2, s], c[3, s], c[22, s], c[23, s],
                              c[24, s], c[25, s], c[8, s], c[9, s], c[26, s], c[27, s],
                              c[28, s], c[29, s], c[18, s], c[19, s], c[20, s], c[21, s],
                              n_refrac[s])
            if kind == 3:
                cond_update(v[lo:hi], ie[lo:hi], ii[lo:hi], None, None, rf[lo:hi],
                            fl[lo:hi], k, bex[lo:hi], bin_[lo:hi], ext, None)
            elif kind == 4:  # alpha-shaped conductances
                cond_update(v[lo:hi], ie[lo:hi], ii[lo:hi], de[lo:hi], dn[lo:hi], rf[lo:hi],
                            fl[lo:hi], k, bex[lo:hi], bin_[lo:hi], ext, None)
            else:
                adaptation = Adaptation(True, w[lo:hi], AdExConstants(
                    lif_c, c[10, s], c[11, s], c[12, s], c[13, s], c[14, s], c[15, s]))
                if kind == 5:
                    cond_update(v[lo:hi], ie[lo:hi], ii[lo:hi], None, None, rf[lo:hi],
                                fl[lo:hi], k, bex[lo:hi], bin_[lo:hi], ext, adaptation)
                else:
                    cond_update(v[lo:hi], ie[lo:hi], ii[lo:hi], de[lo:hi], dn[lo:hi],
                                rf[lo:hi], fl[lo:hi], k, bex[lo:hi], bin_[lo:hi], ext,
                                adaptation)
