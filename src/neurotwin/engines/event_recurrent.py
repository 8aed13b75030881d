r"""Exact event-driven simulation of a recurrent layer of LIF neurons, without a time grid.

The neuron is the event engine's (:class:`neurotwin.dynamics.event_lif.EventLIF`; ms, mV
from rest, nA, nF)::

    dv_j/dt = -v_j / tau_mem + i_j / cm
    di_j/dt = -i_j / tau_syn
    input spike of source m arriving at s:      i_j += w_in[m, j]        (all j)
    v_n >= v_thresh at t  ->  spike of n at t:  v_n <- v_reset
                              at t + rec_delay: i_j += w_rec[n, j]       (all j, if <= t_max)

*Recurrent delay.* One delay ``rec_delay`` (ms, >= 0) for all recurrent connections: an
output spike of neuron n at t adds the row ``w_rec[n, :]`` (the diagonal ``w_rec[n, n]`` is
a self-connection) to every current at t + rec_delay, if that is <= t_max (later arrivals
are dropped). At rec_delay = 0 the row is added at the spike time itself: a current jump
leaves v continuous, so the spike acts on the membranes only after t, the dynamics stay
well posed, a neuron cannot make another fire at the very instant it fires, and a neuron's
consecutive spikes are separated (v must climb from v_reset again). Input spikes act at
``time + delay`` (one delay for all inputs).

*Order of simultaneous events.* At one time, threshold crossings come first (the spikes,
and at rec_delay = 0 their rows, in neuron index order: a neuron crossing at the same time
as a lower-indexed one reads a current that holds that one's row), then input arrivals,
then recurrent arrivals (rec_delay > 0) in the order of their spikes. A crossing at an
arrival's time is thus not affected by the arrival (as in the feed-forward engine). Spike
times do not depend on the order (jumps of the current leave v continuous); it fixes which
current is recorded at such a tie and which one-sided derivative the adjoint takes.

*Algorithm.* Unlike the feed-forward layer, neurons interact, so their spikes must be taken
in time order. Per sample, each round takes the sample's earliest event: the earliest
threshold crossing over all its neurons before the next arrival
(:func:`~neurotwin.engines.event_maps.next_crossing`, searched in (now, arrival]), or, if
there is none, the arrival itself. The next arrival is the earlier of the next input and
the next pending recurrent arrival (rec_delay > 0): the delay is the same for all
connections, so the pending arrivals of a sample form a queue in the order of their spikes
(a FIFO, no sorting). A crossing resets the neuron(s) that cross at that time
(:func:`~neurotwin.engines.event_maps.spike_jump`), flows the sample's other neurons to it
(:func:`~neurotwin.engines.event_maps.flow`) and, at rec_delay = 0, adds their recurrent
rows (:func:`~neurotwin.engines.event_maps.input_jump`), else queues their arrivals; an
arrival flows all neurons to it and adds its input row or recurrent row. Neurons crossing
at exactly the same time fire in the same round (the jumps commute, and none of them
changes another's v at that time). The rounds are vectorised over the batch: every sample
advances by its own earliest event, so a batch needs as many rounds as its busiest sample
has events (inputs, output spikes and recurrent arrivals). Each round searches all neurons
of the samples still running, since every event changes every current. Refractoriness is
exact as in the feed-forward engine (v held at v_reset, currents still jump).

The kernels that :func:`~neurotwin.engines.event_kernels.event_kernels` chooses run it: on
CPU in float64 compiled, one sample at a time (:mod:`neurotwin.engines.event_recurrent_kernel`,
which also returns the current of each spiking neuron for EventProp), on other devices and
dtypes the torch maps (:func:`neurotwin.engines.event_torch.recurrent_forward`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import check_event_params, check_spike_inputs
from neurotwin.engines.event_kernels import event_kernels
from neurotwin.engines.event_recurrent_budget import DEFAULT_SPIKE_BUDGET, check_spike_budget
from neurotwin.errors import ConfigError, check_finite
from neurotwin.spikes import Spikes

__all__ = [
    "check_rec_delay",
    "check_recurrent_weights",
    "recurrent_lif_forward",
]


def check_recurrent_weights(w_rec: Any, w_in: torch.Tensor) -> torch.Tensor:
    """Validate recurrent weights against the input weights (n_in, n); return them as a tensor
    of the dtype and device of ``w_in``.

    Raises
    ------
    ConfigError
        ``w_rec`` not of shape (n, n) or not finite.
    """
    w = torch.as_tensor(w_rec)
    n = w_in.shape[1]
    if w.ndim != 2 or w.shape != (n, n):
        raise ConfigError(
            f"w_rec must have shape (n, n) = ({n}, {n}) for {n} neurons (columns of w_in), "
            f"got {tuple(w.shape)}"
        )
    check_finite("w_rec", w.detach().cpu().to(torch.float64).numpy())
    return w.to(dtype=w_in.dtype, device=w_in.device)


def check_rec_delay(rec_delay: Any) -> float:
    """Validate the recurrent delay (ms): one finite scalar >= 0 (a Python or numpy number,
    or a tensor with one element); return it as a float.

    Raises
    ------
    ConfigError
        ``rec_delay`` not a scalar (e.g. one value per connection), NaN, infinite or < 0.
    """
    value = rec_delay.detach().cpu() if isinstance(rec_delay, torch.Tensor) else rec_delay
    arr = np.asarray(value)
    if isinstance(value, bool) or arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(
            f"rec_delay must be one number >= 0 ms (one delay for all recurrent "
            f"connections), got {value!r}"
        )
    delay = float(arr.reshape(()))
    if not (math.isfinite(delay) and delay >= 0.0):
        raise ConfigError(f"rec_delay must be finite and >= 0 ms, got {delay!r}")
    return delay


def recurrent_lif_forward(
    input_times: Any,
    input_ids: Any,
    w_in: Any,
    w_rec: Any,
    params: EventLIF,
    t_max: float,
    *,
    max_spikes: int | None = None,
    delay: float = 0.0,
    rec_delay: float = 0.0,
    xtol: float = 1e-10,
    spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
) -> Spikes:
    """Exact spikes of a recurrent LIF layer driven by a batch of input spikes.

    Parameters
    ----------
    input_times
        Input spike times, ms, shape (B, K): per row ascending, >= 0, ``+inf`` padding last.
    input_ids
        Input source index per spike, integers (B, K) in [0, n_in), ``-1`` at padding.
    w_in
        Signed input weights, nA, shape (n_in, n). Their dtype (float64 for spike times
        exact to ``xtol``) and device are those of the computation and output.
    w_rec
        Signed recurrent weights, nA, shape (n, n): row n is added to all currents
        ``rec_delay`` after neuron n spikes (the diagonal is a self-connection).
    params
        Neuron parameters shared by the layer; every neuron starts at rest at 0 ms.
    t_max
        End of the simulation, ms (> 0): spikes in (0, t_max] are returned; inputs arriving
        after t_max are ignored.
    max_spikes
        At most this many spikes per neuron and sample (a neuron that reached it no longer
        fires, but still receives input); None: no limit.
    delay
        Axonal delay of the inputs, ms (>= 0): input spikes act at time + delay.
    rec_delay
        Delay of all recurrent connections, ms (finite, >= 0): a spike at t acts at
        t + rec_delay if that is <= t_max. 0: at the spike itself.
    xtol
        Spike-time tolerance, ms: each returned time lies within ``xtol`` after the exact
        crossing from the state it starts at; errors of earlier spikes carry over through
        resets and arrivals (docs/event_engine.md, "Tolerance").
    spike_budget
        Runaway guard, spikes per neuron and sample on average (integer >= 1): a sample
        with more than ``spike_budget n`` spikes stops the run with a ``CapacityError``
        naming the layer size, the count and the time
        (:mod:`neurotwin.engines.event_recurrent_budget`); None: no limit.

    Returns
    -------
    Spikes
        ``times`` (B, K_out) ascending per row (ties by neuron index), ``+inf`` padded, and
        ``ids`` (B, K_out) in [0, n) or ``-1``. Computed without autograd.

    Raises
    ------
    ConfigError
        Bad shapes, NaN or negative times, unsorted rows, ids out of range, t_max <= 0,
        ``w_rec`` not (n, n) or not finite, ``rec_delay`` not one number >= 0,
        ``spike_budget`` not an integer >= 1 or None ...
    CapacityError
        A sample exceeded the spike budget (recurrent excitation running away), or the
        padded output would not fit this machine's memory.
    """
    check_event_params(params)
    times, ids, w = check_spike_inputs(input_times, input_ids, w_in, t_max, max_spikes, delay)
    w_r = check_recurrent_weights(w_rec, w)
    d_rec = check_rec_delay(rec_delay)
    budget = check_spike_budget(spike_budget)
    return event_kernels(w).recurrent(times + delay, ids, w, w_r, params, t_max, max_spikes,
                                      xtol, d_rec, budget)  # fmt: skip
