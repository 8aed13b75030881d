"""The numba kernel's compact synapse layout: one integer word per synapse.

Delivering a spike reads its synapse row; in a large network the rows of the neurons that
spike lie anywhere in the synapse arrays, so delivery is bound by fetching rows from
main memory, not by the scatter into the ring buffer (bench cuba at 256k neurons: about
20 ns per synapse with int64 target, float64 weight and int64 delay, 24 bytes; about 5 ns
when the rows are cached). Each synapse is therefore packed into one word,

    code = target | delay << delay_shift | weight_index << weight_shift,

uint32 where the fields fit in 32 bits, else uint64, with the weight read from a small
table of the distinct weights (exact: the table holds the same float64 values) when the
network has at most :data:`MAX_TABLE` of them, else from the float64 weight array. The
CUBA network (two weights, one delay) streams 4 bytes per synapse instead of 24.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from neurotwin.errors import CapacityError

__all__ = ["MAX_TABLE", "SynapseCodes", "deliver_row", "pack_synapses"]

MAX_TABLE = 4096
"""Most distinct weights read from a table (32 KiB of float64: stays in the L1/L2 cache)."""
PACK_BLOCK = 1 << 20
"""Synapses packed per block: bounds the temporaries of packing (peak memory)."""


@dataclass(frozen=True, eq=False)
class SynapseCodes:
    """Synapses in the order of the CSR they come from, packed for :func:`deliver_row`."""

    code: np.ndarray
    """Per synapse: target | delay << delay_shift | weight index << weight_shift."""
    weights: np.ndarray
    """The weight table (tabled) or every synapse's weight, in the state's dtype."""
    tabled: bool
    target_mask: np.integer
    """The fields' masks and shifts, numpy scalars of the code's dtype (for numba)."""
    delay_shift: np.integer
    delay_mask: np.integer
    weight_shift: np.integer


def pack_synapses(
    target: np.ndarray, delay_steps: np.ndarray, weight: np.ndarray, n_targets: int,
    n_slots: int, dtype: type,
) -> SynapseCodes:
    """Pack CSR synapse arrays (targets below ``n_targets``, delays below ``n_slots``,
    weights converted to ``dtype``) into one word each."""
    weights: np.ndarray = weight.astype(dtype, copy=False)
    target_bits = max(1, (n_targets - 1).bit_length())
    delay_bits = max(1, (n_slots - 1).bit_length())
    fields = target_bits + delay_bits
    table = np.unique(weights)
    tabled = table.size <= MAX_TABLE
    index_bits = max(1, (table.size - 1).bit_length()) if tabled else 0
    width: type[np.unsignedinteger] = np.uint32 if fields + index_bits <= 32 else np.uint64
    if fields + index_bits > 64:
        raise CapacityError("bits of a synapse word", fields + index_bits, 64,
                            f"{n_targets} targets, {n_slots} delay slots")
    code = np.empty(target.size, width)
    for lo in range(0, target.size, PACK_BLOCK):  # blocks: no synapse-sized temporaries
        part = slice(lo, lo + PACK_BLOCK)
        word = target[part].astype(width)
        word |= np.left_shift(delay_steps[part].astype(width), width(target_bits))
        if tabled:
            index = np.searchsorted(table, weights[part]).astype(width)
            word |= np.left_shift(index, width(fields))
        code[part] = word
    return SynapseCodes(
        code=code,
        weights=table if tabled else weights,
        tabled=tabled,
        target_mask=width((1 << target_bits) - 1),
        delay_shift=width(target_bits),
        delay_mask=width((1 << delay_bits) - 1),
        weight_shift=width(fields),
    )


@numba.njit(cache=True, nogil=True)
def deliver_row(
    buf, b, slot, lo, hi, code, weights, tabled, target_mask, delay_shift, delay_mask,
    weight_shift,
):  # pragma: no cover - compiled; tested through engines.step.run_program
    """Add synapses ``lo:hi`` of a spike emitted in ring slot ``slot`` to trial b's buffer
    (slots, trials, targets), each its delay (1 <= delay < slots) slots ahead.

    The slot is wrapped by one subtraction, not a modulo: an integer division per
    synapse was a tenth of the delivery.
    """
    n_slots = buf.shape[0]
    for q in range(lo, hi):
        c = code[q]  # fields cast to int64: numba makes uint64 + int64 a float
        s = slot + np.int64((c >> delay_shift) & delay_mask)
        if s >= n_slots:
            s -= n_slots
        w = weights[np.int64(c >> weight_shift)] if tabled else weights[q]
        buf[s, b, np.int64(c & target_mask)] += w
