"""CPU time of the numba kernel on bench cuba's scaling network (fan-in 80).

    PYTHONPATH=src python scripts/cuba_cpu_time.py --sizes 64000 256000 --duration 500

Builds ``CubaConfig(n_neurons=N, fan_in=80)``, warms the kernel up on 1 ms and reports
per size the CPU time (``time.process_time``: not inflated by other jobs waiting for the
cores, unlike wall time) and wall time of each run, scaled to 1 s of model time, with the
spike count and a hash of the spikes, so that two versions of the engine (two checkouts
on PYTHONPATH, alternated) can be compared run for run and checked to spike alike
(docs/engine.md, "Memory layout at scale").
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from neurotwin.engines.step import compile_network, run_program
from neurotwin.experiments.cuba import CubaConfig, build_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64000, 256000])
    parser.add_argument("--duration", type=float, default=500.0, help="model time, ms")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for n in args.sizes:
        net = build_network(CubaConfig(n_neurons=n, fan_in=80, duration=args.duration), 0)
        prog = compile_network(net)
        run_program(prog, 1.0)
        scale = 1000.0 / args.duration
        for _ in range(args.repeats):
            cpu, wall = time.process_time(), time.perf_counter()
            res = run_program(prog, args.duration)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            ids = np.concatenate([res.spikes(label)[1] for label in ("exc", "inh")])
            digest = hashlib.sha256(ids.tobytes()).hexdigest()[:12]
            print(f"N={n}: cpu {cpu * scale:.3f} s, wall {wall * scale:.3f} s per 1 s model "
                  f"time; {ids.size} spikes, sha256 {digest}")


if __name__ == "__main__":
    main()
