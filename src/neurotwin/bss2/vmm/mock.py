r"""hxtorch's mock: the analog multiplication as one gain and Gaussian noise.

Per row block ``b`` of at most 128 rows (hxtorch ``detail/mac.cpp``, ``mac_mock_forward``)::

    m_b = num_sends * gain * (x_b . W_b) + noise_b,    noise_b ~ N(0, noise_std^2)

then the CADC numerics of :func:`neurotwin.bss2.vmm.numerics.read_blocks`. The mock knows
nothing of ``wait_between_events``: it never saturates the synaptic input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm.partition import row_slices
from neurotwin.errors import ConfigError, check_scalar

__all__ = ["MockParameter"]


@dataclass(frozen=True)
class MockParameter:
    """Parameters of the mock (hxtorch ``MockParameter``).

    Parameters
    ----------
    gain
        Analog gain, CADC LSB per unit of ``x . W`` and send; in (0, 1] as hxtorch
        requires (default 0.002, hxtorch's).
    noise_std
        Std of the noise added to every block's membrane before the read, CADC LSB
        (default 2.0, hxtorch's).
    """

    gain: float = specs.VMM_GAIN
    noise_std: float = specs.VMM_NOISE_STD

    def __post_init__(self) -> None:
        gain = check_scalar("gain", self.gain)
        noise = check_scalar("noise_std", self.noise_std, "LSB")
        if not 0.0 < gain <= 1.0:
            raise ConfigError(f"gain must lie in (0, 1], got {gain!r}")
        if not math.isfinite(noise) or noise < 0:
            raise ConfigError(f"noise_std must be finite and >= 0 LSB, got {noise!r}")
        object.__setattr__(self, "gain", gain)
        object.__setattr__(self, "noise_std", noise)

    def membranes(self, x: torch.Tensor, w: torch.Tensor, num_sends: int,
                  wait_between_events: int, generator: torch.Generator | None
                  ) -> torch.Tensor:
        """Analog membranes of every row block (module docstring).

        Parameters
        ----------
        x
            Quantised inputs, float64, shape (n, rows).
        w
            Quantised weights, float64, shape (rows, columns).
        num_sends, wait_between_events
            Sends of each vector; wait between events (FPGA cycles, unused by the mock).
        generator
            Source of the noise (None: torch's default generator).

        Returns
        -------
        torch.Tensor
            Shape (blocks, n, columns), CADC LSB.
        """
        scale = num_sends * self.gain
        blocks = torch.stack([scale * (x[:, s] @ w[s]) for s in row_slices(w.shape[0])])
        if self.noise_std > 0:
            blocks += self.noise_std * torch.randn(blocks.shape, generator=generator,
                                                   dtype=blocks.dtype)
        return blocks
