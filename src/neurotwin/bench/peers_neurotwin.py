"""neurotwin's own runner in the benchmark: the ``ideal`` backend on the step engine.

Unlike the peers, neurotwin does not take the flat arrays: it builds the network the way a
user would (the benchmark's factory, from config and seed) and then checks that the
result is bit for bit the network the peers got (same :meth:`FlatNetwork.fingerprint`).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

__all__ = ["run_neurotwin"]


def _factory(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_neurotwin(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    duration: float,
    network: dict[str, Any],
    fingerprint: str | None = None,
    warmup: bool = True,
    repeats: int = 1,
    kernel: str = "numba",
    flatten: str | None = None,
    ranks: int = 1,
    warmup_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the network, check it is the peers' one, and simulate it.

    Parameters
    ----------
    spec, arrays
        The flat network the peers run (used for the spike counts' population layout).
    duration
        Simulated time, ms.
    network
        ``{"factory": "module:function", "config": {...}, "seed": int}``; the factory is
        called as ``factory(config, seed)`` and returns a :class:`~neurotwin.Network`.
    fingerprint
        Expected :meth:`FlatNetwork.fingerprint`; RuntimeError if the built network differs.
    warmup
        First simulate 10 steps of the same network, so that the measured run finds the
        kernel compiled (as Brian2's and NEST's run times exclude their compilation); the
        warm-up time is counted in ``build_time_s``.
    repeats
        Number of measured runs in this process (the first of them is the cold one when
        ``warmup`` is False).
    kernel
        The ideal backend's ``kernel`` option.
    flatten
        "module:function" that turns the built network into the peers' FlatNetwork for
        the fingerprint check (default :func:`neurotwin.bench.flat.flatten`).
    warmup_config
        If given, the warm-up runs the factory's network of this config (a smaller one
        of the same kinds: the same kernels compile) instead of the measured network,
        whose build (at full size, minutes) then happens once.
    ranks
        Processes the measured runs are sharded over (docs/distributed.md); the warm-up
        runs in this process (it fills numba's cache the ranks load). With ranks > 1,
        ``simulate_time_s`` is rank 0's loop, ``simulate_cpu_s`` the slowest rank's CPU
        time, and ``rank_peak_rss_mib`` each rank's peak memory; ``runs[*].total_s``
        includes starting the ranks.

    Returns
    -------
    dict with ``build_time_s`` (map of the first measured run, plus the warm-up),
    ``simulate_time_s`` (its run, wall clock), ``simulate_cpu_s`` (the CPU time of that
    run, every thread of the process), ``warmup_s``, ``network_time_s`` (building the Network
    object), ``runs`` (build/simulate/total seconds of every measured run), ``spikes``
    (label -> count), ``version``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    start = time.perf_counter()
    import neurotwin as nt
    from neurotwin.bench.flat import flatten as flatten_default

    to_flat = flatten_default if flatten is None else _factory(flatten)
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    net = _factory(network["factory"])(network["config"], network["seed"])
    network_s = time.perf_counter() - start
    if fingerprint is not None and to_flat(net).fingerprint() != fingerprint:
        raise RuntimeError("neurotwin built a different network than the one given to the peers")
    warmup_s = 0.0
    if warmup:
        start = time.perf_counter()
        small = net if warmup_config is None else _factory(network["factory"])(
            warmup_config, network["seed"])
        nt.simulate(small, 10 * net.dt, backend="ideal", seed=0, kernel=kernel)
        del small
        warmup_s = time.perf_counter() - start
    runs = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        sharded = {"ranks": ranks} if ranks > 1 else {}
        result = nt.simulate(net, duration, backend="ideal", seed=0, kernel=kernel, **sharded)
        total = time.perf_counter() - start
        runs.append(
            {
                "build_time_s": result.cost.build_time_s,
                "simulate_time_s": result.cost.wall_time_s,
                "simulate_cpu_s": float(result.meta["cpu_time_s"]),
                "total_s": total,
            }
        )
    assert result is not None
    return {
        "version": nt.__version__,
        "build_time_s": runs[0]["build_time_s"] + warmup_s,
        "simulate_time_s": runs[0]["simulate_time_s"],
        "simulate_cpu_s": runs[0]["simulate_cpu_s"],
        "warmup_s": warmup_s,
        "import_s": import_s,
        "network_time_s": network_s,
        "runs": runs,
        "spikes": {label: int(result.spikes(label)[0].size) for label, _, _ in
                   spec["populations"]},
        "ranks": ranks,
        "rank_peak_rss_mib": result.meta.get("rank_peak_rss_mib"),
        "meta": {k: str(v) for k, v in result.meta.items()},
    }
