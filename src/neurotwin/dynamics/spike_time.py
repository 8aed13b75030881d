r"""Free evolution of a current-based LIF neuron between events, and its next spike time.

Between two events (an input spike, the neuron's own spike, the end of its refractory
period) a :class:`~neurotwin.dynamics.lif.LIF` neuron (equations in
:mod:`neurotwin.dynamics.lif`) in state (v0, i_exc0, i_inh0) at t = 0, with a constant
current I = i_offset + i_ext, evolves freely as (ms, mV, nA, nF)::

    i_exc(t) = i_exc0 exp(-t/tau_syn_exc),      i_inh(t) = i_inh0 exp(-t/tau_syn_inh)
    v(t)     = v_inf + (v0 - v_inf) exp(-t/tau_mem) + (i_exc0 K_exc(t) - i_inh0 K_inh(t)) / cm
    v_inf    = v_rest + I tau_mem / cm

with K(t) = :func:`~neurotwin.dynamics.lif.exp_kernel_factor` (t, tau_mem, tau_syn), which is
exact also for tau_syn == tau_mem, where K(t) = t exp(-t/tau_mem) (:func:`free_evolution`;
one step of :func:`~neurotwin.dynamics.lif.lif_step` is this map at t = dt, up to rounding).

The next spike is the first t in (0, horizon] with v(t) >= v_thresh
(:func:`next_spike_time` for one neuron, :func:`next_spike_times` batched).

*Monotone pieces.* v' = (v_rest - v)/tau_mem + (I + i_exc - i_inh)/cm, and
g(t) = v'(t) exp(t/tau_mem) has g' = i_syn'(t) exp(t/tau_mem)/cm with i_syn = i_exc - i_inh.
So g, and with it the sign of v', changes monotonicity only where i_syn has its extremum,
which exists when both currents are nonzero and the time constants differ::

    t_c = ln((i_inh0/tau_syn_inh) / (i_exc0/tau_syn_exc)) / (1/tau_syn_inh - 1/tau_syn_exc)

Hence v' has at most one zero on each side of t_c, and v at most two extrema; they cut
(0, horizon] into at most three pieces on which v is monotone. With one synaptic current
i0 exp(-t/tau_syn) (the other zero, or tau_syn_exc == tau_syn_inh) the only extremum is
analytic: g(t) = v'(0) - i0/(tau_syn cm) expm1(a t)/a with a = 1/tau_mem - 1/tau_syn, so::

    t_peak = log1p(a c) / a  (= c when a = 0),   c = v'(0) tau_syn cm / i0,

provided c > 0 and a c > -1; otherwise v is monotone. With two currents, the zeros of v'
on [0, t_c] and [t_c, horizon] are found by the root finder below.

*Crossing.* The first piece whose end reaches v_thresh holds the crossing, bracketed by
v(lo) < v_thresh <= v(hi) with v increasing in between. A safeguarded Newton iteration
(Newton points kept inside the bracket; a bisection whenever the bracket has not halved in
two steps) shrinks the bracket to ``xtol`` (default 1e-10 ms). The upper end is returned:
v(t) >= v_thresh at the returned time, and the true crossing lies at most ``xtol`` before.

*Conventions.* If v0 >= v_thresh the spike is due now: 0.0. No crossing in (0, horizon]:
+inf. The neuron is assumed not refractory during (0, horizon]. v - v_thresh is evaluated
as (v_inf - v_thresh) + (v(t) - v_inf), so an asymptote v_inf == v_thresh is never reached.
A grazing crossing, where a maximum of v lies within rounding (~1e-14 mV) of v_thresh, is
reported if and only if the computed v - v_thresh there is >= 0; its time is
ill-conditioned (an error d in v moves it by ``~sqrt(2 d / |v''|)``, up to ~1e-6 ms): the
1/(I - v_thresh) singularity of EventProp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from neurotwin.dynamics.lif import LIF, exp_kernel_factor
from neurotwin.errors import ConfigError, check_finite, check_positive

__all__ = ["free_evolution", "next_spike_time", "next_spike_times", "peak_time"]

_MAX_ITER = 200
"""Root-finder iterations. Newton converges in ~5-10; the worst case, alternating Newton and
bisection, needs 2 log2(bracket / xtol): ~90 for a 1e3 ms bracket and xtol = 1e-10 ms."""

_Eval = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _namespace(x: Any) -> Any:
    """torch, numpy or math: whichever evaluates exp and expm1 on ``x``."""
    if isinstance(x, torch.Tensor):
        return torch
    return np if isinstance(x, np.ndarray) else math


def free_evolution(
    v: Any, i_exc: Any, i_inh: Any, p: LIF, t: Any, i_ext: Any = 0.0
) -> tuple[Any, Any, Any]:
    """State after ``t`` ms of free evolution (closed form in the module docstring).

    Parameters
    ----------
    v, i_exc, i_inh
        State at time 0: membrane potential (mV), synaptic currents (nA). Floats, numpy
        arrays or torch tensors, broadcasting with ``t``.
    p
        Neuron parameters.
    t
        Elapsed time, ms (>= 0, finite), broadcasting with the state.
    i_ext
        External current held constant over [0, t], nA, added to ``p.i_offset``.

    Returns
    -------
    v, i_exc, i_inh
        The state at time ``t`` (no threshold, reset or refractoriness applied).
    """
    v_inf = p.v_rest + (p.i_offset + i_ext) * (p.tau_mem / p.cm)
    transient, i_exc_t, i_inh_t = _transient(v - v_inf, i_exc, i_inh, p, t)
    return v_inf + transient, i_exc_t, i_inh_t


def _transient(dev: Any, i_exc: Any, i_inh: Any, p: LIF, t: Any) -> tuple[Any, Any, Any]:
    """v(t) - v_inf from v(0) - v_inf = ``dev``, and the currents at t.

    Kept apart from v_inf so that the solver compares v - v_thresh as
    (v_inf - v_thresh) + transient: an asymptote at the threshold is then never reached.
    """
    xp = _namespace(t)
    transient = (
        dev * xp.exp(-t / p.tau_mem)
        + i_exc * (exp_kernel_factor(t, p.tau_mem, p.tau_syn_exc) / p.cm)
        - i_inh * (exp_kernel_factor(t, p.tau_mem, p.tau_syn_inh) / p.cm)
    )
    return transient, i_exc * xp.exp(-t / p.tau_syn_exc), i_inh * xp.exp(-t / p.tau_syn_inh)


def next_spike_time(
    v: float, i_exc: float, i_inh: float, p: LIF, horizon: float, i_ext: float = 0.0
) -> float:
    """First time in (0, horizon] at which one neuron reaches ``p.v_thresh``, in ms.

    Method and conventions in the module docstring: accurate to 1e-10 ms, never early;
    0.0 if ``v >= p.v_thresh`` already; ``math.inf`` if there is no crossing.

    Parameters
    ----------
    v, i_exc, i_inh
        State at the event (time 0): mV, nA, nA.
    p
        Neuron parameters.
    horizon
        End of the search interval, ms (>= 0, finite): the time of the next event.
    i_ext
        External current constant until the horizon, nA, added to ``p.i_offset``.
    """
    for name, value in (("v", v), ("i_exc", i_exc), ("i_inh", i_inh), ("i_ext", i_ext)):
        check_finite(name, value)
    check_positive("horizon", horizon, "ms", allow_zero=True)
    if math.isinf(horizon):
        raise ConfigError("horizon must be finite (e.g. the end of the run), got inf")
    return float(next_spike_times(np.float64(v), i_exc, i_inh, p, horizon, i_ext))


def next_spike_times(
    v: Any,
    i_exc: Any,
    i_inh: Any,
    p: LIF,
    horizon: Any,
    i_ext: Any = 0.0,
    xtol: float = 1e-10,
) -> Any:
    """Next spike time of many neurons at once (batched :func:`next_spike_time`), in ms.

    Parameters
    ----------
    v, i_exc, i_inh
        State at each neuron's last event (its time 0): mV, nA, nA; torch tensors (any
        shape, dtype and device; float64 for 1e-10 ms accuracy) or numpy arrays, broadcasting
        together with ``horizon`` and ``i_ext``.
    p
        Neuron parameters, shared by the batch.
    horizon
        End of each search interval, ms (finite, >= 0), scalar or broadcasting.
    i_ext
        External current constant until the horizon, nA, scalar or broadcasting.
    xtol
        Width, ms, to which the bracket around each crossing is shrunk.

    Returns
    -------
    Times in ms, of the broadcast shape; a torch tensor if ``v`` is one (dtype and device of
    ``v``), else a numpy float64 array. 0.0 where ``v >= p.v_thresh``, +inf where there is no
    crossing. Computed without autograd: EventProp differentiates through its adjoint.
    """
    as_numpy = not isinstance(v, torch.Tensor)
    ref = torch.as_tensor(v, dtype=torch.float64) if as_numpy else v
    v, i_exc, i_inh, i_ext, horizon = torch.broadcast_tensors(
        *(torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
          for x in (v, i_exc, i_inh, i_ext, horizon))
    )
    with torch.no_grad():
        times = _next_spike_times(v, i_exc, i_inh, i_ext, horizon, p, xtol)
    return times.cpu().numpy() if as_numpy else times


def _next_spike_times(
    v: torch.Tensor,
    i_exc: torch.Tensor,
    i_inh: torch.Tensor,
    i_ext: torch.Tensor,
    horizon: torch.Tensor,
    p: LIF,
    xtol: float,
) -> torch.Tensor:
    v_inf = p.v_rest + (p.i_offset + i_ext) * (p.tau_mem / p.cm)
    gap = v_inf - p.v_thresh
    dev = v - v_inf

    def flow(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """v - v_thresh, v' and v'' at time t."""
        transient, ie_t, ii_t = _transient(dev, i_exc, i_inh, p, t)
        dv = -transient / p.tau_mem + (ie_t - ii_t) / p.cm
        d2v = -dv / p.tau_mem + (ii_t / p.tau_syn_inh - ie_t / p.tau_syn_exc) / p.cm
        return gap + transient, dv, d2v

    zero = torch.zeros_like(v)
    dv0 = -dev / p.tau_mem + (i_exc - i_inh) / p.cm
    e1, e2 = _extrema(flow, dv0, i_exc, i_inh, horizon, p, xtol)
    above, _, _ = flow(torch.stack([e1, e2, horizon]))
    reach = above >= 0
    lo = torch.where(reach[0], zero, torch.where(reach[1], e1, e2))
    hi = torch.where(reach[0], e1, torch.where(reach[1], e2, horizon))
    found = reach.any(dim=0) & (v < p.v_thresh)

    def crossing(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_minus_thresh, dv, _ = flow(t)
        return v_minus_thresh, dv

    _, hi = _bracketed_root(crossing, lo, hi, found, xtol)
    times = torch.where(found, hi, torch.full_like(v, math.inf))
    return torch.where(v >= p.v_thresh, zero, times)


def _extrema(
    flow: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    dv0: torch.Tensor,
    i_exc: torch.Tensor,
    i_inh: torch.Tensor,
    horizon: torch.Tensor,
    p: LIF,
    xtol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Times e1 <= e2 in [0, horizon] cutting it into pieces where v is monotone.

    ``flow(t)`` gives v - v_thresh, v', v'' at t; ``dv0`` is v'(0). A missing first extremum is
    reported as 0, a missing second one as the horizon.
    """
    if p.tau_syn_exc == p.tau_syn_inh:
        return peak_time(dv0, i_exc - i_inh, p.tau_syn_exc, horizon, p), horizon
    single_exc = i_inh == 0
    single_inh = (i_exc == 0) & ~single_exc
    e1 = torch.where(
        single_exc,
        peak_time(dv0, i_exc, p.tau_syn_exc, horizon, p),
        peak_time(dv0, -i_inh, p.tau_syn_inh, horizon, p),
    )
    e2 = horizon
    general = ~(single_exc | single_inh)
    if bool(general.any()):
        rate_diff = 1.0 / p.tau_syn_inh - 1.0 / p.tau_syn_exc
        t_c = torch.log((i_inh / p.tau_syn_inh) / (i_exc / p.tau_syn_exc)) / rate_diff
        t_c = torch.where((t_c > 0) & (t_c < horizon), t_c, horizon)
        lo = torch.stack([torch.zeros_like(dv0), t_c])
        hi = torch.stack([t_c, horizon])
        _, dv_lo, _ = flow(lo)
        _, dv_hi, _ = flow(hi)
        dv_lo[0] = dv0  # exact at t = 0
        has_root = general & (dv_lo * dv_hi < 0)
        # orient so that the function rises through zero: s v' goes from < 0 to > 0
        sign = torch.where(dv_lo < 0, 1.0, -1.0).to(dv0.dtype)

        def slope(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            _, dv, d2v = flow(t)
            return sign * dv, sign * d2v

        r_lo, r_hi = _bracketed_root(slope, lo, hi, has_root, xtol)
        roots = 0.5 * (r_lo + r_hi)
        e1 = torch.where(general, torch.where(has_root[0], roots[0], 0.0), e1)
        e2 = torch.where(has_root[1], roots[1], horizon)
    return e1, e2


def peak_time(
    dv0: torch.Tensor, i0: torch.Tensor, tau_syn: float, horizon: torch.Tensor, p: LIF
) -> torch.Tensor:
    """The one extremum of v in (0, horizon) under one synaptic current i0 exp(-t/tau_syn),
    or 0 where v is monotone there (formula in the module docstring)."""
    c = dv0 * (tau_syn * p.cm) / i0
    a = 1.0 / p.tau_mem - 1.0 / tau_syn
    if a == 0.0:
        t = c
        valid = (i0 != 0) & (c > 0)
    else:
        valid = (i0 != 0) & (c > 0) & (a * c > -1.0)
        t = torch.log1p(torch.where(valid, a * c, 0.0)) / a
    return torch.where(valid & (t < horizon), t, 0.0)


def _bracketed_root(
    f: _Eval, lo: torch.Tensor, hi: torch.Tensor, active: torch.Tensor, xtol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shrink brackets [lo, hi] with f(lo) < 0 <= f(hi) around a root of the increasing f.

    ``f(t)`` returns the value and the derivative. Elementwise safeguarded Newton: the Newton
    point is moved to at least xtol/2 inside the bracket (so a converged iterate is followed
    by a point past the root, which closes the bracket), and a bisection replaces it when
    the bracket has not halved over the last two steps. Inactive elements are left as
    given. Returns the final (lo, hi), ``hi - lo <= xtol`` up to rounding.
    """
    eps = torch.finfo(lo.dtype).eps
    done = ~active
    x = 0.5 * (lo + hi)
    width_1 = width_2 = hi - lo
    for _ in range(_MAX_ITER):
        fx, dfx = f(x)
        below = fx < 0
        lo = torch.where(~done & below, x, lo)
        hi = torch.where(~done & ~below, x, hi)
        width = hi - lo
        done = done | (width <= xtol + 4 * eps * hi.abs())
        if bool(done.all()):
            break
        mid = 0.5 * (lo + hi)
        newton = x - fx / dfx
        use_newton = torch.isfinite(newton) & (width <= 0.5 * width_2)
        x_new = torch.where(use_newton, newton, mid)
        margin = torch.clamp(0.5 * width, max=0.5 * xtol)
        x_new = torch.minimum(torch.maximum(x_new, lo + margin), hi - margin)
        x = torch.where(done, x, x_new)
        width_2, width_1 = width_1, width
    return lo, hi
