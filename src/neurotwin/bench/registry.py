"""The benchmark registry and :func:`run_benchmark`, the entry point of ``neurotwin bench``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from neurotwin.errors import ConfigError
from neurotwin.registry import Registry

__all__ = ["BENCHMARKS", "run_benchmark"]

BENCHMARKS: Registry[Callable[..., dict[str, Any]]] = Registry("benchmark")
"""Benchmark functions by name (``"cuba"``), filled by ``@BENCHMARKS.register``. Each takes
keyword options only and returns the result dict it also writes to
``bench/results/<name>.json``."""


def run_benchmark(name: str, **opts: Any) -> dict[str, Any]:
    """Run benchmark ``name`` with keyword options ``opts``; return its result.

    Raises
    ------
    ConfigError
        For an unknown benchmark (listing the known ones) or an unknown option (listing
        the benchmark's options).
    """
    bench = BENCHMARKS.get(name)
    accepted = inspect.signature(bench).parameters
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for benchmark {name!r}; "
            f"options: {', '.join(accepted)}"
        )
    return bench(**opts)
