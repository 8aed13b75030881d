r"""EventProp on the Yin-Yang data set (Wunderlich & Pehle 2021, Fig. 3): a 5-200-3 network of
current-based LIF neurons trained on the time of the first output spike, then deployed on the
time-stepped backend.

*Network.* Inputs (x, y, 1 - x, 1 - y) of each sample are latency-encoded
(``t = t_early + value (t_late - t_early)``) and a bias source spikes at ``bias_time``:
5 sources. A hidden layer of 200 LIF neurons (any number of spikes) feeds 3 output LIF
neurons (first spike only); the class is the output neuron that fires first. Equations
(event engine, :mod:`neurotwin.engines.event`; ms, mV, nA, nF)::

    dv/dt = -v / tau_mem + i / cm,   di/dt = -i / tau_syn,   i += w at an input spike,
    v = v_thresh -> spike, v <- 0.

With ``cm = tau_mem`` (1 MOhm membrane resistance) a weight in nA equals the paper's
dimensionless-current weight W (their ``tau_m V' = -V + I``, I jumping by W), so the
paper's weight initialisation and learning rate carry over unchanged.

*Loss.* :func:`~neurotwin.eventprop.losses.ttfs_cross_entropy`:
``-log softmax(-t / tau_0)[label] + alpha (exp(t_label / tau_1) - 1)``, silent outputs at
``t_max``, plus ``silent_pull`` (v_thresh - V_max) of each sample's label neuron that stayed
silent (:func:`~neurotwin.eventprop.silent_label_pull`: without it a silent label neuron
has no gradient, a few percent of the samples end with every output silent, and training
can collapse into silence). *Training*: Adam, learning rate annealed over the epochs
(cosine by default), weight bumping of neurons silent over a batch
(:class:`~neurotwin.eventprop.WeightBump`) scaled by the same schedule, optionally a moving
average of the weights; a checkpoint per epoch (:mod:`neurotwin.train`).

*Deployment check* (:func:`~neurotwin.experiments.deployment.deployment_check`): the
trained weights run as an :class:`~neurotwin.network.Network` on a time-stepped backend
(dt = 0.01 ms); the predicted class (first output spike) is compared with the event-based
prediction, sample by sample.

Hyperparameters and their sources: docs/experiments/yinyang.md.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import nn

from neurotwin.datasets import latency_encode, yinyang_class, yinyang_samples, yinyang_splits
from neurotwin.datasets.splits import Splits
from neurotwin.datasets.yinyang import CLASS_NAMES, R_BIG
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError, check_device, check_int, check_multiple_of, check_positive
from neurotwin.eventprop import (
    LIFLayer,
    WeightBump,
    lif_layer,
    losses,
    silent_label_pull,
    silent_neurons,
)
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.deployment import deployment_check, forward_layers, predict
from neurotwin.experiments.latency_net import check_latency_net
from neurotwin.spikes import PAD_ID, SpikeBatch, Spikes, first_spike_times
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
    "YinYangConfig",
    "YinYangNet",
    "encode",
    "restart_folder",
    "restart_seed",
    "run",
    "ttfs_loss",
]

N_INPUTS = 5
"""x, y, 1 - x, 1 - y and the bias source."""
N_CLASSES = 3
HOLDOUT_SEED = 39
"""Seed of the selection holdout (``YinYangConfig.holdout_size``): none of the published
splits' 40-42 and below :data:`FRESH_SEED`."""
FRESH_SEED = 10_000
"""First seed of freshly generated training sets (``YinYangConfig.fresh_samples``), far
from the published splits' 40 (test), 41 (validation) and 42 (train)."""

NOT_TRAINING = frozenset(
    {"epochs", "resume", "seeds", "eval_batch_size", "decision_grid", "deploy_dt",
     "deploy_samples", "deploy_chunk", "select_best", "device", "holdout_size", "restarts"}
)
"""Config fields that do not change what training computes (a run may resume across them)."""

JITTER_SEED = 7_000_000
"""Offset of the seed of the gain-jitter draws (``gain_jitter``) from the run's seed."""

RESTART_SEED_BASE = 2**32
"""Restart r > 0 trains with a seed at or above this (:func:`restart_seed`), so its streams
never coincide with those of a run seed below it."""


@dataclass(frozen=True)
class YinYangConfig:
    """Parameters of the Yin-Yang experiment (sources: docs/experiments/yinyang.md).

    Parameters
    ----------
    train_size, validation_size, test_size
        Samples of the published splits used (5000 / 1000 / 1000 published): fewer take a
        prefix, more continue the split's generator stream past the published samples
        (:func:`~neurotwin.datasets.yinyang_splits`; a validation set of 5000 is the
        published 1000 and the next 4000 of seed 41).
    fresh_samples
        None: every epoch trains on the published training split. n: every epoch trains on
        n freshly generated samples instead (GeNN's EventProp protocol), epoch e of seed s
        drawn by ``yinyang_samples(n, FRESH_SEED + 1000 s + e)`` (reproducible, so resume
        stays exact; never the seeds 40-42 of the published splits); the published
        validation and test sets stay.
    n_hidden
        Hidden LIF neurons.
    tau_mem, tau_syn
        Membrane and synaptic time constants, ms.
    v_thresh
        Threshold above rest, mV (reset to rest).
    cm
        Membrane capacitance, nF; ``cm = tau_mem`` makes weights in nA the paper's W.
    t_early, t_late
        Spike times of input value 0 and 1, ms.
    bias_time
        Spike time of the bias source, ms.
    t_max
        End of each simulated sample, ms; silent outputs count as firing at t_max.
    hidden_weight_mean, hidden_weight_std, output_weight_mean, output_weight_std
        Initial weights ~ N(mean, std^2), nA.
    tau_0, tau_1, alpha
        Loss constants (ms, ms, dimensionless).
    learning_rate, batch_size, epochs
        Adam step size at epoch 0 (nA), samples per step, passes over the data.
    lr_schedule, lr_decay
        Learning-rate schedule (:class:`~neurotwin.train.LoopConfig`): ``"cosine"`` anneals
        it to near zero over ``epochs``; ``"exponential"`` multiplies it by ``lr_decay``
        after every epoch (``lr_decay`` is unused with ``"cosine"``).
    ema_decay
        Factor per step of the exponential moving average of the weights that is evaluated,
        selected and deployed (:class:`~neurotwin.train.LoopConfig`); None: the raw weights.
    weight_bump
        Increment of the input weights of a neuron silent over a batch, nA, at the initial
        learning rate; None: off.
    bump_follows_lr
        Scale ``weight_bump`` by the learning-rate schedule (``lr / learning_rate``), so
        that it anneals with the optimiser's steps; False: constant.
    silent_pull
        Weight (1/mV) of the V_max pull on silent label neurons added to the loss
        (:func:`~neurotwin.eventprop.silent_label_pull`); 0: off.
    xtol
        Spike-time tolerance of the event engine, ms.
    eval_batch_size
        Samples per forward pass when evaluating.
    decision_grid
        Points per side of the decision map over the input square.
    deploy_dt
        Time step of the deployment check, ms.
    deploy_samples
        Test samples in the deployment check (None: all).
    deploy_chunk
        Samples simulated side by side (as separate populations) per backend run.
    gain_jitter
        0: off. s > 0: every training batch runs with the weights onto each neuron and out
        of each source scaled by independent log-normal factors ``exp(s xi)`` drawn
        afresh (:func:`jittered_forward`), so that the network learns margins against the
        per-neuron and per-row gain and threshold deviations of an analog chip
        (BrainScaleS-2's residuals after calibration: docs/experiments/yinyang.md); the
        evaluation uses the plain weights.
    restarts
        Initialisations per seed (>= 1), each trained with the full schedule; the one whose
        selected epoch has the best validation accuracy is kept (ties: the lower restart)
        and reported, plotted and deployed. Restart 0 is the run with ``restarts`` 1
        (same streams, same folder: a finished run resumed with more restarts trains only
        the new ones); restart r > 0 trains with :func:`restart_seed` ``(seed, r)`` into
        ``restart<r>/`` inside the seed's folder.
    holdout_size
        0: off. n: also report the accuracy of the selected and of the last epoch's weights
        on ``yinyang_samples(n, HOLDOUT_SEED)``, a "selection holdout" that plays no part in
        training or selection, for choosing between recipes without the test set
        (docs/experiments/yinyang.md).
    device
        Torch device of training and evaluation: "cpu" (the compiled float64 kernels) or
        "cuda" / "cuda:k" (the torch event loop, float64). Both compute the same spikes
        and gradients to rounding, so a run may resume on another device.
    seeds
        Train one network per seed (into ``out_dir/seed<k>/``) and report mean and std;
        None: the run's seed only, into ``out_dir``.
    resume
        Continue from the checkpoint in the output folder, if there is one.
    select_best
        Report, plot and deploy the weights of the epoch with the best validation accuracy
        (kept in ``best.pt``; the test set plays no part in the choice); False: those of the
        last epoch. The last epoch's test accuracy is reported either way.
    """

    train_size: int = 5000
    validation_size: int = 5000
    test_size: int = 1000
    n_hidden: int = 200
    tau_mem: float = 20.0
    tau_syn: float = 5.0
    v_thresh: float = 1.0
    cm: float = 20.0
    t_early: float = 0.0
    t_late: float = 30.0
    bias_time: float = 0.0
    t_max: float = 30.0
    hidden_weight_mean: float = 1.5
    hidden_weight_std: float = 0.78
    output_weight_mean: float = 0.93
    output_weight_std: float = 0.1
    tau_0: float = 0.5
    tau_1: float = 6.4
    alpha: float = 3e-3
    learning_rate: float = 5e-3
    lr_decay: float = 0.9
    lr_schedule: Literal["exponential", "cosine"] = "cosine"
    batch_size: int = 32
    epochs: int = 60
    ema_decay: float | None = None
    fresh_samples: int | None = None
    weight_bump: float | None = 1e-2
    bump_follows_lr: bool = True
    silent_pull: float = 100.0
    xtol: float = 1e-10
    eval_batch_size: int = 500
    decision_grid: int = 60
    deploy_dt: float = 0.01
    deploy_samples: int | None = None
    deploy_chunk: int = 100
    seeds: tuple[int, ...] | None = None
    resume: bool = False
    select_best: bool = True
    holdout_size: int = 0
    restarts: int = 3
    gain_jitter: float = 0.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_int("train_size", self.train_size, low=1)
        if self.fresh_samples is not None:
            check_int("fresh_samples", self.fresh_samples, low=1)
        check_int("test_size", self.test_size, low=1)
        check_int("decision_grid", self.decision_grid, low=2)
        check_int("deploy_chunk", self.deploy_chunk, low=1)
        check_int("holdout_size", self.holdout_size, low=0)
        check_int("restarts", self.restarts, low=1)
        if self.deploy_samples is not None:
            check_int("deploy_samples", self.deploy_samples, low=0)
        object.__setattr__(self, "seeds", check_latency_net(self))
        if self.restarts > 1 and self.validation_size == 0:
            raise ConfigError(f"restarts = {self.restarts} keeps the restart with the best "
                              "validation accuracy: validation_size must be >= 1, got 0")
        for name in ("tau_0", "tau_1", "deploy_dt"):
            check_positive(name, getattr(self, name))
        for name in ("bias_time", "alpha", "silent_pull", "gain_jitter"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must lie in (0, 1) or be null, got {self.ema_decay!r}")
        check_multiple_of("t_max", self.t_max, self.deploy_dt)

    def neuron(self) -> EventLIF:
        """The neuron parameters of both layers."""
        return EventLIF(
            tau_mem=self.tau_mem, tau_syn=self.tau_syn, v_thresh=self.v_thresh, cm=self.cm
        )


class YinYangNet(nn.Module):
    """Hidden and output :class:`~neurotwin.eventprop.LIFLayer` (float64).

    Parameters
    ----------
    config
        Sizes, neuron parameters, initial weight distributions.
    seed
        Seed of the initial weights (hidden layer ``2 seed``, output ``2 seed + 1``).
    """

    def __init__(self, config: YinYangConfig, seed: int) -> None:
        super().__init__()
        p = config.neuron()
        self.hidden = LIFLayer(
            N_INPUTS, config.n_hidden, p, config.t_max, xtol=config.xtol,
            weight_mean=config.hidden_weight_mean, weight_std=config.hidden_weight_std,
            seed=2 * seed,
        )
        self.output = LIFLayer(
            config.n_hidden, N_CLASSES, p, config.t_max, max_spikes=1, xtol=config.xtol,
            weight_mean=config.output_weight_mean, weight_std=config.output_weight_std,
            seed=2 * seed + 1,
        )

    def forward(self, spikes: Spikes) -> tuple[Spikes, Spikes]:
        """Hidden and output spikes (B, K) of input spikes; times differentiable."""
        hidden = self.hidden(spikes)
        return hidden, self.output(hidden)


def jittered_forward(
    model: YinYangNet, spikes: Spikes, spread: float, generator: torch.Generator
) -> tuple[Spikes, Spikes, torch.Tensor]:
    """Hidden and output spikes (B, K) with every weight ``w_ij`` scaled by
    ``exp(spread (xi_i + zeta_j))``: one standard normal ``xi`` per source row (a synapse
    driver's strength on a chip) and one ``zeta`` per target neuron (its synaptic gain,
    or equivalently its threshold), drawn from ``generator``; times differentiable with
    respect to the unscaled weights. Also returns the output layer's scaled weights.
    """
    scaled: list[torch.Tensor] = []
    for layer in (model.hidden, model.output):
        weight = layer.weight
        rows = torch.randn(weight.shape[0], 1, generator=generator, dtype=weight.dtype)
        cols = torch.randn(1, weight.shape[1], generator=generator, dtype=weight.dtype)
        scaled.append(weight * torch.exp(spread * (rows + cols)).to(weight.device))
    out = [spikes]
    for layer, w in zip((model.hidden, model.output), scaled, strict=True):
        out.append(lif_layer(out[-1].times, out[-1].ids, w, layer.params, layer.t_max,
                             max_spikes=layer.max_spikes, delay=layer.delay,
                             xtol=layer.xtol, min_slope=layer.min_slope))
    return out[1], out[2], scaled[1]


def encode(inputs: np.ndarray, config: YinYangConfig) -> SpikeBatch:
    """Latency code of Yin-Yang samples (n, 4) plus the bias source: (n, 5) spikes."""
    return latency_encode(
        inputs, config.t_early, config.t_late, bias_time=config.bias_time
    )


def ttfs_loss(first: torch.Tensor, labels: torch.Tensor, config: YinYangConfig) -> torch.Tensor:
    """The training loss: TTFS cross-entropy with the config's constants (batch mean)."""
    return losses.ttfs_cross_entropy(
        first, labels, tau_0=config.tau_0, tau_1=config.tau_1, alpha=config.alpha,
        t_silent=config.t_max,
    )


def first_times(
    model: YinYangNet, batch: SpikeBatch, config: YinYangConfig
) -> np.ndarray:
    """First output spike times (n, 3), ms, of a batch, evaluated in chunks; +inf: silent."""
    weights = [model.hidden.weight, model.output.weight]
    parts = []
    for start in range(0, len(batch), config.eval_batch_size):
        chunk = batch.take(slice(start, start + config.eval_batch_size))
        out = forward_layers(weights, config.neuron(), chunk, config.t_max, config.xtol)[-1]
        parts.append(first_spike_times(out, N_CLASSES).cpu().numpy())
    return np.concatenate(parts) if parts else np.empty((0, N_CLASSES))


def accuracy(model: YinYangNet, batch: SpikeBatch, labels: np.ndarray,
             config: YinYangConfig) -> float:
    """Fraction of samples whose first output spike is the label's (silent: wrong)."""
    if not len(batch):
        return math.nan
    return float(np.mean(predict(first_times(model, batch, config)) == labels))


def decision_map(
    model: YinYangNet, config: YinYangConfig, path: Path | None = None
) -> tuple[Figure, float]:
    """Classify a ``decision_grid`` x ``decision_grid`` grid over the input square.

    Returns the figure (predicted class as colour, true class boundaries as black lines,
    the sign's outline) and the fraction of grid points inside the sign classified as
    their true class.
    """
    n = config.decision_grid
    side = np.linspace(0.0, 2.0 * R_BIG, n)
    gx, gy = np.meshgrid(side, side)
    xs, ys = gx.ravel(), gy.ravel()
    inputs = np.stack([xs, ys, 1.0 - xs, 1.0 - ys], axis=1)
    pred = predict(first_times(model, encode(inputs, config), config)).reshape(n, n)
    truth = yinyang_class(gx, gy)
    inside = truth >= 0
    agree = float(np.mean(pred[inside] == truth[inside])) if inside.any() else math.nan
    fig = Figure(figsize=(5.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    class_colours = ["tab:red", "tab:green", "tab:blue"]
    colours = ListedColormap(["0.85", *class_colours])
    ax.imshow(pred + 1, origin="lower", extent=(0.0, 2 * R_BIG, 0.0, 2 * R_BIG),
              cmap=colours, vmin=-0.5, vmax=3.5, interpolation="nearest", alpha=0.8)
    ax.contour(gx, gy, np.where(inside, truth, np.nan), levels=[0.5, 1.5], colors="k",
               linewidths=0.8)
    ax.add_patch(_circle())
    handles = [ax.scatter([], [], color=c, marker="s", label=f"{k}: {name}")
               for k, (c, name) in enumerate(zip(class_colours, CLASS_NAMES, strict=True))]
    ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.9)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Decision map ({n}x{n}); inside the sign {100 * agree:.1f} % correct",
                 fontsize="medium")
    if path is not None:
        plots.save(fig, path)
    return fig, agree


def _circle() -> Any:
    from matplotlib.patches import Circle

    return Circle((R_BIG, R_BIG), R_BIG, fill=False, color="k", linewidth=0.8)


def _raster(model: YinYangNet, batch: SpikeBatch, label: int, config: YinYangConfig,
            path: Path) -> None:
    hidden, out = forward_layers(
        [model.hidden.weight, model.output.weight], config.neuron(), batch.take([0]),
        config.t_max, config.xtol,
    )

    def arrays(s: Spikes) -> tuple[np.ndarray, np.ndarray]:
        real = s.ids[0] != PAD_ID
        return s.times[0][real].cpu().numpy(), s.ids[0][real].cpu().numpy()

    first = first_spike_times(out, N_CLASSES)
    sample_raster(
        {"output": arrays(out), "hidden": arrays(hidden)},
        {"output": N_CLASSES, "hidden": config.n_hidden},
        config.t_max,
        path,
        title=f"Test sample 0 (label {label}, predicted {int(predict(first)[0])})",
    )


def restart_seed(seed: int, restart: int) -> int:
    """The seed restart ``restart`` of run seed ``seed`` trains with (initial weights,
    shuffling, gain jitter, fresh samples): ``seed`` itself for restart 0, so that
    ``restarts`` 1 and restart 0 are one run; for r > 0 :data:`RESTART_SEED_BASE` plus a
    32-bit word of ``numpy.random.SeedSequence((seed, r))``, a stream of its own."""
    if restart == 0:
        return seed
    word = np.random.SeedSequence((seed, restart)).generate_state(1, np.uint32)[0]
    return RESTART_SEED_BASE + int(word)


def restart_folder(seed_folder: Path, restart: int) -> Path:
    """Where restart ``restart`` of a seed trains: the seed's folder itself for restart 0
    (so that it is the ``restarts`` 1 run), ``restart<r>/`` inside it otherwise."""
    return seed_folder / f"restart{restart}" if restart else seed_folder


def _train_network(
    config: YinYangConfig,
    seed: int,
    splits: Splits,
    out_dir: Path,
    progress: ProgressCallback | None,
    name: str,
) -> tuple[YinYangNet, dict[str, Any]]:
    """Train one network with ``seed`` into ``out_dir``; return it with its selected
    weights and its training metrics (selected epoch, validation, test, holdout).
    ``name`` (run seed and restart) titles its learning curves."""
    val_samples = splits.validation
    assert val_samples is not None  # yinyang_splits always has one
    validation = encode(val_samples.inputs, config)
    test = encode(splits.test.inputs, config)
    device = check_device(config.device)
    model = YinYangNet(config, seed).to(device)
    bump = WeightBump(config.weight_bump) if config.weight_bump is not None else None
    last: dict[str, Spikes] = {}

    def training_set(epoch: int) -> tuple[SpikeBatch, torch.Tensor]:
        """The epoch's training samples: the published split, or freshly drawn ones."""
        if config.fresh_samples is None:
            return encode(splits.train.inputs, config), torch.as_tensor(splits.train.labels)
        fresh = yinyang_samples(config.fresh_samples, FRESH_SEED + 1000 * seed + epoch)
        return encode(fresh.inputs, config), torch.as_tensor(fresh.labels)

    train, train_labels = training_set(0)

    def on_epoch(epoch: int, learning_rate: float) -> None:
        nonlocal bump, train, train_labels
        if config.fresh_samples is not None and epoch > 0:
            train, train_labels = training_set(epoch)
        if config.weight_bump is not None and config.bump_follows_lr:
            # a fixed bump outweighs the annealed optimiser steps in the last epochs and
            # pushes the weights off the optimum found so far
            bump = WeightBump(config.weight_bump * learning_rate / config.learning_rate)

    jitter = torch.Generator().manual_seed(JITTER_SEED + seed)

    def batch_step(indices: np.ndarray) -> tuple[torch.Tensor, int]:
        spikes = train.take(indices).to_torch(device)
        if config.gain_jitter > 0:
            hidden, out, w_out = jittered_forward(model, spikes, config.gain_jitter, jitter)
        else:
            hidden, out = model(spikes)
            w_out = model.output.weight
        first = first_spike_times(out, N_CLASSES)
        labels = train_labels[indices]
        last["hidden"], last["output"] = hidden, out
        correct = int(np.sum(predict(first) == labels.numpy()))
        loss = ttfs_loss(first, labels, config)
        if config.silent_pull > 0:
            loss = loss + config.silent_pull * silent_label_pull(
                hidden, w_out, config.neuron(), config.t_max, first, labels
            )
        return loss, correct

    def after_step() -> dict[str, float]:
        if bump is None:
            return {}
        return {
            "bumped_hidden": bump.apply_(
                model.hidden.weight, silent_neurons(last["hidden"], config.n_hidden)
            ),
            "bumped_output": bump.apply_(
                model.output.weight, silent_neurons(last["output"], N_CLASSES)
            ),
        }

    def evaluate() -> dict[str, float]:
        return {
            "validation_accuracy": accuracy(model, validation, val_samples.labels, config),
            "test_accuracy": accuracy(model, test, splits.test.labels, config),
        }

    loop = LoopConfig(
        epochs=config.epochs, batch_size=config.batch_size,
        learning_rate=config.learning_rate, lr_decay=config.lr_decay, seed=seed,
        ema_decay=config.ema_decay, lr_schedule=config.lr_schedule,
    )
    fingerprint = {k: v for k, v in asdict(config).items() if k not in NOT_TRAINING}
    if not config.gain_jitter:  # runs from before the option resume unchanged
        del fingerprint["gain_jitter"]
    result = fit(
        model, len(train), batch_step, evaluate, loop, out_dir, resume=config.resume,
        after_step=after_step, on_epoch=on_epoch, progress=progress,
        fingerprint={"seed": seed, **fingerprint}, select="validation_accuracy",
    )
    history = result.history
    if history:
        learning_curves(history, out_dir / "learning_curves.png",
                        title=f"Yin-Yang, EventProp, {name}")
    holdout: dict[str, float] = {}
    if config.holdout_size:
        samples = yinyang_samples(config.holdout_size, HOLDOUT_SEED)
        held = encode(samples.inputs, config)
        holdout["last_epoch_holdout_accuracy"] = accuracy(model, held, samples.labels, config)
    selected = len(history)
    if config.select_best and history:
        selected, state = load_best(out_dir)
        model.load_state_dict(state)
    final = evaluate() if not history else {
        k: history[selected - 1][k] for k in ("validation_accuracy", "test_accuracy")
    }
    if config.holdout_size:
        holdout["holdout_accuracy"] = accuracy(model, held, samples.labels, config)
    return model, {
        "epochs": len(history),
        "resumed_from_epoch": result.resumed_from,
        "train_accuracy": history[-1]["train_accuracy"] if history else math.nan,
        "validation_accuracy": final["validation_accuracy"],
        "test_accuracy": final["test_accuracy"],
        "selected_epoch": selected,
        "last_epoch_test_accuracy": history[-1]["test_accuracy"] if history else math.nan,
        "epoch_time_s": [float(r["train_time_s"]) for r in history],
        **holdout,
    }


def _train_seed(
    config: YinYangConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Train ``config.restarts`` networks, keep the best on validation, then evaluate, plot
    and deploy it; return its metrics (and, with restarts, every restart's)."""
    splits = yinyang_splits(
        train_size=config.train_size, validation_size=config.validation_size,
        test_size=config.test_size,
    )
    k = config.restarts
    trained = [
        _train_network(config, restart_seed(seed, r), splits, restart_folder(out_dir, r),
                       progress_part(progress, r, k),
                       f"seed {seed}" + (f", restart {r}" if k > 1 else ""))
        for r in range(k)
    ]
    scores = [record["validation_accuracy"] for _, record in trained]
    kept = scores.index(max(scores))  # the first of equals: ties go to the lower restart
    model, record = trained[kept]
    test = encode(splits.test.inputs, config)
    _raster(model, test, int(splits.test.labels[0]), config, out_dir / "raster.png")
    _, map_agreement = decision_map(model, config, out_dir / "decision_map.png")
    n_deploy = len(test) if config.deploy_samples is None else min(config.deploy_samples,
                                                                   len(test))
    deploy = deployment_check(
        [model.hidden.weight, model.output.weight], config.neuron(),
        test.take(slice(0, n_deploy)), config.t_max, dt=config.deploy_dt,
        chunk=config.deploy_chunk, backend=backend, seed=seed, xtol=config.xtol,
    )
    restarts: dict[str, Any] = {} if k == 1 else {
        "kept_restart": kept,
        "restarts": [{"restart": r, "training_seed": restart_seed(seed, r), **rec}
                     for r, (_, rec) in enumerate(trained)],
    }
    return {
        "seed": seed,
        **record,
        "epoch_time_s": [t for _, rec in trained for t in rec["epoch_time_s"]],
        "decision_map_accuracy": map_agreement,
        "deployment": deploy.summary(),
        **restarts,
    }


@register_experiment("yinyang", YinYangConfig)
def run(
    config: YinYangConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """EventProp on Yin-Yang (5-200-3, TTFS loss), deployed on a time-stepped backend.

    Trains one network per seed (``config.seeds``, else ``seed``) with a checkpoint per
    epoch, writes ``learning_curves.png``, ``raster.png`` and ``decision_map.png`` (per seed
    folder when ``config.seeds`` is given), runs :func:`deployment_check` on ``backend`` and
    returns train/validation/test accuracy (mean, std, per seed), epoch times and the
    deployment agreement.
    """
    seeds = config.seeds if config.seeds is not None else (seed,)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the event engine is a Python loop of small tensor ops
    try:
        per_seed = []
        for k, s in enumerate(seeds):
            folder = out_dir / f"seed{s}" if config.seeds is not None else out_dir
            per_seed.append(
                _train_seed(config, s, backend, folder, progress_part(progress, k, len(seeds)))
            )
    finally:
        torch.set_num_threads(threads)
    epoch_times = [t for r in per_seed for t in r["epoch_time_s"]]
    folders = [f"seed{s}/" for s in seeds] if config.seeds is not None else [""]
    trained = folders + [f"{d}restart{r}/" for d in folders for r in range(1, config.restarts)]
    return {
        "seeds": list(seeds),
        "test_accuracy": mean_std([r["test_accuracy"] for r in per_seed]),
        "last_epoch_test_accuracy": mean_std(
            [r["last_epoch_test_accuracy"] for r in per_seed]
        ),
        "validation_accuracy": mean_std([r["validation_accuracy"] for r in per_seed]),
        "train_accuracy": mean_std([r["train_accuracy"] for r in per_seed]),
        "deployment_agreement": mean_std([r["deployment"]["agreement"] for r in per_seed]),
        **{key: mean_std([r[key] for r in per_seed]) for key in
           ("holdout_accuracy", "last_epoch_holdout_accuracy") if config.holdout_size},
        "epoch_time_s": statistics.fmean(epoch_times) if epoch_times else math.nan,
        "per_seed": {str(r["seed"]): r for r in per_seed},
        "files": [f"{d}{name}" for d in folders for name in ("raster.png", "decision_map.png")]
        + [f"{d}{name}" for d in trained for name in
           ("learning_curves.png", "checkpoint.pt", "best.pt", "history.json")],
    }
