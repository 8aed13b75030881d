"""``measure_mock_parameter``: hxtorch's protocol for a chip's gain and noise, on a twin.

The protocol (hxtorch ``perceptron/mock.cpp``): a full weight of 63 / 3 = 21 on a
256 x 128 matrix (two row blocks); 20 test vectors whose inputs are 31 / 2 (rounded: 16)
on a random fraction ``0.85**i`` of the rows; the step whose median output is closest to
127 / 2 is used for a batch of 50 fresh vectors of that density. Then

    gain      = median(y_chip / y_float)
    noise_std = median over columns of std over the batch of (y_chip - gain * y_float)

One difference: hxtorch's float reference uses the unrounded input 15.5 while the chip
receives 16, which biases its gain by 16 / 15.5; here the reference uses the values the
chip receives.
"""

from __future__ import annotations

import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm.mock import MockParameter
from neurotwin.bss2.vmm.ops import matmul
from neurotwin.bss2.vmm.target import VmmTarget

__all__ = ["measure_mock_parameter"]

MASKING_FACTOR = 0.85
"""Each test step keeps this fraction of the previous step's rows active (hxtorch)."""
NUM_STEPS = 20
"""Test steps of decreasing input density (hxtorch)."""
BATCH_SIZE = 50
"""Vectors of the final measurement (hxtorch)."""


def measure_mock_parameter(target: VmmTarget, seed: int = 0,
                           wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS
                           ) -> MockParameter:
    """Measure gain and noise of ``target`` as hxtorch measures a chip (module docstring).

    Parameters
    ----------
    target
        Usually a :class:`~neurotwin.bss2.vmm.Twin`; measured on its first two slots.
    seed
        Seeds the random input patterns and the target's temporal noise.
    wait_between_events
        FPGA cycles between events (hxtorch measures at the default, 5).

    Returns
    -------
    MockParameter
        The measured gain and noise_std, to train a mock model that matches the target.
    """
    gen = torch.Generator().manual_seed(seed)
    rows, columns = specs.VMM_MATRIX_WIDTH, specs.VMM_MATRIX_HEIGHT
    value = torch.round(torch.tensor(specs.VMM_INPUT_MAX / 2.0, dtype=torch.float64))
    weight = torch.full((rows, columns), round(specs.VMM_WEIGHT_MAX / 3), dtype=torch.float64)

    def vectors(n: int, density: float) -> torch.Tensor:
        return (torch.rand((n, rows), generator=gen, dtype=torch.float64) < density) * value

    def run(x: torch.Tensor) -> torch.Tensor:
        return matmul(x, weight, 1, wait_between_events, target=target, generator=gen)

    densities = [MASKING_FACTOR**i for i in range(NUM_STEPS)]
    probe = run(torch.cat([vectors(1, d) for d in densities]))
    best = int((probe.median(dim=1).values - specs.VMM_OUTPUT_MAX / 2).abs().argmin())
    x = vectors(BATCH_SIZE, densities[best])
    reference = x @ weight
    measured = run(x)
    gain = float(torch.median(measured / reference))
    noise = measured - reference * gain
    noise_std = float(torch.median(noise.std(dim=0)))
    return MockParameter(gain=gain, noise_std=noise_std)
