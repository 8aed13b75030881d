"""``bss2-har``: human activity recognition from a smartwatch on the VMM mode, with 1-D
convolutions as hxtorch runs them.

Data: :func:`neurotwin.datasets.watch.watch_windows` (seglearn's watch data: 7 shoulder
exercises, 6 inertial channels at 50 Hz; recordings split 70/30 by class, windows of
2.56 s every 1.28 s). Each channel is standardised with the training windows' mean and
std and split into its positive and negative part, each mapped to the unsigned input
range: ``clamp(10 z, 0, 31)`` and ``clamp(-10 z, 0, 31)`` (12 input channels, zero at
rest: an offset of half the range would add a large common term to every dot product);
the float network sees the same values.

Network: ExpandedConv1d 12 -> 16 (kernel 8, stride 4; as many kernel copies as fit 128
rows: 12 x 8 = 96 rows leave room for one, so it runs as a plain Conv1d here),
ConvertingReLU (shift 1), Linear 496 -> 64, ConvertingReLU (shift 1), Linear 64 -> 7; no
biases, ``wait_between_events = 2``. The float reference is the same network in torch;
the VMM network starts from it, scaled per layer by :func:`~neurotwin.bss2.vmm.from_float`
(quantile 0.95), its columns are calibrated on the twin chip
(:func:`~neurotwin.bss2.vmm.nn.calibrate_columns`) and it is fine-tuned in the loop for 2
epochs towards the float network's outputs (Adam 0.03 LSB; the recipe chosen on
validation recordings of seeds 0-4 in docs/vmm.md). Stages and metrics:
:mod:`neurotwin.experiments.vmm_stages`; accuracy is per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from neurotwin.bss2 import specs, vmm
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.datasets.watch import (
    CLASSES,
    SAMPLE_RATE_HZ,
    watch_validation_windows,
    watch_windows,
)
from neurotwin.errors import ConfigError, check_int
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.vmm_stages import Data, Stages, check_stage_settings, run_stages

__all__ = ["HarConfig", "float_network", "run", "vmm_network"]

WINDOW = 128
"""Samples per window (2.56 s at 50 Hz)."""
HOP = 64
"""Samples between window starts."""
CHANNELS = 12
"""Accelerometer and gyroscope, 3 axes each, each split into positive and negative part."""
KERNEL, STRIDE, FILTERS, HIDDEN = 8, 4, 16, 64
"""Convolution kernel (samples), stride, filters; hidden units of the dense layer."""
FEATURES = FILTERS * ((WINDOW - KERNEL) // STRIDE + 1)
"""Outputs of the convolution: 16 filters x 31 positions."""
INPUT_SPREAD = 10.0
"""Input LSB per standard deviation of a channel (3.1 std reach 31)."""
WAIT_BETWEEN_EVENTS = 2
"""FPGA cycles between events (hxtorch's examples)."""


@dataclass(frozen=True)
class HarConfig:
    """Settings of ``bss2-har``: the fields of
    :class:`~neurotwin.experiments.bss2_mnist_vmm.MnistVmmConfig`, plus ``test_fraction``,
    the share of recordings held out, ``max_train``, the most training windows used
    (None: all), ``validation_fraction``: None trains on all training recordings and
    tests on the test recordings; a share in (0, 1) holds out that share of the training
    recordings (by recording, stratified by class, drawn with the run's seed) and reports
    every "test" accuracy on them instead, the test recordings unused (for choosing a
    recipe), and ``from_float_quantile``: the VMM network starts from the float one
    with scales from :func:`~neurotwin.bss2.vmm.from_float` at this quantile (None:
    hxtorch's initialisation, then ``mock_epochs`` on the mock; the recipe before
    docs/vmm.md's HAR table, with ``mock_epochs=30, hil_epochs=5``), and
    ``column_calibration``: measure every layer's column offsets and gains on the twin
    chip and correct them digitally before hardware in the loop
    (:func:`~neurotwin.bss2.vmm.nn.calibrate_columns`), and ``hil_targets``: what
    hardware in the loop fits, ``"labels"`` or ``"float"`` (the float network's outputs,
    :mod:`~neurotwin.experiments.vmm_stages`)."""

    test_fraction: float = 0.3
    validation_fraction: float | None = None
    max_train: int | None = None
    float_epochs: int = 30
    mock_epochs: int = 0
    hil_epochs: int = 2
    batch_size: int = 32
    float_learning_rate: float = 3e-3
    vmm_learning_rate: float = 1.0
    hil_learning_rate: float = 0.03
    lr_decay: float = 0.97
    chip_serial: int = 7
    resume: bool = False
    from_float_quantile: float | None = vmm.convert.DEFAULT_QUANTILE
    column_calibration: bool = True
    hil_targets: str = "float"

    def __post_init__(self) -> None:
        if self.max_train is not None:
            check_int("max_train", self.max_train, 1)
        f = self.validation_fraction
        if f is not None and not 0.0 < f < 1.0:
            raise ConfigError(f"validation_fraction must lie in (0, 1) or be None, got {f!r}")
        check_stage_settings(self)


def load_data(config: HarConfig, seed: int = 0) -> Data:
    """Windows mapped to the input range (module docstring), train and test (validation
    drawn with ``seed`` in place of test when ``config.validation_fraction`` is set)."""
    if config.validation_fraction is None:
        x_train, y_train, x_test, y_test = watch_windows(WINDOW, HOP, config.test_fraction)
    else:
        x_train, y_train, x_test, y_test = watch_validation_windows(
            WINDOW, HOP, config.test_fraction, config.validation_fraction,
            validation_seed=seed)
    x_train, y_train = x_train[:config.max_train], y_train[:config.max_train]
    mean = x_train.mean(axis=(0, 2), keepdims=True)
    std = x_train.std(axis=(0, 2), keepdims=True)

    def encode(x: Any) -> torch.Tensor:
        z = INPUT_SPREAD * torch.as_tensor((x - mean) / std)
        return torch.cat([z, -z], dim=1).clamp(0, specs.VMM_INPUT_MAX)

    return Data(encode(x_train), torch.as_tensor(y_train), encode(x_test),
                torch.as_tensor(y_test))


def float_network() -> torch.nn.Module:
    """The network in plain torch (float32)."""
    return torch.nn.Sequential(
        torch.nn.Conv1d(CHANNELS, FILTERS, KERNEL, stride=STRIDE, bias=False), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(FEATURES, HIDDEN, bias=False), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, len(CLASSES), bias=False))


def vmm_network(mock: vmm.MockParameter) -> torch.nn.Module:
    """The network on the VMM (module docstring), initialised for ``mock``'s gain."""
    wait = WAIT_BETWEEN_EVENTS
    return torch.nn.Sequential(
        vnn.ExpandedConv1d(CHANNELS, FILTERS, KERNEL, stride=STRIDE, bias=False,
                           wait_between_events=wait, mock=mock),
        vnn.ConvertingReLU(shift=1), torch.nn.Flatten(),
        vnn.Linear(FEATURES, HIDDEN, bias=False, wait_between_events=wait, mock=mock),
        vnn.ConvertingReLU(shift=1),
        vnn.Linear(HIDDEN, len(CLASSES), bias=False, wait_between_events=wait, mock=mock))


@register_experiment("bss2-har", HarConfig, runs_on="bss2 (VMM)")
def run(config: HarConfig, seed: int, backend: str, out_dir: Path,
        progress: ProgressCallback | None) -> dict[str, Any]:
    """Activity recognition (smartwatch, 1-D convolutions) on the VMM: float, mock and twin
    accuracy, with hardware-in-the-loop fine-tuning; time and energy per inference.

    Writes ``accuracy_per_target.png``, ``output_distribution.png`` and a checkpoint
    folder per stage (``float/``, ``mock/``, ``hil/``); ``backend`` is not used.
    """
    data = load_data(config, seed)
    torch.manual_seed(seed)
    stages = Stages(config.float_epochs, config.mock_epochs, config.hil_epochs,
                    config.batch_size, config.float_learning_rate, config.vmm_learning_rate,
                    config.hil_learning_rate, config.lr_decay, config.chip_serial,
                    config.resume, config.from_float_quantile, config.column_calibration,
                    config.hil_targets)
    metrics = run_stages(float_network(), vmm_network, data, stages, seed, out_dir, progress)
    return {"data": "seglearn watch", "classes": list(CLASSES),
            "window_s": WINDOW / SAMPLE_RATE_HZ, "seed": seed, **metrics}
