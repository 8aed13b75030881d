r"""Pong on the PPU: the game of the BrainScaleS-2 pilot study as a plasticity program.

The game follows electronicvisions/model-sw-pong (``pong.py``, the NEST replica stated to
be equivalent to the chip experiment), in the scalar core's fixed point: positions and
directions are Q16.16 integers (``1.0 = 2**16``), a 32 x 32 grid of cells of ``2**11``::

    ball: velocity 0.025 per step, radius 0.02, direction (vx, vy) with |vx| + |vy| = 1,
          |vx| uniform in [0.5, 1], random signs; bounces off the top, bottom and left
          walls, and off the right paddle if the paddle spans its y
    paddle: length 0.07, velocity 0.05 per step towards the target row, y in [0, 1]
    a new game starts (ball at the centre) when the ball passes the paddle

One iteration (``window_us`` = 200 µs hardware, 200 ms model): the input unit of the
ball's row sends ``spikes`` events ``isi_us`` apart; then the action neuron with most
spikes (spike counters; ties broken by the PPU's random numbers) is the paddle's target
row, rewarded by its distance to the ball's row (0: 1.0, 1: 0.7, 2: 0.4, 3: 0.1, else
0), R-STDP on the ball row's synapses (:mod:`~neurotwin.bss2.ppu.rules`: learning rate
0.125, the causal sensors, one running mean reward per ball row, ``R_k += (R - R_k)/2``),
and the game steps. The program runs every ``isi_us``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from neurotwin.bss2.ppu.processor import PPU
from neurotwin.bss2.ppu.program import PlasticityProgram, Timer
from neurotwin.bss2.ppu.rules import correlation_rows, to_q15

__all__ = ["REWARDS", "ExcitabilityProbe", "PongGame", "PongProgram", "ScalarCore", "reward_of"]

ONE = 1 << 16
"""1.0 in Q16.16."""
GRID = 32
CELL_SHIFT = 11
"""A cell is 2**16 / 32 = 2**11 of the unit length."""
REWARDS = (1.0, 0.7, 0.4, 0.1)
"""Reward by ``|target - ball|`` in cells (model-sw-pong ``rewards_dict``); 0 beyond."""


def _q(x: float) -> int:
    return round(x * ONE)


def reward_of(target: int, ball: int) -> float:
    """The reward of choosing row ``target`` for the ball in row ``ball``."""
    distance = abs(target - ball)
    return REWARDS[distance] if distance < len(REWARDS) else 0.0


class ScalarCore(Protocol):
    """What the game needs of the processor that runs it: random numbers and a cycle
    count (a :class:`~neurotwin.bss2.ppu.processor.PPU`; a host's stand-in for a
    software peer)."""

    def random(self) -> int:
        """The next 32-bit random number."""
        ...

    def scalar(self, instructions: int = 1) -> None:
        """Charge scalar instructions."""
        ...


@dataclass
class PongGame:
    """The game state in Q16.16 (model-sw-pong ``GameOfPong``); ``random`` draws the
    start direction from the PPU's generator."""

    ball_x: int = ONE // 2
    ball_y: int = ONE // 2
    dir_x: int = 0
    dir_y: int = 0
    paddle_y: int = ONE // 2
    paddle_dir: int = 0
    velocity: int = _q(0.025)
    radius: int = _q(0.02)
    paddle_length: int = _q(0.07)
    paddle_velocity: int = _q(0.05)

    def serve(self, ppu: ScalarCore) -> None:
        """Ball to the centre, ``|vx|`` uniform in [0.5, 1] (L1 norm), random signs."""
        r = ppu.random()
        vx = ONE // 2 + (r & 0xFFFF) // 2
        vy = ONE - vx
        self.dir_x = vx if r & (1 << 16) else -vx
        self.dir_y = vy if r & (1 << 17) else -vy
        self.ball_x = self.ball_y = ONE // 2
        ppu.scalar(8)

    @staticmethod
    def cell(y: int) -> int:
        """Grid row of a position."""
        return min(max(y >> CELL_SHIFT, 0), GRID - 1)

    def step(self, ppu: ScalarCore, target: int) -> bool:
        """One game step towards ``target`` (paddle row); True when the ball passed."""
        paddle_cell = self.cell(self.paddle_y)
        self.paddle_dir = (target > paddle_cell) - (target < paddle_cell)
        passed = False
        if self.ball_y + self.radius >= ONE or self.ball_y - self.radius <= 0:
            self.dir_y = -self.dir_y
        elif self.ball_x - self.radius <= 0:
            self.dir_x = -self.dir_x
        elif self.ball_x + self.radius >= ONE:
            half = self.paddle_length // 2
            if self.paddle_y - half <= self.ball_y <= self.paddle_y + half:
                self.dir_x = -self.dir_x
            else:
                passed = True
        self.paddle_y = min(max(self.paddle_y + self.paddle_dir * self.paddle_velocity, 0),
                            ONE)
        # the product of two Q16.16 numbers, back to Q16.16 (arithmetic shift)
        self.ball_y += (self.velocity * self.dir_y) >> 16
        self.ball_x += (self.velocity * self.dir_x) >> 16
        ppu.scalar(30)
        return passed


@dataclass
class PongProgram:
    """The game, the decision and R-STDP as one program (module docstring).

    Parameters
    ----------
    input_units
        (32,) synapse-table rows of the input units, one per ball row.
    neurons
        (32,) logical neurons of the action population, one per paddle row.
    rows
        (32,) synapse row of each input unit's synapses (hemisphere ``hemisphere``).
    learning
        False: the same game and decisions, no weight changes.
    offset_unit
        A synapse-table row sent with every input event (model-sw-pong's weight offset:
        a static synapse of the offset weight onto every action neuron, so the active
        input reaches neuron j with ``w_j + offset``); None: no offset.
    """

    input_units: np.ndarray
    neurons: np.ndarray
    rows: np.ndarray
    hemisphere: int = 0
    learning: bool = True
    learning_rate: float = 0.125
    spikes: int = 20
    isi_us: float = 10.0
    offset_unit: int | None = None
    rewards: list[float] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    balls: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.game = PongGame()
        self.mean_reward = np.full(GRID, -1.0)
        self.ball = 0

    def program(self) -> PlasticityProgram:
        """The program, every ``isi_us`` from t = 0."""
        return PlasticityProgram(self.body, Timer(0.0, self.isi_us), self.hemisphere)

    def _decide(self, ppu: PPU) -> int:
        counts = ppu.read_spike_counts(self.neurons)
        best = np.flatnonzero(counts == counts.max())
        ppu.scalar(2 * counts.size)
        return int(best[ppu.random() % best.size])

    def _learn(self, ppu: PPU, reward: float) -> None:
        k = self.ball
        if self.mean_reward[k] < 0:
            self.mean_reward[k] = reward
        success = reward - self.mean_reward[k]
        self.mean_reward[k] += success / 2.0
        ppu.scalar(6)
        if not self.learning:
            return
        correlation_rows(ppu, (int(self.rows[k]),), to_q15(self.learning_rate * success))

    def body(self, ppu: PPU, call: int) -> None:
        """Every ``isi_us``: an input event; at an iteration's start the previous one is
        decided, rewarded and learned from, and the game steps."""
        phase = call % self.spikes
        if phase == 0:
            if call == 0:
                self.game.serve(ppu)
            else:
                target = self._decide(ppu)
                reward = reward_of(target, self.ball)
                self._learn(ppu, reward)
                self.rewards.append(reward)
                self.targets.append(target)
                self.balls.append(self.ball)
                if self.game.step(ppu, target):
                    self.game.serve(ppu)
            self.ball = self.game.cell(self.game.ball_y)
            ppu.reset_correlation(int(self.rows[self.ball]))
            ppu.reset_spike_counts(self.neurons)
        if self.offset_unit is None:
            ppu.send_events(self.input_units[self.ball])
        else:
            ppu.send_events((self.input_units[self.ball], self.offset_unit))


@dataclass
class ExcitabilityProbe:
    """The Pong network's stimulus with every input weight equal and no learning: each
    action neuron's spike count per window, for its excitability.

    At the first call the program writes ``weight_lsb`` to every synapse from the 32
    input units onto the action neurons (``columns`` of rows ``rows``); then window ``i``
    (``spikes`` calls ``isi_us`` apart, as a Pong iteration) sends the train of input
    unit ``i mod 32`` (with the offset unit's event, as :class:`PongProgram`), so every
    ball row drives the neurons equally often. At each window's end the spike counters
    are read into ``counts`` and reset.

    Parameters
    ----------
    input_units, neurons, rows
        As :class:`PongProgram`.
    columns
        (32,) synapse column of each action neuron (hemisphere ``hemisphere``).
    weight_lsb
        The weight written to every input synapse, 0..63 LSB.
    """

    input_units: np.ndarray
    neurons: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    weight_lsb: int
    hemisphere: int = 0
    spikes: int = 20
    isi_us: float = 10.0
    offset_unit: int | None = None
    counts: list[np.ndarray] = field(default_factory=list)

    def program(self) -> PlasticityProgram:
        """The program, every ``isi_us`` from t = 0."""
        return PlasticityProgram(self.body, Timer(0.0, self.isi_us), self.hemisphere)

    def body(self, ppu: PPU, call: int) -> None:
        """Every ``isi_us``: an input event; at a window's start the previous window's
        spike counts are stored and the counters reset."""
        window, phase = divmod(call, self.spikes)
        if call == 0:
            rows = [int(r) for r in self.rows]
            weights = ppu.read_weights(rows)
            weights[:, self.columns] = self.weight_lsb
            ppu.write_weights(rows, None, weights)
        if phase == 0:
            if call > 0:
                self.counts.append(ppu.read_spike_counts(self.neurons))
            ppu.reset_spike_counts(self.neurons)
        unit = self.input_units[window % GRID]
        ppu.send_events(unit if self.offset_unit is None else (unit, self.offset_unit))
