"""The numerical accelerators of a SpiNNaker2 PE: what they compute and how many cycles.

Besides its Cortex-M4F, each PE has (numbers and sources in :mod:`.specs`):

* a **MAC array** of ``MAC_ARRAY_ROWS x MAC_ARRAY_COLUMNS`` = 4 x 16 multiply-accumulate
  units, 8-bit operands, a 29-bit signed accumulator each, 64 MACs per cycle. It is
  *output stationary*: each unit holds one output and adds one product per cycle, so an
  (M x K) by (K x N) product takes ``ceil(M / 4) ceil(N / 16)`` tiles of ``K`` cycles, plus
  ``CYCLES_MAC_TILE_DRAIN`` per tile to write the 64 accumulators to SRAM and
  ``CYCLES_MAC_CALL`` per job for the ARM to start it. The twin lays the operands out in
  whichever of the two orientations needs fewer tiles;
* an **exp/log unit** (``CYCLES_PER_EXP``, ``CYCLES_PER_LOG``) and a **pseudo-random number
  generator** (``CYCLES_PER_RANDOM_WORD``);
* a **DMA controller** that moves blocks between the chip's DRAM (``DRAM_BYTES_PER_S`` shared
  by the chip, ``DRAM_LATENCY_NS``) and the PE's SRAM, and between PEs over the NoC
  (``NOC_BYTES_PER_CYCLE``, ``NOC_LATENCY_CYCLES``).

:func:`mac_matmul` is the one place where the array's numerics (8-bit operands, the 29-bit
accumulator) are applied.
"""

from __future__ import annotations

import numpy as np

from neurotwin.spinnaker2.specs import (
    CYCLES_MAC_CALL,
    CYCLES_MAC_TILE_DRAIN,
    CYCLES_PER_EXP,
    CYCLES_PER_LOG,
    CYCLES_PER_RANDOM_WORD,
    DRAM_BYTES_PER_S,
    DRAM_LATENCY_NS,
    MAC_ACCUMULATOR_BITS,
    MAC_ARRAY_COLUMNS,
    MAC_ARRAY_ROWS,
    NOC_BYTES_PER_CYCLE,
    NOC_LATENCY_CYCLES,
)

__all__ = [
    "dram_transfer_us",
    "exp_cycles",
    "log_cycles",
    "mac_cycles",
    "mac_matmul",
    "noc_transfer_cycles",
    "rng_cycles",
    "wrap_accumulator",
]


def wrap_accumulator(acc: np.ndarray) -> np.ndarray:
    """What a 29-bit signed accumulator holds after summing to ``acc`` (int64): the sum
    modulo 2^29, read as two's complement (``specs.MAC_ACCUMULATOR_BITS``; wrapping is an
    assumption). Sums inside the range come back unchanged."""
    span = np.int64(1) << MAC_ACCUMULATOR_BITS
    half = span >> 1
    return ((acc + half) & (span - 1)) - half


def mac_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One MAC-array job: the accumulators of ``x @ w`` as the array leaves them.

    Parameters
    ----------
    x
        (M, K) unsigned 8-bit activations (any integer dtype holding 0..255).
    w
        (K, N) signed 8-bit weights (-128..127).

    Returns
    -------
    (M, N) int64: each sum wrapped to the 29-bit accumulator (:func:`wrap_accumulator`).

    Notes
    -----
    The products are summed in float64 by BLAS: every product and partial sum is an integer
    below 2^53 in magnitude (K < 2^37), so the float64 sum is exact in any order and equals
    the integer sum; the wrap is applied once at the end, which gives the same result as
    wrapping after every addition (arithmetic modulo 2^29).
    """
    acc = np.asarray(x, dtype=np.float64) @ np.asarray(w, dtype=np.float64)
    return wrap_accumulator(acc.astype(np.int64))


def mac_cycles(m: int, k: int, n: int) -> int:
    """Cycles of the MAC array for one (m x k) by (k x n) job, including its start by the
    ARM: ``CYCLES_MAC_CALL + tiles * (k + CYCLES_MAC_TILE_DRAIN)`` with ``tiles`` the 4 x 16
    output tiles of the cheaper orientation (module docstring). An empty job costs 0."""
    if m <= 0 or k <= 0 or n <= 0:
        return 0
    tiles = min(-(-m // MAC_ARRAY_ROWS) * -(-n // MAC_ARRAY_COLUMNS),
                -(-n // MAC_ARRAY_ROWS) * -(-m // MAC_ARRAY_COLUMNS))
    return CYCLES_MAC_CALL + tiles * (k + CYCLES_MAC_TILE_DRAIN)


def exp_cycles(n: int) -> int:
    """Cycles for ``n`` exponentials on the exp/log unit (``specs.CYCLES_PER_EXP``)."""
    return n * CYCLES_PER_EXP


def log_cycles(n: int) -> int:
    """Cycles for ``n`` natural logarithms on the exp/log unit (``specs.CYCLES_PER_LOG``)."""
    return n * CYCLES_PER_LOG


def rng_cycles(n_words: int) -> int:
    """Cycles to draw ``n_words`` 32-bit words from the PE's PRNG
    (``specs.CYCLES_PER_RANDOM_WORD``)."""
    return n_words * CYCLES_PER_RANDOM_WORD


def dram_transfer_us(n_bytes: int) -> float:
    """Time of a DMA block transfer of ``n_bytes`` between the chip's DRAM and PE SRAM, µs:
    the latency plus the bytes at the chip's sustained DRAM rate (transfers that run at the
    same time share that rate: pass their total). 0 for no bytes."""
    if n_bytes <= 0:
        return 0.0
    return DRAM_LATENCY_NS * 1e-3 + n_bytes / DRAM_BYTES_PER_S * 1e6


def noc_transfer_cycles(n_bytes: int) -> int:
    """Cycles for a PE to receive ``n_bytes`` from other PEs over the NoC: the latency plus
    ``NOC_BYTES_PER_CYCLE`` per cycle. 0 for no bytes."""
    if n_bytes <= 0:
        return 0
    return NOC_LATENCY_CYCLES + -(-n_bytes // NOC_BYTES_PER_CYCLE)
