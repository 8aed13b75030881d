r"""The event-driven engine: exact simulation of current-based LIF layers, without a time grid.

Each neuron has one synaptic current with signed weights (the EventProp neuron; model time
in ms, voltage in mV measured from rest, current in nA, capacitance in nF)::

    dv/dt = -v / tau_mem + i / cm
    di/dt = -i / tau_syn                       (an input spike through weight w: i += w)
    v >= v_thresh  ->  spike; v <- v_reset; v held at v_reset for tau_refrac

(Wunderlich & Pehle 2021 write tau_m V' = -V + I, tau_s I' = -I: their V is v, their I is
i tau_mem / cm in mV, their weights w tau_mem / cm.) Between events the state evolves in
closed form (:func:`neurotwin.dynamics.spike_time.free_evolution`, exact also for
tau_syn == tau_mem), so a simulation is a sequence of three pure maps on a
:class:`NeuronState`:

* :func:`flow` — free evolution up to a time (refractoriness included);
* :func:`input_jump` / :func:`spike_jump` — the jump at an input spike (i += w) and at an
  output spike (v <- v_reset, refractory until t + tau_refrac);
* :func:`next_crossing` — the next threshold crossing before a given time, by
  :func:`neurotwin.dynamics.spike_time.next_spike_times` (analytic extremum, then a
  safeguarded Newton solve to ``xtol``, never early).

:func:`lif_layer_forward` runs a feed-forward layer on a padded batch of input spikes: it
walks the input events in time order (one Python iteration per event column, vectorised
over samples and neurons); before each input event it lets every neuron fire all its
crossings up to that event (neurons of one layer do not interact, so they need not be
ordered among themselves), then flows all neurons to the event and applies the jump. The
EventProp adjoint reuses these maps in reverse. On CPU in float64 the same algorithm runs
compiled, one (sample, neuron) pair at a time (:mod:`neurotwin.engines.event_kernel`,
:func:`layer_kernel`); other devices and dtypes run the torch maps. A recurrent layer
accepts only each sample's earliest crossing per round and feeds it back through
:func:`input_jump`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from neurotwin.dynamics.lif import LIF, exp_kernel_factor
from neurotwin.dynamics.spike_time import free_evolution, next_spike_times
from neurotwin.engines import event_kernel
from neurotwin.errors import ConfigError, check_finite, check_positive

__all__ = [
    "EventLIF",
    "NeuronState",
    "Spikes",
    "check_spike_inputs",
    "collect_spikes",
    "compiled_path",
    "first_spike_times",
    "flow",
    "initial_state",
    "input_jump",
    "kernel_peak",
    "layer_kernel",
    "lif_layer_forward",
    "next_crossing",
    "spike_jump",
]

PAD_ID = -1
"""Index at padded places of a spike batch (the value of ``datasets.encoding.PAD_ID``;
datasets sits below engines in the layering, so it is not imported from there)."""


@dataclass(frozen=True)
class EventLIF:
    """Parameters of the event-driven LIF neuron (equations in the module docstring).

    Voltages are measured from the resting potential (rest = 0 mV).

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


class NeuronState(NamedTuple):
    """State of a group of event-driven neurons: tensors of one shape, e.g. (B, n)."""

    v: torch.Tensor
    """Membrane potential relative to rest at time ``t``, mV."""
    i: torch.Tensor
    """Synaptic current at time ``t``, nA."""
    t: torch.Tensor
    """Time at which ``v`` and ``i`` hold, ms."""
    free_at: torch.Tensor
    """End of the refractory period, ms (<= ``t`` when the neuron is free)."""


class Spikes(NamedTuple):
    """A padded batch of spikes (DESIGN.md, section 2) as torch tensors."""

    times: torch.Tensor
    """Spike times, ms, shape (B, K): ascending per row, ``+inf`` padding last."""
    ids: torch.Tensor
    """Neuron indices, int64, shape (B, K): :data:`PAD_ID` where ``times`` is ``+inf``."""


@functools.cache
def _as_lif(p: EventLIF) -> LIF:
    """The :class:`LIF` the solver evaluates: rest 0 mV, signed current in ``i_exc``."""
    return p.to_lif(v_rest=0.0)


def initial_state(
    shape: tuple[int, ...], dtype: torch.dtype = torch.float64, device: Any = None
) -> NeuronState:
    """Neurons at rest with no current and not refractory, at time 0 ms."""
    zeros = torch.zeros(shape, dtype=dtype, device=device)
    return NeuronState(zeros, zeros.clone(), zeros.clone(), zeros.clone())


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


def _free_start(state: NeuronState, p: EventLIF) -> tuple[torch.Tensor, torch.Tensor]:
    """When free evolution starts (the later of ``t`` and ``free_at``), and the current then."""
    start = torch.maximum(state.t, state.free_at)
    return start, state.i * torch.exp(-(start - state.t) / p.tau_syn)


def flow(state: NeuronState, t: torch.Tensor | float, p: EventLIF) -> NeuronState:
    """Evolve freely (no threshold) from ``state.t`` to ``t`` (ms, >= ``state.t``,
    broadcasting): v stays at v_reset until ``free_at``, the current decays throughout."""
    t = torch.as_tensor(t, dtype=state.v.dtype, device=state.v.device).expand_as(state.v)
    start = torch.minimum(torch.maximum(state.t, state.free_at), t)
    i_start = state.i * torch.exp(-(start - state.t) / p.tau_syn)
    elapsed = torch.clamp(t - start, min=0.0)
    v, i, _ = free_evolution(state.v, i_start, 0.0, _as_lif(p), elapsed)
    return NeuronState(v, i, t.clone(), state.free_at)


def input_jump(state: NeuronState, w: torch.Tensor) -> NeuronState:
    """Add ``w`` (nA, broadcasting to the state) to the synaptic current: input spikes at
    ``state.t``. Differentiable in ``w``."""
    return state._replace(i=state.i + w)


def spike_jump(
    state: NeuronState, fired: torch.Tensor, t_spike: torch.Tensor, p: EventLIF
) -> NeuronState:
    """Where ``fired`` (bool), let the neuron spike at ``t_spike`` (ms, >= ``state.t``):
    flow there, reset v to ``p.v_reset`` and start the refractory period."""
    t_to = torch.where(fired, t_spike, state.t)
    moved = flow(state, t_to, p)
    return NeuronState(
        v=torch.where(fired, torch.full_like(state.v, p.v_reset), state.v),
        i=torch.where(fired, moved.i, state.i),
        t=t_to,
        free_at=torch.where(fired, t_to + p.tau_refrac, state.free_at),
    )


def next_crossing(
    state: NeuronState,
    t_end: torch.Tensor | float,
    p: EventLIF,
    active: torch.Tensor | None = None,
    xtol: float = 1e-10,
) -> torch.Tensor:
    """Time of each neuron's next threshold crossing in (start, ``t_end``], ms; +inf if none.

    Parameters
    ----------
    state
        The neurons, each at its own time ``state.t``.
    t_end
        End of the search, ms (finite), broadcasting to the state.
    p
        Neuron parameters.
    active
        Optional bool mask: only these neurons are searched (others get +inf).
    xtol
        Solver tolerance, ms: a returned time lies at most ``xtol`` after the true crossing
        from the state it starts at (earlier spikes' errors carry over through resets:
        docs/event_engine.md, "Tolerance").

    Returns
    -------
    Tensor of the state's shape. The search starts where free evolution starts
    (``max(t, free_at)``); the solver runs only on neurons that can reach the threshold by
    the bound v(s) <= max(v, 0) + max(i, 0) min(s, K_max) / cm, where K(s) <= s and K_max
    is the peak of the synaptic kernel (:func:`kernel_peak`).
    """
    t_end = torch.as_tensor(t_end, dtype=state.v.dtype, device=state.v.device)
    start, i_start = _free_start(state, p)
    horizon = t_end - start
    reach = torch.clamp(horizon, max=kernel_peak(p))
    bound = torch.clamp(state.v, min=0.0) + torch.clamp(i_start, min=0.0) / p.cm * reach
    candidate = (horizon >= 0) & (bound >= p.v_thresh)
    if active is not None:
        candidate &= active
    out = torch.full_like(state.v, math.inf)
    idx = candidate.nonzero(as_tuple=True)
    if idx[0].numel():
        dt = next_spike_times(
            state.v[idx], i_start[idx], 0.0, _as_lif(p), horizon[idx], xtol=xtol
        )
        out[idx] = start[idx] + dt
    return out


def _fire_until(
    state: NeuronState,
    t_end: torch.Tensor,
    p: EventLIF,
    counts: torch.Tensor,
    max_spikes: int | None,
    xtol: float,
    emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> NeuronState:
    """Emit every crossing up to ``t_end`` (each neuron independently), appending
    (sample, neuron, time) index tensors to ``emitted``; ``counts`` is updated in place.

    After the first round only the neurons that just fired are searched again: the others
    were found not to cross before ``t_end`` and their state has not changed."""
    active = None if max_spikes is None else counts < max_spikes
    while True:
        t_cross = next_crossing(state, t_end, p, active, xtol)
        fired = torch.isfinite(t_cross)
        b, n = fired.nonzero(as_tuple=True)
        if not b.numel():
            return state
        emitted.append((b, n, t_cross[b, n]))
        counts += fired
        state = spike_jump(state, fired, t_cross, p)
        active = fired if max_spikes is None else fired & (counts < max_spikes)


def collect_spikes(
    emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    batch: int,
    dtype: torch.dtype,
    device: torch.device,
) -> Spikes:
    """Padded (B, K_out) batch from (sample, neuron, time) triples, sorted by time, then id."""
    if not emitted:
        return Spikes(
            torch.empty((batch, 0), dtype=dtype, device=device),
            torch.empty((batch, 0), dtype=torch.long, device=device),
        )
    b, n, t = (torch.cat(parts) for parts in zip(*emitted, strict=True))
    order = torch.argsort(n, stable=True)
    order = order[torch.argsort(t[order], stable=True)]
    order = order[torch.argsort(b[order], stable=True)]
    b, n, t = b[order], n[order], t[order]
    counts = torch.bincount(b, minlength=batch)
    first = torch.cumsum(counts, 0) - counts
    pos = torch.arange(b.numel(), device=device) - first[b]
    width = int(counts.max())
    times = torch.full((batch, width), math.inf, dtype=dtype, device=device)
    ids = torch.full((batch, width), PAD_ID, dtype=torch.long, device=device)
    times[b, pos] = t
    ids[b, pos] = n
    return Spikes(times, ids)


def check_spike_inputs(
    input_times: Any, input_ids: Any, weights: Any, t_max: float, max_spikes: int | None,
    delay: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate the arguments of :func:`lif_layer_forward`; return (times, ids, weights)."""
    w = torch.as_tensor(weights)
    if not w.is_floating_point():
        w = w.to(torch.float64)
    if w.ndim != 2:
        raise ConfigError(f"weights must have shape (n_in, n_out), got {tuple(w.shape)}")
    check_finite("weights", w.detach().cpu().numpy())
    times = torch.as_tensor(input_times).to(dtype=w.dtype, device=w.device)
    ids = torch.as_tensor(input_ids).to(device=w.device)
    if times.ndim != 2 or ids.shape != times.shape:
        raise ConfigError(
            "input_times and input_ids must both have shape (B, K), got "
            f"{tuple(times.shape)} and {tuple(ids.shape)}"
        )
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise ConfigError(f"input_ids must be integers, got dtype {ids.dtype}")
    ids = ids.long()
    pad = torch.isposinf(times)
    real = times[~pad].cpu().numpy()
    check_finite("input_times (except +inf padding)", real)
    if real.size and real.min() < 0:
        raise ConfigError(f"input_times must be >= 0 ms, got {real.min()!r}")
    if times.shape[1] > 1 and bool((torch.diff(times, dim=1) < 0).any()):
        raise ConfigError("each row of input_times must be ascending, with +inf padding last")
    if bool((ids[pad] != PAD_ID).any()):
        raise ConfigError(f"input_ids must be {PAD_ID} exactly where input_times is +inf")
    used = ids[~pad]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= w.shape[0]):
        bad = used[(used < 0) | (used >= w.shape[0])][0]
        raise ConfigError(
            f"input_ids must lie in [0, {w.shape[0]}) (rows of weights), got {int(bad)}"
        )
    check_positive("t_max", t_max, "ms")
    check_positive("delay", delay, "ms", allow_zero=True)
    if max_spikes is not None and (
        isinstance(max_spikes, bool) or not isinstance(max_spikes, int | np.integer)
        or max_spikes < 1
    ):
        raise ConfigError(f"max_spikes must be a positive integer or None, got {max_spikes!r}")
    return times, ids, w


def compiled_path(weights: torch.Tensor) -> bool:
    """Whether a layer with these weights runs on the compiled CPU kernel (CPU float64)
    rather than the torch maps (any other device or dtype)."""
    return weights.device.type == "cpu" and weights.dtype == torch.float64


def layer_kernel(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    params: EventLIF,
    t_max: float,
    max_spikes: int | None,
    xtol: float,
) -> tuple[Spikes, torch.Tensor]:
    """A feed-forward layer on the compiled CPU kernel: its spikes and the synaptic current
    of the spiking neuron just before each spike (nA, (B, K_out), 0 at padding).

    ``arrive`` = input times + delay (ms, ascending per row, ``+inf`` padded), ``ids`` and
    ``weights`` as :func:`lif_layer_forward` takes them, already validated
    (:func:`check_spike_inputs`); CPU float64 tensors (:func:`compiled_path`).
    """
    times, out_ids, current = event_kernel.layer_forward(
        np.ascontiguousarray(arrive.detach().numpy()),
        np.ascontiguousarray(ids.numpy()),
        np.ascontiguousarray(weights.detach().numpy()),
        float(t_max), params.tau_mem, params.tau_syn, params.cm, params.v_thresh,
        params.v_reset, params.tau_refrac, kernel_peak(params), float(xtol), max_spikes,
    )
    return (
        Spikes(torch.from_numpy(times), torch.from_numpy(out_ids)),
        torch.from_numpy(current),
    )


def lif_layer_forward(
    input_times: Any,
    input_ids: Any,
    weights: Any,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    xtol: float = 1e-10,
) -> Spikes:
    """Exact spikes of a feed-forward layer of LIF neurons driven by a batch of input spikes.

    Parameters
    ----------
    input_times
        Input spike times, ms, shape (B, K): per row ascending, >= 0, ``+inf`` padding last
        (a torch tensor, numpy array or :class:`neurotwin.datasets.encoding.SpikeBatch`'s
        ``times``).
    input_ids
        Input source index per spike, integers of shape (B, K) in [0, n_in), ``-1`` where
        the time is ``+inf``.
    weights
        Signed weights, nA, shape (n_in, n_out). Their dtype (a float dtype; float64 for
        spike times exact to ``xtol``) and device are those of the computation and output.
    params
        Neuron parameters shared by the layer; every neuron starts at rest at 0 ms.
    t_max
        End of the simulation, ms (> 0): spikes in (0, t_max] are returned; inputs arriving
        after t_max are ignored.
    max_spikes
        At most this many spikes per neuron and sample (later crossings of a neuron that
        reached it are not computed); None: no limit.
    delay
        Axonal delay of every connection, ms (>= 0): input spikes act at time + delay.
    xtol
        Spike-time tolerance, ms: each returned time lies within ``xtol`` after the exact
        crossing (never before it), up to rounding.

    Returns
    -------
    Spikes
        ``times`` (B, K_out) ascending per row (ties by neuron index), ``+inf`` padded, and
        ``ids`` (B, K_out) neuron indices in [0, n_out) or ``-1``; K_out is the largest
        spike count of a sample (0 if no neuron fires). Computed without autograd.

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, unsorted rows, ids out of range, t_max <= 0 ...
    """
    if not isinstance(params, EventLIF):
        raise ConfigError(
            f"params must be an EventLIF (EventLIF.from_lif converts a LIF), got "
            f"{type(params).__name__}"
        )
    times, ids, w = check_spike_inputs(input_times, input_ids, weights, t_max, max_spikes, delay)
    if compiled_path(w):
        return layer_kernel(times + delay, ids, w, params, t_max, max_spikes, xtol)[0]
    with torch.no_grad():
        w = w.detach()
        batch, n_out = times.shape[0], w.shape[1]
        state = initial_state((batch, n_out), w.dtype, w.device)
        counts = torch.zeros((batch, n_out), dtype=torch.long, device=w.device)
        emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        arrive = times + delay
        for k in range(times.shape[1]):
            valid = (ids[:, k] != PAD_ID) & (arrive[:, k] <= t_max)
            t_event = torch.where(valid, arrive[:, k], t_max)[:, None]
            state = _fire_until(state, t_event, params, counts, max_spikes, xtol, emitted)
            state = flow(state, t_event, params)
            rows = w[ids[:, k].clamp(min=0)] * valid[:, None]
            state = input_jump(state, rows)
        t_end = torch.full((batch, 1), float(t_max), dtype=w.dtype, device=w.device)
        _fire_until(state, t_end, params, counts, max_spikes, xtol, emitted)
        return collect_spikes(emitted, batch, w.dtype, w.device)


def first_spike_times(spikes: Spikes, n: int) -> torch.Tensor:
    """Time of each neuron's first spike, ms, shape (B, n); +inf for a silent neuron.

    Parameters
    ----------
    spikes
        A padded batch (e.g. from :func:`lif_layer_forward`) with ids in [0, n) or -1.
    n
        Number of neurons of the layer.
    """
    times, ids = spikes
    out = torch.full((times.shape[0], n), math.inf, dtype=times.dtype, device=times.device)
    real = ids != PAD_ID
    return out.scatter_reduce(
        1, torch.where(real, ids, 0), torch.where(real, times, math.inf), "amin"
    )
