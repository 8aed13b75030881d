"""The BrainScaleS-2 experiments: tiny configs run, write metrics and PNGs, and the
numbers say what the experiments claim (calibration narrows the spreads, the synfire
pulse travels down the chain, inhibition is what keeps it a single pulse)."""

import json

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.bss2_neuron import Bss2NeuronConfig
from neurotwin.experiments.bss2_synfire import (
    Bss2SynfireConfig,
    build_network,
    group_activity,
    weight_lsb_na,
)

PNG = b"\x89PNG\r\n\x1a\n"
TINY_NEURON = {"n_circuits": 6, "fi_circuits": 2, "fi_points": 4, "fi_duration_us": 200.0,
               "trace_duration_us": 20.0}
TINY_SYNFIRE = {"n_groups": 4, "duration": 30.0, "trials": 2, "calibrated": False}


def test_both_are_registered():
    assert {"bss2-neuron", "bss2-synfire"} <= set(EXPERIMENTS.names())


@pytest.fixture(scope="module")
def neuron_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bss2-neuron")
    return out, run_experiment("bss2-neuron", TINY_NEURON, seed=1, out_dir=out)


def test_neuron_writes_metrics_and_plots(neuron_run):
    out, record = neuron_run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["metrics"] == json.loads(json.dumps(record["metrics"]))
    for name in record["metrics"]["files"]:
        assert (out / name).read_bytes()[:8] == PNG, name
    assert record["metrics"]["calibration_time_s"] > 0


def test_calibration_narrows_every_spread(neuron_run):
    spread = neuron_run[1]["metrics"]["spread"]
    assert set(spread) >= {"leak", "threshold", "tau_mem", "tau_syn_exc", "tau_syn_inh"}
    for name, s in spread.items():
        assert s["after"]["std_over_mean"] < 0.5 * s["before"]["std_over_mean"], name
        if s["target"] is not None:
            assert s["after"]["mean"] == pytest.approx(s["target"], rel=0.02), name


def test_leak_over_threshold_fires_and_fi_is_monotone(neuron_run):
    m = neuron_run[1]["metrics"]
    assert min(m["madc_trace"]["spikes"].values()) >= 1
    fi = m["fi_curve"]
    assert fi["input_rate_hz"][0] == 0.0
    for curve in fi["output_rate_hz"].values():
        rates = np.asarray(curve)  # (points, circuits)
        assert np.all(rates[0] == 0.0)  # no input, leak below threshold: silent
        assert np.all(rates[-1] > 0.0)
        assert np.all(np.diff(rates, axis=0) >= -1e-9 * rates.max() - 10.0)


def test_neuron_config_is_checked():
    with pytest.raises(ConfigError, match="trace_circuit"):
        Bss2NeuronConfig(n_circuits=4, trace_circuit=4)
    with pytest.raises(ConfigError, match="trace_leak_read"):
        Bss2NeuronConfig(trace_leak_read=100.0)


@pytest.fixture(scope="module")
def synfire_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bss2-synfire")
    return out, run_experiment("bss2-synfire", TINY_SYNFIRE, seed=2, out_dir=out)


def test_synfire_writes_metrics_and_plots(synfire_run):
    out, record = synfire_run
    m = record["metrics"]
    assert json.loads((out / "metrics.json").read_text())["metrics"]["files"] == m["files"]
    assert "occupancy.png" in m["files"] and "raster_reference.png" in m["files"]
    for name in m["files"]:
        assert (out / name).read_bytes()[:8] == PNG, name
    assert m["hardware_time_us"] == pytest.approx(TINY_SYNFIRE["duration"]
                                                  * TINY_SYNFIRE["trials"])
    assert m["energy_j"] == pytest.approx(nt.bss2.specs.CHIP_POWER_W
                                          * m["hardware_time_us"] * 1e-6)
    assert m["resources"]["neurons"]["used"] == 4 * (16 + 8)


def test_synfire_pulse_reaches_the_last_group_in_order(synfire_run):
    m = synfire_run[1]["metrics"]
    assert m["propagated"] == {"bss2": True, "ideal": True}
    for name, g in m["groups"].items():
        latency = np.asarray(g["mean_latency_ms"], dtype=float)
        assert np.all(np.diff(latency) > 0), name
        assert g["latency_per_group_ms"] > 0


def test_on_the_chip_without_inhibition_groups_fire_more_than_once():
    config = Bss2SynfireConfig(**{**TINY_SYNFIRE, "trials": 1})
    loose = Bss2SynfireConfig(**{**TINY_SYNFIRE, "trials": 1, "w_inh_exc": 0.0})
    per_neuron = {}
    for name, cfg in (("ffi", config), ("none", loose)):
        res = nt.simulate(build_network(cfg), cfg.duration, backend="bss2",
                          chip=nt.bss2.Chip(cfg.chip_serial), weight_scale=weight_lsb_na(cfg))
        per_neuron[name] = np.nanmean(np.asarray(group_activity(res, cfg)["spikes_per_neuron"],
                                                 dtype=float))
    assert per_neuron["ffi"] == 1.0
    assert per_neuron["none"] > 1.5


def test_weights_are_whole_lsb_on_the_chip():
    config = Bss2SynfireConfig(**TINY_SYNFIRE)
    net = build_network(config)
    lsb = weight_lsb_na(config)
    m = nt.bss2.map_network(net, weight_scale=lsb)
    assert m.populations["exc"].weight_lsb_na == pytest.approx(lsb, rel=1e-3)
    assert {int(w) for w in np.unique(np.asarray(m.config.weights))} == {0, 35, 40, 45, 63}


def test_synfire_config_is_checked():
    with pytest.raises(ConfigError, match="needs 520 neurons"):
        Bss2SynfireConfig(n_groups=20, n_exc=16, n_inh=10)
    with pytest.raises(ConfigError, match="w_exc_exc"):
        Bss2SynfireConfig(w_exc_exc=64.0)


def test_fi_input_driver_runs_at_each_settings_stp_offset():
    """The f-I curve's input driver at each setting's STP offset codes (the calibrated
    curve at the calibration's): the same circuits with the driver at its weakest code
    fire less than at the reference code, on the same frozen input."""
    from neurotwin.bss2 import specs
    from neurotwin.bss2.chip import Chip
    from neurotwin.bss2.config import NeuronConfig
    from neurotwin.experiments.bss2_neuron import _fi_curves

    config = Bss2NeuronConfig(fi_circuits=3, fi_points=3, fi_duration_us=300.0)
    cells = NeuronConfig.default(np.arange(3), membrane_capacitance=63)
    shape = (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)
    offsets = {"reference": np.full(shape, specs.STP_OFFSET_REFERENCE),
               "weakest": np.full(shape, specs.STP_OFFSET_MAX)}
    _, fi = _fi_curves(Chip(3), {"reference": cells, "weakest": cells}, config,
                       np.random.default_rng(0), offsets)
    assert fi["reference"][-1].sum() > 0
    assert fi["weakest"][-1].sum() < fi["reference"][-1].sum()
