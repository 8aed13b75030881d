"""The torch kernel's synapse layout: a dense matrix per well-filled delay, event rows for
the rest.

The torch kernel of :mod:`neurotwin.engines.step` adds synaptic input each step. Where the
synapses of one delay fill more than :data:`DENSE_FILL` of the (presynaptic x target)
matrix (the layers of a trained network), one dense matrix product per delay and step
adds them. Everything sparser (a cortical network: the microcircuit fills 0.03 % of its
matrix over about 30 delays) is delivered as events (:class:`EventRows`): the CSR rows of
the presynaptic units that spiked are gathered and scattered into the ring buffer by one
``index_add_``, so a step costs in proportion to the synapses of its spikes, not to the
matrix, on the CPU and on a GPU alike.

On the CPU, ``index_add_`` adds in index order: spikes in increasing presynaptic index,
each row's synapses in table order, the order of the numba kernel
(:func:`~neurotwin.engines.synapse_codes.deliver_row`), so the two give the same sums bit
for bit. On CUDA the scatter uses atomics: the order of additions onto one target within
a step is not fixed, and float32 sums may differ in the last bits from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DENSE_FILL", "EventRows", "deliver_rows", "torch_synapses"]

DENSE_FILL = 0.1
"""Fraction of a delay's (presynaptic x target) matrix above which it is stored dense."""


@dataclass(frozen=True, eq=False)
class EventRows:
    """Synapses in CSR over presynaptic index, on the run's device.

    Attributes
    ----------
    indptr
        int64 (n_pre + 1,): row p's synapses are ``indptr[p]:indptr[p + 1]``.
    target
        int32 per synapse: index into the buffer's last axis (receptor block x neuron).
    delay
        int32 per synapse: delay in steps (1 <= delay < ring slots).
    weight
        Per synapse, nA, the run's dtype.
    """

    indptr: torch.Tensor
    target: torch.Tensor
    delay: torch.Tensor
    weight: torch.Tensor


def torch_synapses(
    indptr: np.ndarray, target: np.ndarray, weight: np.ndarray, delay_steps: np.ndarray,
    n_targets: int, dtype: torch.dtype, device: torch.device,
) -> tuple[list[tuple[int, torch.Tensor]], EventRows | None]:
    """Split the CSR synapses (``indptr`` over presynaptic index; ``target`` below
    ``n_targets``; weights in nA) into dense (n_pre, n_targets) matrices, one per delay
    (in steps) filled above :data:`DENSE_FILL`, and the event rows of all other synapses
    (None where there are none)."""
    n_pre = indptr.size - 1
    rows = np.repeat(np.arange(n_pre), np.diff(indptr))
    dense: list[tuple[int, torch.Tensor]] = []
    delays, per_delay = np.unique(delay_steps, return_counts=True)
    sparse = np.ones(delay_steps.size, bool)
    for d, count in zip(delays, per_delay, strict=True):
        if count <= DENSE_FILL * n_pre * n_targets:
            continue
        sel = delay_steps == d
        sparse &= ~sel
        mat = np.zeros((n_pre, n_targets))
        np.add.at(mat, (rows[sel], target[sel]), weight[sel])
        dense.append((int(d), torch.as_tensor(mat, dtype=dtype, device=device)))
    if not sparse.any():
        return dense, None
    kept: slice | np.ndarray = slice(None) if sparse.all() else sparse  # no copy if all
    kept_indptr = indptr
    if not sparse.all():
        kept_indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(np.bincount(rows[sparse], minlength=n_pre), out=kept_indptr[1:])
    events = EventRows(
        indptr=torch.as_tensor(kept_indptr, dtype=torch.int64, device=device),
        target=torch.as_tensor(target[kept].astype(np.int32), device=device),
        delay=torch.as_tensor(delay_steps[kept].astype(np.int32), device=device),
        weight=torch.as_tensor(weight[kept], device=device).to(dtype),
    )
    return dense, events


def deliver_rows(rows: EventRows, buf: torch.Tensor, step: int, pre: torch.Tensor) -> None:
    """Add the synapses of the presynaptic spikes ``pre`` (bool, trials x n_pre) emitted
    at ``step`` to the ring buffer ``buf`` (slots, trials, n_targets), each its delay
    ahead of the step's slot."""
    trial, unit = torch.nonzero(pre, as_tuple=True)
    if unit.numel() == 0:
        return
    start = rows.indptr[unit]
    count = rows.indptr[unit + 1] - start
    total = int(count.sum())
    if total == 0:
        return
    spike = torch.repeat_interleave(torch.arange(unit.numel(), device=buf.device), count,
                                    output_size=total)
    first = torch.cumsum(count, 0) - count
    syn = start[spike] + torch.arange(total, device=buf.device) - first[spike]
    n_slots, trials, n_targets = buf.shape
    slot = (rows.delay[syn] + step) % n_slots
    index = (slot * trials + trial[spike]) * n_targets + rows.target[syn]
    buf.view(-1).index_add_(0, index, rows.weight[syn])
