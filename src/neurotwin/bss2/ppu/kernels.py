r"""Compiled kernels of the PPU twin's hot paths, bit for bit what the vector ops give.

:func:`correlation_update` is the shipped correlation rules' program (pair STDP, R-STDP:
:func:`~neurotwin.bss2.ppu.rules.correlation_rows`) fused into one pass over the
synapses. Lane by lane it does what the vector unit's instructions
(:mod:`~neurotwin.bss2.ppu.vector`) in 16-bit lanes do in
:func:`~neurotwin.bss2.ppu.rules.update_rows` with the delta of
:func:`~neurotwin.bss2.ppu.rules.scale_round`: with ``sat`` the clamp of
:func:`~neurotwin.bss2.specs.ppu_saturate` to [-2**15, 2**15 - 1], ``wrap`` the
two's-complement wrap of a modulo shift and ``>>`` the arithmetic shift (floor)::

    code = base                          for an empty store, else
           floor((baseline_mv - S - cadc_zero_mv) / cadc_lsb_mv)   (CADC, 0..255)
    c    = max(sat(base - code_c), 0);   a likewise (0 when the acausal branch is off)
    r(x, q) = sat(sat((wrap(x << 6) * q) >> 15) + 32) >> 6
    dw   = sat(r(c, q_c) - r(a, q_a))    (r(c, q_c) alone when the acausal branch is off)
    w    = sat(w + dw); w = w if w > 0 else 0; w = 63 if sat(w - 63) > 0 else w

then the rows' sensors are reset. The cycles it stands for are counted apart
(:func:`correlation_update_cycles`: the same charges, operation by operation, as the
vector path); ``tests/bss2/ppu/test_kernels.py`` checks weights, sensors and cycles
against the vector path. A CADC read outside 0..255 (a store beyond the CADC's range)
is not handled here: the kernel reports it without writing anything, and the caller
takes the vector path (which clamps and warns as the CADC does). The kernel visits only
the sensors whose stores may be non-zero
(:attr:`~neurotwin.bss2.ppu.sensors.Sensors.touched`): every other synapse of the rows
has empty stores and keeps its weight.

:func:`sync_entries` copies written weights into the run's synapse entries and their
current jumps (``weight * gain * driver_gain``, in that order, as
:meth:`~neurotwin.bss2.tables.SynapseTable.currents`), for the synapses that changed.
"""

from __future__ import annotations

import numba
import numpy as np

from neurotwin.bss2 import specs

__all__ = ["correlation_update", "correlation_update_cycles", "sync_entries"]

LANE_BITS = 16
"""The shipped rules compute in 16-bit lanes."""
_ROW_BITS = specs.SYNRAM_ROWS.bit_length() - 1
_COLUMN_BITS = specs.SYNRAM_COLUMNS.bit_length() - 1
_ROW_MASK = specs.SYNRAM_ROWS - 1
_COLUMN_MASK = specs.SYNRAM_COLUMNS - 1
"""A flat synapse index is ``(hemisphere << 16) | (row << 8) | column`` (256 x 256)."""
GUARD_BITS = 6
"""Fractional bits kept by the scale-and-round (:data:`neurotwin.bss2.ppu.rules.GUARD_BITS`)."""


@numba.njit(cache=True, inline="always")
def _sat(x):  # pragma: no cover - compiled
    """:func:`~neurotwin.bss2.specs.ppu_saturate` of one 16-bit lane."""
    return min(max(x, -(1 << 15)), (1 << 15) - 1)


@numba.njit(cache=True, inline="always")
def _wrap(x):  # pragma: no cover - compiled
    """Two's-complement wrap to a signed 16-bit lane (a modulo shift)."""
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


@numba.njit(cache=True, inline="always")
def _scale_round(x, q):  # pragma: no cover - compiled
    """``r(x, q)`` of the module docstring (rules.scale_round, lane by lane)."""
    scaled = _sat((_wrap(x << GUARD_BITS) * q) >> 15)
    return _sat(scaled + (1 << (GUARD_BITS - 1))) >> GUARD_BITS


@numba.njit(cache=True, inline="always")
def _code(store, base, baseline_mv, zero_mv, lsb_mv):  # pragma: no cover - compiled
    """The CADC read of a sensor store (mV), -1 when it lies outside 0..255."""
    if store == 0.0:
        return base
    raw = np.floor((baseline_mv - store - zero_mv) / lsb_mv)
    if raw < 0 or raw > 255:
        return -1
    return int(raw)


_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
"""A de Bruijn sequence of order 6: ``((x & -x) * _DE_BRUIJN) >> 58`` differs for each
of the 64 one-bit words ``x & -x`` (a lowest set bit's index in one multiply)."""
_BIT_INDEX = np.zeros(64, np.int64)
for _bit in range(64):
    _BIT_INDEX[((1 << _bit) * int(_DE_BRUIJN) & 0xFFFFFFFFFFFFFFFF) >> 58] = _bit


@numba.njit(cache=True, inline="always")
def _lowest_bit(bits):  # pragma: no cover - compiled
    """Index of the lowest set bit of a non-zero uint64 word."""
    low = bits & (~bits + np.uint64(1))
    return _BIT_INDEX[(low * _DE_BRUIJN) >> np.uint64(58)]


@numba.njit(cache=True, inline="always")
def _place(flat):  # pragma: no cover - compiled
    """(hemisphere, row, column) of a flat synapse index (256 x 256 per hemisphere)."""
    return flat >> _ROW_BITS + _COLUMN_BITS, (flat >> _COLUMN_BITS) & _ROW_MASK, \
        flat & _COLUMN_MASK


@numba.njit(cache=True)
def correlation_update(weights, hemisphere, row_mask, synapse, record, touched, sensors,
                       use_acausal, q_c, q_a, base, baseline_mv, zero_mv, lsb_mv,
                       scratch):  # pragma: no cover - compiled; tested against the vector path
    """The module docstring's update of the rows ``row_mask`` (256,) of one hemisphere.

    ``weights`` (256, 256) int64, written in place. The sensors: ``synapse`` the flat
    synapse index ``(hemisphere << 16) | (row << 8) | column`` of each (ascending),
    ``record`` their records (:class:`~neurotwin.bss2.ppu.sensors.Sensors`: causal
    store, acausal store, ...) and ``touched`` their bit set of possibly non-zero
    stores; ``sensors`` (first, end) the range of this hemisphere's. Only touched
    sensors can change a weight: an empty store reads the reset level, ``dw = 0``, and
    a weight in 0..63 stays. Their stores are reset and their bits cleared. ``scratch``
    (2, end - first) int64: working memory (kept by the caller, not allocated per call).

    Returns (True, flat indices of the weights that changed), or (False, nothing
    written) when a CADC read left 0..255.
    """
    first, end = sensors
    chosen, new_w = scratch[0], scratch[1]
    n = 0
    for word in range(first >> 6, (end + 63) >> 6):
        bits = touched[word]
        while bits != 0:
            s = (word << 6) + _lowest_bit(bits)
            bits &= bits - np.uint64(1)  # the lowest set bit visited: clear it
            if s < first or s >= end:
                continue
            _, r, col = _place(synapse[s])
            if not row_mask[r]:
                continue
            code_c = _code(record[s, 0], base, baseline_mv, zero_mv, lsb_mv)
            if code_c < 0:
                return False, chosen[:0]
            dw = _scale_round(max(_sat(base - code_c), 0), q_c)
            if use_acausal:
                code_a = _code(record[s, 1], base, baseline_mv, zero_mv, lsb_mv)
                if code_a < 0:
                    return False, chosen[:0]
                dw = _sat(dw - _scale_round(max(_sat(base - code_a), 0), q_a))
            w = _sat(weights[r, col] + dw)
            w = w if w > 0 else 0
            chosen[n] = s
            new_w[n] = specs.WEIGHT_MAX if _sat(w - specs.WEIGHT_MAX) > 0 else w
            n += 1
    changed = np.empty(n, np.int64)
    n_changed = 0
    for x in range(n):
        s = chosen[x]
        _, r, col = _place(synapse[s])
        if weights[r, col] != new_w[x]:
            weights[r, col] = new_w[x]
            changed[n_changed] = synapse[s]
            n_changed += 1
        record[s, 0] = 0.0
        record[s, 1] = 0.0
        touched[s >> 6] &= ~(np.uint64(1) << np.uint64(s & 63))
    return True, changed[:n_changed]


def correlation_update_cycles(n_rows: int, use_acausal: bool) -> int:
    """Cycles of :func:`correlation_update` on ``n_rows`` whole rows: what the vector
    path (:func:`~neurotwin.bss2.ppu.rules.update_rows` with the scale-and-round delta)
    charges, operation by operation."""
    accesses = n_rows * specs.PPU_SYNAPSE_ROW_VECTORS  # 128-synapse half rows
    vectors = -(-n_rows * specs.SYNRAM_COLUMNS // specs.PPU_LANES_16)  # 16-bit ops
    scale_round_ops = 6   # shift, splat, multiply, splat, add, shift
    above_reset_ops = 2   # splat of the reset level, subtract
    saturate_ops = 7      # splat, compare + select, splat, subtract, compare + select
    branches = 2 if use_acausal else 1
    ops = branches * (above_reset_ops + scale_round_ops) + (branches - 1) + 1 + saturate_ops
    cost = specs.PPU_CYCLES
    return (branches * accesses * cost["cadc_row_read"]
            + 2 * accesses * cost["synapse_row_access"]     # read and write the weights
            + accesses * cost["correlation_reset"]
            + ops * vectors * cost["vector"])


@numba.njit(cache=True)
def sync_entries(flat, syn_ptr, syn_entries, weights, weight, current, gain,
                 driver_gain):  # pragma: no cover - compiled; tested through the runtime
    """For each synapse ``flat`` (flat indices into ``weights``), set the weight and the
    current jump of its entries (``syn_entries[syn_ptr[f]:syn_ptr[f + 1]]``)."""
    for f in flat:
        for q in range(syn_ptr[f], syn_ptr[f + 1]):
            e = syn_entries[q]
            weight[e] = weights[f]
            current[e] = weight[e] * gain[e] * driver_gain[e]
