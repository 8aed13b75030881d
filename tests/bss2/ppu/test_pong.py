"""Pong on the PPU: the fixed-point game follows model-sw-pong's rules, and the
experiment writes its per-serial metrics."""

import json

import numpy as np
import pytest

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
                                  "untrained_iterations": 5, "excitability_windows": 32}))
    from neurotwin.experiments.base import load_config
    from neurotwin.experiments.bss2_pong import Bss2PongConfig
    run_experiment("bss2-pong", load_config(Bss2PongConfig, config), out_dir=tmp_path / "o")
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["backend"] == "bss2"
    serial = metrics["metrics"]["serials"]["1"]
    for key in ("mean_reward_last_10pct", "mean_reward_untrained", "learning_curve",
                "excitability_spikes", "excitability_sem", "excitability_spread",
                "learned_diagonal", "learned_weight_histogram", "diagonal_saturated_count",
                "pearson_diagonal_vs_excitability", "spearman_diagonal_vs_excitability",
                "pearson_diagonal_vs_excitability_unsaturated",
                "spearman_diagonal_vs_excitability_unsaturated"):
        assert key in serial
    assert len(serial["excitability_spikes"]) == len(serial["learned_diagonal"]) == 32
    assert serial["excitability_windows"] == 32
    assert sum(serial["learned_weight_histogram"]) == 32 * 32
    assert (tmp_path / "o" / "weights_vs_excitability.png").stat().st_size > 0
    assert 0.0 <= serial["mean_reward_last_10pct"] <= 1.0
    assert np.isfinite(serial["twin_wall_per_iteration_s"])
    # the default background fluctuates a membrane as much as model-sw-pong's current
    assert serial["background_std"] == pytest.approx(serial["pang_background_std"])
    assert 0.3 < serial["noise_weight"] < 0.35


def test_the_drive_and_weights_follow_model_sw_pong():
    """model-sw-pong (pang.py): a weight w is (w + 32) 400/63 pA onto iaf_psc_exp with
    tau_syn 1.8 ms, tau_m 28.53 ms, C_m 2.36 pF, V_th - E_L = 1278 - 616 mV; 20 spikes
    at 10 ms ISI at the mean weight 14 depolarise by 46 * 6.349 pA * 1.8 ms / 10 ms *
    12.089 GOhm = 635.5 mV, 0.960 of the threshold gap (numbers worked by hand)."""
    from neurotwin.experiments.bss2_pong import (
        ISI_MS,
        MODEL,
        Bss2PongConfig,
        build_network,
        pang_drive,
        weight_lsb_na,
    )
    config = Bss2PongConfig(iterations=10, serials=(1,), calibrated=False)
    assert abs(pang_drive(config) - 0.9600) < 5e-4
    # the reset lies 261 / 662 of the threshold gap below rest, as NEURON_DICT's
    gap = MODEL.v_thresh - MODEL.v_rest
    assert abs((MODEL.v_rest - MODEL.v_reset) / gap - 261.0 / 662.0) < 1e-12
    # the active input at the mean weight plus the offset drives 0.96 of the gap
    lsb = weight_lsb_na(config)
    mean_mv = (14.0 + 32.0) * lsb * MODEL.tau_syn_exc / ISI_MS * MODEL.tau_mem / MODEL.cm
    assert abs(mean_mv / gap - 0.9600) < 5e-4
    net, _ = build_network(config, seed=0)
    offset = [p for p in net.projections if p.pre == "offset"]
    assert len(offset) == 1 and np.allclose(np.asarray(offset[0].weights) / lsb, 32.0)
    assert build_network(Bss2PongConfig(weight_offset=0.0), seed=0)[0].projections[1].pre \
        == "noise"


def test_the_offset_unit_is_sent_with_every_input_event():
    from neurotwin.bss2.ppu.pong import PongProgram

    class Sender(FakePPU):
        def __init__(self):
            super().__init__([3] * 64)
            self.sent = []

        def send_events(self, units):
            self.sent.append(tuple(int(u) for u in np.atleast_1d(units)))

        def reset_correlation(self, row):
            pass

        def reset_spike_counts(self, neurons):
            pass

    game = PongProgram(np.arange(100, 132), np.arange(32), np.arange(32), offset_unit=7)
    ppu = Sender()
    for call in range(5):
        game.body(ppu, call)
    assert all(len(s) == 2 and s[1] == 7 and 100 <= s[0] < 132 for s in ppu.sent)
    assert len({s[0] for s in ppu.sent}) == 1  # one ball row within an iteration


def test_an_offset_beyond_a_6_bit_weight_is_refused():
    import pytest

    from neurotwin.errors import ConfigError
    from neurotwin.experiments.bss2_pong import Bss2PongConfig
    with pytest.raises(ConfigError, match="weight_offset must be at most 63"):
        Bss2PongConfig(weight_offset=64.0)


def test_the_excitability_probe_counts_the_recorded_spikes_per_window():
    """The probe's per-window spike counts equal a plain count of the run's recorded
    spike times in 200 µs windows; every ball row's unit sends 20 events per window, in
    turn, and the written weight reaches every input synapse."""
    from neurotwin.bss2.backend import Bss2Backend
    from neurotwin.bss2.chip import Chip, Deviations
    from neurotwin.bss2.mapping import map_network
    from neurotwin.bss2.ppu.pong import ExcitabilityProbe
    from neurotwin.bss2.ppu.program import PPURuntime
    from neurotwin.experiments.bss2_pong import (
        Bss2PongConfig,
        build_network,
        placement,
        weight_lsb_na,
    )
    config = Bss2PongConfig()
    net, _ = build_network(config, seed=0)
    net.record("action", "spikes")
    mapping = map_network(net, chip=Chip(2, Deviations()), weight_scale=weight_lsb_na(config))
    where = placement(mapping)
    windows = 34
    probe = ExcitabilityProbe(where.input_units, where.neurons, where.rows, where.columns,
                              21, where.hemisphere, offset_unit=where.offset_unit)
    sent: list[tuple[int, ...]] = []
    runtime = PPURuntime(mapping, (probe.program(),))
    send = runtime._send
    runtime._send = lambda units: (sent.append(tuple(units.tolist())), send(units))[1]
    for ppu in runtime.ppus:
        ppu._send = runtime._send
    result = Bss2Backend().run(mapping, windows * 200.0 + mapping.dt, seed=4,
                               programs=runtime.periodic())
    times, ids = result.spikes("action")
    reference = np.zeros((windows, 32), np.int64)
    for t, i in zip(times, ids, strict=True):
        window = int(np.ceil(t / 200.0 - 1e-9)) - 1  # stamped at the end of its step
        if 0 <= window < windows:
            reference[window, int(i)] += 1
    counts = np.asarray(probe.counts)
    assert counts.shape == (windows, 32) and counts.sum() > 100
    np.testing.assert_array_equal(counts, reference)
    units = [s[0] for s in sent]
    assert len(units) == windows * 20 + 1
    for w in range(windows):
        assert set(units[20 * w:20 * (w + 1)]) == {int(where.input_units[w % 32])}
    assert all(s[1] == where.offset_unit for s in sent)
    assert np.all(where.weights(runtime) == 21)
