"""Measure the sharded engine: 1 vs 2 ranks on the CUBA benchmark network (fan-in 80).

    PYTHONPATH=src python scripts/shard_scaling.py --sizes 4000 16000 64000 --duration 200

For each size and each smallest delay (0.1 ms = one step, as ``neurotwin bench cuba``
builds it, and 1 ms, the same synapses with a ten times longer delay), it runs the
network in this process (1 rank) and over 2 ranks started on this machine, checks that
the spikes are identical, and reports the simulate wall time (the loop only: every run is
warmed up on 10 ms first, so compilation and process start are excluded), the time the
ranks spent in collectives, and the bytes each rank contributed per step. The table is
printed as markdown (docs/distributed.md) and the numbers written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import neurotwin as nt
from neurotwin.engines.distributed.launch import launch
from neurotwin.experiments.cuba import CubaConfig, build_network

WARM_UP_MS = 10.0


def network(n: int, delay_ms: float, seed: int = 0) -> nt.Network:
    """The CUBA network of ``neurotwin bench cuba`` (fan-in 80), every delay ``delay_ms``."""
    config = CubaConfig(n_neurons=n, fan_in=80)
    net = build_network(config, seed)
    if delay_ms == config.dt:
        return net
    other = nt.Network(dt=net.dt)
    for pop in net.populations:
        other.add(nt.Population(pop.size, pop.model, label=pop.label, initial=pop.initial))
    for proj in net.projections:
        other.connect(proj.pre, proj.post, proj.weights, proj.receptor, delays=delay_ms)
    for pop in net.populations:
        other.record(pop.label, "spikes")
    return other


def timed_run(n: int, delay_ms: float, duration: float) -> dict[str, Any]:
    """Warm up, then run; in a launched worker this is one rank of a sharded run."""
    net = network(n, delay_ms)
    nt.simulate(net, WARM_UP_MS, seed=1)
    res = nt.simulate(net, duration, seed=1)
    ids = np.concatenate([res.spike_records[k].ids + 10**7 * i
                          for i, k in enumerate(sorted(res.spike_records))])
    times = np.concatenate([res.spike_records[k].times for k in sorted(res.spike_records)])
    digest = hashlib.sha256(ids.tobytes() + times.tobytes()).hexdigest()
    return {"wall_s": res.cost.wall_time_s, "meta": dict(res.meta), "spikes": int(ids.size),
            "fingerprint": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000, 64000])
    parser.add_argument("--delays", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--duration", type=float, default=200.0, help="ms")
    parser.add_argument("--out", type=Path, default=Path("results/shard_scaling.json"))
    args = parser.parse_args()
    # the workers import this file to run timed_run
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, str(Path(__file__).parent))
    import shard_scaling

    rows = []
    for n in args.sizes:
        for delay in args.delays:
            one = timed_run(n, delay, args.duration)
            start = time.perf_counter()
            two = launch(shard_scaling.timed_run, 2, (n, delay, args.duration))
            launched = time.perf_counter() - start
            steps = round(args.duration / 0.1)
            meta = two["meta"]
            rows.append({
                "n_neurons": n, "delay_ms": delay, "duration_ms": args.duration,
                "identical": one["fingerprint"] == two["fingerprint"],
                "spikes": one["spikes"],
                "wall_1_rank_s": one["wall_s"], "wall_2_ranks_s": two["wall_s"],
                "launch_total_s": launched,
                "collective_s": meta["collective_time_s"],
                "exchange_steps": meta["exchange_steps"],
                "bytes_per_rank_per_step": [b / steps for b in meta["bytes_sent"]],
            })
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print("\n| neurons | delay (ms) | exchange every | spikes/step | 1 rank (s) | 2 ranks (s) "
          "| in collectives (s, per rank) | bytes/step/rank | identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n_neurons']} | {r['delay_ms']:g} | {r['exchange_steps']} steps | "
              f"{r['spikes'] / (r['duration_ms'] / 0.1):.1f} | {r['wall_1_rank_s']:.3f} | "
              f"{r['wall_2_ranks_s']:.3f} | "
              f"{', '.join(f'{c:.2f}' for c in r['collective_s'])} | "
              f"{', '.join(f'{b:.0f}' for b in r['bytes_per_rank_per_step'])} | "
              f"{'yes' if r['identical'] else 'NO'} |")


if __name__ == "__main__":
    main()
