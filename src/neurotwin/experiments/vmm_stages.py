"""The stages every VMM experiment runs (hxtorch's workflow), and their plots.

1. **float**: the network in plain torch, trained and tested in float32;
2. **mock**: the VMM network, its mock parameters measured on the twin chip
   (:func:`~neurotwin.bss2.vmm.measure_mock_parameter`, as hxtorch measures a chip),
   initialised for the measured gain (hxtorch's) or, with ``Stages.from_float_quantile``,
   the float network's weights with a scale calibrated per layer
   (:func:`~neurotwin.bss2.vmm.from_float`, on :data:`CALIBRATION_SAMPLES` training
   inputs); trained on the mock; tested on the mock and, unchanged, on the twin; with
   ``Stages.column_calibration`` every layer's column offsets and gains are then
   measured on the twin and corrected (:func:`~neurotwin.bss2.vmm.nn.calibrate_columns`,
   a step a user can run on a chip; its cost in test vectors is in the metrics);
3. **hardware in the loop**: the mock-trained network fine-tuned with every forward pass
   on the twin and the straight-through gradient of the model; tested on the twin. The
   loss is the cross-entropy with the labels (hxtorch's), or, with
   ``Stages.hil_targets = "float"``, with the float network's output distribution
   (distillation: the twin is pulled towards the network it stands in for; the float
   logits ``f`` and the twin's ``t`` are matched in scale by the least-squares factor
   ``s = f.t / t.t`` on :data:`CALIBRATION_SAMPLES` training inputs, and the loss is
   ``-sum softmax(f) log_softmax(s t)``). On training data the network already fits,
   the labels' gradient carries little besides noise; the float outputs carry how
   confident each decision should be.

Each stage trains with :func:`neurotwin.train.fit` (Adam, cross-entropy on the raw
outputs as hxtorch's MNIST example, a checkpoint per epoch in ``out_dir/<stage>``,
resumable); the temporal noise of mock and twin is drawn from a generator seeded by the
run's seed (a resumed run continues with a fresh noise stream). The metrics name the
three accuracies ``float_accuracy``, ``mock_accuracy``, ``twin_accuracy`` (after the
hardware-in-the-loop stage) and ``twin_accuracy_mock_trained`` (before it, after the
column calibration if any; ``twin_accuracy_uncalibrated`` before that), and give the
schedule, hardware time, modelled overhead and chip energy per inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neurotwin.bss2 import vmm
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.errors import ConfigError, check_int, check_positive
from neurotwin.experiments.base import ProgressCallback
from neurotwin.train import LoopConfig, fit

__all__ = ["CALIBRATION_SAMPLES", "HIL_TARGETS", "Data", "Stages", "accuracy",
           "check_stage_settings",
           "layer_outputs", "run_stages"]

HIL_TARGETS = ("labels", "float")
"""What hardware in the loop fits: the labels, or the float network's outputs."""
CALIBRATION_SAMPLES = 1000
"""Training inputs whose outputs set the scales of :func:`~neurotwin.bss2.vmm.from_float`."""


def check_stage_settings(config: Any) -> None:
    """Check the training settings every VMM experiment's config shares: epochs per stage
    (float, mock, hardware in the loop; >= 0), batch size, chip serial, learning rates and
    their per-epoch decay (> 0), the ``from_float`` quantile, what hardware in the loop
    fits."""
    for name in ("float_epochs", "mock_epochs", "hil_epochs"):
        check_int(name, getattr(config, name), 0)
    check_int("batch_size", config.batch_size, 1)
    check_int("chip_serial", config.chip_serial, 0)
    for name in ("float_learning_rate", "vmm_learning_rate", "hil_learning_rate", "lr_decay"):
        check_positive(name, getattr(config, name))
    q = config.from_float_quantile
    if q is not None and not 0.0 < q <= 1.0:
        raise ConfigError(f"from_float_quantile must lie in (0, 1] or be None, got {q!r}")
    if config.hil_targets not in HIL_TARGETS:
        raise ConfigError(f"hil_targets must be one of {', '.join(HIL_TARGETS)}, got "
                          f"{config.hil_targets!r}")


@dataclass(frozen=True)
class Data:
    """Inputs (float tensors, the network's input shape) and labels of train and test."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass(frozen=True)
class Stages:
    """Epochs and optimiser settings of the three stages (learning rates in units of the
    parameters: float weights for the float net, weight LSB for the VMM nets);
    ``from_float_quantile``: None starts the VMM net from hxtorch's initialisation, a
    number from the float net converted at that quantile (module docstring);
    ``column_calibration``: measure and correct every layer's columns on the twin before
    hardware in the loop; ``hil_targets``: ``"labels"`` or ``"float"`` (module
    docstring)."""

    float_epochs: int
    mock_epochs: int
    hil_epochs: int
    batch_size: int
    float_learning_rate: float
    vmm_learning_rate: float
    hil_learning_rate: float
    lr_decay: float
    chip_serial: int
    resume: bool
    from_float_quantile: float | None = None
    column_calibration: bool = False
    hil_targets: str = "labels"

    def __post_init__(self) -> None:
        if self.hil_targets not in HIL_TARGETS:
            raise ConfigError(f"hil_targets must be one of {', '.join(HIL_TARGETS)}, got "
                              f"{self.hil_targets!r}")


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch: int = 500) -> float:
    """Fraction of ``x`` classified as ``y`` (argmax of the outputs), without gradients."""
    with torch.no_grad():
        correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                      for i in range(0, len(x), batch))
    return correct / len(x)


def layer_outputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Outputs (int8 values) of every VMM layer of ``model`` for inputs ``x``."""
    seen: dict[str, np.ndarray] = {}
    layers = set(vnn.model_sends(model))
    hooks = [m.register_forward_hook(
        lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().numpy().ravel()))
        for name, m in model.named_modules() if name in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _train(model: torch.nn.Module, data: Data, epochs: int, learning_rate: float,
           stages: Stages, seed: int, out_dir: Path, stage: str,
           progress: ProgressCallback | None,
           soft: tuple[torch.Tensor, float] | None = None) -> list[dict[str, Any]]:
    """Train one stage; ``soft``: (target distributions of all training inputs, logit
    scale) for the distillation loss, None for the labels' cross-entropy."""
    def batch_step(indices: np.ndarray) -> tuple[torch.Tensor, int]:
        idx = torch.as_tensor(indices)
        logits = model(data.x_train[idx])
        labels = data.y_train[idx]
        correct = int((logits.argmax(1) == labels).sum())
        if soft is None:
            return F.cross_entropy(logits, labels), correct
        targets, scale = soft
        loss = -(targets[idx] * F.log_softmax(scale * logits, dim=1)).sum(1).mean()
        return loss, correct

    def evaluate() -> dict[str, float]:
        return {"test_accuracy": accuracy(model, data.x_test, data.y_test)}

    loop = LoopConfig(epochs=epochs, batch_size=stages.batch_size, learning_rate=learning_rate,
                      lr_decay=stages.lr_decay, seed=seed)
    result = fit(model, len(data.x_train), batch_step, evaluate, loop, out_dir / stage,
                 resume=stages.resume, progress=progress,
                 fingerprint={"stage": stage, "model": repr(model),
                              "chip_serial": stages.chip_serial,
                              "column_calibration": stages.column_calibration,
                              "hil_targets": stages.hil_targets})
    return result.history


def _float_targets(float_model: torch.nn.Module, model: torch.nn.Module, data: Data
                   ) -> tuple[torch.Tensor, float]:
    """The float network's output distribution on every training input, and the factor
    that brings ``model``'s logits (LSB) to the float logits' scale (module docstring)."""
    with torch.no_grad():
        f = torch.cat([float_model(data.x_train[i:i + 500])
                       for i in range(0, len(data.x_train), 500)])
        t = model(data.x_train[:CALIBRATION_SAMPLES]).double()
    fc = f[:CALIBRATION_SAMPLES].double()
    scale = float((fc * t).sum() / (t * t).sum().clamp(min=1e-12))
    return F.softmax(f, dim=1), scale


def run_stages(float_model: torch.nn.Module,
               vmm_model: Callable[[vmm.MockParameter], torch.nn.Module], data: Data,
               stages: Stages, seed: int, out_dir: Path,
               progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Run the three stages (module docstring); write the plots; return the metrics.

    ``vmm_model(mock)`` builds the VMM network for the measured mock parameters (its
    layers initialise for their gain); both models are drawn after ``torch.manual_seed``
    of ``seed``. Runs with one torch thread (small tensor operations; restored after).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_stages(float_model, vmm_model, data, stages, seed, out_dir, progress)
    finally:
        torch.set_num_threads(threads)


def _run_stages(float_model: torch.nn.Module,
                vmm_model: Callable[[vmm.MockParameter], torch.nn.Module], data: Data,
                stages: Stages, seed: int, out_dir: Path,
                progress: ProgressCallback | None) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    twin = vmm.Twin.from_serials(stages.chip_serial)
    history: dict[str, list[dict[str, Any]]] = {}
    history["float"] = _train(float_model, data, stages.float_epochs,
                              stages.float_learning_rate, stages, seed, out_dir, "float",
                              progress)
    measured = vmm.measure_mock_parameter(twin, seed=seed)
    torch.manual_seed(seed)
    model = vmm_model(measured)
    vnn.set_target(model, measured, generator=gen)
    scales = [] if stages.from_float_quantile is None else vmm.from_float(
        float_model, model, data.x_train[:CALIBRATION_SAMPLES], stages.from_float_quantile)
    history["mock"] = _train(model, data, stages.mock_epochs, stages.vmm_learning_rate,
                             stages, seed, out_dir, "mock", progress)
    mock_acc = accuracy(model, data.x_test, data.y_test)
    schedule = vnn.set_target(model, twin, generator=gen)
    twin_uncalibrated = accuracy(model, data.x_test, data.y_test)
    calibrations = vnn.calibrate_columns(model, generator=gen) \
        if stages.column_calibration else {}
    twin_before = accuracy(model, data.x_test, data.y_test) if calibrations \
        else twin_uncalibrated
    soft = _float_targets(float_model, model, data) if stages.hil_targets == "float" \
        else None
    history["hil"] = _train(model, data, stages.hil_epochs, stages.hil_learning_rate,
                            stages, seed, out_dir, "hil", progress, soft)
    twin_after = accuracy(model, data.x_test, data.y_test)
    outputs = layer_outputs(model, data.x_test[:500])
    vnn.set_target(model, measured, generator=gen)
    mock_after = accuracy(model, data.x_test, data.y_test)
    accuracies = {"float": accuracy(float_model, data.x_test, data.y_test), "mock": mock_acc,
                  "twin (mock-trained)": twin_before, "twin (HIL)": twin_after,
                  "mock (after HIL)": mock_after}
    _plot(accuracies, outputs, out_dir)
    sends = vnn.model_sends(model)
    wait = next(m.wait_between_events for m in model.modules()
                if isinstance(m, vnn.MACLayer))
    single = vmm.inference_overhead(schedule, 1, sends, wait)
    batched = vmm.inference_overhead(schedule, len(data.x_test), sends, wait)
    return {
        "float_accuracy": accuracies["float"],
        "mock_accuracy": mock_acc,
        "twin_accuracy": twin_after,
        "twin_accuracy_mock_trained": twin_before,
        "twin_accuracy_uncalibrated": twin_uncalibrated,
        "column_calibration": {
            "vectors": sum(c.vectors for c in calibrations.values()),
            "configurations": sum(c.configurations for c in calibrations.values()),
            "gain_spread": {k: float(c.gain.std() / c.gain.mean())
                            for k, c in calibrations.items()},
            "offset_std_lsb": {k: float(c.offset.std()) for k, c in calibrations.items()}},
        "mock_accuracy_after_hil": mock_after,
        "hil_gain_points": 100 * (twin_after - twin_before),
        "twin_gap_to_float_points": 100 * (accuracies["float"] - twin_after),
        "measured_mock_parameter": {"gain": measured.gain, "noise_std": measured.noise_std},
        "vmm_init": "hxtorch" if stages.from_float_quantile is None else "float",
        "hil_targets": stages.hil_targets,
        "hil_logit_scale": None if soft is None else soft[1],
        "from_float": [asdict(s) for s in scales],
        "chip_serial": stages.chip_serial,
        "saturated_fraction": {k: float(np.mean((v <= -128) | (v >= 127)))
                               for k, v in outputs.items()},
        "saturated_top_fraction": {k: float(np.mean(v >= 127)) for k, v in outputs.items()},
        "num_sends": sends, "wait_between_events": wait,
        "schedule": {"blocks": len(schedule.blocks), "runs": schedule.runs,
                     "chips": schedule.chips, "table": schedule.table(sends, wait)},
        "hardware_time_per_inference_us": schedule.hardware_time_us(sends, wait),
        "chip_energy_per_inference_j": single.energy_j,
        "overhead_batch1_s": single.to_dict(),
        "overhead_test_batch_s": batched.to_dict(),
        "history": history,
        "train_samples": len(data.x_train), "test_samples": len(data.x_test),
    }


def _plot(accuracies: dict[str, float], outputs: dict[str, np.ndarray], out_dir: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(accuracies)
    ax.bar(names, [100 * accuracies[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(i, 100 * accuracies[n] + 0.5, f"{100 * accuracies[n]:.1f}", ha="center",
                fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_per_target.png", dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(outputs), figsize=(3.2 * len(outputs), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], outputs.items(), strict=True):
        ax.hist(values, bins=np.arange(-128.5, 128.5, 4.0), color="tab:gray")
        sat = np.mean((values <= -128) | (values >= 127))
        ax.set_title(f"{name}: {100 * sat:.1f} % saturated", fontsize=9)
        ax.set_xlabel("CADC output (LSB)")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out_dir / "output_distribution.png", dpi=120)
    plt.close(fig)
