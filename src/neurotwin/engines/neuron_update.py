r"""One compiled LIF/AdEx update for every time-stepped engine and twin.

The step is :func:`neurotwin.dynamics.lif.lif_step`'s (and, with adaptation,
:func:`neurotwin.dynamics.adex.adex_step`'s) arithmetic, compiled with numba, for the
neurons of one step (the views a caller passes, e.g. one population ``lo:hi``):

.. math::

    v' &= v_{rest} + (v - v_{rest})\,p_{vv} + I\,p_{vi}
          + \textstyle\sum_m (i_{exc,m}\,p_{ve,m} - i_{inh,m}\,p_{vn,m})
          \quad\text{(if not refractory, else } v' = v)\\
    I &= i_{offset} + i_{ext} + a\,\xi + I_{nl},\quad
    I_{nl} = g_L\Delta_T\,e^{(v - V_T)/\Delta_T} - w \text{ (AdEx only)}\\
    i_{exc,m}' &= i_{exc,m}\,p_{ee,m} + \text{input}_{exc,m},\quad
    i_{inh,m}' = i_{inh,m}\,p_{nn,m} + \text{input}_{inh,m}\\
    w' &= w\,p_{ww} + a_{us}\,(v - v_{rest})(1 - p_{ww})\ (+\,b \text{ at a spike})\\
    \text{spike} &= v' \ge v_{thresh};\ \text{then } v' = v_{reset},
    \text{ refractory for } n_{refrac} \text{ steps};\ v' \text{ clamped to the rails.}

Every sum is taken left to right in exactly this order, so each caller gets the bits it
got from its own copy of the loop before. Each twin's numerics are arguments, not
branches of the caller: the dtype is the arrays' (float64 ideal and BrainScaleS-2,
float32 SpiNNaker2), the rails are bounds (``-inf, inf`` where there are none), the
noise is an additive current term, and the synaptic input is either already a current
(float slots, ``scale=None``) or ring-buffer counts converted by a scale. A neuron of
several compartments (``members``) sums every member's synaptic currents into one
membrane (BrainScaleS-2's multi-circuit neurons); ``members=None`` means one member per
neuron. Arguments that are ``None`` are compiled out (numba prunes the branch), so a
caller pays only for the numerics it uses.

Constants may be scalars (one value shared by all the neurons passed, a population: the
loop then vectorises) or per-neuron arrays indexed like ``v`` (per-member arrays for the
synaptic fields when ``members`` is given). Units: mV, nA, steps; dimensionless
propagators (see :class:`~neurotwin.dynamics.lif.LIFConstants`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np
from numba import types
from numba.core.extending import overload
from numba.np.numpy_support import as_dtype

from neurotwin.dynamics.adex import AdExConstants

__all__ = ["Adaptation", "Noise", "SynapticInput", "lif_update"]


class SynapticInput(NamedTuple):
    """The input arriving in this step, read from one ring-buffer slot and cleared.

    ``exc``/``inh`` are indexed like the synaptic currents (per neuron, or per member with
    ``members``). Float slots hold currents already (nA; ``scale=None``); integer slots
    hold weight counts (LSB), converted as ``dtype(min(count, limit)) * scale`` with the
    dtype of ``scale`` (SpiNNaker2's ring buffer: saturated to its accumulator, then
    multiplied in float32).
    """

    exc: Any
    inh: Any
    scale_exc: Any
    """nA per count (numpy scalar of the state's dtype), or None for float slots."""
    scale_inh: Any
    limit: Any
    """Largest count an integer slot can hold (saturation), or None for float slots."""


class Noise(NamedTuple):
    """Additive noise current of this step: ``amplitude[i] * draw[i]`` nA (per neuron)."""

    amplitude: Any
    draw: Any


class Adaptation(NamedTuple):
    """AdEx's exponential term and adaptation current for the neurons where ``on``."""

    on: Any
    """True (every neuron passed) or a per-neuron bool array."""
    w: Any
    """Adaptation current per neuron, nA (updated in place)."""
    constants: AdExConstants
    """The AdEx extras (its ``lif`` field is unused: the LIF part comes separately)."""


def at(x: Any, i: int) -> Any:
    """``x[i]`` for a per-neuron array, ``x`` for a shared scalar (compiled: no branch)."""
    return x[i] if isinstance(x, np.ndarray) else x


@overload(at, inline="always")
def _at(x, i):  # pragma: no cover - compiled
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


def slot_current(acc: Any, scale: Any, limit: Any) -> Any:
    """Current of a ring-buffer slot: ``acc`` as is (``scale=None``), else
    ``dtype(min(acc, limit)) * scale`` in the dtype of ``scale``."""
    if scale is None:
        return acc
    return type(scale)(min(acc, limit)) * scale


@overload(slot_current, inline="always")
def _slot_current(acc, scale, limit):  # pragma: no cover - compiled
    if isinstance(scale, types.NoneType):
        return lambda acc, scale, limit: acc
    cast = as_dtype(scale).type
    return lambda acc, scale, limit: cast(min(acc, limit)) * scale


@numba.njit(cache=True, nogil=True)
def lif_update(
    v, ie, ii, rf, fl, k, syn, i_ext, noise, members, adaptation, rail_low, rail_high
):  # pragma: no cover - compiled; tested through every engine that calls it
    """Advance every neuron of ``v`` by one step (the module docstring's equations).

    Callers pass views of the neurons to update (``v[lo:hi]`` and the like): indices
    then start at 0, so the compiler sees no negative index and vectorises the loop.

    Parameters
    ----------
    v
        Membrane potential per neuron, mV, (n,) (in place; its dtype is the state's).
    ie, ii
        Synaptic currents, nA, per neuron (n,) or per member with ``members``, in place.
    rf
        Refractory steps left per neuron (any integer dtype), in place.
    fl
        Spike flag per neuron (bool or uint8), written.
    k
        :class:`~neurotwin.dynamics.lif.LIFConstants` of the step: each field a scalar
        shared by all n or a per-neuron array (``p_ve, p_vn, p_ee, p_nn`` per member
        with ``members``); ``i_offset`` may be the live offset current per neuron.
    syn
        :class:`SynapticInput` of this step (its slots are cleared).
    i_ext
        External (injected) current per neuron, nA, or None.
    noise
        :class:`Noise`, or None.
    members
        CSR offsets (n + 1,): neuron i's members are ``members[i]:members[i + 1]``; or
        None for one member per neuron.
    adaptation
        :class:`Adaptation` (AdEx), or None (LIF).
    rail_low, rail_high
        Membrane bounds, mV, applied after the reset (``-inf, inf``: none).

    How each twin calls it
    ----------------------
    * ideal engine (``engines/segments.py``, ``update_segments``, for its LIF and AdEx
      populations): per population ``lo:hi``, scalar ``k``, float
      slots as currents (``SynapticInput(bex[lo:hi], bin[lo:hi], None, None, None)``),
      ``i_ext[lo:hi]``,
      ``noise=None``, ``members=None``, ``Adaptation(True, w[lo:hi], constants)`` for
      AdEx populations, rails ``-inf, inf``.
    * BrainScaleS-2 (``bss2/run_loop.py``): all neurons of a trial at once, per-neuron
      ``k`` (the live offset current as ``i_offset``) and per-member synaptic constants,
      ``members=member_ptr``, ``Noise(amplitude, draws)``, ``Adaptation`` with a
      per-neuron ``on`` mask, the chip's membrane rails.
    * SpiNNaker2 (``spinnaker2/tick.py``, ``update_segment``; float32 state)::

          k = LIFConstants(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9],
                           n_refrac)  # numerics.lif_constants_f32 rows (float32)
          syn = SynapticInput(r_exc[lo:hi], r_inh[lo:hi], scale_e, scale_i,
                              numerics.RING_BUFFER_MAX)  # counts x float32 scale
          lif_update(v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], fl[lo:hi], k, syn,
                     None, None, None, None, np.float32(-np.inf), np.float32(np.inf))

      (``i_ext=None`` leaves ``i_offset * p_vi``, as its tick has no injected current.)
    """
    n = v.shape[0]
    for i in range(n):
        vi = v[i]
        i_in = at(k.i_offset, i)
        if i_ext is not None:
            i_in = i_in + i_ext[i]
        if noise is not None:
            i_in = i_in + noise.amplitude[i] * noise.draw[i]
        adex_on = False
        wi = vi  # of the state's type; meaningful only where adaptation is on
        if adaptation is not None:
            adex_on = at(adaptation.on, i)
            if adex_on:
                a = adaptation.constants
                wa = adaptation.w[i]
                i_in = i_in + (at(a.g_l_delta_t, i) * np.exp(
                    (vi - at(a.v_exp, i)) / at(a.delta_t, i)) - wa)
                p_ww = at(a.p_ww, i)
                wi = wa * p_ww + at(a.a_us, i) * (vi - at(k.v_rest, i)) * (1.0 - p_ww)
        free = rf[i] <= 0
        v_rest = at(k.v_rest, i)
        v_free = v_rest + (vi - v_rest) * at(k.p_vv, i) + i_in * at(k.p_vi, i)
        if members is None:
            v_free = v_free + ie[i] * at(k.p_ve, i) - ii[i] * at(k.p_vn, i)
            ie[i] = ie[i] * at(k.p_ee, i) + slot_current(syn.exc[i], syn.scale_exc, syn.limit)
            ii[i] = ii[i] * at(k.p_nn, i) + slot_current(syn.inh[i], syn.scale_inh, syn.limit)
            syn.exc[i] = 0
            syn.inh[i] = 0
        else:
            for q in range(members[i], members[i + 1]):  # lif_step's order, member by member
                v_free = v_free + ie[q] * k.p_ve[q]
                v_free = v_free - ii[q] * k.p_vn[q]
            for q in range(members[i], members[i + 1]):
                ie[q] = ie[q] * k.p_ee[q] + slot_current(syn.exc[q], syn.scale_exc, syn.limit)
                ii[q] = ii[q] * k.p_nn[q] + slot_current(syn.inh[q], syn.scale_inh, syn.limit)
                syn.exc[q] = 0
                syn.inh[q] = 0
        vi = v_free if free else vi
        ri = rf[i] if free else rf[i] - 1
        spike = vi >= at(k.v_thresh, i)
        v[i] = min(max(at(k.v_reset, i) if spike else vi, rail_low), rail_high)
        rf[i] = at(k.refrac_steps, i) if spike else ri
        fl[i] = spike
        if adex_on:
            adaptation.w[i] = wi + at(adaptation.constants.b, i) if spike else wi
