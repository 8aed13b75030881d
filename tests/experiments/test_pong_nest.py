"""The NEST peer of bss2-pong: model-sw-pong's correlation written out, and the
experiment's software-peer metrics (time and energy against the chip) from one run."""

import json

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import run_experiment
from neurotwin.experiments.base import load_config
from neurotwin.experiments.bss2_pong import Bss2PongConfig
from neurotwin.experiments.pong_nest import causal_correlation, nest_available


def test_causal_correlation_pairs_each_input_spike_once_with_the_next_output_spike():
    pre = np.array([1.0, 11.0, 21.0])
    # 5 pairs with 1 (lag 4); 8 pairs with nothing new (1 was taken); 15 with 11 (lag 4);
    # 30 with 21 (lag 9)
    post = np.array([8.0, 5.0, 15.0, 30.0])
    expected = 36.0 * (2 * np.exp(-4.0 / 64.0) + np.exp(-9.0 / 64.0))
    assert causal_correlation(pre, post) == pytest.approx(expected, rel=1e-12)
    assert causal_correlation(pre, np.array([0.5, 1.0])) == 0.0  # none before, none equal
    many = np.arange(0.0, 100.0, 1.0)
    assert causal_correlation(many, many + 0.5) == 128.0  # saturates


def test_an_unknown_software_peer_is_refused():
    with pytest.raises(ConfigError, match="software_peer must be 'nest'"):
        Bss2PongConfig(software_peer="brian2")


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed")
def test_the_experiment_reports_nest_against_the_chip(tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"iterations": 20, "serials": [1], "calibrated": False,
                                  "untrained_iterations": 5, "software_peer": "nest",
                                  "software_iterations": 4}))
    run_experiment("bss2-pong", load_config(Bss2PongConfig, config), out_dir=tmp_path / "o")
    peer = json.loads((tmp_path / "o" / "metrics.json").read_text())["metrics"][
        "software_peer"]
    assert peer["name"] == "nest" and peer["iterations"] == 4
    assert peer["version"].startswith("3.")
    chip_s, chip_j = 200e-6, 0.057 * 200e-6
    assert peer["time_ratio_vs_chip"] == pytest.approx(peer["cpu_per_iteration_s"] / chip_s)
    assert peer["energy_ratio_vs_chip"] == pytest.approx(
        peer["cpu_core_power_w_assumed"] * peer["cpu_per_iteration_s"] / chip_j)
    assert peer["time_ratio_vs_chip"] > 1.0  # 200 ms of 32 neurons take more than 200 µs
    assert 0.0 <= peer["mean_reward"] <= 1.0
