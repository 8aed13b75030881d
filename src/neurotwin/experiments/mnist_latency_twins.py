r"""A trained latency-MNIST network on the two hardware twins: accuracy per BrainScaleS-2
chip serial and per SpiNNaker2 tick, before any fine-tuning.

*Starting point.* A ``mnist-latency`` run folder (:func:`~neurotwin.experiments.run_folder.
load_run`), or, without one, a network trained here by ``mnist-latency`` with
``train_epochs`` epochs on images shrunk to ``image_size`` with ``n_hidden`` hidden
neurons (default 16 x 16 and 246: the 256-246-10 network of Göltz et al. 2021; Cramer
et al. 2022 shrank MNIST to 16 x 16 too).

*BrainScaleS-2, per chip serial.* A neuron circuit sees the 256 synapse rows of its
hemisphere; a logical neuron of k circuits (``circuits_per_neuron``) holds 256 k synapses,
and the chip has 512 circuits. The full 784-350-10 network needs four circuits per hidden
neuron (fan-in 784), 1420 circuits in all: it does not fit, and the mapping's
:class:`~neurotwin.errors.CapacityError` (naming the fan-in and the limit) is recorded as
the result (``bss2_cannot_run``). 246 + 10 neurons of two circuits each fill the 512
circuits and hold the 256 inputs of 16 x 16 images. Each chip is calibrated for the circuits
the network uses (:func:`~neurotwin.experiments.twin_forward.chip_calibration`: at calix'
defaults, then at the network's operating point) and the test samples run one after
another on one copy of the network
(:func:`~neurotwin.experiments.twin_forward.bss2_layers`): 6-bit weights, one LSB per
layer, the chip's fixed-pattern deviations and temporal noise. The readout's leaky
integrators are read as on the chip: their threshold is put at ``readout_margin`` times
the largest V_max of the ideal model on ``threshold_samples`` training samples (never
reached), and the CADC samples their membranes every 1.7 µs; the class is the largest
read.

*SpiNNaker2* (:func:`~neurotwin.experiments.deployment.deployment_check` with
``backend="spinnaker2"``, the V_max readout): the same weights at each tick of
``s2_ticks`` (``tick_ms = dt``, int8 weights, one-tick delays); accuracy, agreement with
the event engine, and how many input spikes of different times the tick puts on one step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from neurotwin.bss2 import Chip, specs
from neurotwin.errors import CapacityError, ConfigError, check_int, check_positive
from neurotwin.experiments import mnist_latency
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.deployment import check_ticks, deployment_check
from neurotwin.experiments.run_folder import load_run
from neurotwin.experiments.twin_forward import bss2_layers, check_chip_fields, chip_calibration
from neurotwin.spikes import SpikeBatch
from neurotwin.train import mean_std

__all__ = ["EVALUATION_SEED", "MnistLatencyTwinsConfig", "input_collisions",
           "load_mnist_latency", "readout_threshold", "run"]

EVALUATION_SEED = 1
"""Seed of the BrainScaleS-2 twin's temporal noise in every evaluation."""


@dataclass(frozen=True)
class MnistLatencyTwinsConfig:
    """Parameters of the ``mnist-latency-twins`` experiment
    (docs/experiments/mnist_latency.md, "On the hardware twins").

    Parameters
    ----------
    checkpoint
        Folder of a ``mnist-latency`` run; None: train one into ``out_dir/mnist-latency``.
    train_epochs, image_size, n_hidden
        Epochs, image side (pixels) and hidden neurons of that training (only without
        ``checkpoint``; the other fields are mnist-latency's defaults).
    serials
        BrainScaleS-2 chip serials, >= 0 (empty: no BrainScaleS-2 runs).
    calibration_dir, calibration_targets, membrane_capacitance
        As ``yinyang-twins``: calibrations ``chip<serial>.json`` to use as they are, or
        where each chip is calibrated here (``"network"``: at the network's operating
        point after calix' defaults; ``"calix"``: calix' defaults) with which capacitor.
    circuits_per_neuron
        Circuits of every logical neuron on BrainScaleS-2 (None: the mapping's, enough
        for each fan-in).
    test_samples
        Test samples (a prefix of the run's test split) of every accuracy.
    threshold_samples
        Training samples on which the readout's largest V_max is measured.
    readout_margin
        The readout's threshold on the twins, in units of that largest V_max (> 1).
    dt
        Emulation step of the BrainScaleS-2 twin, ms of model time.
    s2_ticks
        SpiNNaker2 ticks to measure, ms (each dividing ``t_max``); empty: none.
    s2_chunk
        Test samples side by side in one SpiNNaker2 run (memory grows with it).
    """

    checkpoint: str | None = None
    train_epochs: int = 10
    image_size: int = 16
    n_hidden: int = 246
    serials: tuple[int, ...] = (1, 2, 3, 4, 5)
    calibration_dir: str | None = None
    calibration_targets: Literal["network", "calix"] = "network"
    membrane_capacitance: int = specs.CALIX_TARGET_MEMBRANE_CAPACITANCE
    circuits_per_neuron: int | None = 2
    test_samples: int = 1000
    threshold_samples: int = 1000
    readout_margin: float = 1.2
    dt: float = 0.01
    s2_ticks: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.05)
    s2_chunk: int = 20

    def __post_init__(self) -> None:
        check_int("train_epochs", self.train_epochs, low=1)
        check_int("image_size", self.image_size, low=1, high=mnist_latency.MNIST_SIDE)
        check_int("n_hidden", self.n_hidden, low=1)
        object.__setattr__(self, "serials", check_chip_fields(
            self.serials, self.calibration_targets, self.membrane_capacitance))
        if self.circuits_per_neuron is not None:
            check_int("circuits_per_neuron", self.circuits_per_neuron, low=1,
                      high=specs.CIRCUITS_PER_NEURON_MAX)
        check_int("test_samples", self.test_samples, low=1)
        check_int("threshold_samples", self.threshold_samples, low=1)
        check_positive("readout_margin", self.readout_margin)
        if not self.readout_margin > 1.0:
            raise ConfigError(f"readout_margin must be > 1, got {self.readout_margin!r}")
        check_positive("dt", self.dt, "ms")
        for tick in self.s2_ticks:
            check_positive("s2 tick", tick, "ms")
        object.__setattr__(self, "s2_ticks", tuple(float(t) for t in self.s2_ticks))
        check_int("s2_chunk", self.s2_chunk, low=1)


def load_mnist_latency(folder: Path) -> tuple[mnist_latency.MnistLatencyConfig,
                                              mnist_latency.MnistLatencyNet]:
    """The configuration and selected weights of a ``mnist-latency`` run folder."""
    return load_run(folder, "mnist-latency", mnist_latency.MnistLatencyConfig,
                    lambda c: mnist_latency.MnistLatencyNet(c, 0))


def readout_threshold(model: mnist_latency.MnistLatencyNet, pixels: np.ndarray,
                      config: mnist_latency.MnistLatencyConfig, margin: float) -> float:
    """The readout's threshold on the twins, mV above rest: ``margin`` times the largest
    V_max of the ideal model on ``pixels`` (training samples), at least ``margin`` times
    the hidden threshold."""
    top = float(np.max(mnist_latency.vmax_of(model, pixels, config), initial=0.0))
    return margin * max(top, config.v_thresh)


def input_collisions(batch: SpikeBatch, tick: float) -> float:
    """Fraction of the input spikes that share their time step with an input spike of
    another time in the same sample (the tick erases their order), over all samples; an
    input spike at t falls on step ``round(t / tick)``, as the backends play them."""
    shared = total = 0
    for times in batch.times:
        real = times[np.isfinite(times)]
        steps = np.rint(real / tick)
        for step in np.unique(steps):
            here = real[steps == step]
            if np.unique(here).size > 1:
                shared += here.size
        total += real.size
    return shared / total if total else math.nan


def _bss2_serial(serial: int, model: mnist_latency.MnistLatencyNet,
                 config: mnist_latency.MnistLatencyConfig, twins: MnistLatencyTwinsConfig,
                 test: SpikeBatch, labels: np.ndarray, threshold: float,
                 out_dir: Path) -> dict[str, Any]:
    chip = Chip(serial)
    weights = [model.hidden.weight, model.readout.weight]
    cal = chip_calibration(chip, weights, config.neuron(), out_dir / f"serial{serial}",
                           targets=twins.calibration_targets,
                           membrane_capacitance=twins.membrane_capacitance,
                           calibration_dir=twins.calibration_dir, dt=twins.dt,
                           circuits_per_neuron=twins.circuits_per_neuron)
    run_ = bss2_layers(weights, config.neuron(), test, config.t_max, chip, cal, dt=twins.dt,
                       seed=EVALUATION_SEED, circuits_per_neuron=twins.circuits_per_neuron,
                       vmax_threshold=threshold)
    assert run_.vmax is not None
    guess = np.argmax(np.nan_to_num(run_.vmax, nan=-np.inf), axis=1)
    hidden_ids = np.asarray(run_.layers[0].ids)
    return {"serial": serial, "accuracy": float(np.mean(guess == labels)),
            "hidden_spikes_per_sample": float(np.sum(hidden_ids >= 0) / len(labels)),
            "vanished_weights": run_.vanished, "lsb_na": run_.lsb_na,
            "wall_time_s": run_.wall_time_s}


def _s2_study(model: mnist_latency.MnistLatencyNet, config: mnist_latency.MnistLatencyConfig,
              twins: MnistLatencyTwinsConfig, test: SpikeBatch, labels: np.ndarray,
              threshold: float) -> list[dict[str, Any]]:
    out = []
    for tick in twins.s2_ticks:
        check = deployment_check(
            [model.hidden.weight, model.readout.weight], config.neuron(), test, config.t_max,
            dt=tick, chunk=twins.s2_chunk, backend="spinnaker2", xtol=config.xtol,
            options={"tick_ms": tick, "weight_format": "int8"}, vmax_threshold=threshold)
        out.append({"tick_ms": tick, "accuracy": float(np.mean(check.stepped_classes == labels)),
                    "agreement": check.agreement, "vmax_ties": check.ties,
                    "vmax_shift_mv": check.shift_ms,
                    "input_collisions": input_collisions(test, tick),
                    "wall_time_s": check.wall_time_s})
    return out


@register_experiment("mnist-latency-twins", MnistLatencyTwinsConfig,
                     runs_on="bss2 and spinnaker2")
def run(
    config: MnistLatencyTwinsConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """A trained latency-MNIST network on the BrainScaleS-2 twin (accuracy per chip serial,
    or the CapacityError where it does not fit) and the SpiNNaker2 twin (per tick)."""
    if config.checkpoint is None:
        folder = out_dir / "mnist-latency"
        mnist_latency.run(mnist_latency.MnistLatencyConfig(
            epochs=config.train_epochs, image_size=config.image_size,
            n_hidden=config.n_hidden, ann_epochs=0, resume=True), seed, "ideal", folder, None)
    else:
        folder = Path(config.checkpoint)
    ml, model = load_mnist_latency(folder)
    check_ticks(config.s2_ticks, ml.t_max)
    train, _, test_set = mnist_latency.load_data(ml)
    if config.test_samples > len(test_set):
        raise ConfigError(f"test_samples must be <= {len(test_set)} (the run's test split), "
                          f"got {config.test_samples}")
    test = mnist_latency.encode(test_set.inputs[:config.test_samples], ml)
    labels = test_set.labels[:config.test_samples]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        threshold = readout_threshold(model, train.inputs[:config.threshold_samples], ml,
                                      config.readout_margin)
        ideal = float(np.mean(np.argmax(mnist_latency.vmax_of(
            model, test_set.inputs[:config.test_samples], ml), axis=1) == labels))
        per_serial: list[dict[str, Any]] = []
        cannot_run = None
        for serial in config.serials:
            try:
                per_serial.append(_bss2_serial(serial, model, ml, config, test, labels,
                                               threshold, out_dir))
            except CapacityError as err:
                cannot_run = str(err)
                break
        s2 = _s2_study(model, ml, config, test, labels, threshold) if config.s2_ticks else []
    finally:
        torch.set_num_threads(threads)
    accuracies = [r["accuracy"] for r in per_serial]
    return {
        "checkpoint": str(folder),
        "network": f"{ml.n_inputs}-{ml.n_hidden}-{mnist_latency.N_CLASSES}",
        "test_samples": config.test_samples,
        "ideal_accuracy": ideal,
        "readout_threshold_mv": threshold,
        "bss2_cannot_run": cannot_run,
        "bss2": mean_std(accuracies) if accuracies else None,
        "per_serial": {str(r["serial"]): r for r in per_serial},
        "s2_ticks": s2,
    }
