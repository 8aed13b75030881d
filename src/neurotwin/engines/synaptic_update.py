"""The compiled updates of the neurons whose synapses are alpha-shaped or conductance-based.

Beside :func:`~neurotwin.engines.neuron_update.lif_update` (LIF and AdEx with exponential
currents, shared by every twin), which they leave untouched: only the ideal engine runs
these models (the twins refuse them). Each advances the neurons of one population by one
step, following the equations and step order of its dynamics module:

* :func:`alpha_update`: :mod:`neurotwin.dynamics.alpha`, the exact step of the LIF with
  alpha-shaped currents (the LIF propagators plus the rise terms);
* :func:`cond_update`: :mod:`neurotwin.dynamics.conductance`, the exponential integrator
  of the LIF or AdEx with exponential (``dge=None``) or alpha-shaped conductances.

Constants are scalars shared by the neurons passed (a population); the state arrays are
views of those neurons, updated in place; the input slots (weights arriving in this step,
nA or µS) are read and cleared.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["alpha_update", "cond_update", "threshold"]


@numba.njit(cache=True, nogil=True, inline="always")
def threshold(v, rf, fl, i, v_free, k):  # pragma: no cover - compiled
    """The end of neuron ``i``'s step: ``v_free`` unless refractory (then v stays and the
    count goes down), the threshold test, reset and refractory period; returns the spike.
    ``k`` has ``v_thresh``, ``v_reset`` (mV) and ``refrac_steps``."""
    free = rf[i] <= 0
    vi = v_free if free else v[i]
    spike = vi >= k.v_thresh
    v[i] = k.v_reset if spike else vi
    rf[i] = k.refrac_steps if spike else (rf[i] if free else rf[i] - 1)
    fl[i] = spike
    return spike


@numba.njit(cache=True, nogil=True)
def alpha_update(
    v, ie, ii, de, dn, rf, fl, k, rise, syn_exc, syn_inh, i_ext
):  # pragma: no cover - compiled; tested through the engine
    """Advance LIF neurons with alpha-shaped currents by one step (exact).

    Parameters
    ----------
    v, ie, ii, de, dn
        Membrane potential (mV), currents i_exc, i_inh (nA) and their rise terms di_exc,
        di_inh (nA/ms), (n,), in place.
    rf, fl
        Refractory steps left (in place) and spike flags (written), (n,).
    k
        :class:`~neurotwin.dynamics.lif.LIFConstants` of the population (scalars).
    rise
        :class:`~neurotwin.dynamics.alpha.AlphaConstants` of the population.
    syn_exc, syn_inh
        Weights (nA) arriving in this step, (n,); cleared.
    i_ext
        Injected current per neuron, nA, (n,), or None.
    """
    for i in range(v.shape[0]):
        vi = v[i]
        i_in = k.i_offset
        if i_ext is not None:
            i_in = i_in + i_ext[i]
        v_free = (k.v_rest + (vi - k.v_rest) * k.p_vv + i_in * k.p_vi
                  + ie[i] * k.p_ve - ii[i] * k.p_vn + de[i] * rise.p_vde - dn[i] * rise.p_vdn)
        ie[i] = ie[i] * k.p_ee + de[i] * rise.p_ede
        ii[i] = ii[i] * k.p_nn + dn[i] * rise.p_ndn
        de[i] = de[i] * k.p_ee + syn_exc[i] * rise.jump_exc
        dn[i] = dn[i] * k.p_nn + syn_inh[i] * rise.jump_inh
        syn_exc[i] = 0
        syn_inh[i] = 0
        threshold(v, rf, fl, i, v_free, k)


@numba.njit(cache=True, nogil=True)
def cond_update(
    v, ge, gi, dge, dgi, rf, fl, k, syn_exc, syn_inh, i_ext, adaptation
):  # pragma: no cover - compiled; tested through the engine
    """Advance conductance-based LIF or AdEx neurons by one step (the exponential
    integrator of :mod:`neurotwin.dynamics.conductance`).

    Parameters
    ----------
    v, ge, gi
        Membrane potential (mV) and conductances g_exc, g_inh (µS), (n,), in place.
    dge, dgi
        Rise terms dg_exc, dg_inh (µS/ms), (n,), in place; None for exponential
        conductances (compiled out).
    rf, fl
        Refractory steps left (in place) and spike flags (written), (n,).
    k
        :class:`~neurotwin.dynamics.conductance.CondConstants` of the population.
    syn_exc, syn_inh
        Weights (µS) arriving in this step, (n,); cleared.
    i_ext
        Injected current per neuron, nA, (n,), or None.
    adaptation
        :class:`~neurotwin.engines.neuron_update.Adaptation` (AdEx, ``on`` True), or None.
    """
    for i in range(v.shape[0]):
        vi = v[i]
        i_in = k.i_offset
        if i_ext is not None:
            i_in = i_in + i_ext[i]
        wi = vi  # of the state's type; meaningful only with adaptation
        if adaptation is not None:
            a = adaptation.constants
            wa = adaptation.w[i]
            i_in = i_in + (a.g_l_delta_t * np.exp((vi - a.v_exp) / a.delta_t) - wa)
            wi = wa * a.p_ww + a.a_us * (vi - k.v_rest) * (1.0 - a.p_ww)
        g_e = ge[i] * k.avg_e
        g_i = gi[i] * k.avg_i
        if dge is not None:
            g_e = g_e + dge[i] * k.avg_de
            g_i = g_i + dgi[i] * k.avg_dn
        g_tot = k.g_l + g_e + g_i
        u_inf = (g_e * k.e_exc_rel + g_i * k.e_inh_rel + i_in) / g_tot
        v_free = k.v_rest + u_inf + (vi - k.v_rest - u_inf) * np.exp(-g_tot * k.dt_cm)
        if dge is None:
            ge[i] = ge[i] * k.p_ee + syn_exc[i]
            gi[i] = gi[i] * k.p_nn + syn_inh[i]
        else:
            ge[i] = ge[i] * k.p_ee + dge[i] * k.p_ede
            gi[i] = gi[i] * k.p_nn + dgi[i] * k.p_ndn
            dge[i] = dge[i] * k.p_ee + syn_exc[i] * k.jump_exc
            dgi[i] = dgi[i] * k.p_nn + syn_inh[i] * k.jump_inh
        syn_exc[i] = 0
        syn_inh[i] = 0
        spike = threshold(v, rf, fl, i, v_free, k)
        if adaptation is not None:
            adaptation.w[i] = wi + adaptation.constants.b if spike else wi
