"""Rate coding of int8 activations into spikes: how a DNN stage's outputs cross to an SNN.

An activation code ``x`` (uint8, zero point ``z``) stands for the real value
``s (x - z) >= 0`` (the stage ends in a ReLU). Over ``ticks`` ticks its sender emits a
regular spike train of ``c = x - z`` spikes per ``full_rate_code`` ticks, deterministic::

    spikes in tick t = floor((t + 1) c / L) - floor(t c / L),   t = 0 .. ticks - 1
    spikes in all    = floor(ticks c / L)                          (L = full_rate_code)

so ``c = L`` sends one spike every tick and a code above ``L`` (possible: torch calibrates
to codes 0..127 but requantises into 0..255) sends ``ceil(c / L)`` in some ticks. Each
spike is one multicast packet with the feature's routing key: SpiNNaker2's routers carry
40-bit key-only packets (``specs.PACKET_BITS``) and, as on SpiNNaker1, packets with a
32-bit payload that could carry an activation in one packet; the twin's tick kernel models
key-only spikes, so the activation is carried by the number of packets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.errors import ConfigError, check_int
from neurotwin.spinnaker2.dnn.ops import CODE_MAX

__all__ = ["RateCode"]


@dataclass(frozen=True)
class RateCode:
    """Regular rate code of activation codes (module docstring).

    Parameters
    ----------
    ticks
        Ticks over which an activation is sent (1..4096).
    full_rate_code
        Code above the zero point that spikes once per tick (1..255; default 127, the top
        of torch's calibrated activation range with ``reduce_range``).
    """

    ticks: int = 32
    full_rate_code: int = 127

    def __post_init__(self) -> None:
        check_int("ticks", self.ticks, 1, 4096)
        check_int("full_rate_code", self.full_rate_code, 1, CODE_MAX)

    def max_per_tick(self, zero_point: int) -> int:
        """Most spikes one feature sends in one tick (codes up to 255)."""
        return -(-(CODE_MAX - zero_point) // self.full_rate_code)

    def spikes(self, codes: np.ndarray, zero_point: int) -> np.ndarray:
        """Spikes per tick of every feature.

        Parameters
        ----------
        codes
            (N, F) uint8 activation codes, all ``>= zero_point``.
        zero_point
            The codes' zero point (the real value 0).

        Returns
        -------
        (N, F, ticks) int16 spikes of each feature in each tick.

        Raises
        ------
        ConfigError
            Codes that are not uint8 (N, F), or below the zero point (a negative
            activation: a rate code carries non-negative values only).
        """
        codes = np.asarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 2:
            raise ConfigError(f"codes must be uint8 (N, F), got {codes.dtype} {codes.shape}")
        c = codes.astype(np.int64) - int(zero_point)
        if c.size and c.min() < 0:
            raise ConfigError(f"code {int(c.min()) + zero_point} is below the zero point "
                              f"{zero_point}: rate codes carry non-negative activations only")
        t = np.arange(self.ticks + 1, dtype=np.int64)
        cum = (t[None, None, :] * c[:, :, None]) // self.full_rate_code
        return np.diff(cum, axis=2).astype(np.int16)
