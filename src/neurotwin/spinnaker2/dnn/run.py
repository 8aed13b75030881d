"""Running a placed int8 model on the twin: stage by stage, PE slice by PE slice.

    program = deploy(quantise(model, calibration))
    codes = run_dnn(program, quantise_input(program.model, images))    # == torch's int8 codes

Each PE computes its output channels from the whole stage input with its own weights
(:func:`.ops.mac_layer`), then the layers after the MAC layer on its channels; the stage
output is its PEs' outputs in channel order, which is what the next stage's PEs receive.
"""

from __future__ import annotations

import numpy as np

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.dnn.ops import apply, im2col, mac_layer
from neurotwin.spinnaker2.dnn.partition import DnnProgram, Stage

__all__ = ["run_dnn"]

BATCH = 256
"""Samples emulated together (memory of the im2col operand, not a hardware property)."""


def _stage(stage: Stage, x: np.ndarray) -> np.ndarray:
    for layer in stage.before:
        x = apply(layer, x)
    cols = im2col(stage.layer, x)
    parts = []
    for pe_slice in stage.slices:
        y = mac_layer(stage.layer, cols, slice(*pe_slice.outputs), stage.chunks)
        for layer in stage.after:
            y = apply(layer, y)
        parts.append(y)
    return np.concatenate(parts, axis=1)


def run_dnn(program: DnnProgram, codes: np.ndarray) -> np.ndarray:
    """Output codes of the twin for input codes.

    Parameters
    ----------
    program
        From :func:`.partition.deploy`.
    codes
        ``(N, *in_shape)`` uint8 input codes (:func:`.quantisation.quantise_input`).

    Returns
    -------
    ``(N, *out_shape)`` uint8 output codes (real values: ``program.model.dequantise``).

    Raises
    ------
    ConfigError
        Codes that are not uint8 of the model's input shape.
    """
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.shape[1:] != program.model.in_shape:
        raise ConfigError(f"input codes must be uint8 of shape (N, {program.model.in_shape}), "
                          f"got {codes.dtype} {codes.shape}")
    out = []
    for start in range(0, codes.shape[0], BATCH):
        x = codes[start:start + BATCH]
        for stage in program.stages:
            x = _stage(stage, x)
        out.append(x)
    return np.concatenate(out) if out else np.zeros((0, *program.model.out_shape), np.uint8)
