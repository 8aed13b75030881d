r"""Padded spike batches: the one event format of datasets, engines and training.

A batch of B spike patterns is two arrays of shape (B, K): ``times`` in ms, each row
ascending with the real spikes (finite, >= 0) first and ``+inf`` padding last, and ``ids``,
the source (or neuron) index of each spike, :data:`PAD_ID` exactly where ``times`` is
``+inf``. K is the largest spike count of a sample. :class:`SpikeBatch` holds such a batch
as numpy arrays with the number of sources (what datasets produce); :class:`Spikes` holds
it as torch tensors on a device (what the event engine and EventProp take and return).
:func:`check_padded_batch` is the one validation of the format, :func:`collect_spikes`
builds a batch from loose (sample, neuron, time) triples and :func:`first_spike_times`
reads each neuron's first spike off a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from neurotwin.errors import ConfigError, check_finite, check_int

__all__ = [
    "PAD_ID",
    "SpikeBatch",
    "Spikes",
    "check_padded_batch",
    "collect_spikes",
    "first_spike_times",
]

PAD_ID = -1
"""Index stored where a row of a spike batch is padded (time ``+inf``)."""


def check_padded_batch(
    times: np.ndarray,
    ids: np.ndarray,
    n_sources: int,
    *,
    names: tuple[str, str] = ("times", "ids"),
    sources: str = "",
) -> None:
    """Raise :class:`ConfigError` unless ``times`` and ``ids`` form a valid padded batch.

    Parameters
    ----------
    times
        Spike times, ms, (B, K): per row ascending, finite and >= 0, then ``+inf`` padding.
    ids
        Integer indices, (B, K), in [0, ``n_sources``); :data:`PAD_ID` exactly where
        ``times`` is ``+inf``.
    n_sources
        Number of sources the ids index.
    names
        How the caller calls the two arrays, for the messages.
    sources
        What the sources are, for the range message (e.g. ``" (rows of weights)"``).
    """
    t_name, i_name = names
    if times.ndim != 2 or ids.shape != times.shape:
        raise ConfigError(
            f"{t_name} and {i_name} must both have shape (B, K), got "
            f"{tuple(times.shape)} and {tuple(ids.shape)}"
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise ConfigError(f"{i_name} must be integers, got dtype {ids.dtype}")
    pad = np.isposinf(times)
    real = times[~pad]
    check_finite(f"{t_name} (except +inf padding)", real)
    if real.size and real.min() < 0:
        raise ConfigError(f"{t_name} must be >= 0 ms, got {real.min()!r}")
    # a comparison, not np.diff: inf - inf between paddings would be NaN
    if times.shape[1] > 1 and np.any(times[:, 1:] < times[:, :-1]):
        raise ConfigError(f"each row of {t_name} must be ascending, with +inf padding last")
    if np.any(ids[pad] != PAD_ID):
        raise ConfigError(f"{i_name} must be PAD_ID = {PAD_ID} exactly where {t_name} is +inf")
    used = ids[~pad]
    if used.size and (used.min() < 0 or used.max() >= n_sources):
        bad = used[(used < 0) | (used >= n_sources)][0]
        raise ConfigError(f"{i_name} must lie in [0, {n_sources}){sources}, got {int(bad)}")


class Spikes(NamedTuple):
    """A padded batch of spikes as torch tensors (format in the module docstring)."""

    times: torch.Tensor
    """Spike times, ms, shape (B, K): ascending per row, ``+inf`` padding last."""
    ids: torch.Tensor
    """Neuron indices, int64, shape (B, K): :data:`PAD_ID` where ``times`` is ``+inf``."""


@dataclass(frozen=True, eq=False)
class SpikeBatch:
    """A batch of spike patterns in padded form, as numpy arrays.

    Parameters
    ----------
    times
        Spike times in ms, float64 of shape (B, K); each row ascending, finite and >= 0
        spikes first, then ``+inf`` padding.
    ids
        Source index of each spike, int64 of shape (B, K), in [0, n_sources);
        :data:`PAD_ID` exactly where ``times`` is ``+inf``.
    n_sources
        Number of sources (the input width), >= 1.
    """

    times: np.ndarray
    ids: np.ndarray
    n_sources: int

    def __post_init__(self) -> None:
        times = np.asarray(self.times, np.float64)
        ids = np.asarray(self.ids)
        check_int("n_sources", self.n_sources, low=1)
        check_padded_batch(times, ids, int(self.n_sources))
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "ids", ids.astype(np.int64, copy=False))
        object.__setattr__(self, "n_sources", int(self.n_sources))

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def to_torch(self, device: str | torch.device = "cpu") -> Spikes:
        """The batch as :class:`Spikes` (float64 times, int64 ids) on a torch device."""
        return Spikes(torch.as_tensor(self.times, device=device),
                      torch.as_tensor(self.ids, device=device))

    def take(self, indices: int | slice | Sequence[int] | np.ndarray) -> SpikeBatch:
        """The samples at ``indices`` (integer array or slice-like index), as a new batch."""
        rows = np.atleast_1d(np.arange(len(self))[indices])
        return SpikeBatch(self.times[rows], self.ids[rows], self.n_sources)


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


def first_spike_times(spikes: Spikes, n: int) -> torch.Tensor:
    """Time of each neuron's first spike, ms, shape (B, n); +inf for a silent neuron.

    Parameters
    ----------
    spikes
        A padded batch (e.g. from :func:`neurotwin.engines.event.lif_layer_forward`) with
        ids in [0, n) or :data:`PAD_ID`.
    n
        Number of neurons of the layer.
    """
    times, ids = spikes
    out = torch.full((times.shape[0], n), math.inf, dtype=times.dtype, device=times.device)
    real = ids != PAD_ID
    return out.scatter_reduce(
        1, torch.where(real, ids, 0), torch.where(real, times, math.inf), "amin"
    )
