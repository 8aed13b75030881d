"""PyNN's ``examples/simpleRandomNetwork.py`` (PyNN 0.13), adapted, on all three backends.

Ten spike-array sources with Poisson-like trains drive twenty IF_curr_exp cells whose
membrane time constants are drawn uniformly from 18-22 ms, through a 50 % random
projection; the script is the same PyNN code for every backend, only ``setup`` names the
backend. Adapted for the twins: synaptic time constants of 5 ms (BrainScaleS-2 calibrates
tau_syn from about 3 ms), weights of 0.5 nA, delays of 0.5 ms (SpiNNaker2's synapse word
holds at most 8 ticks of 0.1 ms) and one independent input train per source.

Usage::

    python scripts/pynn_example.py [--out docs/img/pynn_random_network.png]

Prints each backend's mean output rate and wall time and saves the rasters.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import neurotwin.pynn as sim
from neurotwin.pynn import NumpyRNG, RandomDistribution

T_STOP = 1000.0  # ms
INPUT_RATE = 100.0  # Hz
OPTIONS = {"ideal": {}, "bss2": {"weight_scale": 0.5 / 48}, "spinnaker2": {}}


def run(backend: str) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """The network on ``backend``: input and output spike trains, wall time in s."""
    start = time.perf_counter()
    sim.setup(timestep=0.1, min_delay=0.5, backend=backend, **OPTIONS[backend])
    rng = NumpyRNG(seed=764756387)
    n_spikes = int(2 * T_STOP * INPUT_RATE / 1000.0)
    trains = [np.add.accumulate(rng.next(n_spikes, "exponential", {"beta": 1000.0 / INPUT_RATE}))
              for _ in range(10)]
    inputs = sim.Population(10, sim.SpikeSourceArray(spike_times=[np.round(t, 1) for t in trains]),
                            label="input")
    cells = sim.Population(20, sim.IF_curr_exp(
        tau_refrac=2.0, v_thresh=-50.0, tau_syn_E=5.0, tau_syn_I=5.0,
        tau_m=RandomDistribution("uniform", low=18.0, high=22.0, rng=rng)), label="output")
    sim.Projection(inputs, cells, sim.FixedProbabilityConnector(0.5, rng=rng),
                   sim.StaticSynapse(weight=0.5, delay=0.5))
    inputs.record("spikes")
    cells.record("spikes")
    sim.run(T_STOP)
    out = [st.magnitude for st in cells.get_data().segments[0].spiketrains]
    src = [st.magnitude for st in inputs.get_data().segments[0].spiketrains]
    sim.end()
    return src, out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/pynn_random_network.png"))
    args = parser.parse_args()
    results = {backend: run(backend) for backend in OPTIONS}
    fig, axes = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
    src = results["ideal"][0]
    for i, train in enumerate(src):
        axes[0].plot(train, np.full(train.size, i), "|", color="grey", ms=4)
    axes[0].set_ylabel("input")
    for ax, (backend, (_, out, wall)) in zip(axes[1:], results.items(), strict=True):
        for i, train in enumerate(out):
            ax.plot(train, np.full(train.size, i), "|", color="C0", ms=4)
        rate = sum(t.size for t in out) / (len(out) * T_STOP / 1000.0)
        ax.set_ylabel(f"{backend}\ncell")
        ax.set_title(f"{backend}: {rate:.1f} Hz mean output rate", fontsize=9, loc="left")
        print(f"{backend:<11} mean rate {rate:6.2f} Hz   wall {wall:5.1f} s")
    axes[-1].set_xlabel("time (ms)")
    axes[-1].set_xlim(0, T_STOP)
    fig.suptitle("PyNN simpleRandomNetwork on neurotwin's three backends")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
