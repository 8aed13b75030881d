"""The Potjans & Diesmann (2014) cortical microcircuit as a neurotwin :class:`Network`.

Source of every number: T. C. Potjans and M. Diesmann, "The cell-type specific cortical
microcircuit", Cerebral Cortex 24(3):785-806 (2014), Tables 4 and 5, as encoded in NEST's
example ``pynest/examples/Potjans_2014/network_params.py`` (nest/nest-simulator before
commit 09c1a3ccf, which moved the example to its own repository): population sizes,
connection probabilities, K_ext, PSP 0.15 mV -> PSC 87.81 pA, g = -4, L4E -> L23E doubled,
delays 1.5 ms (exc) / 0.75 ms (inh) with a relative spread of 0.5, weights with a relative
spread of 0.1, the neuron parameters, 8 Hz background, the "optimized" initial potentials,
and the scaling rules of that example's ``helpers.py`` (synapse numbers from probabilities,
K scaling with 1/sqrt(K) weights and DC compensation). The numbers are facts read from
there; the code is written here.

Connectivity (NEST's ``fixed_total_number`` with multapses and autapses): between source
population j and target population i, ``K_ij = log(1 - C_ij) / log(1 - 1 / (N_i N_j))``
synapses at full scale (the number for which a pair is connected with probability C_ij),
scaled by ``scale * k_scale``. Neurons are ``iaf_psc_exp``, neurotwin's :class:`LIF`.

Scaling (NEST example): ``N = round(N_full * scale)``, synapse numbers
``round(K_full * scale * k_scale)`` (so in-degrees scale with ``k_scale``), weights
``/ sqrt(k_scale)``, and each population receives the DC current that replaces the mean
input lost by the scaling: ``1e-3 tau_syn (1 - sqrt(k_scale)) sum_j w_ij K_ij nu_j`` with
the full-scale rates ``nu_j`` (:data:`FULL_MEAN_RATES_HZ`), plus the same for the
background when it is Poisson.

Background: "poisson" gives every neuron an independent Poisson train of
``8 Hz * K_ext`` (scaled) through weight w_ext, delay 1.5 ms; "dc" replaces it by its mean,
``8 Hz * K_ext * w_ext * tau_syn``. The engine draws at most one spike per source and step
(rate * dt <= 1), while 8 Hz * 2900 * 0.1 ms = 2.3 spikes per step, so each neuron's train
is the sum of ``m`` sources of rate / m with ``m`` chosen so that rate / m <= the config's
``bg_source_rate_max_hz``: the count per step is Binomial(m, p) instead of Poisson(m p),
the same mean and a variance smaller by the factor 1 - p (at most 5 % at 500 Hz, dt 0.1 ms).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from neurotwin.dynamics import LIF
from neurotwin.engines.plan import CHUNK_SPIKES, CHUNK_STEPS
from neurotwin.engines.synapse_build import DRAW_BYTES, TABLE_BYTES
from neurotwin.errors import ConfigError, check_memory
from neurotwin.network import Network, Population, SpikeSourcePoisson, fixed_total_number
from neurotwin.network.rules import BLOCK_TARGETS, FixedTotalRule

__all__ = [
    "BACKGROUNDS",
    "BG_RATE_HZ",
    "CONN_PROBS",
    "C_M_PF",
    "DELAY_MEAN_MS",
    "DELAY_REL_STD",
    "FULL_MEAN_RATES_HZ",
    "FULL_NEURONS",
    "K_EXT",
    "POPULATIONS",
    "PSP_EXC_MV",
    "V0_TYPES",
    "G",
    "MicrocircuitParams",
    "build_network",
    "full_synapse_numbers",
    "psc_over_psp",
    "scaled_params",
]

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
"""The eight populations: excitatory and inhibitory cells of layers 2/3, 4, 5 and 6."""
FULL_NEURONS = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
"""Neurons per population at full scale (77,169 in all); PD14 Table 5."""
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
])
"""Connection probability C[target, source]; PD14 Table 5."""
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
"""External (background) in-degree per population; PD14 Table 5."""
FULL_MEAN_RATES_HZ = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
"""Mean rates of the full-scale model (NEST example, one run without MPI, 4 threads): the
rates the DC compensation of K scaling assumes, and the full-scale reference rates."""
BG_RATE_HZ = 8.0
"""Rate of each external input, Hz."""
PSP_EXC_MV = 0.15
"""Peak of the excitatory postsynaptic potential, mV (87.81 pA of current)."""
G = -4.0
"""Relative strength of inhibition."""
WEIGHT_REL_STD = 0.1
"""Standard deviation of the weights relative to their mean."""
DELAY_MEAN_MS = {"exc": 1.5, "inh": 0.75}
"""Mean delay by the source's type, ms."""
DELAY_REL_STD = 0.5
"""Standard deviation of the delays relative to their mean."""
DELAY_BG_MS = 1.5
"""Delay of the background input, ms."""
C_M_PF = 250.0
"""Membrane capacitance, pF."""
NEURON = LIF(tau_mem=10.0, tau_syn_exc=0.5, tau_syn_inh=0.5, cm=C_M_PF * 1e-3, v_rest=-65.0,
             v_reset=-65.0, v_thresh=-50.0, tau_refrac=2.0)
"""The neuron (``iaf_psc_exp``): tau_m 10 ms, C_m 250 pF, tau_syn 0.5 ms, E_L = V_reset
-65 mV, V_th -50 mV, t_ref 2 ms."""
V0_OPTIMIZED = (np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]),
                np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]))
"""Initial v: per population mean and standard deviation, mV (NEST's "optimized": a
smaller initial transient than the "original" -58 +- 10 mV)."""
V0_ORIGINAL = (np.full(8, -58.0), np.full(8, 10.0))
BACKGROUNDS = ("poisson", "dc")
V0_TYPES = ("optimized", "original")
BYTES_PER_SYNAPSE = TABLE_BYTES + 8
"""Bytes per synapse of the compiled network (the engine's packed word and a float64
weight; the network itself holds rules, not synapses); the build adds one rule block's
draw (:data:`~neurotwin.engines.synapse_build.DRAW_BYTES` per synapse of the largest
block). Checked against tracemalloc's peak in tests/experiments/test_microcircuit.py."""
SPIKE_BYTES = 48
"""Peak bytes per background spike of one chunk of source spikes: the draw
(engines/poisson.py) and the chunk's CSR (measured: 45 with tracemalloc, scale 0.1)."""
BYTES_PER_SYNAPSE_PATTERN = 8
"""Bytes per synapse that stay with ``mean_only`` (int32 indices; the drawing of the
largest projection, 24 bytes per synapse, passes)."""


def is_excitatory(j: int) -> bool:
    """Even populations are excitatory."""
    return j % 2 == 0


def psc_over_psp(c_m_pf: float = C_M_PF, tau_m: float = 10.0, tau_syn: float = 0.5) -> float:
    """PSC amplitude (pA) that gives a PSP peak of 1 mV in a LIF neuron with exponential
    current: the peak of ``w tau_m tau_syn / (C_m (tau_syn - tau_m)) (e^{-t/tau_m} -
    e^{-t/tau_syn})`` at ``t* = ln(tau_m / tau_syn) tau_m tau_syn / (tau_m - tau_syn)``."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / c_m_pf * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def full_synapse_numbers() -> np.ndarray:
    """(8, 8) synapse numbers [target, source] at full scale (float, not rounded)."""
    prod = np.outer(FULL_NEURONS, FULL_NEURONS).astype(np.float64)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


@dataclass(frozen=True)
class MicrocircuitParams:
    """The derived numbers of one scale (what :func:`build_network` builds)."""

    neurons: np.ndarray
    """(8,) neurons per population."""
    synapses: np.ndarray
    """(8, 8) synapse numbers [target, source] (int)."""
    weight_na: np.ndarray
    """(8, 8) mean weight [target, source], nA, signed (negative: inhibitory)."""
    weight_ext_na: float
    """Background weight, nA."""
    k_ext: np.ndarray
    """(8,) background in-degree."""
    dc_na: np.ndarray
    """(8,) DC current per population, nA: the DC background and/or K-scaling compensation."""
    background: str

    @property
    def n_neurons(self) -> int:
        """All neurons."""
        return int(self.neurons.sum())

    @property
    def n_synapses(self) -> int:
        """All recurrent synapses."""
        return int(self.synapses.sum())


def scaled_params(scale: float, k_scale: float | None = None,
                  background: str = "poisson") -> MicrocircuitParams:
    """Neuron and synapse numbers, weights and DC currents at ``scale`` (fraction of the
    neurons) and ``k_scale`` (fraction of the in-degrees, default ``scale``), with the NEST
    example's compensation (module docstring).

    Raises
    ------
    ConfigError
        ``scale`` or ``k_scale`` outside (0, 1], an unknown ``background``, or a scale so
        small that a population has no neuron.
    """
    k = scale if k_scale is None else k_scale
    for name, value in (("scale", scale), ("k_scale", k)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0.0 < value <= 1.0):
            raise ConfigError(f"{name} must be a number in (0, 1] (1: full size), got {value!r}")
    if background not in BACKGROUNDS:
        raise ConfigError(f"background must be one of {', '.join(BACKGROUNDS)}, "
                          f"got {background!r}")
    neurons = np.round(FULL_NEURONS * scale).astype(np.int64)
    if np.any(neurons < 1):
        raise ConfigError(f"scale {scale} leaves population "
                          f"{POPULATIONS[int(np.argmin(neurons))]} without neurons; the "
                          f"smallest scale is {0.5 / FULL_NEURONS.min():.2g}")
    full = full_synapse_numbers()
    synapses = np.round(full * scale * k).astype(np.int64)
    psc = PSP_EXC_MV * psc_over_psp()  # pA
    mean_pa = np.where([is_excitatory(j) for j in range(8)], psc, G * psc)[None, :].repeat(8, 0)
    mean_pa[0, 2] = 2.0 * psc  # L4E -> L23E doubled
    dc_pa = np.zeros(8)
    tau_syn = NEURON.tau_syn_exc
    if background == "dc":
        dc_pa = BG_RATE_HZ * K_EXT * psc * tau_syn * 1e-3
    if k != 1.0:
        indegree = full / FULL_NEURONS[:, None]
        rec = np.sum(mean_pa * indegree * FULL_MEAN_RATES_HZ, axis=1)
        dc_pa = dc_pa + 1e-3 * tau_syn * (1.0 - math.sqrt(k)) * rec
        if background == "poisson":
            dc_pa = dc_pa + 1e-3 * tau_syn * (1.0 - math.sqrt(k)) * psc * K_EXT * BG_RATE_HZ
    return MicrocircuitParams(
        neurons=neurons,
        synapses=synapses,
        weight_na=mean_pa / math.sqrt(k) * 1e-3,
        weight_ext_na=psc / math.sqrt(k) * 1e-3,
        k_ext=np.round(K_EXT * k).astype(np.int64),
        dc_na=dc_pa * 1e-3,
        background=background,
    )


def background_sources(rate_hz: float, rate_max_hz: float) -> int:
    """Sources per neuron that carry a Poisson train of ``rate_hz`` with at most
    ``rate_max_hz`` each (module docstring)."""
    return max(1, math.ceil(rate_hz / rate_max_hz - 1e-12))


def estimate_bytes(params: MicrocircuitParams, dt: float, rate_max_hz: float,
                   mean_only: bool = False, ranks: int = 1) -> int:
    """Peak memory of building and running the network in one process (or one rank of
    ``ranks``), bytes: per synapse :data:`BYTES_PER_SYNAPSE` (divided over the ranks;
    :data:`BYTES_PER_SYNAPSE_PATTERN` with ``mean_only``), the background's synapses
    (one per source), and the larger of what comes and goes: the draw of the largest
    block of targets (building) or one chunk of background spikes (running, at most
    :data:`~neurotwin.engines.plan.CHUNK_SPIKES`; every rank draws them all). Checked
    against tracemalloc's peak in tests/experiments/test_microcircuit.py."""
    if mean_only:
        return BYTES_PER_SYNAPSE_PATTERN * params.n_synapses
    n = BYTES_PER_SYNAPSE * -(-params.n_synapses // ranks)
    block = (params.synapses * np.minimum(1.0, BLOCK_TARGETS / params.neurons[:, None])).max()
    transient = DRAW_BYTES * (block + 6 * np.sqrt(block))
    if params.background == "poisson":
        m = [background_sources(BG_RATE_HZ * k, rate_max_hz) for k in params.k_ext]
        n += int(np.dot(params.neurons, m)) * (BYTES_PER_SYNAPSE + 8 * 8)
        per_step = float(np.dot(params.neurons, params.k_ext)) * BG_RATE_HZ * dt * 1e-3
        spikes = min(per_step * CHUNK_STEPS, max(CHUNK_SPIKES, per_step))
        transient = max(transient, SPIKE_BYTES * spikes)
    return n + int(transient)


def build_network(
    params: MicrocircuitParams,
    seed: int,
    dt: float = 0.1,
    v0: str = "optimized",
    bg_source_rate_max_hz: float = 500.0,
    max_delay_ms: float | None = None,
    mean_only: bool = False,
) -> Network:
    """The microcircuit at the scale of ``params``: populations "L23E" ... "L6I" recording
    spikes, background sources "bg_<pop>" (Poisson background) or DC.

    Parameters
    ----------
    params
        From :func:`scaled_params`.
    seed
        Seed of the connectivity, weights, delays and initial potentials.
    dt
        Time step, ms; delays are drawn, redrawn below dt / 2 and rounded to the grid
        (NEST's rule: the shortest delay is one step).
    v0
        Initial potentials: "optimized" or "original" (see :data:`V0_OPTIMIZED`).
    bg_source_rate_max_hz
        Largest rate of one background source, Hz (module docstring).
    max_delay_ms
        If given, delays above it are set to it (for a target whose synapse word holds
        only a few delay steps).
    mean_only
        Weights and delays at their means, the synapses drawn now and stored once per
        projection (about 4 bytes per synapse): for mapping only, where who connects to
        whom matters and the values do not. Otherwise every projection is a
        :class:`~neurotwin.network.rules.FixedTotalRule` seeded by ``(seed, target
        population, source population)``, drawn when the network is compiled (for a
        sharded run: by each rank, for its own neurons).

    Raises
    ------
    CapacityError
        If the network (:func:`estimate_bytes`) does not fit this machine's memory.
    """
    if v0 not in V0_TYPES:
        raise ConfigError(f"v0 must be one of {', '.join(V0_TYPES)}, got {v0!r}")
    if not bg_source_rate_max_hz > 0:
        raise ConfigError(f"bg_source_rate_max_hz must be > 0 Hz, got {bg_source_rate_max_hz!r}")
    check_memory(
        f"the microcircuit with {params.n_neurons} neurons and {params.n_synapses} synapses "
        f"({params.background} background; about {BYTES_PER_SYNAPSE} bytes per synapse "
        "compiled, and the draw of one block); a smaller scale needs less",
        estimate_bytes(params, dt, bg_source_rate_max_hz, mean_only),
    )
    rng = np.random.default_rng(seed)
    net = Network(dt=dt)
    mean_v, std_v = V0_OPTIMIZED if v0 == "optimized" else V0_ORIGINAL
    pops = []
    for i, name in enumerate(POPULATIONS):
        n = int(params.neurons[i])
        model = dataclasses.replace(NEURON, i_offset=float(params.dc_na[i]))
        pops.append(net.add(Population(n, model, label=name,
                                       initial={"v": rng.normal(mean_v[i], std_v[i], n)})))
        net.record(name, "spikes")
    for i, target in enumerate(pops):
        for j, source in enumerate(pops):
            total = int(params.synapses[i, j])
            if total == 0:
                continue
            mean_w = abs(float(params.weight_na[i, j]))
            receptor: Literal["exc", "inh"] = "exc" if is_excitatory(j) else "inh"
            delay_mean = DELAY_MEAN_MS[receptor]
            if not mean_only:  # drawn when compiled, block by block (network/rules.py)
                rule = FixedTotalRule(source.size, target.size, total, mean_w, delay_mean, dt,
                                      (seed, i, j), WEIGHT_REL_STD, DELAY_REL_STD,
                                      max_delay_ms)
                net.connect(source, target, rule, receptor=receptor)
                continue
            steps_mean = max(round(delay_mean / dt), 1)
            for layer in fixed_total_number(source.size, target.size, total, mean_w, rng):
                net.connect(source, target, layer, receptor=receptor, delays=steps_mean * dt)
    if params.background == "poisson":
        for i, pop in enumerate(pops):
            rate = BG_RATE_HZ * float(params.k_ext[i])
            if rate == 0:
                continue
            m = background_sources(rate, bg_source_rate_max_hz)
            src = net.add(SpikeSourcePoisson(pop.size * m, rate / m, label=f"bg_{pop.label}"))
            rows = np.arange(pop.size * m)
            one_each = sp.csr_array((np.full(rows.size, params.weight_ext_na), rows // m,
                                     np.arange(rows.size + 1)), shape=(rows.size, pop.size))
            bg_delay = DELAY_BG_MS if max_delay_ms is None else min(DELAY_BG_MS, max_delay_ms)
            net.connect(src, pop, one_each, receptor="exc", delays=round(bg_delay / dt) * dt)
    return net
