"""The Vogels–Abbott CUBA benchmark network (Vogels & Abbott 2005, benchmark 2; as in
the Brian2 and NEST examples): 4000 current-based LIF neurons, 80 % excitatory, random
connectivity with probability 0.02, leak reversal above threshold so that the network is
self-sustained, 5 ms refractory period.

The original is written with voltage jumps (``ge += 1.62 mV``). Here currents are in nA:
with ``cm`` = 1 nF a jump of ``u`` mV in ``ge`` (with ``dv/dt = (ge - (v - E_L)) / tau_m``)
is a current jump of ``u * cm / tau_mem`` nA, so the dynamics are identical.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.backends import simulate
from neurotwin.dynamics import LIF
from neurotwin.errors import ConfigError, check_multiple_of, check_positive
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.network import (
    Network,
    Population,
    fixed_fan_in,
    fixed_probability,
)

__all__ = ["CubaConfig", "build_network", "run"]

TRACED = {"exc": (0, 1, 2), "inh": (0,)}
"""Neurons whose membrane potential ``run`` plots, by population (indices within it;
``n_neurons >= 5`` guarantees they exist)."""

RATE_BIN_MS = 5.0
"""Bin width of the population-rate plot, ms."""


@dataclass(frozen=True)
class CubaConfig:
    """Parameters of the CUBA network.

    Parameters
    ----------
    n_neurons
        Total number of neurons; the first 80 % are excitatory.
    p_connect
        Connection probability (used when ``fan_in`` is None).
    fan_in
        If given, every neuron receives exactly this many synapses (80 % from
        excitatory, 20 % from inhibitory neurons) instead of random-probability wiring:
        the scaling series keeps the synapses per neuron fixed.
    dt
        Time step, ms. Every synapse has a delay of one step.
    duration
        Simulated time, ms.
    """

    n_neurons: int = 4000
    p_connect: float = 0.02
    fan_in: int | None = None
    dt: float = 0.1
    duration: float = 1000.0
    tau_mem: float = 20.0
    tau_syn_exc: float = 5.0
    tau_syn_inh: float = 10.0
    v_rest: float = -49.0
    v_reset: float = -60.0
    v_thresh: float = -50.0
    tau_refrac: float = 5.0
    cm: float = 1.0
    jump_exc_mv: float = 60 * 0.27 / 10
    """Excitatory jump of the voltage-like synaptic variable, mV (1.62 mV)."""
    jump_inh_mv: float = 20 * 4.5 / 10
    """Inhibitory jump magnitude, mV (9 mV)."""

    def __post_init__(self) -> None:
        if self.n_neurons < 5:
            raise ConfigError(f"n_neurons must be >= 5, got {self.n_neurons}")
        check_positive("dt", self.dt, "ms")
        check_multiple_of("duration", self.duration, self.dt)
        check_positive("duration", self.duration, "ms")

    @property
    def n_exc(self) -> int:
        """Number of excitatory neurons (80 %)."""
        return round(0.8 * self.n_neurons)

    @property
    def n_inh(self) -> int:
        """Number of inhibitory neurons (20 %)."""
        return self.n_neurons - self.n_exc

    @property
    def w_exc(self) -> float:
        """Excitatory weight, nA."""
        return self.jump_exc_mv * self.cm / self.tau_mem

    @property
    def w_inh(self) -> float:
        """Inhibitory weight magnitude, nA."""
        return self.jump_inh_mv * self.cm / self.tau_mem

    def model(self) -> LIF:
        """The neuron parameters."""
        return LIF(
            tau_mem=self.tau_mem,
            tau_syn_exc=self.tau_syn_exc,
            tau_syn_inh=self.tau_syn_inh,
            cm=self.cm,
            v_rest=self.v_rest,
            v_reset=self.v_reset,
            v_thresh=self.v_thresh,
            tau_refrac=self.tau_refrac,
        )


def build_network(config: CubaConfig, seed: int = 0) -> Network:
    """The CUBA network: populations "exc" and "inh", four projections, spikes recorded.

    Initial membrane potentials are uniform in [v_reset, v_thresh); connectivity and
    initial state are drawn from ``seed``.
    """
    rng = np.random.default_rng(seed)
    net = Network(dt=config.dt)
    model = config.model()
    sizes = {"exc": config.n_exc, "inh": config.n_inh}
    pops = {}
    for label, n in sizes.items():
        v0 = config.v_reset + rng.random(n) * (config.v_thresh - config.v_reset)
        pops[label] = net.add(Population(n, model, label=label, initial={"v": v0}))
    weights = {"exc": config.w_exc, "inh": config.w_inh}
    for pre, n_pre in sizes.items():
        for post, n_post in sizes.items():
            if config.fan_in is None:
                w = fixed_probability(n_pre, n_post, config.p_connect, weights[pre], rng)
            else:
                k = round(config.fan_in * n_pre / config.n_neurons)
                w = fixed_fan_in(n_pre, n_post, k, weights[pre], rng)
            net.connect(pops[pre], pops[post], w, receptor=pre, delays=config.dt)  # type: ignore[arg-type]
    for pop in pops.values():
        net.record(pop, "spikes")
    return net


@register_experiment("cuba", CubaConfig, sharded=True)
def run(
    config: CubaConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """The Vogels-Abbott CUBA network: rates, raster, population rate, traces.

    Writes ``raster.png``, ``rate.png`` and ``traces.png`` into ``out_dir`` and returns
    the metrics: mean rate (Hz) and spike count per population, number of synapses,
    wall times (s) of building the description, mapping it onto the backend and
    simulating, and the traced neurons.
    """
    start = time.perf_counter()
    net = build_network(config, seed)
    for label, index in TRACED.items():
        net.record(label, "v", neurons=list(index))
    network_s = time.perf_counter() - start
    result = simulate(net, config.duration, backend=backend, seed=seed, progress=progress)
    labels = ("exc", "inh")
    spikes = {label: result.spikes(label) for label in labels}
    sizes = {label: net.nodes[label].size for label in labels}
    counts = {label: int(spikes[label][0].size) for label in labels}
    rates = {label: result.mean_rate(label) for label in labels}
    rates["all"] = sum(counts.values()) / (config.n_neurons * config.duration * 1e-3)

    plots.raster(
        spikes,
        sizes,
        config.duration,
        out_dir / "raster.png",
        title=f"CUBA, {config.n_neurons} neurons",
    )
    binned = {
        label: plots.binned_rate(spikes[label][0], sizes[label], config.duration, RATE_BIN_MS)
        for label in labels
    }
    centres = binned["exc"][0]
    plots.rate(
        centres,
        {label: r for label, (_, r) in binned.items()},
        out_dir / "rate.png",
        title=f"Population rate ({RATE_BIN_MS:g} ms bins)",
    )
    v = np.concatenate([result.trace(label, "v").cpu().numpy() for label in TRACED], axis=1)
    names = [f"{label} {i}" for label, index in TRACED.items() for i in index]
    plots.traces(
        result.trace_times(),
        v,
        names,
        path=out_dir / "traces.png",
        hlines={"threshold": config.v_thresh, "reset": config.v_reset},
    )
    return {
        "rate_hz": rates,
        "spike_count": {**counts, "all": sum(counts.values())},
        "synapses": int(sum(proj.synapses().pre.size for proj in net.projections)),
        "wall_time_s": {
            "network": network_s,
            "build": result.cost.build_time_s,
            "simulate": result.cost.wall_time_s,
        },
        "traced_neurons": names,
        "files": ["raster.png", "rate.png", "traces.png"],
    }
