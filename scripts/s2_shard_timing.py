"""Measure the SpiNNaker2 runtime sharded by chips: 1 vs 2 ranks on the CUBA network.

    PYTHONPATH=src python scripts/s2_shard_timing.py --neurons 16000 --duration 200

The CUBA network of ``neurotwin bench cuba`` (fan-in 80) mapped onto one SpiNNaker2
board whose chips keep ``--pes-per-chip`` PEs (the others declared dead, so that the
network spans several chips), tick = dt = 0.1 ms. It runs in this process (1 rank) and
over 2 ranks started on this machine (each builds and maps the network itself, as under
torchrun), checks that spikes and cost are identical, and reports the loop's wall time
(every run warmed up on 10 ms first: no compilation, no process start), the time in
collectives and the bytes each rank contributed per tick. JSON to ``--out``.
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
import neurotwin.spinnaker2 as s2
from neurotwin.engines.distributed import launch
from neurotwin.experiments.cuba import CubaConfig, build_network

WARM_UP_MS = 10.0
TICK_MS = 0.1


def timed_run(n: int, pes_per_chip: int, duration: float) -> dict[str, Any]:
    """Build, map, warm up, run; in a launched worker this is one rank of a sharded run."""
    net = build_network(CubaConfig(n_neurons=n, fan_in=80), seed=0)
    full = s2.Machine(1)
    dead = [s2.DeadPE(int(x), int(y), pe) for x, y in full.chip_xy
            for pe in range(pes_per_chip, 152)]
    placement = s2.map(net, s2.Machine(1, faults=tuple(dead)), tick_ms=TICK_MS)
    options = {"backend": "spinnaker2", "placement": placement, "tick_ms": TICK_MS, "seed": 1}
    nt.simulate(net, WARM_UP_MS, **options)
    res = nt.simulate(net, duration, **options)
    recs = [res.spike_records[k] for k in sorted(res.spike_records)]
    ids = np.concatenate([r.ids + 10**7 * i for i, r in enumerate(recs)])
    times = np.concatenate([r.times for r in recs])
    cost = res.cost
    digest = hashlib.sha256(ids.tobytes() + times.tobytes()
                            + cost.link_packets.tobytes() + cost.pe_max_cycles.tobytes()
                            + repr((cost.energy_j, cost.late_us, cost.deadline_miss_count,
                                    cost.packets_delivered)).encode()).hexdigest()
    return {"wall_s": cost.wall_time_s, "meta": dict(res.meta), "spikes": int(ids.size),
            "chips": int(np.unique(placement.slice_chip).size), "pes": placement.n_slices,
            "fingerprint": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=16000)
    parser.add_argument("--pes-per-chip", type=int, default=16)
    parser.add_argument("--duration", type=float, default=200.0, help="ms")
    parser.add_argument("--out", type=Path, default=Path("results/s2_shard_timing.json"))
    args = parser.parse_args()
    # the workers import this file to run timed_run
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, str(Path(__file__).parent))
    import s2_shard_timing

    one = timed_run(args.neurons, args.pes_per_chip, args.duration)
    start = time.perf_counter()
    two = launch(s2_shard_timing.timed_run, 2, (args.neurons, args.pes_per_chip, args.duration))
    ticks = round(args.duration / TICK_MS)
    row = {
        "n_neurons": args.neurons, "chips": one["chips"], "pes": one["pes"],
        "duration_ms": args.duration, "ticks": ticks, "spikes": one["spikes"],
        "identical": one["fingerprint"] == two["fingerprint"],
        "wall_1_rank_s": one["wall_s"], "wall_2_ranks_s": two["wall_s"],
        "launch_total_s": time.perf_counter() - start,
        "collective_s": two["meta"]["collective_time_s"],
        "bytes_per_rank_per_tick": [b / ticks for b in two["meta"]["bytes_sent"]],
    }
    print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
