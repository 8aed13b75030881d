r"""The trained Yin-Yang network on the two hardware twins: deployment per BrainScaleS-2
chip serial, hardware-in-the-loop fine-tuning there, and the SpiNNaker2 tick study.

*Starting point.* A ``yinyang`` run folder (its ``checkpoint.pt`` says how it was
configured, its ``best.pt`` holds the selected weights), or, without one, a network
trained here by the ``yinyang`` experiment with ``train_epochs`` epochs.

*BrainScaleS-2, per chip serial* (:func:`~neurotwin.experiments.twin_forward.bss2_layers`):
the chip (``Chip(serial)``: its fixed-pattern deviations) is calibrated for the circuits
the network uses (:func:`~neurotwin.bss2.calibrate`, kept in ``serial<k>/calibration.json``)
and the network runs sample after sample on one copy, 6-bit weights with one scale per
layer (largest weight = 63 LSB; with ``input_repetitions`` each input on that many
synapse rows, its weights split over them; with ``hidden_circuits`` each hidden neuron
that many circuits joined). Accuracy before fine-tuning, then ``finetune_epochs`` of
*hardware-in-the-loop* fine-tuning (Göltz et al. 2021): every batch runs on the twin; the
loss is the training loss on the twin's first output spikes; the gradient is the ideal
model's EventProp adjoint walked at the spike times the twin produced, layer by layer
(:func:`~neurotwin.eventprop.observed.observed_lif_layer`: hidden layer at the twin's
hidden spikes given the input, output layer at the twin's output spikes given the twin's
hidden spikes); Adam updates the float weights, which are quantised afresh for the next
batch (the step size on ``lr_schedule``). A checkpoint per epoch
(``serial<k>/checkpoint.pt``, resumable). After every epoch the twin classifies the test
samples and ``validation_samples`` of the validation split (noise seed
:data:`EVALUATION_SEED`); the epoch with the best twin validation accuracy, 0 (as
deployed) included, is the one reported "after": the test samples choose nothing.
:func:`twin_diagnosis` says where the wrong test samples come from (silent outputs, the
label's neuron late or silent, silent hidden neurons), before and after.

*SpiNNaker2* (:func:`~neurotwin.experiments.deployment.deployment_check` with
``backend="spinnaker2"``): the same weights at each tick of ``s2_ticks`` (``tick_ms = dt``,
int8 weights), accuracy and first-spike ties against the tick.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.figure import Figure

from neurotwin.bss2 import Calibration, Chip, specs
from neurotwin.datasets import yinyang_splits
from neurotwin.errors import ConfigError, check_int, check_positive
from neurotwin.eventprop import silent_label_pull
from neurotwin.eventprop.observed import observed_lif_layer
from neurotwin.experiments import plots, yinyang
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.deployment import check_ticks, deployment_check, predict
from neurotwin.experiments.run_folder import load_run
from neurotwin.experiments.twin_forward import bss2_layers, check_chip_fields, chip_calibration
from neurotwin.spikes import SpikeBatch, first_spike_times
from neurotwin.train import LoopConfig, fit, load_best, mean_std

__all__ = ["EVALUATION_SEED", "YinYangTwinsConfig", "hil_loss", "load_yinyang", "run",
           "twin_diagnosis"]

EVALUATION_SEED = 1
"""Seed of the twin's temporal noise in every evaluation (test and validation), so that
two epochs' accuracies differ by their weights only."""


@dataclass(frozen=True)
class YinYangTwinsConfig:
    """Parameters of the ``yinyang-twins`` experiment (docs/experiments/yinyang.md).

    Parameters
    ----------
    checkpoint
        Folder of a ``yinyang`` run (``checkpoint.pt``, ``best.pt``); None: train one into
        ``out_dir/yinyang`` with ``train_epochs`` epochs and the yinyang defaults.
    train_epochs
        Epochs of that training (only without ``checkpoint``).
    serials
        BrainScaleS-2 chip serials (each its own fixed pattern), >= 0.
    calibration_dir
        Folder of calibrations ``chip<serial>.json`` to use as they are (their own
        targets and capacitor: ``calibration_targets`` and ``membrane_capacitance`` then
        play no part); None: calibrate each chip here (kept in ``serial<k>/``).
    calibration_targets
        Where each chip is calibrated (without ``calibration_dir``): ``"network"`` at the
        network's own operating point (:func:`~neurotwin.experiments.twin_forward.
        operating_targets`: its potentials' CADC reads and its time constants, found by
        mapping it with a calibration at calix' defaults first; kept in
        ``serial<k>/calibration_network.json``), ``"calix"`` at calix' defaults.
    membrane_capacitance
        Membrane capacitor setting of both calibrations, 0..63 (default: calix' 63). A
        smaller capacitor needs less synaptic current for the same weight, so the mapping
        keeps the widest voltage window (about 155 mV from rest to threshold at 24
        instead of 66 mV at 63 for the yinyang weights), against which the chip's
        potential errors and its membrane noise are smaller; but calix' synaptic-strength
        protocol then drives some CADC reads into saturation (the twin warns), so it is
        not the default (docs/experiments/yinyang.md).
    test_samples
        Test samples (prefix of the published test split) of every accuracy.
    validation_samples
        Validation samples (prefix of the published validation split) on which each
        serial's fine-tuned epoch is selected: the epoch (0: the weights as deployed) with
        the best twin accuracy there is the one reported as "after"; 0: the last epoch.
    finetune_epochs
        Epochs of hardware-in-the-loop fine-tuning per serial (0: deployment only).
    finetune_samples
        Training samples per epoch (prefix of the published training split).
    batch_size
        Samples per twin run and optimiser step.
    learning_rate
        Adam step size of the fine-tuning at its first epoch, nA.
    lr_schedule, lr_decay
        Schedule of the step size over the epochs (:class:`~neurotwin.train.LoopConfig`):
        ``"exponential"`` times ``lr_decay`` per epoch (1: constant), ``"cosine"``
        annealed to near zero over ``finetune_epochs``.
    input_repetitions
        Synapse rows per input of the hidden layer
        (:func:`~neurotwin.experiments.twin_forward.repeat_inputs`): every input spike is
        sent on that many rows and each hidden weight is split over them, which widens the
        first layer's weight range to ``63 * input_repetitions`` LSB and averages the
        rows' driver errors; hxtorch's spiking Yin-Yang example sends each input 5 times on
        the chip (``input_repetitions=1 if args.mock else 5``). 1: one row per input.
    hidden_circuits
        Neuron circuits joined into each hidden neuron (the output neurons keep one): a
        hidden neuron of k circuits has k times the capacitance and conductances, its
        temporal membrane noise falls by sqrt(k) and its leak potential and time
        constant average over k circuits' deviations (threshold and reset are the first
        circuit's; :func:`~neurotwin.bss2.neuron.merge_compartments`); the chip's
        512 circuits must hold ``k * n_hidden + 3`` (a CapacityError names them otherwise).
        The chip is calibrated at the network's operating point with them.
    min_slope
        Floor of the membrane slope in the adjoint's spike jump, mV/ms: where the twin fired
        but the ideal membrane at that time would not be rising.
    dt
        Emulation step of the BrainScaleS-2 twin, ms of model time.
    s2_ticks
        SpiNNaker2 ticks to measure, ms (each a divisor of the yinyang ``t_max``); empty: none.
    resume
        Continue each serial's fine-tuning from its checkpoint.
    """

    checkpoint: str | None = None
    train_epochs: int = 60
    serials: tuple[int, ...] = (1, 2, 3, 4, 5)
    calibration_dir: str | None = None
    calibration_targets: Literal["network", "calix"] = "network"
    membrane_capacitance: int = specs.CALIX_TARGET_MEMBRANE_CAPACITANCE
    test_samples: int = 1000
    validation_samples: int = 500
    finetune_epochs: int = 5
    finetune_samples: int = 1000
    batch_size: int = 50
    learning_rate: float = 1e-3
    lr_schedule: Literal["exponential", "cosine"] = "exponential"
    lr_decay: float = 1.0
    input_repetitions: int = 1
    hidden_circuits: int = 1
    min_slope: float = 0.01
    dt: float = 0.01
    s2_ticks: tuple[float, ...] = (1.0, 0.5, 0.2, 0.1, 0.05, 0.01)
    resume: bool = False

    def __post_init__(self) -> None:
        check_int("train_epochs", self.train_epochs, low=1)
        if not self.serials:
            raise ConfigError("serials must name at least one chip serial")
        object.__setattr__(self, "serials", check_chip_fields(
            self.serials, self.calibration_targets, self.membrane_capacitance))
        check_int("test_samples", self.test_samples, low=1)
        check_int("validation_samples", self.validation_samples, low=0)
        check_int("finetune_epochs", self.finetune_epochs, low=0)
        check_int("finetune_samples", self.finetune_samples, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_positive("learning_rate", self.learning_rate, "nA")
        LoopConfig(epochs=self.finetune_epochs, batch_size=self.batch_size,
                   learning_rate=self.learning_rate, lr_decay=self.lr_decay,
                   lr_schedule=self.lr_schedule)
        check_int("input_repetitions", self.input_repetitions, low=1,
                  high=specs.SYNRAM_ROWS // (2 * yinyang.N_INPUTS))
        check_int("hidden_circuits", self.hidden_circuits, low=1)
        check_positive("min_slope", self.min_slope, "mV/ms", allow_zero=True)
        check_positive("dt", self.dt, "ms")
        for tick in self.s2_ticks:
            check_positive("s2 tick", tick, "ms")
        object.__setattr__(self, "s2_ticks", tuple(float(t) for t in self.s2_ticks))

    @property
    def circuits_per_neuron(self) -> dict[str, int] | None:
        """The mapping's circuits per neuron: ``hidden_circuits`` for the hidden layer."""
        return {"layer0": self.hidden_circuits} if self.hidden_circuits != 1 else None


def load_yinyang(folder: Path) -> tuple[yinyang.YinYangConfig, yinyang.YinYangNet]:
    """The configuration and selected weights of a ``yinyang`` run folder
    (:func:`~neurotwin.experiments.run_folder.load_run`).

    Raises
    ------
    DataError
        No checkpoint in ``folder``, or one made by another experiment (its configuration
        or weights are not those of a yinyang network).
    """
    return load_run(folder, "yinyang", yinyang.YinYangConfig,
                    lambda c: yinyang.YinYangNet(c, 0))


def hil_loss(model: yinyang.YinYangNet, batch: SpikeBatch, labels: torch.Tensor,
             config: yinyang.YinYangConfig, chip: Chip, calibration: Calibration | None,
             twins: YinYangTwinsConfig, seed: int) -> tuple[torch.Tensor, int]:
    """The training loss of one batch run on the BrainScaleS-2 twin, differentiable by
    the ideal model's EventProp at the twin's spike times; and the correct count."""
    params = config.neuron()
    weights = [model.hidden.weight, model.output.weight]
    run_ = bss2_layers(weights, params, batch, config.t_max, chip, calibration,
                       dt=twins.dt, seed=seed, input_repetitions=twins.input_repetitions,
                       circuits_per_neuron=twins.circuits_per_neuron)
    inputs = batch.to_torch()
    hidden = observed_lif_layer(inputs, model.hidden.weight, run_.layers[0], params,
                                config.t_max, min_slope=twins.min_slope)
    out = observed_lif_layer(hidden, model.output.weight, run_.layers[1], params,
                             config.t_max, min_slope=twins.min_slope)
    first = first_spike_times(out, yinyang.N_CLASSES)
    loss = yinyang.ttfs_loss(first, labels, config)
    if config.silent_pull > 0:
        loss = loss + config.silent_pull * silent_label_pull(
            hidden, model.output.weight, params, config.t_max, first, labels)
    return loss, int(np.sum(predict(first) == labels.numpy()))


def twin_diagnosis(model: yinyang.YinYangNet, batch: SpikeBatch, labels: np.ndarray,
                   config: yinyang.YinYangConfig, chip: Chip,
                   calibration: Calibration | None, twins: YinYangTwinsConfig,
                   *, seed: int = EVALUATION_SEED) -> dict[str, float]:
    """Accuracy of the network on the twin and where the wrong samples come from.

    Returns fractions of the samples: ``accuracy``; ``silent`` (no output neuron fires:
    counted wrong); ``late_label`` (the label's neuron fires, after another one);
    ``label_silent`` (another neuron fires, the label's does not); and per layer the mean
    spike count per neuron and sample (``hidden_rate``) and the fraction of hidden
    neurons that never fire on these samples (``hidden_silent``).
    """
    run_ = bss2_layers([model.hidden.weight, model.output.weight], config.neuron(), batch,
                       config.t_max, chip, calibration, dt=twins.dt, seed=seed,
                       input_repetitions=twins.input_repetitions,
                       circuits_per_neuron=twins.circuits_per_neuron)
    first = first_spike_times(run_.layers[-1], yinyang.N_CLASSES).numpy()
    guess = predict(first)
    wrong = guess != labels
    label_fired = np.isfinite(first[np.arange(len(labels)), labels])
    hidden = run_.layers[0]
    ids = np.asarray(hidden.ids)
    counts = np.bincount(ids[ids >= 0].ravel(), minlength=config.n_hidden)
    return {
        "accuracy": float(np.mean(~wrong)),
        "silent": float(np.mean(guess < 0)),
        "late_label": float(np.mean(wrong & (guess >= 0) & label_fired)),
        "label_silent": float(np.mean(wrong & (guess >= 0) & ~label_fired)),
        "hidden_rate": float(counts.sum() / (config.n_hidden * len(labels))),
        "hidden_silent": float(np.mean(counts == 0)),
    }


def _serial(serial: int, model0: yinyang.YinYangNet, config: yinyang.YinYangConfig,
            twins: YinYangTwinsConfig, data: dict[str, Any], out_dir: Path,
            progress: ProgressCallback | None) -> dict[str, Any]:
    """Deploy on one chip serial and fine-tune there; return its curves and the epoch
    selected on the twin's validation accuracy."""
    folder = out_dir / f"serial{serial}"
    chip = Chip(serial)
    cal = chip_calibration(chip, [model0.hidden.weight, model0.output.weight], config.neuron(),
                           folder, targets=twins.calibration_targets,
                           membrane_capacitance=twins.membrane_capacitance,
                           calibration_dir=twins.calibration_dir, dt=twins.dt,
                           circuits_per_neuron=twins.circuits_per_neuron,
                           input_repetitions=twins.input_repetitions)
    model = yinyang.YinYangNet(config, 0)
    model.load_state_dict(model0.state_dict())
    test, test_labels = data["test"], data["test_labels"]
    train, train_labels = data["train"], torch.as_tensor(data["train_labels"])

    def batch_step(indices: np.ndarray) -> tuple[torch.Tensor, int]:
        return hil_loss(model, train.take(indices), train_labels[indices], config, chip, cal,
                        twins, seed=int(indices[0]))

    def evaluate() -> dict[str, float]:
        found = twin_diagnosis(model, test, test_labels, config, chip, cal, twins)
        metrics = {f"twin_test_{k}": v for k, v in found.items()}
        metrics["ideal_test_accuracy"] = yinyang.accuracy(model, test, test_labels, config)
        if twins.validation_samples:
            metrics["twin_validation_accuracy"] = twin_diagnosis(
                model, data["validation"], data["validation_labels"], config, chip, cal,
                twins)["accuracy"]
        return metrics

    records = [evaluate()]
    resumed = 0
    if twins.finetune_epochs:
        loop = LoopConfig(epochs=twins.finetune_epochs, batch_size=twins.batch_size,
                          learning_rate=twins.learning_rate, lr_decay=twins.lr_decay,
                          lr_schedule=twins.lr_schedule, seed=serial)
        result = fit(model, len(train), batch_step, evaluate, loop, folder,
                     resume=twins.resume, progress=progress,
                     fingerprint={"serial": serial, **data["fingerprint"]},
                     select="twin_validation_accuracy" if twins.validation_samples else None)
        records += result.history
        resumed = result.resumed_from
    # the epoch (0: as deployed) with the best twin accuracy on validation samples, the
    # first of equals; without validation samples the last
    selected = (int(np.argmax([r["twin_validation_accuracy"] for r in records]))
                if twins.validation_samples else len(records) - 1)
    curve = [float(r["twin_test_accuracy"]) for r in records]
    # the selected weights on this run's test samples (those of the curve, unless a
    # resumed run was given more test samples than the epochs were evaluated on)
    if twins.validation_samples and selected:
        model.load_state_dict(load_best(folder)[1])
    elif not selected:
        model.load_state_dict(model0.state_dict())
    after = twin_diagnosis(model, test, test_labels, config, chip, cal, twins)
    return {
        "serial": serial,
        "twin_before": curve[0],
        "twin_after": after["accuracy"],
        "ideal_after": yinyang.accuracy(model, test, test_labels, config),
        "selected_epoch": selected,
        "twin_curve": curve,
        "twin_validation_curve": [float(r.get("twin_validation_accuracy", math.nan))
                                  for r in records],
        "ideal_curve": [float(r["ideal_test_accuracy"]) for r in records],
        "diagnosis_before": {k[10:]: float(v) for k, v in records[0].items()
                             if k.startswith("twin_test_")},
        "diagnosis_after": after,
        "calibration_serial": cal.serial,
        "resumed_from_epoch": resumed,
    }


def _curves(per_serial: list[dict[str, Any]], ideal: float, path: Path) -> None:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for r in per_serial:
        line, = ax.plot(100 * np.asarray(r["twin_curve"]), marker="o", ms=3,
                        label=f"chip {r['serial']} (twin)")
        ax.plot(100 * np.asarray(r["ideal_curve"]), ls=":", color=line.get_color())
        ax.plot(r["selected_epoch"], 100 * r["twin_after"], marker="*", ms=12,
                color=line.get_color(), ls="none")
    ax.axhline(100 * ideal, color="k", ls="--", label="ideal (before fine-tuning)")
    ax.set_xticks(range(max(len(r["twin_curve"]) for r in per_serial)))
    ax.set_xlabel("fine-tuning epoch (0: deployed as trained)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Yin-Yang on the BrainScaleS-2 twin: hardware-in-the-loop fine-tuning\n"
                 "solid: on the twin; dotted: the same weights on the ideal model;\n"
                 "star: the epoch selected on the twin's validation accuracy",
                 fontsize="medium")
    ax.legend(fontsize="small")
    plots.save(fig, path)


def _s2_study(model: yinyang.YinYangNet, config: yinyang.YinYangConfig,
              twins: YinYangTwinsConfig, data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for tick in twins.s2_ticks:
        check = deployment_check(
            [model.hidden.weight, model.output.weight], config.neuron(), data["test"],
            config.t_max, dt=tick, chunk=100, backend="spinnaker2", xtol=config.xtol,
            options={"tick_ms": tick, "weight_format": "int8"})
        out.append({"tick_ms": tick,
                    "accuracy": float(np.mean(check.stepped_classes == data["test_labels"])),
                    "agreement": check.agreement, "ties": check.ties,
                    "shift_ms": check.shift_ms, "wall_time_s": check.wall_time_s})
    return out


@register_experiment("yinyang-twins", YinYangTwinsConfig, runs_on="bss2 and spinnaker2")
def run(
    config: YinYangTwinsConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """The trained Yin-Yang network on the BrainScaleS-2 twin (per chip serial, before and
    after hardware-in-the-loop fine-tuning) and the SpiNNaker2 twin (accuracy per tick)."""
    if config.checkpoint is None:
        trained = out_dir / "yinyang"
        found = yinyang.run(yinyang.YinYangConfig(epochs=config.train_epochs,
                                                  resume=config.resume),
                            seed, "ideal", trained, None)
        # the network yinyang keeps and reports, which need not be restart 0's
        folder = yinyang.restart_folder(trained,
                                        found["per_seed"][str(seed)].get("kept_restart", 0))
    else:
        folder = Path(config.checkpoint)
    yy, model = load_yinyang(folder)
    check_ticks(config.s2_ticks, yy.t_max)
    splits = yinyang_splits(train_size=config.finetune_samples,
                            validation_size=max(config.validation_samples, 1),
                            test_size=config.test_samples)
    validation = splits.validation
    assert validation is not None  # yinyang_splits always has one
    data: dict[str, Any] = {
        "test": yinyang.encode(splits.test.inputs, yy), "test_labels": splits.test.labels,
        "validation": yinyang.encode(validation.inputs, yy),
        "validation_labels": validation.labels,
        "train": yinyang.encode(splits.train.inputs, yy), "train_labels": splits.train.labels,
        "fingerprint": {"yinyang": str(folder.resolve()), **{
            k: v for k, v in asdict(config).items()
            if k in ("finetune_samples", "validation_samples", "min_slope", "dt",
                     "calibration_targets", "membrane_capacitance")},
            # one row per input and one circuit per neuron is how every earlier
            # checkpoint ran: they stay resumable
            **{k: getattr(config, k) for k in ("input_repetitions", "hidden_circuits")
               if getattr(config, k) != 1}},
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data["ideal"] = yinyang.accuracy(model, data["test"], data["test_labels"], yy)
        per_serial = [_serial(s, model, yy, config, data, out_dir, progress)
                      for s in config.serials]
        s2 = _s2_study(model, yy, config, data) if config.s2_ticks else []
    finally:
        torch.set_num_threads(threads)
    _curves(per_serial, data["ideal"], out_dir / "hil_curves.png")
    before = [r["twin_before"] for r in per_serial]
    after = [r["twin_after"] for r in per_serial]
    return {
        "checkpoint": str(folder),
        "test_samples": config.test_samples,
        "validation_samples": config.validation_samples,
        "ideal_accuracy": data["ideal"],
        "bss2_before": mean_std(before),
        "bss2_after": mean_std(after),
        "gap_after_points": 100 * (data["ideal"] - float(np.mean(after))),
        "per_serial": {str(r["serial"]): r for r in per_serial},
        "s2_ticks": s2,
        "files": ["hil_curves.png"] + [f"serial{s}/checkpoint.pt" for s in config.serials],
    }
