r"""The event kernels in torch (any device and dtype): feed-forward and recurrent layers, the
current at each spike that the adjoint needs, and the leaky-integrator maximum.

Each function walks a padded batch of input arrivals (``arrive`` = input time + delay, ms,
(B, K_in), ascending, ``+inf`` padded; ``ids`` int64, ``PAD_ID`` at padding; validated by
the caller) with the maps of :mod:`neurotwin.engines.event_maps`, vectorised over samples
and neurons. They are the torch half of :class:`neurotwin.engines.event_kernels.EventKernels`;
the compiled CPU float64 half runs the same algorithms one neuron or sample at a time
(:mod:`neurotwin.engines.event_kernel`, :mod:`neurotwin.engines.event_recurrent_kernel`),
and the two agree to rounding (tested).

*Feed-forward layer* (:func:`layer_forward`): one Python iteration per input column; before
each input it lets every neuron fire all its crossings up to that input (neurons of one
layer do not interact, so they need not be ordered among themselves), then flows all
neurons to it and applies the jump.

*Recurrent layer* (:func:`recurrent_forward`): neurons interact, so each round takes each
sample's earliest event (algorithm and tie rules in :mod:`neurotwin.engines.event_recurrent`).

*Current at each spike* (:func:`record_currents`): the adjoint needs, besides the spike
times, the synaptic current of each spiking neuron just before its spike (v is v_thresh
there). It is obtained by replaying the merged event list
(:mod:`neurotwin.engines.event_list`) with :func:`flow` and :func:`input_jump` (one pass, no
threshold search; the current does not depend on the neuron's own spikes, so the spike
jump, which only resets v, is not replayed).

*Leaky-integrator maximum* (:func:`vmax_time`): candidates are the analytic interior
maximum between arrivals (:func:`neurotwin.dynamics.spike_time.peak_time`), each arrival
(a kink) and t_max; v starts at 0 and 0 is the floor.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.spike_time import peak_time
from neurotwin.engines.event_list import EventList, merge_events, recurrent_events
from neurotwin.engines.event_maps import (
    fire_until,
    flow,
    initial_state,
    input_jump,
    next_crossing,
    spike_jump,
)
from neurotwin.engines.event_recurrent_budget import NO_CAP, runaway_error, spike_cap
from neurotwin.spikes import PAD_ID, Spikes, collect_spikes

__all__ = [
    "layer_forward",
    "layer_record",
    "record_currents",
    "recurrent_forward",
    "recurrent_record",
    "vmax_time",
]


def layer_forward(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    w: torch.Tensor,
    params: EventLIF,
    t_max: float,
    max_spikes: int | None,
    xtol: float,
) -> Spikes:
    """Spikes of a feed-forward layer (arguments as
    :meth:`~neurotwin.engines.event_kernels.EventKernels.forward`)."""
    with torch.no_grad():
        w = w.detach()
        batch, n_out = arrive.shape[0], w.shape[1]
        state = initial_state((batch, n_out), w.dtype, w.device)
        counts = torch.zeros((batch, n_out), dtype=torch.long, device=w.device)
        emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for k in range(arrive.shape[1]):
            valid = (ids[:, k] != PAD_ID) & (arrive[:, k] <= t_max)
            t_event = torch.where(valid, arrive[:, k], t_max)[:, None]
            state = fire_until(state, t_event, params, counts, max_spikes, xtol, emitted)
            state = flow(state, t_event, params)
            rows = w[ids[:, k].clamp(min=0)] * valid[:, None]
            state = input_jump(state, rows)
        t_end = torch.full((batch, 1), float(t_max), dtype=w.dtype, device=w.device)
        fire_until(state, t_end, params, counts, max_spikes, xtol, emitted)
        return collect_spikes(emitted, batch, w.dtype, w.device)


def layer_record(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    w: torch.Tensor,
    params: EventLIF,
    t_max: float,
    max_spikes: int | None,
    xtol: float,
) -> tuple[Spikes, torch.Tensor]:
    """Spikes of a feed-forward layer and the current at each (arguments and result as
    :meth:`~neurotwin.engines.event_kernels.EventKernels.record`)."""
    spikes = layer_forward(arrive, ids, w, params, t_max, max_spikes, xtol)
    with torch.no_grad():
        events = merge_events(arrive, ids, spikes.times, spikes.ids, t_max)
        return spikes, record_currents(events, w.detach(), params, spikes.times.shape[1])


def recurrent_forward(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    params: EventLIF,
    t_max: float,
    max_spikes: int | None,
    xtol: float,
    rec_delay: float,
    spike_budget: int | None,
) -> Spikes:
    """Spikes of a recurrent layer (arguments as
    :meth:`~neurotwin.engines.event_kernels.EventKernels.recurrent`)."""
    with torch.no_grad():
        return _run(arrive, ids, w_in.detach(), w_rec.detach(), params, float(t_max),
                    max_spikes, rec_delay, xtol, spike_budget)  # fmt: skip


def recurrent_record(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    params: EventLIF,
    t_max: float,
    max_spikes: int | None,
    xtol: float,
    rec_delay: float,
    spike_budget: int | None,
) -> tuple[Spikes, torch.Tensor]:
    """Spikes of a recurrent layer and the current at each (arguments and result as
    :meth:`~neurotwin.engines.event_kernels.EventKernels.record_recurrent`).

    The replay takes an output spike of neuron n as an input too: at rec_delay = 0, after
    its current is read, the row ``w_rec[n, :]`` is added to all currents; at
    rec_delay > 0 its arrival is one more input event, of source n_in + n with the weights
    ``[w_in; w_rec]`` (:func:`~neurotwin.engines.event_list.recurrent_events`)."""
    spikes = recurrent_forward(arrive, ids, w_in, w_rec, params, t_max, max_spikes, xtol,
                               rec_delay, spike_budget)  # fmt: skip
    with torch.no_grad():
        w, w_r = w_in.detach(), w_rec.detach()
        events = recurrent_events(arrive, ids, spikes, t_max, w.shape[0], rec_delay)
        k_out = spikes.times.shape[1]
        if rec_delay == 0.0:
            current = record_currents(events, w, params, k_out, w_rec=w_r)
        else:
            current = record_currents(events, torch.cat([w, w_r]), params, k_out)
    return spikes, current


def record_currents(
    events: EventList,
    weights: torch.Tensor,
    params: EventLIF,
    k_out: int,
    w_rec: torch.Tensor | None = None,
) -> torch.Tensor:
    """Synaptic current of the spiking neuron just before each output spike, nA, (B, K_out).

    Replays ``events`` through the engine's flow and input jump, reading the current off at
    each output spike (v of the replay is not used); 0 at padding.

    Parameters
    ----------
    events
        The layer's inputs and output spikes in time order, (B, K_in + K_out).
    weights
        Input weights, nA, (n_in, n_out).
    params
        Neuron parameters.
    k_out
        Width of the output batch.
    w_rec
        Recurrent weights, nA, (n_out, n_out), or None (feed-forward): after an output
        spike of neuron n is read, the row ``w_rec[n, :]`` is added to all currents (zero
        delay, :func:`recurrent_record`).
    """
    batch, n_out = events.times.shape[0], weights.shape[1]
    out = torch.zeros((batch, k_out), dtype=weights.dtype, device=weights.device)
    state = initial_state((batch, n_out), weights.dtype, weights.device)
    rows = torch.arange(batch, device=weights.device)
    for c in range(events.times.shape[1]):
        t_c = events.times[:, c]
        valid = torch.isfinite(t_c)
        if not bool(valid.any()):
            break
        ids = events.ids[:, c].clamp(min=0)
        is_out = events.is_output[:, c] & valid
        is_in = valid & ~is_out
        state = flow(state, torch.where(valid, t_c, state.t[:, 0])[:, None], params)
        if bool(is_out.any()):
            out[rows[is_out], events.column[is_out, c]] = state.i[rows[is_out], ids[is_out]]
        jump = weights[torch.where(is_in, ids, 0)] * is_in[:, None]
        if w_rec is not None:
            jump = torch.where(is_out[:, None], w_rec[torch.where(is_out, ids, 0)], jump)
        state = input_jump(state, jump)
    return out


def _run(
    arrive_in: torch.Tensor,
    ids: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    p: EventLIF,
    t_max: float,
    max_spikes: int | None,
    rec_delay: float,
    xtol: float,
    spike_budget: int | None,
) -> Spikes:
    """The event loop of :func:`recurrent_forward` on validated tensors."""
    batch, n = arrive_in.shape[0], w_in.shape[1]
    cap = spike_cap(n, spike_budget, max_spikes)
    dtype, device = w_in.dtype, w_in.device
    state = initial_state((batch, n), dtype, device)
    counts = torch.zeros((batch, n), dtype=torch.long, device=device)
    emitted: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    # one padding column more, so that a sample's input pointer can always be read
    arrive = torch.cat([arrive_in, torch.full((batch, 1), t_max, dtype=dtype,
                                              device=device)], dim=1)  # fmt: skip
    source = torch.cat([ids, torch.full((batch, 1), PAD_ID, device=device)], dim=1)
    # rows are ascending with padding last, so the inputs that act form a prefix of each row
    n_inputs = ((source != PAD_ID) & (arrive <= t_max)).sum(dim=1)
    pointer = torch.zeros(batch, dtype=torch.long, device=device)
    # pending recurrent arrivals (rec_delay > 0): per sample a FIFO of spike times and
    # neurons, [head, tail); the spare last column keeps queue[head] readable
    queue_t = torch.full((batch, 1), math.inf, dtype=dtype, device=device)
    queue_id = torch.zeros((batch, 1), dtype=torch.long, device=device)
    head = torch.zeros(batch, dtype=torch.long, device=device)
    tail = torch.zeros(batch, dtype=torch.long, device=device)
    running = torch.full((batch,), n > 0, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)
    while bool(running.any()):
        has_input = pointer < n_inputs
        t_input = torch.where(has_input, arrive[rows, pointer], t_max)
        t_queued = queue_t[rows, head] + rec_delay
        has_rec = (head < tail) & (t_queued <= t_max)
        t_next = torch.minimum(t_input, torch.where(has_rec, t_queued, t_max))
        active = running[:, None].expand(batch, n)
        if max_spikes is not None:
            active = active & (counts < max_spikes)
        t_cross = next_crossing(state, t_next[:, None], p, active, xtol)
        t_first = t_cross.min(dim=1).values
        fires = torch.isfinite(t_first)
        # at one time: crossings, then inputs, then recurrent arrivals
        takes = running & ~fires & has_input & (t_input <= t_next)
        receives = running & ~fires & has_rec & ~takes
        running = fires | takes | receives
        fired = (t_cross == t_first[:, None]) & fires[:, None]
        b, nrn = fired.nonzero(as_tuple=True)
        if b.numel():
            emitted.append((b, nrn, t_cross[b, nrn]))
            counts += fired
            if cap != NO_CAP:  # a runaway: stop before it takes all memory
                over = (counts.sum(dim=1) > cap).nonzero()
                if over.numel():
                    k = int(over[0, 0])
                    assert spike_budget is not None  # only a budget sets a cap
                    raise runaway_error(n, spike_budget, k, float(t_first[k]), t_max)
        state = spike_jump(state, fired, t_cross, p)
        t_to = torch.where(fires, t_first, torch.where(takes | receives, t_next,
                                                       state.t.amax(dim=1)))  # fmt: skip
        state = flow(state, t_to[:, None], p)
        feed = w_in[source[rows, pointer].clamp(min=0)] * takes[:, None]
        if rec_delay == 0.0:
            state = input_jump(state, fired.to(dtype) @ w_rec + feed)
        else:
            arrival = w_rec[queue_id[rows, head]] * receives[:, None]
            state = input_jump(state, feed + arrival)
            head = head + receives
            if b.numel():  # queue the new spikes, per sample in neuron index order
                slot = tail[b] + (fired.cumsum(dim=1) - 1)[b, nrn]
                tail = tail + fired.sum(dim=1)
                if int(tail.max()) >= queue_t.shape[1]:
                    queue_t, queue_id = _grow_queue(queue_t, queue_id, int(tail.max()) + 1)
                queue_t[b, slot] = t_cross[b, nrn]
                queue_id[b, slot] = nrn
        pointer = pointer + takes
    return collect_spikes(emitted, batch, dtype, device)


def _grow_queue(
    queue_t: torch.Tensor, queue_id: torch.Tensor, needed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pending-arrival queue (B, capacity) widened to at least ``needed`` columns
    (doubling), new slots ``+inf`` / 0."""
    batch, size = queue_t.shape
    extra = max(needed - size, size)
    more_t = torch.full((batch, extra), math.inf, dtype=queue_t.dtype, device=queue_t.device)
    more_id = torch.zeros((batch, extra), dtype=queue_id.dtype, device=queue_id.device)
    return torch.cat([queue_t, more_t], dim=1), torch.cat([queue_id, more_id], dim=1)


def vmax_time(
    arrive: torch.Tensor,
    ids: torch.Tensor,
    w: torch.Tensor,
    params: EventLIF,
    t_max: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time of each leaky-integrator neuron's maximum and the input column of a kink there
    (arguments and result as :meth:`~neurotwin.engines.event_kernels.EventKernels.vmax`)."""
    lif = params.to_lif(v_rest=0.0)
    batch, n_out = arrive.shape[0], w.shape[1]
    state = initial_state((batch, n_out), w.dtype, w.device)
    best_v = torch.zeros_like(state.v)
    best_t = torch.zeros_like(state.v)
    kink = torch.full(best_v.shape, -1, dtype=torch.long, device=w.device)

    def consider(v: torch.Tensor, t: torch.Tensor, column: torch.Tensor) -> None:
        better = v > best_v
        best_v.copy_(torch.where(better, v, best_v))
        best_t.copy_(torch.where(better, t, best_t))
        kink.copy_(torch.where(better, column, kink))

    def interior(state_now: Any, t_to: torch.Tensor) -> None:
        slope = -state_now.v / params.tau_mem + state_now.i / params.cm
        t_peak = peak_time(slope, state_now.i, params.tau_syn, t_to - state_now.t, lif)
        at_peak = flow(state_now, state_now.t + t_peak, params)
        consider(at_peak.v, at_peak.t, torch.full_like(kink, -1))

    for c in range(arrive.shape[1]):
        valid = (ids[:, c] != PAD_ID) & (arrive[:, c] <= t_max)
        t_c = torch.where(valid, arrive[:, c], t_max)[:, None].expand(batch, n_out)
        interior(state, t_c)
        state = flow(state, t_c, params)
        column = torch.where(valid, c, -1)[:, None].expand(batch, n_out)
        consider(state.v, state.t, column)
        rows = w[ids[:, c].clamp(min=0)] * valid[:, None]
        state = input_jump(state, rows)
    t_end = torch.full_like(state.v, float(t_max))
    interior(state, t_end)
    state = flow(state, t_end, params)
    consider(state.v, state.t, torch.full_like(kink, -1))
    return best_t, kink
