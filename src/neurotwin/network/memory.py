"""Memory estimates before allocation: refuse what this machine cannot hold with a
:class:`~neurotwin.errors.CapacityError` naming the need, instead of a ``MemoryError``
(or minutes of swapping) halfway through building it."""

from __future__ import annotations

import math
import os

from neurotwin.errors import CapacityError

__all__ = ["check_memory", "machine_memory"]


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes; None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def check_memory(what: str, n_bytes: float) -> None:
    """Raise :class:`CapacityError` if ``n_bytes`` exceed this machine's physical memory.

    Call it with an estimate (a lower bound is enough) before allocating ``what``.

    Parameters
    ----------
    what
        What needs the memory, for the message (e.g. ``"population 'exc' of 10**10 LIF
        neurons"``).
    n_bytes
        The estimate, bytes.
    """
    available = machine_memory()
    if available is not None and n_bytes > available:
        # beyond 1e300 a Python int has no float value to divide
        gib = n_bytes / 2**30 if n_bytes < 1e300 else math.inf
        raise CapacityError(
            "memory (bytes)",
            int(n_bytes),
            available,
            f"{what}: at least {gib:.3g} GiB, this machine has {available / 2**30:.3g} GiB "
            "of memory",
        )
