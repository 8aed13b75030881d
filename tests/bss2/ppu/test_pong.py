"""Pong on the PPU: the fixed-point game follows model-sw-pong's rules, and the
experiment writes its per-serial metrics."""

import json

import numpy as np

from neurotwin.bss2.ppu.pong import ONE, REWARDS, PongGame
from neurotwin.experiments import run_experiment


class FakePPU:
    """Counts nothing, draws fixed numbers: enough for the game."""

    def __init__(self, draws):
        self.draws = list(draws)

    def random(self) -> int:
        return self.draws.pop(0)

    def scalar(self, n: int = 1) -> None:
        pass


def test_the_game_moves_and_bounces_as_model_sw_pong():
    game = PongGame()
    game.serve(FakePPU([(1 << 16) | (1 << 17) | 0]))  # |vx| = 0.5, both signs positive
    assert (game.dir_x, game.dir_y) == (ONE // 2, ONE // 2)
    y0 = game.ball_y
    game.step(FakePPU([]), target=16)
    # velocity 0.025 (Q16.16: 1638) times 0.5 per step, floored
    assert game.ball_y - y0 == (1638 * (ONE // 2)) >> 16
    # at the top wall the vertical direction flips
    game.ball_y = ONE - game.radius
    game.step(FakePPU([]), target=16)
    assert game.dir_y == -(ONE // 2)
    assert PongGame.cell(ONE - 1) == 31 and PongGame.cell(0) == 0
    assert REWARDS == (1.0, 0.7, 0.4, 0.1)


def test_the_experiment_writes_per_serial_rewards(tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"iterations": 20, "serials": [1], "calibrated": False,
                                  "untrained_iterations": 5}))
    from neurotwin.experiments.base import load_config
    from neurotwin.experiments.bss2_pong import Bss2PongConfig
    run_experiment("bss2-pong", load_config(Bss2PongConfig, config), out_dir=tmp_path / "o")
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["backend"] == "bss2"
    serial = metrics["metrics"]["serials"]["1"]
    for key in ("mean_reward_last_10pct", "mean_reward_untrained", "learning_curve"):
        assert key in serial
    assert 0.0 <= serial["mean_reward_last_10pct"] <= 1.0
    assert np.isfinite(serial["twin_wall_per_iteration_s"])
