r"""The event kernels as one object: the event engine's algorithms for one device and dtype.

Every event algorithm exists twice: in torch, vectorised over samples and neurons, for any
device and dtype (:mod:`neurotwin.engines.event_torch`,
:mod:`neurotwin.engines.event_adjoint`), and compiled with numba for CPU float64, one neuron
or sample at a time (:mod:`neurotwin.engines.event_kernel`,
:mod:`neurotwin.engines.event_recurrent_kernel`,
:mod:`neurotwin.engines.event_adjoint.kernel`). The two give the same spikes and gradients
up to rounding (tested). :func:`event_kernels` chooses one of them from the weights, once
per call of an entry point (``lif_layer_forward``, ``recurrent_lif_forward``, the EventProp
records, their backward passes and ``li_vmax``); the entry points validate their arguments
and then only call the chosen object's operations (the contract :class:`EventKernels`).

Arguments common to the operations (validated by the caller, tensors of one device):

* ``arrive`` — input arrival times (input time + delay), ms, (B, K_in), ascending per row,
  ``+inf`` padded; ``ids`` — source indices, int64, (B, K_in), ``PAD_ID`` at padding;
* ``w`` / ``w_in`` — signed input weights, nA, (n_in, n); ``w_rec`` — recurrent weights,
  nA, (n, n), row n added to all currents ``rec_delay`` ms after neuron n spikes;
* ``params`` — the neuron; ``t_max`` — end of the simulation, ms; ``max_spikes`` — spikes
  per neuron and sample at most (None: no limit); ``xtol`` — spike-time tolerance, ms;
* ``spikes`` — the layer's output spikes (B, K_out) from a record; ``current`` — the
  synaptic current of the spiking neuron just before each of them, nA (B, K_out);
  ``grad`` — dL/d(output spike time), 1/ms (B, K_out), 0 at padding; ``min_slope`` — floor
  of dv/dt before a spike in the adjoint's spike jump, mV/ms (0: exact).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from neurotwin.dynamics.event_lif import EventLIF, event_lif_constants
from neurotwin.engines import event_kernel, event_recurrent_kernel, event_torch
from neurotwin.engines.event_adjoint import kernel as adjoint_kernel
from neurotwin.engines.event_adjoint.layer import lif_layer_backward
from neurotwin.engines.event_adjoint.recurrent import recurrent_lif_backward
from neurotwin.engines.event_list import merge_events, recurrent_events
from neurotwin.engines.event_recurrent_budget import DEFAULT_SPIKE_BUDGET
from neurotwin.spikes import Spikes

__all__ = ["COMPILED", "TORCH", "CompiledKernels", "EventKernels", "TorchKernels",
           "event_kernels"]  # fmt: skip


class EventKernels(Protocol):
    """What a set of event kernels offers (arguments in the module docstring). All run
    without autograd and return tensors on the device and in the dtype of the weights."""

    def forward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> Spikes:
        """Spikes of a feed-forward layer: (B, K_out), ascending, ties by neuron index."""
        ...

    def record(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> tuple[Spikes, torch.Tensor]:
        """:meth:`forward`'s spikes and the current at each spike (nA, 0 at padding)."""
        ...

    def recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> Spikes:
        """Spikes of a recurrent layer (:mod:`neurotwin.engines.event_recurrent`); a sample
        of more than ``spike_budget`` spikes per neuron raises ``CapacityError``
        (:mod:`neurotwin.engines.event_recurrent_budget`; None: no limit)."""
        ...

    def record_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> tuple[Spikes, torch.Tensor]:
        """:meth:`recurrent`'s spikes and the current at each spike, before the spiking
        neuron's own recurrent jump (nA, 0 at padding)."""
        ...

    def backward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, spikes: Spikes,
        current: torch.Tensor, grad: torch.Tensor, params: EventLIF, t_max: float,
        min_slope: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The adjoint of a feed-forward layer: dL/dw (n_in, n_out), summed over the batch,
        and dL/d(arrival time) (B, K_in), 0 for padding and inputs after t_max."""
        ...

    def backward_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, spikes: Spikes, current: torch.Tensor, grad: torch.Tensor,
        params: EventLIF, t_max: float, min_slope: float, rec_delay: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The adjoint of a recurrent layer: dL/dw_in, dL/dw_rec, dL/d(arrival time) and
        dL/d(rec_delay) (a 0-d tensor, 1/ms; at rec_delay = 0 the derivative from the
        right)."""
        ...

    def vmax(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Time of each leaky-integrator neuron's maximum of v over [0, t_max], ms
        (B, n_out), the earliest of equal maxima, and the input column whose arrival is
        that maximum (a kink) or -1 (interior maximum, t = 0 or t = t_max)."""
        ...


def _np(x: torch.Tensor) -> np.ndarray:
    """A CPU tensor as a C-contiguous numpy array (no copy when it already is one)."""
    return np.ascontiguousarray(x.detach().numpy())


def _spikes(times: np.ndarray, ids: np.ndarray) -> Spikes:
    """A kernel's padded output batch as tensors (sharing the arrays' memory)."""
    return Spikes(torch.from_numpy(times), torch.from_numpy(ids))


class CompiledKernels:
    """The numba kernels: CPU float64 tensors only (:func:`event_kernels` picks them)."""

    def forward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> Spikes:
        return self.record(arrive, ids, w, params, t_max, max_spikes, xtol)[0]

    def record(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> tuple[Spikes, torch.Tensor]:
        times, out_ids, current = event_kernel.layer_forward(
            _np(arrive), _np(ids), _np(w), float(t_max), event_lif_constants(params),
            float(xtol), max_spikes,
        )
        return _spikes(times, out_ids), torch.from_numpy(current)

    def recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> Spikes:
        return self.record_recurrent(arrive, ids, w_in, w_rec, params, t_max, max_spikes,
                                     xtol, rec_delay, spike_budget)[0]  # fmt: skip

    def record_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> tuple[Spikes, torch.Tensor]:
        times, out_ids, current = event_recurrent_kernel.recurrent_forward(
            _np(arrive), _np(ids), _np(w_in), _np(w_rec), float(t_max),
            event_lif_constants(params), float(xtol), max_spikes, float(rec_delay),
            spike_budget,
        )
        return _spikes(times, out_ids), torch.from_numpy(current)

    def backward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, spikes: Spikes,
        current: torch.Tensor, grad: torch.Tensor, params: EventLIF, t_max: float,
        min_slope: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        grad_w, grad_in = adjoint_kernel.layer_backward(
            arrive.numpy(), ids.numpy(), w.detach().numpy(), spikes.times.numpy(),
            spikes.ids.numpy(), current.numpy(), grad.contiguous().numpy(), t_max,
            event_lif_constants(params), min_slope,
        )
        return torch.from_numpy(grad_w), torch.from_numpy(grad_in)

    def backward_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, spikes: Spikes, current: torch.Tensor, grad: torch.Tensor,
        params: EventLIF, t_max: float, min_slope: float, rec_delay: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        *arrays, grad_d = adjoint_kernel.recurrent_backward(
            arrive.numpy(), ids.numpy(), w_in.detach().contiguous().numpy(),
            w_rec.detach().contiguous().numpy(), spikes.times.numpy(), spikes.ids.numpy(),
            current.numpy(), grad.contiguous().numpy(), t_max, event_lif_constants(params),
            min_slope, rec_delay,
        )
        grad_w_in, grad_w_rec, grad_in = (torch.from_numpy(g) for g in arrays)
        return grad_w_in, grad_w_rec, grad_in, torch.tensor(grad_d, dtype=torch.float64)

    def vmax(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t_star, kink = event_kernel.vmax_time(
            _np(arrive), _np(ids), _np(w), float(t_max), event_lif_constants(params)
        )
        return torch.from_numpy(t_star), torch.from_numpy(kink)


class TorchKernels:
    """The torch kernels: any device, any float dtype."""

    def forward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> Spikes:
        return event_torch.layer_forward(arrive, ids, w, params, t_max, max_spikes, xtol)

    def record(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float, max_spikes: int | None, xtol: float,
    ) -> tuple[Spikes, torch.Tensor]:
        return event_torch.layer_record(arrive, ids, w, params, t_max, max_spikes, xtol)

    def recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> Spikes:
        return event_torch.recurrent_forward(arrive, ids, w_in, w_rec, params, t_max,
                                             max_spikes, xtol, rec_delay,
                                             spike_budget)  # fmt: skip

    def record_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, params: EventLIF, t_max: float, max_spikes: int | None,
        xtol: float, rec_delay: float,
        spike_budget: int | None = DEFAULT_SPIKE_BUDGET,
    ) -> tuple[Spikes, torch.Tensor]:
        return event_torch.recurrent_record(arrive, ids, w_in, w_rec, params, t_max,
                                            max_spikes, xtol, rec_delay,
                                            spike_budget)  # fmt: skip

    def backward(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, spikes: Spikes,
        current: torch.Tensor, grad: torch.Tensor, params: EventLIF, t_max: float,
        min_slope: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        events = merge_events(arrive, ids, spikes.times, spikes.ids, t_max)
        return lif_layer_backward(events, current, grad, w.detach(), params, t_max,
                                  arrive.shape[1], min_slope)  # fmt: skip

    def backward_recurrent(
        self, arrive: torch.Tensor, ids: torch.Tensor, w_in: torch.Tensor,
        w_rec: torch.Tensor, spikes: Spikes, current: torch.Tensor, grad: torch.Tensor,
        params: EventLIF, t_max: float, min_slope: float, rec_delay: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        events = recurrent_events(arrive, ids, spikes, t_max, w_in.shape[0], rec_delay)
        return recurrent_lif_backward(events, current, grad, w_in.detach(), w_rec.detach(),
                                      params, t_max, arrive.shape[1], min_slope,
                                      rec_delay)  # fmt: skip

    def vmax(
        self, arrive: torch.Tensor, ids: torch.Tensor, w: torch.Tensor, params: EventLIF,
        t_max: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return event_torch.vmax_time(arrive, ids, w.detach(), params, t_max)


COMPILED = CompiledKernels()
"""The compiled kernels (CPU float64)."""
TORCH = TorchKernels()
"""The torch kernels (any device and dtype)."""


def event_kernels(weights: torch.Tensor) -> EventKernels:
    """The kernels that run a layer with these weights: :data:`COMPILED` for CPU float64
    (exact spike times to ``xtol`` at compiled speed), :data:`TORCH` on any other device or
    dtype."""
    if weights.device.type == "cpu" and weights.dtype == torch.float64:
        return COMPILED
    return TORCH
