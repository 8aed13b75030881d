"""The issue-17 GPU target, prepared for a machine with a CUDA device: the full
Potjans-Diesmann microcircuit, 1 s of model time on one GPU (the torch kernel), its wall
time against model time and its per-population rates against the full-scale NEST rates.

    PYTHONPATH=src python scripts/microcircuit_gpu.py [--scale 1.0] [--device cuda]
        [--dtype float32] [--duration 1000] [--json out.json]

Prints one JSON object: build and simulate wall times (s; the simulate time is what the
target compares with 1 s), the real-time factor, peak GPU memory (MiB) and per population
the rate (Hz) next to ``FULL_MEAN_RATES_HZ`` (NEST's example; a reference, not a result of
this code). ``--device cpu --scale 0.02 --duration 100`` checks the script here (minutes).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import neurotwin as nt
from neurotwin.experiments.microcircuit import population_stats
from neurotwin.experiments.microcircuit_model import (
    FULL_MEAN_RATES_HZ,
    POPULATIONS,
    build_network,
    scaled_params,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--duration", type=float, default=1000.0, help="model time, ms")
    parser.add_argument("--presim", type=float, default=100.0,
                        help="model time run first and not timed (warm-up), ms")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    net = build_network(scaled_params(args.scale), seed=args.seed)
    options = {"kernel": "torch", "device": args.device, "dtype": args.dtype}
    nt.simulate(net, args.presim, backend="ideal", seed=args.seed, **options)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = nt.simulate(net, args.duration, backend="ideal", seed=args.seed, **options)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    stats = population_stats(result, net, 0.0, args.duration)
    out = {
        "scale": args.scale, "device": str(args.device), "dtype": args.dtype,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "duration_ms": args.duration, "build_s": result.cost.build_time_s,
        "wall_s": wall, "simulate_s": wall - result.cost.build_time_s,
        "real_time_factor": (wall - result.cost.build_time_s) / (args.duration / 1000.0),
        "peak_gpu_mib": (torch.cuda.max_memory_allocated() / 2**20
                         if args.device.startswith("cuda") else None),
        "rates_hz": {p: stats[p]["rate_hz"] for p in POPULATIONS},
        "nest_full_rates_hz": dict(zip(POPULATIONS, FULL_MEAN_RATES_HZ.tolist(), strict=True)),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
