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


def _nest_membrane_std(neuron: dict, noise: str, weight_pa: float = 0.0,
                       rate_hz: float = 0.0, balanced: bool = False) -> float:
    """Std of 32 free membranes (no threshold) in NEST over 20 s, mV: model-sw-pong's
    Gaussian current (``noise="gauss"``) or Poisson shot noise of ``weight_pa``."""
    from neurotwin.experiments.pong_nest import NOISE_INTERVAL_MS, NOISE_STD_PA, _import_nest

    nest = _import_nest()
    nest.ResetKernel()
    nest.set(local_num_threads=1, rng_seed=7)
    neurons = nest.Create("iaf_psc_exp", 32, params={**neuron, "V_th": 1e9})
    if noise == "gauss":
        source = nest.Create("noise_generator", 32, params={"std": NOISE_STD_PA,
                                                            "dt": NOISE_INTERVAL_MS})
        nest.Connect(source, neurons, "one_to_one")
    else:
        for sign in (1.0, -1.0) if balanced else (1.0,):
            source = nest.Create("poisson_generator", 32, params={"rate": rate_hz})
            nest.Connect(source, neurons, "one_to_one", {"weight": sign * weight_pa})
    meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 1.0,
                                              "start": 500.0})
    nest.Connect(meter, neurons)
    nest.Simulate(20_500.0)
    return float(np.std(meter.get("events")["V_m"]))


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed")
def test_pang_noise_std_is_the_membrane_fluctuation_nest_gives():
    from neurotwin.experiments.bss2_pong import pang_noise_std
    from neurotwin.experiments.pong_nest import NEURON_DICT

    gap_mv = NEURON_DICT["V_th"] - NEURON_DICT["E_L"]
    measured = _nest_membrane_std(NEURON_DICT, "gauss") / gap_mv
    assert measured == pytest.approx(pang_noise_std(), rel=0.03)
    assert 0.2 < pang_noise_std() < 0.3  # a quarter of the gap, far above the 0.05 default


@pytest.mark.skipif(not nest_available(), reason="NEST is not installed")
@pytest.mark.parametrize("balanced", [False, True])
def test_background_std_is_the_shot_noise_nest_gives(balanced):
    from neurotwin.experiments.bss2_pong import MODEL, background_std, pang_drive

    config = Bss2PongConfig(noise_weight=0.3, noise_balanced=balanced)
    gap_mv = MODEL.v_thresh - MODEL.v_rest
    c_pf, tau_s, tau_m = 250.0, MODEL.tau_syn_exc, MODEL.tau_mem
    # one noise PSP's area (mV ms) as the twin's weight scale makes it, as a current
    area = config.noise_weight * pang_drive(config) * 10.0 * gap_mv
    weight_pa = area * c_pf / (tau_s * tau_m)
    neuron = {"C_m": c_pf, "tau_m": tau_m, "tau_syn_ex": tau_s, "tau_syn_in": tau_s,
              "E_L": 0.0, "V_m": 0.0, "t_ref": 0.1}
    measured = _nest_membrane_std(neuron, "poisson", weight_pa, config.noise_rate_hz,
                                  balanced) / gap_mv
    assert measured == pytest.approx(background_std(config), rel=0.03)
