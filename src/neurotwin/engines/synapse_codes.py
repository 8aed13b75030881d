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

__all__ = ["MAX_TABLE", "CodeLayout", "SynapseCodes", "code_layout", "deliver_row"]

MAX_TABLE = 4096
"""Most distinct weights read from a table (32 KiB of float64: stays in the L1/L2 cache)."""


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


@dataclass(frozen=True)
class CodeLayout:
    """Where the fields of a synapse word lie: ``target_bits`` low bits of target, then
    ``delay_bits`` of delay (steps), then the weight-table index (tabled weights only);
    ``width`` the word's dtype (uint32 where the fields fit, else uint64)."""

    width: type[np.unsignedinteger]
    target_bits: int
    delay_bits: int

    @property
    def fields(self) -> int:
        """Bits below the weight index (target and delay)."""
        return self.target_bits + self.delay_bits

    def encode(self, target: np.ndarray, delay_steps: np.ndarray,
               index: np.ndarray | None) -> np.ndarray:
        """Words of synapses (targets, delays in steps, weight-table indices or None)."""
        w = self.width
        words = target.astype(w)
        words |= np.left_shift(delay_steps.astype(w), w(self.target_bits))
        if index is not None:
            words |= np.left_shift(index.astype(w), w(self.fields))
        return words

    def codes(self, code: np.ndarray, weights: np.ndarray, tabled: bool) -> SynapseCodes:
        """The packed synapses: ``code`` from :meth:`encode`, ``weights`` the table
        (tabled) or every synapse's weight in code order."""
        w = self.width
        return SynapseCodes(code=code, weights=weights, tabled=tabled,
                            target_mask=w((1 << self.target_bits) - 1),
                            delay_shift=w(self.target_bits),
                            delay_mask=w((1 << self.delay_bits) - 1),
                            weight_shift=w(self.fields))


def code_layout(n_targets: int, n_slots: int, n_table: int | None) -> CodeLayout:
    """The narrowest word for targets below ``n_targets``, delays below ``n_slots`` and,
    when the weights are tabled, indices below ``n_table`` (None: weights not tabled).

    Raises
    ------
    CapacityError
        If the fields need more than 64 bits.
    """
    target_bits = max(1, (n_targets - 1).bit_length())
    delay_bits = max(1, (n_slots - 1).bit_length())
    index_bits = 0 if n_table is None else max(1, (n_table - 1).bit_length())
    bits = target_bits + delay_bits + index_bits
    if bits > 64:
        raise CapacityError("bits of a synapse word", bits, 64,
                            f"{n_targets} targets, {n_slots} delay slots")
    width: type[np.unsignedinteger] = np.uint32 if bits <= 32 else np.uint64
    return CodeLayout(width, target_bits, delay_bits)


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
