"""The ``yinyang-twins`` experiment: the BrainScaleS-2 run per serial (reset per sample,
serials differ), a tiny end-to-end run with resume, and the errors for foreign
checkpoints and missing calibrations. The gradient at the twin's spike times:
tests/eventprop/test_observed.py."""

import json
import math

import numpy as np
import pytest
import torch

from neurotwin import bss2
from neurotwin.bss2.tables import used_neurons
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import CapacityError, ConfigError, DataError
from neurotwin.experiments import run_experiment
from neurotwin.experiments import yinyang_twins as yt
from neurotwin.experiments.deployment import forward_layers
from neurotwin.experiments.twin_forward import (
    bss2_layers,
    map_stack,
    operating_targets,
    repeat_inputs,
    weight_scales,
)
from neurotwin.spikes import SpikeBatch, first_spike_times
from neurotwin.train import Checkpoint, save_checkpoint

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=20.0)
TINY_YY = {"train_size": 40, "validation_size": 10, "test_size": 10, "n_hidden": 20,
           "epochs": 1, "decision_grid": 4, "deploy_chunk": 10, "restarts": 1}


def _small_stack():
    rng = np.random.default_rng(3)
    w = [rng.normal(1.5, 0.8, (5, 12)), rng.normal(1.6, 0.4, (12, 3))]
    t = np.sort(rng.uniform(0.0, 25.0, (6, 5)), axis=1)
    t[:, 0] = 0.0
    ids = np.stack([rng.permutation(5) for _ in range(6)])
    return w, SpikeBatch(t, ids, 5)


def test_bss2_layers_on_an_ideal_chip_match_the_event_engine_and_reset_per_sample():
    w, batch = _small_stack()
    chip = bss2.Chip(0, bss2.Deviations.ideal())
    twice = SpikeBatch(np.concatenate([batch.times, batch.times]),
                       np.concatenate([batch.ids, batch.ids]), 5)
    run = bss2_layers(w, P, twice, 30.0, chip, None)
    first = first_spike_times(run.layers[-1], 3).numpy()
    # each sample starts from rest: a repeated sample gives the same spikes
    np.testing.assert_allclose(first[:6], first[6:], rtol=0, atol=1e-9)
    event = first_spike_times(forward_layers(w, P, batch, 30.0, 1e-10)[-1], 3).numpy()
    both = np.isfinite(event)
    np.testing.assert_array_equal(np.isfinite(first[:6]), both)
    # 6-bit weights, the grid and the FPGA timestamps: within a few tenths of a ms
    assert np.max(np.abs(first[:6][both] - event[both])) < 0.3
    assert run.lsb_na == pytest.approx([np.abs(x).max() / 63 for x in w])


def test_deployment_differs_between_chip_serials():
    # uncalibrated here (calibration takes tens of seconds); the tiny run calibrates
    w, batch = _small_stack()
    firsts = []
    for serial in (1, 2):
        run = bss2_layers(w, P, batch, 30.0, bss2.Chip(serial), None)
        firsts.append(first_spike_times(run.layers[0], 12).numpy())
    both = np.isfinite(firsts[0]) & np.isfinite(firsts[1])
    assert both.sum() > 20
    assert np.max(np.abs(firsts[0][both] - firsts[1][both])) > 0.05


def test_weight_scales_put_the_largest_weight_at_63_lsb():
    assert weight_scales([np.array([[0.0, -6.3]]), np.zeros((2, 2))]) == pytest.approx([0.1, 1.0])


def test_repeat_inputs_splits_each_weight_into_whole_lsbs_over_its_rows():
    w = np.array([[1.0, -0.5], [0.26, 0.001]])
    rows, lsb = repeat_inputs(w, 2)
    assert lsb == pytest.approx(1.0 / 126)  # the largest weight is 2 x 63 LSB
    # 126, -63, 32.76 -> 33 and 0.126 -> 0 LSB; copy r of input i at row r * 2 + i
    np.testing.assert_allclose(rows / lsb, [[63, -32], [17, 0], [63, -31], [16, 0]],
                               atol=1e-9)
    assert repeat_inputs(w, 1)[1] == pytest.approx(1.0 / 63)
    with pytest.raises(ConfigError, match="input_repetitions"):
        repeat_inputs(w, 0)


def test_a_weight_below_half_an_lsb_is_counted_and_repetitions_keep_it():
    hidden = np.full((5, 12), 2.0)
    hidden[0, 0] = 0.01  # 0.3 LSB of one row (2/63 nA), 1.3 LSB of four rows
    w = [hidden, np.full((12, 3), 1.0)]
    chip = bss2.Chip(0, bss2.Deviations.ideal())
    for k, lost in ((1, 1), (4, 0)):
        _, _, lsb, vanished = map_stack(w, P, [np.empty(0)] * 5, 0.01, chip, None,
                                        input_repetitions=k)
        assert vanished == [lost, 0] and lsb[0] == pytest.approx(2.0 / (63 * k))


def test_input_repetitions_bring_the_twin_closer_to_the_float_weights():
    # on an ideal chip only the weights' resolution separates the twin from the event
    # engine: 4 rows per input quarter the first layer's LSB
    w, batch = _small_stack()
    chip = bss2.Chip(0, bss2.Deviations.ideal())
    exact = first_spike_times(forward_layers(w, P, batch, 30.0, 1e-10)[0], 12).numpy()
    error = {}
    for k in (1, 4):
        run = bss2_layers(w, P, batch, 30.0, chip, None, input_repetitions=k)
        assert run.lsb_na[0] == pytest.approx(np.abs(w[0]).max() / (63 * k))
        hidden = first_spike_times(run.layers[0], 12).numpy()
        both = np.isfinite(hidden) & np.isfinite(exact)
        assert both.sum() > 30
        error[k] = np.mean(np.abs(hidden[both] - exact[both]))
        # the twin runs the split weights: their sums, on the event engine
        split = repeat_inputs(w[0], k)[0].reshape(k, 5, 12).sum(axis=0)
        quantised = first_spike_times(forward_layers([split], P, batch, 30.0, 1e-10)[0],
                                      12).numpy()
        # (a few spikes graze the threshold: a tiny difference moves them by tenths)
        assert np.median(np.abs(hidden[both] - quantised[both])) < 0.03
    assert error[4] < 0.6 * error[1]


def _threshold_gap_error(w, chip, calibration):
    """|v_thresh - v_leak - the mapped 1 mV| of each hidden circuit on the chip, mV."""
    mapping, _, _, _ = map_stack(w, P, [np.empty(0)] * 5, 0.01, chip, calibration)
    p = chip.circuit_parameters(used_neurons(mapping.config, mapping.circuits))
    gap = (np.asarray(p.v_thresh) - np.asarray(p.v_leak))[:12]
    return np.abs(gap - mapping.populations["layer0"].voltage_scale * P.v_thresh)


@pytest.mark.slow
def test_calibrating_at_the_operating_point_removes_the_slope_error_of_the_shift():
    # only the voltage cells' slopes deviate (5 %): calibrated at calix' threshold read
    # (125, ~380 mV) and used ~90 mV lower, each threshold is off by its slope error times
    # the shift; calibrated where the network puts it, only the CADC's resolution remains
    w, _ = _small_stack()
    chip = bss2.Chip(4, bss2.Deviations(**{**bss2.Deviations.ideal().to_dict(),
                                           "potential_gain": 0.05}))
    circuits = np.arange(15)
    calix = bss2.calibrate(chip, circuits=circuits)
    targets = operating_targets(w, P, chip, calix)
    assert (targets.tau_mem_us, targets.tau_syn_exc_us, targets.tau_syn_inh_us) == (20, 5, 5)
    assert targets.leak == targets.reset < targets.threshold < calix.targets.threshold
    own = bss2.calibrate(chip, targets, circuits=circuits)
    before, after = _threshold_gap_error(w, chip, calix), _threshold_gap_error(w, chip, own)
    assert before.mean() > 2.0  # mV: 5 % of ~90 mV of shift, |normal| mean 0.8 sigma
    assert after.max() < 1.5 * bss2.specs.CADC_LSB_MV and after.mean() < 0.4 * before.mean()


def test_hidden_circuits_join_only_the_hidden_neurons():
    w, batch = _small_stack()
    twins = yt.YinYangTwinsConfig(hidden_circuits=2)
    assert twins.circuits_per_neuron == {"layer0": 2}
    assert yt.YinYangTwinsConfig().circuits_per_neuron is None
    mapping, _, _, _ = map_stack(w, P, [np.empty(0)] * 5, 0.01,
                                 bss2.Chip(0, bss2.Deviations.ideal()), None,
                                 circuits_per_neuron=twins.circuits_per_neuron)
    assert mapping.populations["layer0"].circuits_per_neuron == 2
    assert mapping.populations["layer1"].circuits_per_neuron == 1
    assert mapping.circuits.size == 2 * 12 + 3
    # joined circuits: the same spikes on an ideal chip, within the 6-bit grid's shift
    one = bss2_layers(w, P, batch, 30.0, bss2.Chip(0, bss2.Deviations.ideal()), None)
    two = bss2_layers(w, P, batch, 30.0, bss2.Chip(0, bss2.Deviations.ideal()), None,
                      circuits_per_neuron=twins.circuits_per_neuron)
    a, b = (first_spike_times(r.layers[-1], 3).numpy() for r in (one, two))
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    assert np.max(np.abs(a[np.isfinite(a)] - b[np.isfinite(b)])) < 0.3


def test_operating_point_is_that_of_the_network_as_it_runs():
    # two circuits per hidden neuron need twice the synaptic current per weight: with one
    # row per input the strongest weights narrow the hidden layer's voltage window; spread
    # over ten rows they fit the widest one (calix' span), where the chip is calibrated
    rng = np.random.default_rng(3)
    w = [rng.normal(1.5, 0.8, (5, 4)), rng.normal(1.6, 0.4, (4, 3))]
    chip = bss2.Chip(0, bss2.Deviations.ideal())
    cal = bss2.calibrate(chip, bss2.CalibrationTargets(membrane_capacitance=24),
                         circuits=np.arange(2 * 4 + 3))
    joined = {"layer0": 2}
    narrow = operating_targets(w, P, chip, cal, circuits_per_neuron=joined)
    wide = operating_targets(w, P, chip, cal, circuits_per_neuron=joined,
                             input_repetitions=10)
    alone = operating_targets(w, P, chip, cal)
    assert narrow.leak == wide.leak == alone.leak
    assert narrow.threshold < wide.threshold == alone.threshold
    assert wide.threshold == pytest.approx(bss2.specs.CALIX_TARGET_THRESHOLD, abs=0.5)


def test_more_hidden_circuits_than_the_chip_holds_are_refused(trained, tmp_path):
    with pytest.raises(CapacityError, match="neuron circuits"):
        run_experiment("yinyang-twins", _tiny(trained, finetune_epochs=0, hidden_circuits=30),
                       out_dir=tmp_path)


def _diagnose(trained, hidden_sign, output, labels):
    config, model = yt.load_yinyang(trained)
    with torch.no_grad():
        model.hidden.weight.copy_(hidden_sign * torch.full_like(model.hidden.weight, 3.0))
        model.output.weight.copy_(torch.as_tensor(output, dtype=torch.float64).expand(
            config.n_hidden, 3) / config.n_hidden)
    inputs = np.tile([[0.2, 0.6, 0.8, 0.4]], (len(labels), 1))
    batch = yt.yinyang.encode(inputs, config)
    return yt.twin_diagnosis(model, batch, np.asarray(labels), config,
                             bss2.Chip(0, bss2.Deviations.ideal()), None,
                             yt.YinYangTwinsConfig())


def test_diagnosis_names_silent_outputs_late_labels_and_silent_hidden_neurons(trained):
    # strong hidden weights: every hidden neuron fires; output 0 is driven hardest, output
    # 2 not at all (it never fires); labels 0 / 1 / 2 are then right / late / silent
    found = _diagnose(trained, 1.0, [40.0, 25.0, 0.0], [0, 1, 2, 0])
    assert found["accuracy"] == 0.5 and found["silent"] == 0.0
    assert found["late_label"] == 0.25 and found["label_silent"] == 0.25
    assert found["hidden_silent"] == 0.0 and found["hidden_rate"] >= 1.0
    # inhibitory hidden weights: nothing fires anywhere
    quiet = _diagnose(trained, -1.0, [40.0, 25.0, 0.0], [0, 1])
    assert quiet == {"accuracy": 0.0, "silent": 1.0, "late_label": 0.0,
                     "label_silent": 0.0, "hidden_rate": 0.0, "hidden_silent": 1.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("yy")
    run_experiment("yinyang", TINY_YY, seed=1, out_dir=out)
    return out


def _tiny(checkpoint, **override):
    return {"checkpoint": str(checkpoint), "serials": [1], "test_samples": 12,
            "validation_samples": 6, "finetune_epochs": 1, "finetune_samples": 8, "batch_size": 4,
            "s2_ticks": [1.0], **override}


@pytest.mark.slow
def test_tiny_run_deploys_fine_tunes_and_resumes(trained, tmp_path):
    record = run_experiment("yinyang-twins", _tiny(trained), out_dir=tmp_path)
    m = record["metrics"]
    serial = m["per_serial"]["1"]
    assert len(serial["twin_curve"]) == 2 and serial["twin_curve"][0] == serial["twin_before"]
    # the reported epoch is the one with the best twin validation accuracy (0: deployed)
    validation = serial["twin_validation_curve"]
    assert len(validation) == 2 and serial["selected_epoch"] == int(np.argmax(validation))
    assert serial["twin_after"] == serial["twin_curve"][serial["selected_epoch"]]
    assert serial["diagnosis_before"]["accuracy"] == serial["twin_before"]
    # the selected fine-tuned weights are kept, and they are what "after" evaluated
    assert (tmp_path / "serial1" / "best.pt").exists()
    assert m["s2_ticks"][0]["tick_ms"] == 1.0 and 0.0 <= m["s2_ticks"][0]["accuracy"] <= 1.0
    assert (tmp_path / "hil_curves.png").stat().st_size > 0
    assert (tmp_path / "serial1" / "checkpoint.pt").exists()
    assert (tmp_path / "serial1" / "calibration.json").exists()
    # calibrated a second time at the network's own operating point
    targets = bss2.Calibration.load(tmp_path / "serial1" / "calibration_network.json",
                                    1).targets
    assert (targets.tau_mem_us, targets.tau_syn_exc_us) == (20.0, 5.0)
    assert targets.membrane_capacitance == 63 and targets.leak < bss2.specs.CALIX_TARGET_LEAK
    again = run_experiment("yinyang-twins", _tiny(trained, finetune_epochs=2, resume=True),
                           out_dir=tmp_path)
    curve = again["metrics"]["per_serial"]["1"]["twin_curve"]
    assert again["metrics"]["per_serial"]["1"]["resumed_from_epoch"] == 1
    assert curve[:2] == serial["twin_curve"] and len(curve) == 3
    assert json.loads((tmp_path / "metrics.json").read_text())["experiment"] == "yinyang-twins"


def test_a_checkpoint_of_another_experiment_is_refused(tmp_path):
    save_checkpoint(tmp_path, Checkpoint(
        epoch=1, model={"layer.weight": torch.zeros(2, 2, dtype=torch.float64)},
        optimizer={}, scheduler={}, rng={}, average=None, history=[{}],
        fingerprint={"seed": 0, "pixels": 784, "n_hidden": 10}))
    with pytest.raises(DataError, match=r"not made by the yinyang experiment.*pixels"):
        yt.load_yinyang(tmp_path)
    with pytest.raises(DataError, match="no yinyang checkpoint"):
        yt.load_yinyang(tmp_path / "empty")


def test_a_serial_without_calibration_is_refused(trained, tmp_path):
    with pytest.raises(DataError, match="no calibration of chip serial 1"):
        run_experiment("yinyang-twins", _tiny(trained, calibration_dir=str(tmp_path)),
                       out_dir=tmp_path / "out")


@pytest.mark.parametrize(("override", "message"), [
    ({"serials": []}, "serials"), ({"serials": [1, 1]}, "distinct"),
    ({"serials": [-1]}, "serial"), ({"learning_rate": 0.0}, "learning_rate"),
    ({"s2_ticks": [0.7]}, "divide"), ({"calibration_targets": "paper"}, "calibration_targets"),
    ({"membrane_capacitance": 64}, "membrane_capacitance"),
    ({"validation_samples": -1}, "validation_samples"), ({"lr_decay": 1.5}, "lr_decay"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"input_repetitions": 0}, "input_repetitions"),
    ({"input_repetitions": 26}, "input_repetitions"),
    ({"hidden_circuits": 0}, "hidden_circuits"),
    ({"min_slope": -1.0}, "min_slope"), ({"dt": 0.0}, "dt"), ({"s2_ticks": [-1.0]}, "tick"),
])
def test_config_checks(trained, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        run_experiment("yinyang-twins", _tiny(trained, finetune_epochs=0, **override),
                       out_dir=tmp_path)


def test_defaults_deploy_on_five_serials():
    c = yt.YinYangTwinsConfig()
    assert len(c.serials) >= 5 and c.dt == 0.01 and math.isclose(c.s2_ticks[-1], 0.01)


@pytest.mark.slow
def test_without_a_checkpoint_the_kept_restart_is_deployed(tmp_path):
    # the yinyang defaults train three restarts; the twins must take the one yinyang keeps
    # and reports, not restart 0's folder
    m = run_experiment("yinyang-twins", {"train_epochs": 1, "serials": [1],
                                         "finetune_epochs": 0, "test_samples": 1000,
                                         "validation_samples": 0, "s2_ticks": []},
                       seed=0, out_dir=tmp_path)["metrics"]
    # each restart's selected epoch from its own history: the best validation accuracy
    best = []
    for folder in ("", "restart1/", "restart2/"):
        history = json.loads((tmp_path / "yinyang" / folder / "history.json").read_text())
        best.append(max(history, key=lambda r: r["validation_accuracy"]))
    kept = max(range(3), key=lambda r: (best[r]["validation_accuracy"], -r))
    assert m["checkpoint"].endswith(f"restart{kept}" if kept else "yinyang")
    assert m["ideal_accuracy"] == best[kept]["test_accuracy"]
    assert len({r["test_accuracy"] for r in best}) > 1  # the choice mattered
