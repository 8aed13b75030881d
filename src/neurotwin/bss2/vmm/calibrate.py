r"""Per-column calibration of a VMM layer, measured on its target and applied digitally.

What a user can do on a real chip after hxtorch's (calix's) hagen-mode calibration: write
test matrices on the synapse arrays a layer occupies, send known vectors, read the CADC,
and correct the layer from then on without touching the analog settings:

* **offset** per column: the read of zero input (all weights 0), averaged over
  ``repeats`` vectors; subtracted from every output with the SIMD processors' saturating
  int8 ``add`` (rounded to whole LSB);
* **gain** per row block, sign and column: the read of a block whose weights are all
  ``+w0`` (excitatory rows) or all ``-w0`` (inhibitory rows), every row of the block at
  input ``v``, minus the offset, over the design value
  ``num_sends * gain * v * w0 * rows``; the gains are equalised by scaling every weight by
  ``median(gain) / gain[block, sign, column]`` before it is written (the chip's overall
  gain, which the mock measured, stays), clamped to -63..63 and rounded as always.

``v`` and ``w0`` are chosen for a design read of :data:`PROBE_READ_LSB` per block (well
below the int8 clamp and the synaptic input saturation). Per-synapse and per-driver
deviations average over the block's rows in this measurement and are left to training
(hardware in the loop). Cost: ``1 + 2 * row blocks`` configurations of the layer's
arrays with ``repeats`` vectors each (:attr:`ColumnCalibration.vectors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm.ops import add, matmul
from neurotwin.bss2.vmm.partition import row_slices
from neurotwin.bss2.vmm.target import VmmTarget
from neurotwin.errors import ConfigError, check_int

__all__ = ["DEFAULT_REPEATS", "PROBE_READ_LSB", "ColumnCalibration", "measure_columns"]

PROBE_READ_LSB = 60.0
"""Design read (LSB) of one block in the gain measurement: the range a hidden layer's
outputs use (62 LSB reach the top of the next input), below the int8 clamp; the twin's
synaptic input saturation (160 LSB at a wait of 2 cycles) compresses it by ~6 %."""
DEFAULT_REPEATS = 100
"""Vectors per test configuration: the read noise (2 LSB per block) of a 4-block matrix
averages to 0.4 LSB. The excitatory and inhibitory partial sums of a column are each
much larger than their difference, so their gains must be known to ~1 %."""


@dataclass(frozen=True, eq=False)
class ColumnCalibration:
    """Measured per-column corrections of one matrix on one target (module docstring).

    Parameters
    ----------
    gain
        Shape (row blocks, 2, columns): measured over design gain of each block's
        excitatory (0) and inhibitory (1) rows per column.
    offset
        Shape (columns,): read of zero input, LSB (all row blocks summed).
    vectors
        Vectors sent to measure it.
    configurations
        Test matrices written to the layer's arrays (one run each).
    """

    gain: torch.Tensor
    offset: torch.Tensor
    vectors: int
    configurations: int

    def weight_factor(self, matrix: torch.Tensor) -> torch.Tensor:
        """Factor per entry of ``matrix`` (rows, columns) that equalises the gains."""
        rows = row_slices(matrix.shape[0])
        if matrix.shape[1] != self.gain.shape[2] or len(rows) != self.gain.shape[0]:
            raise ConfigError(f"calibration of {self.gain.shape[0]} row blocks x "
                              f"{self.gain.shape[2]} columns does not fit a matrix of shape "
                              f"{tuple(matrix.shape)}")
        reference = torch.median(self.gain)
        factor = torch.empty(matrix.shape, dtype=self.gain.dtype)
        for b, rs in enumerate(rows):
            positive = matrix[rs] >= 0
            factor[rs] = torch.where(positive, reference / self.gain[b, 0],
                                     reference / self.gain[b, 1])
        return factor.to(matrix.dtype)

    def corrected_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """``weight`` (out, ...; the matrix is ``weight.flatten(1).t()``) with the gains
        equalised, clamped to -63..63 (the factor carries no gradient)."""
        matrix = weight.flatten(1).t()
        with torch.no_grad():
            factor = self.weight_factor(matrix.detach()).t().reshape(weight.shape)
        return (weight * factor).clamp(specs.VMM_WEIGHT_MIN, specs.VMM_WEIGHT_MAX)

    def corrected_output(self, out: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """``out`` minus the rounded offset of its column (dimension ``channel_dim``),
        with the SIMD processors' saturating int8 addition."""
        shape = [1] * out.dim()
        shape[channel_dim] = -1
        return add(out, -torch.round(self.offset).to(out.dtype).view(shape))


def _probe(rows: int, gain: float, num_sends: int) -> tuple[float, float]:
    """Input ``v`` and weight ``w0`` of one block's gain test for a read near
    :data:`PROBE_READ_LSB`; both within the hardware ranges."""
    w0 = round(specs.VMM_WEIGHT_MAX / 3)
    v = PROBE_READ_LSB / (num_sends * gain * w0 * rows)
    if v > specs.VMM_INPUT_MAX:  # few rows: use larger weights
        w0 = specs.VMM_WEIGHT_MAX
        v = PROBE_READ_LSB / (num_sends * gain * w0 * rows)
    return float(min(max(round(v), 1), specs.VMM_INPUT_MAX)), float(w0)


def measure_columns(target: VmmTarget, rows: int, columns: int, num_sends: int,
                    wait_between_events: int, repeats: int = DEFAULT_REPEATS,
                    generator: torch.Generator | None = None) -> ColumnCalibration:
    """Measure the per-column offsets and gains of a ``rows`` x ``columns`` matrix on
    ``target`` (for an ``nn`` layer: its own target, which places the blocks on the
    layer's arrays).

    Parameters
    ----------
    target
        Where the matrix runs (a :class:`~neurotwin.bss2.vmm.Twin` placed at the layer's
        first slot, or a mock).
    rows, columns
        Shape of the layer's matrix.
    num_sends, wait_between_events
        As the layer runs.
    repeats
        Vectors per test configuration.
    generator
        Source of the target's temporal noise.
    """
    check_int("rows", rows, 1)
    check_int("columns", columns, 1)
    check_int("num_sends", num_sends, 1)
    check_int("repeats", repeats, 1)
    blocks = row_slices(rows)

    def read(x_row: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = x_row.expand(repeats, rows)
        return matmul(x, w, num_sends, wait_between_events, target=target,
                      generator=generator).mean(dim=0)

    zero = torch.zeros(rows, dtype=torch.float64)
    offset = read(zero, torch.zeros((rows, columns), dtype=torch.float64))
    gain = torch.empty((len(blocks), 2, columns), dtype=torch.float64)
    for b, rs in enumerate(blocks):
        n = rs.stop - rs.start
        v, w0 = _probe(n, target.gain, num_sends)
        x = zero.clone()
        x[rs] = v
        design = num_sends * target.gain * v * w0 * n
        for sign_index, sign in enumerate((1.0, -1.0)):
            w = torch.zeros((rows, columns), dtype=torch.float64)
            w[rs] = sign * w0
            gain[b, sign_index] = (read(x, w) - offset) / (sign * design)
    if not bool(torch.all(gain > 0)) or not math.isfinite(float(gain.sum())):
        raise ConfigError("column calibration measured a gain <= 0: the target does not "
                          "respond to its test vectors")
    configurations = 1 + 2 * len(blocks)
    return ColumnCalibration(gain, offset, configurations * repeats, configurations)
