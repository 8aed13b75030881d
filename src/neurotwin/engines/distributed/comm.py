"""The collectives of a sharded run: torch.distributed with gloo, every one under the
process group's time-out, every failure a :class:`~neurotwin.errors.DistributedError`.

The process group comes from the environment torchrun sets (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``; :func:`world_from_env`), whether torchrun or
:func:`neurotwin.engines.distributed.launch.launch` started the process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from neurotwin.errors import ConfigError, DistributedError, check_int, check_positive

__all__ = [
    "DEFAULT_TIMEOUT_S", "SpikeExchange", "join_group", "resolve_ranks", "world_from_env",
]

DEFAULT_TIMEOUT_S = 300.0
"""Time-out of every collective (and of joining the group), s: long enough for a rank
that compiles its kernels while the others wait, short enough that a dead rank is
reported rather than waited for."""


def world_from_env() -> tuple[int, int] | None:
    """(rank, world size) when this process is one rank of several (torchrun's
    environment variables), else None."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    try:
        ranks, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    except ValueError:
        raise ConfigError(
            f"WORLD_SIZE and RANK must be integers (torchrun sets them), got "
            f"{os.environ['WORLD_SIZE']!r} and {os.environ['RANK']!r}"
        ) from None
    return (rank, ranks) if ranks > 1 else None


def resolve_ranks(ranks: int | None, timeout_s: float) -> tuple[int, bool]:
    """(rank count, whether this process is already one of the ranks) for a run asked
    for ``ranks`` (None: torchrun's world size, else 1), checking ``timeout_s``.

    Raises
    ------
    ConfigError
        For a rank count below 1, a non-positive time-out, or a ``ranks`` that
        contradicts torchrun's world size.
    """
    world = world_from_env()
    if ranks is None:
        ranks = 1 if world is None else world[1]
    check_int("ranks", ranks, low=1)
    check_positive("timeout_s", timeout_s, "s")
    if world is not None and ranks != world[1]:
        raise ConfigError(
            f"ranks = {ranks} contradicts this torchrun world of {world[1]} processes; "
            f"leave ranks out under torchrun, or pass ranks={world[1]}"
        )
    return ranks, world is not None


def join_group(rank: int, ranks: int, timeout_s: float) -> None:
    """Join the gloo process group of ``ranks`` processes as ``rank`` (the address from
    ``MASTER_ADDR``/``MASTER_PORT``); keep a group already joined if it matches.

    Raises
    ------
    DistributedError
        If the others do not join within ``timeout_s``, or the group already joined has
        another size.
    """
    if dist.is_initialized():
        if dist.get_world_size() != ranks or dist.get_rank() != rank:
            raise DistributedError(
                f"this process already belongs to a group of {dist.get_world_size()} ranks "
                f"(rank {dist.get_rank()}); a run over {ranks} ranks cannot use it"
            )
        return
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(
            "gloo", init_method="env://", rank=rank, world_size=ranks,
            timeout=timedelta(seconds=timeout_s),
        )
    except (RuntimeError, ValueError) as err:
        raise DistributedError(
            f"rank {rank} could not join the group of {ranks} ranks at {where} within "
            f"{timeout_s:g} s: {_first_line(err)}"
        ) from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


MIN_CAPACITY = 64
"""Smallest payload (spike codes per rank) of an exchange's all-gather."""


class SpikeExchange:
    """All-gathers of variable-length integer arrays (the spike codes of an interval),
    counting what this rank sends.

    One collective per exchange: each rank sends a buffer of fixed length, its count
    first, then its codes padded to the exchange's *capacity* (the same on every rank).
    Every rank reads every count, so all agree on what comes next: where a count passed
    the capacity, a second all-gather at the largest count follows (the only exchanges
    with two), and the capacity becomes twice that count; it halves when an exchange's
    largest count stays under a quarter of it (never below :data:`MIN_CAPACITY`).
    Time-outs and dead peers raise :class:`~neurotwin.errors.DistributedError`.
    """

    def __init__(self, rank: int, ranks: int, timeout_s: float, dtype: torch.dtype) -> None:
        self.rank = rank
        self.ranks = ranks
        self.timeout_s = timeout_s
        self.dtype = dtype
        self.capacity = MIN_CAPACITY
        self.exchanges = 0
        self.collectives = 0
        """All-gathers of spikes: the exchanges plus those whose capacity overflowed."""
        self.bytes_sent = 0
        """Bytes this rank contributed to all-gathers (counts and padded payloads)."""
        self.spikes_sent = 0
        self.wait_s = 0.0
        """Wall time spent in collectives, s (waiting for the slowest rank included)."""

    def _collective(self, what: str, call: Callable[[], Any]) -> None:
        start = time.perf_counter()
        try:
            call()
        except RuntimeError as err:
            raise DistributedError(
                f"rank {self.rank} of {self.ranks}: {what} failed: another rank died, or "
                f"stalled longer than the time-out of {self.timeout_s:g} s ({_first_line(err)})"
            ) from None
        self.wait_s += time.perf_counter() - start

    def _gather(self, values: np.ndarray, capacity: int, what: str) -> list[torch.Tensor]:
        """One all-gather of [count, values padded to ``capacity``] from every rank."""
        buffer = torch.zeros(capacity + 1, dtype=self.dtype)
        buffer[0] = values.size
        fits = min(values.size, capacity)
        buffer[1 : fits + 1] = torch.from_numpy(values[:fits].astype(buffer.numpy().dtype))
        parts = [torch.empty(capacity + 1, dtype=self.dtype) for _ in range(self.ranks)]
        self._collective(what, lambda: dist.all_gather(parts, buffer))
        self.collectives += 1
        self.bytes_sent += (capacity + 1) * buffer.element_size()
        return parts

    def all_gather(self, values: np.ndarray, step: int) -> np.ndarray:
        """Every rank's ``values`` concatenated in rank order (``step`` names the
        exchange in errors)."""
        parts = self._gather(values, self.capacity, f"the spikes at step {step}")
        sizes = [int(p[0].item()) for p in parts]
        longest = max(sizes)
        self.exchanges += 1
        self.spikes_sent += values.size
        if longest > self.capacity:  # every rank sees it: all gather again, at once
            parts = self._gather(values, longest, f"the spikes at step {step} (overflow)")
            self.capacity = 2 * longest
        elif 4 * longest < self.capacity:
            self.capacity = max(MIN_CAPACITY, self.capacity // 2)
        if longest == 0:
            return np.zeros(0, np.int64)
        return np.concatenate(
            [p[1 : n + 1].numpy() for p, n in zip(parts, sizes, strict=True)]
        ).astype(np.int64)

    def all_gather_object(self, value: Any, what: str) -> list[Any]:
        """Every rank's picklable ``value``, in rank order."""
        out: list[Any] = [None] * self.ranks
        self._collective(what, lambda: dist.all_gather_object(out, value))
        return out
