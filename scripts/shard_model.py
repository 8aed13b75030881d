"""The paper model of docs/distributed.md: speed-up of a sharded run against the rank
count, from per-step costs (measured here where the page says so, assumed otherwise).

    python scripts/shard_model.py

Prints the table's rows (markdown).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RANKS = (1, 2, 4, 8, 16, 32, 64, 256, 1024)
COLLECTIVES = 1
"""All-gathers per exchange (one: the counts travel in the payload's header; two before)."""
MICROCIRCUIT = {"neurons": 77_169, "fan_in": 3_900, "rate_hz": 3.5, "exchange_steps": 1}
CASES: dict[str, dict[str, Any]] = {
    "CUBA 1M neurons, fan-in 80, 5.5 Hz, delay 0.1 ms":
        {"neurons": 1_000_000, "fan_in": 80, "rate_hz": 5.5, "exchange_steps": 1},
    "CUBA 1M, delay 1 ms":
        {"neurons": 1_000_000, "fan_in": 80, "rate_hz": 5.5, "exchange_steps": 10},
    "microcircuit 77k, fan-in 3.9k, 3.5 Hz, 0.1 ms, DC background": MICROCIRCUIT,
    "microcircuit, Poisson background (77k sources)": {**MICROCIRCUIT, "sources": 77_169},
}
LINKS: dict[str, dict[str, Any]] = {
    "gloo ring, α 50 µs": {"alpha_us": 50.0, "ring": True},
    "log tree, α 5 µs": {"alpha_us": 5.0, "ring": False},
}


def step_time_us(
    ranks: int, neurons: int, fan_in: int, rate_hz: float, exchange_steps: int,
    alpha_us: float, ring: bool, sources: int = 0, t_neuron_ns: float = 5.2,
    t_event_ns: float = 5.0, t_walk_ns: float = 10.0, t_source_ns: float = 60.0,
    gb_per_s: float = 1.0, dt_ms: float = 0.1,
) -> float:
    """Wall time of one step on each rank, µs: divided compute, per-rank terms that do
    not divide (every spike's row looked up, every source drawn), the exchange latency
    per step and the bytes every rank receives."""
    spikes = neurons * rate_hz * dt_ms * 1e-3  # per step, whole network
    compute = (neurons * t_neuron_ns + spikes * fan_in * t_event_ns) / ranks * 1e-3
    replicated = (spikes * t_walk_ns + sources * t_source_ns) * 1e-3
    if ranks == 1:
        return compute + replicated
    hops = ranks - 1 if ring else np.ceil(np.log2(ranks))
    latency = COLLECTIVES * hops * alpha_us / exchange_steps
    volume = 4 * spikes / (gb_per_s * 1e3)
    return float(compute + replicated + latency + volume)


def main() -> None:
    """Print one markdown row per network and all-gather."""
    for name, case in CASES.items():
        for link, comm in LINKS.items():
            times = [step_time_us(r, **case, **comm) for r in RANKS]
            speed = [times[0] / t for t in times]
            best = RANKS[int(np.argmax(speed))]
            print(f"| {name} | {link} | {times[0] * 1e-2:.1f} | "
                  + " | ".join(f"{x:.1f}" for x in speed[1:]) + f" | {best} |")


if __name__ == "__main__":
    main()
