"""``neurotwin compare`` on a trained classifier: the time-stepped backends against the
exact event engine (an independent solver), samples split into runs a chip can hold, a
stack no chip holds, the run grid, and bad input."""

import json
import math

import numpy as np
import pytest

from neurotwin.bss2.specs import QuantizationWarning
from neurotwin.compare import ClassifierTask, classifier_figure, compare_classifier
from neurotwin.compare.classifier import run_duration
from neurotwin.datasets import latency_encode
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.experiments.deployment import forward_layers, predict
from neurotwin.spikes import first_spike_times

NEURON = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=20.0)
T_MAX = 30.0


def stack_task(n_hidden: int = 20, n_samples: int = 12, seed: int = 0) -> ClassifierTask:
    """A random 5-n_hidden-3 stack on latency-coded random points; labels half the event
    engine's classes, half shifted by one, so the accuracy is known from the event engine."""
    rng = np.random.default_rng(seed)
    scale = 200 / n_hidden  # as strong as the Yin-Yang output layer of 200 inputs
    weights = (rng.normal(1.5, 0.8, (5, n_hidden)),
               rng.normal(0.93 * scale, 0.3 * scale, (n_hidden, 3)))
    points = rng.uniform(0.0, 1.0, (n_samples, 2))
    batch = latency_encode(np.hstack([points, 1 - points]), 0.0, T_MAX, bias_time=0.0)
    out = forward_layers(weights, NEURON, batch, T_MAX, 1e-10)[-1]
    event = predict(first_spike_times(out, 3))
    labels = np.where(np.arange(n_samples) % 2 == 0, event, (event + 1) % 3)
    labels = np.where(labels < 0, 0, labels)
    return ClassifierTask("random stack", weights, NEURON.to_lif(), batch, labels, T_MAX,
                          0.01, event_classes=event)


def test_ideal_backend_gives_the_event_engines_classes() -> None:
    task = stack_task()
    assert np.all(task.event_classes >= 0)  # every sample decides
    (run,) = compare_classifier(task, ["ideal"]).runs
    assert run.event_agreement == 1.0
    assert run.accuracy == pytest.approx(np.mean(task.event_classes == task.labels))
    assert run.accuracy == 0.5  # by construction of the labels
    assert run.samples_per_run == 12 and run.silent == 0.0
    assert 0.0 < run.latency_ms < T_MAX + 0.02


def test_bss2_runs_as_many_samples_side_by_side_as_its_neurons_hold() -> None:
    task = stack_task(n_hidden=200, n_samples=4)
    with pytest.warns(QuantizationWarning, match="quantise to 0 LSB"):  # 6-bit weights
        comparison = compare_classifier(task, ["bss2", "spinnaker2"])
    bss2, s2 = comparison.runs
    assert bss2.cannot_run is None and s2.cannot_run is None
    assert bss2.samples_per_run == 512 // 203  # 203 neurons per sample on 512 circuits
    assert bss2.resources["neurons"] == (406.0, 512.0)
    for run in (bss2, s2):
        assert 0.0 <= run.accuracy <= 1.0
        assert run.hardware_time_us > 0 and run.energy_j > 0
    text = comparison.table()
    assert "samples/run" in text and "neurons 406/512" in text
    json.dumps(comparison.to_dict())


def test_a_stack_no_chip_holds_is_reported_not_raised() -> None:
    task = stack_task(n_hidden=600, n_samples=2)
    comparison = compare_classifier(task, ["bss2"])
    (run,) = comparison.runs
    assert run.cannot_run == (
        "not enough neuron circuits: needed 609, available 512 (603 neurons; circuits per "
        "neuron layer0: 1 (fan-in 5), layer1: 3 (fan-in 600): a circuit sees the 256 synapse "
        "rows of its hemisphere, so a fan-in above 256 takes a neuron of several circuits)")
    assert f"bss2     cannot run: {run.cannot_run}" in comparison.table()


def test_figure_draws(tmp_path) -> None:
    comparison = compare_classifier(stack_task(n_samples=4), ["ideal"])
    classifier_figure(comparison, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


@pytest.mark.parametrize(("window", "dt", "expected"),
                         [(30.02, 0.01, 31.0), (30.0, 0.01, 30.0), (3.2, 0.3, 3.3),
                          (0.5, 0.1, 1.0)])
def test_runs_last_whole_milliseconds_where_dt_divides_one(window, dt, expected) -> None:
    assert math.isclose(run_duration(window, dt), expected)


def test_bad_tasks_and_arguments_are_config_errors() -> None:
    task = stack_task(n_samples=4)
    w1, w2 = task.weights
    with pytest.raises(ConfigError, match="layer 0 has weights of shape"):
        ClassifierTask("x", (w1, w2.T), task.neuron, task.samples, task.labels, T_MAX, 0.01)
    with pytest.raises(ConfigError, match="the samples have 5 input sources, the first layer "
                                          "takes 20"):
        ClassifierTask("x", (w2,), task.neuron, task.samples, task.labels, T_MAX, 0.01)
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 3\)"):
        ClassifierTask("x", task.weights, task.neuron, task.samples, task.labels + 3, T_MAX,
                       0.01)
    with pytest.raises(ConfigError, match=r"labels must have one entry per sample \(4\)"):
        ClassifierTask("x", task.weights, task.neuron, task.samples, task.labels[:2], T_MAX,
                       0.01)
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        compare_classifier(task, ["ideal", "nope"])
    with pytest.raises(ConfigError, match="named more than once"):
        compare_classifier(task, ["ideal", "ideal"])
    with pytest.raises(ConfigError, match="chunk"):
        compare_classifier(task, ["ideal"], chunk=0)
