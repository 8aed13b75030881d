"""The Vogels–Abbott CUBA benchmark network (Vogels & Abbott 2005, benchmark 2; as in
the Brian2 and NEST examples): 4000 current-based LIF neurons, 80 % excitatory, random
connectivity with probability 0.02, leak reversal above threshold so that the network is
self-sustained, 5 ms refractory period.

The original is written with voltage jumps (``ge += 1.62 mV``). Here currents are in nA:
with ``cm`` = 1 nF a jump of ``u`` mV in ``ge`` (with ``dv/dt = (ge - (v - E_L)) / tau_m``)
is a current jump of ``u * cm / tau_mem`` nA, so the dynamics are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.dynamics import LIF
from neurotwin.errors import ConfigError
from neurotwin.network import Network, Population, fixed_fan_in, fixed_probability

__all__ = ["CubaConfig", "build_network"]


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

    @property
    def n_exc(self) -> int:
        """Number of excitatory neurons (80 %)."""
        return int(round(0.8 * self.n_neurons))

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
                k = int(round(config.fan_in * n_pre / config.n_neurons))
                w = fixed_fan_in(n_pre, n_post, k, weights[pre], rng)
            net.connect(pops[pre], pops[post], w, receptor=pre, delays=config.dt)  # type: ignore[arg-type]
    for pop in pops.values():
        net.record(pop, "spikes")
    return net
