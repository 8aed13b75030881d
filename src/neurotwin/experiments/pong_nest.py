r"""The Pong network of the BrainScaleS-2 pilot study simulated in NEST: the software peer
of ``bss2-pong`` (time and energy per iteration against the chip, in the same run).

The network and loop are those of electronicvisions/model-sw-pong (``pang.py``, the NEST
replica of the chip experiment), written here for NEST 3:

- 32 ``spike_generator`` -> 32 ``parrot_neuron`` (one to one) -> 32 ``iaf_psc_exp``
  action neurons (all to all); ``noise_generator`` per neuron, Gaussian current of std
  100 pA (mean 0, NEST's default update interval of 1 ms); default delays (1 ms);
- neurons (``NEURON_DICT``): tau_m 28.53 ms, V_th 1278 mV, E_L = V_m 616 mV, V_reset
  355 mV, t_ref 3.98 ms, tau_syn_ex 1.8 ms, C_m 2.36 pF (the chip's voltages in its own
  scale);
- a 6-bit weight w becomes ``(w + 32 [w > 0]) * 400 / 63`` pA;
- per iteration: the ball row's generator sends 20 spikes at ``1 + 10 k`` ms, NEST
  simulates 200 ms, the neuron with most spikes (random tie-break) is the target row;
  reward 1.0 / 0.7 / 0.4 / 0.1 / 0 by distance, ``R_k += (R - R_k) / 2`` per ball row;
  on the ball row's synapses ``w = round(w + 0.125 corr (R - R_k))`` with ``corr`` the
  causal nearest-neighbour STDP sum (36 per pair at zero lag, tau 64 ms, at most 128)
  of the input train and the neuron's spikes; then the kernel is reset and the network
  built again with the new weights (model-sw-pong does so every iteration).

Differences: weights are clipped to 0..63 (model-sw-pong caps at 63 only; the chip's
weights cannot go below 0), and the game is :class:`~neurotwin.bss2.ppu.pong.PongGame`
(the twin's fixed-point copy of model-sw-pong's game) with a host xorshift32 for its
random numbers, so both play the same rules.

Energy is ``CPU_CORE_POWER_W`` times the CPU time of the loop (one thread), an
assumption stated with its source below.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu.pong import GRID, PongGame, reward_of
from neurotwin.errors import check_int

__all__ = ["CPU_CORE_POWER_W", "NOISE_INTERVAL_MS", "NOISE_STD_PA", "NestPong",
           "causal_correlation", "nest_available", "play_nest"]

CPU_CORE_POWER_W = 360.0 / 96
"""Assumed power of the CPU core NEST runs on, W: one core's share of an AMD EPYC 9654
(Zen 4 "Genoa", the family of this machine's CPU: cpu family 25, model 17; the exact
model is hidden by the hypervisor), 360 W default TDP over 96 cores (AMD's product page
of the EPYC 9654). Memory, board and the idle cores are not counted, which favours the
software peer."""
NEURON_DICT = {"tau_m": 28.53, "V_th": 1278.0, "E_L": 616.0, "V_m": 616.0,
               "V_reset": 355.0, "t_ref": 3.98, "tau_syn_ex": 1.8, "C_m": 2.36}
"""model-sw-pong ``NEURON_DICT`` (ms, mV, pF)."""
NOISE_STD_PA = 100.0
"""model-sw-pong ``BG_STD``: std of each neuron's Gaussian noise current, pA."""
NOISE_INTERVAL_MS = 1.0
"""How long NEST's ``noise_generator`` holds each value of its current, ms (model-sw-pong keeps
NEST's default ``dt``: ``nest.GetDefaults("noise_generator")["dt"]`` is 1.0 in NEST 3.10)."""
WEIGHT_OFFSET = 32.0
WEIGHT_SCALE_PA = 400.0 / 63
"""model-sw-pong ``dls2nest``: ``(w + 32 [w > 0]) * 400 / 63`` pA."""
POLL_MS = 200.0
SPIKES = 20
ISI_MS = 10.0
STDP_AMPLITUDE = 36.0
STDP_TAU_MS = 64.0
STDP_SATURATION = 128.0
LEARNING_RATE = 0.125


@dataclass
class NestPong:
    """What the NEST peer did: iterations, wall and CPU seconds of the whole loop, wall
    seconds inside ``nest.Simulate``, rewards, the final weights (32 x 32, input row x
    neuron) and NEST's version."""

    iterations: int
    wall_s: float
    cpu_s: float
    simulate_wall_s: float
    version: str
    rewards: list[float] = field(default_factory=list)
    weights: np.ndarray = field(default_factory=lambda: np.zeros((GRID, GRID)))


class _HostCore:
    """The game's random numbers on the host: xorshift32 (13, 17, 5) as the PPU's."""

    def __init__(self, seed: int) -> None:
        self._x = (seed & 0xFFFFFFFF) or 1

    def random(self) -> int:
        x = self._x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._x = x
        return x

    def scalar(self, instructions: int = 1) -> None:
        """No cycle count on the host."""


def nest_available() -> bool:
    """Whether NEST (``import nest``) is installed."""
    return find_spec("nest") is not None


def _import_nest() -> Any:
    os.environ.setdefault("PYNEST_QUIET", "1")  # no start-up banner on stdout
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def causal_correlation(pre: np.ndarray, post: np.ndarray) -> float:
    """model-sw-pong's causal nearest-neighbour STDP sum: for each postsynaptic spike
    the last presynaptic spike before it (each presynaptic spike paired once, with the
    first postsynaptic spike after it), ``36 exp(-lag / 64 ms)`` summed, at most 128."""
    pre, post = np.sort(pre), np.sort(post)
    total = 0.0
    last = -1
    for spike, position in zip(post, np.searchsorted(pre, post), strict=True):
        if position == last:
            continue
        if position > 0:
            total += STDP_AMPLITUDE * np.exp(-(spike - pre[position - 1]) / STDP_TAU_MS)
        last = position
    return min(total, STDP_SATURATION)


def _to_pa(weights: np.ndarray) -> np.ndarray:
    return (weights + WEIGHT_OFFSET * (weights > 0)) * WEIGHT_SCALE_PA


def play_nest(initial_weights: np.ndarray, iterations: int, seed: int) -> NestPong:
    """Play ``iterations`` Pong iterations with learning in NEST from ``initial_weights``
    ((32, 32) 6-bit, input row x action neuron); one thread."""
    check_int("iterations", iterations, low=1)
    nest = _import_nest()
    weights = np.asarray(initial_weights, np.float64).copy()
    core = _HostCore(seed + 1)
    game = PongGame()
    game.serve(core)
    mean = np.full(GRID, -1.0)
    train = 1.0 + ISI_MS * np.arange(SPIKES)
    out = NestPong(iterations, 0.0, 0.0, 0.0, str(nest.__version__))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for it in range(iterations):
        ball = game.cell(game.ball_y)
        nest.ResetKernel()
        nest.set(local_num_threads=1, rng_seed=(seed * 100_003 + it) % (2**31 - 1) + 1)
        generators = nest.Create("spike_generator", GRID)
        parrots = nest.Create("parrot_neuron", GRID)
        neurons = nest.Create("iaf_psc_exp", GRID, params=NEURON_DICT)
        noise = nest.Create("noise_generator", GRID, params={"std": NOISE_STD_PA,
                                                               "dt": NOISE_INTERVAL_MS})
        recorder = nest.Create("spike_recorder")
        nest.Connect(generators, parrots, "one_to_one")
        nest.Connect(parrots, neurons, "all_to_all", {"weight": _to_pa(weights).T})
        nest.Connect(noise, neurons, "one_to_one")
        nest.Connect(neurons, recorder)
        generators[ball].spike_times = train.tolist()
        start = time.perf_counter()
        nest.Simulate(POLL_MS)
        out.simulate_wall_s += time.perf_counter() - start
        events = recorder.events
        senders = np.asarray(events["senders"]) - neurons[0].global_id
        times = np.asarray(events["times"])
        counts = np.bincount(senders, minlength=GRID)
        best = np.flatnonzero(counts == counts.max())
        target = int(best[core.random() % best.size])
        reward = reward_of(target, ball)
        if mean[ball] < 0:
            mean[ball] = reward
        success = reward - mean[ball]
        mean[ball] += success / 2.0
        for k in range(GRID):
            corr = causal_correlation(train, times[senders == k])
            weights[ball, k] = np.clip(np.round(weights[ball, k] + LEARNING_RATE * corr
                                                * success), 0, specs.WEIGHT_MAX)
        out.rewards.append(reward)
        if game.step(core, target):
            game.serve(core)
    out.wall_s = time.perf_counter() - wall0
    out.cpu_s = time.process_time() - cpu0
    out.weights = weights
    return out
