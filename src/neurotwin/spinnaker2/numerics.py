"""SpiNNaker2 numerics of the LIF application: integer weight formats, delays in ticks,
ring-buffer saturation and the float32 neuron constants. The one place where values are
rounded, scaled or saturated (constants in :mod:`neurotwin.spinnaker2.specs`).

Weights (py-spinnaker2's synapse words)::

    "int4_delay":  magnitude 0..15, 3-bit delay of 1..8 ticks, sign = receptor
    "int8":        magnitude 0..127, no delay bits (every synapse acts after 1 tick)

A synapse stores ``q = round_half_up(w / scale)``, ``w`` in nA. ``scale`` (nA per weight
LSB) is per (target population, receptor): the ring buffer of a receptor sums the
integer weights of every projection into it, and the neuron converts the sum to a
current with one factor, as sPyNNaker's ring-buffer shift and py-spinnaker2's per
population ``w_scale`` (its NIR converter: ``127 / max |w|``) do. By default ``scale =
max w / weight_max`` over the incoming synapses of that receptor. A weight above
``weight_max * scale`` raises :class:`~neurotwin.errors.ConfigError` (never clamped);
``rounding="exact"`` also raises for a weight that is not a whole multiple of the scale.

Ring buffer: one signed 32-bit accumulator per (slot, receptor, neuron); the sum of the
integer weights saturates at ``RING_BUFFER_MAX``. The neuron reads it as
``float32(sum) * float32(scale)``. The twin stores the accumulators in the narrowest
integer type that no slot of the network can overflow (:func:`ring_dtype`, from the
largest sum the synapses can deliver into one slot), so reading with :func:`ring_current`
gives the saturated 32-bit value whatever the storage.

Neuron: float32 state and constants (the Cortex-M4F's single-precision FPU, which
py-spinnaker2's LIF applications use: their parameters ``alpha_decay``, ``exc_decay``,
``inh_decay``, ``threshold`` are floats). The host computes the per-tick propagators in
float64 (:func:`neurotwin.dynamics.lif.lif_constants` at dt = tick) and rounds them to
float32 once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numba
import numpy as np

from neurotwin.dynamics.lif import LIF, lif_constants
from neurotwin.errors import ConfigError, MappingError
from neurotwin.spinnaker2.specs import (
    INT4_WEIGHT_MAX,
    INT8_DELAY_TICKS,
    INT8_WEIGHT_MAX,
    MAX_DELAY_TICKS,
    RING_BUFFER_MAX,
)

__all__ = [
    "LIF_CONSTANT_ROWS",
    "ROUNDINGS",
    "WEIGHT_FORMATS",
    "WeightFormat",
    "delay_ticks",
    "get_format",
    "lif_constants_f32",
    "quantise_weights",
    "ring_current",
    "ring_dtype",
    "weight_scale",
]


@dataclass(frozen=True)
class WeightFormat:
    """An integer synapse-word format.

    Parameters
    ----------
    name
        "int4_delay" or "int8".
    weight_max
        Largest weight magnitude (LSB).
    delay_min, delay_max
        Delays the word can hold, ticks.
    """

    name: str
    weight_max: int
    delay_min: int
    delay_max: int


WEIGHT_FORMATS: Final = {
    "int4_delay": WeightFormat("int4_delay", INT4_WEIGHT_MAX, 1, MAX_DELAY_TICKS),
    "int8": WeightFormat("int8", INT8_WEIGHT_MAX, INT8_DELAY_TICKS, INT8_DELAY_TICKS),
}
"""The synapse formats of py-spinnaker2's LIF applications."""
ROUNDINGS: Final = ("nearest", "exact")
LIF_CONSTANT_ROWS: Final = (
    "v_rest", "v_reset", "v_thresh", "i_offset", "p_vv", "p_vi", "p_ve", "p_vn", "p_ee", "p_nn",
)
"""Rows of :func:`lif_constants_f32` (the order of the ideal engine's numba kernel)."""
RELATIVE_TOLERANCE: Final = 1e-9
"""A weight within this relative distance of ``weight_max * scale`` (or, for
``rounding="exact"``, of a multiple of the scale) counts as on it: float64 division."""


def get_format(name: str) -> WeightFormat:
    """The :class:`WeightFormat` called ``name``; ConfigError listing the known ones."""
    if name not in WEIGHT_FORMATS:
        raise ConfigError(
            f"weight_format must be one of {', '.join(WEIGHT_FORMATS)}, got {name!r}"
        )
    return WEIGHT_FORMATS[name]


def weight_scale(max_weight: float, fmt: WeightFormat) -> float:
    """Default scale, nA per LSB: the largest weight maps to ``weight_max`` (1.0 if none)."""
    return float(max_weight) / fmt.weight_max if max_weight > 0 else 1.0


def quantise_weights(
    weight: np.ndarray, scale: float, fmt: WeightFormat, name: str, rounding: str = "nearest"
) -> np.ndarray:
    """Integer weights (LSB) of magnitudes ``weight`` (nA) at ``scale`` nA per LSB.

    Parameters
    ----------
    weight
        (S,) weight magnitudes, nA (>= 0).
    scale
        nA per LSB (> 0).
    fmt
        Target format.
    name
        Projection name for messages ("pre->post").
    rounding
        "nearest" (half up) or "exact" (ConfigError unless every weight is a multiple
        of ``scale``).

    Returns
    -------
    (S,) int64 in [0, fmt.weight_max].

    Raises
    ------
    ConfigError
        A weight is not finite, or above ``weight_max * scale`` (names the projection,
        the weight and the limit), or not exact under ``rounding="exact"``.
    """
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"weight scale of {name} must be positive and finite, got {scale!r}")
    w = np.ascontiguousarray(weight, dtype=np.float64).reshape(-1)
    if w.size == 0:
        return np.zeros(0, np.int64)
    ints, finite, worst, off = _quantise(w, float(scale), fmt.weight_max, rounding == "exact",
                                         RELATIVE_TOLERANCE)
    if not finite:
        raise ConfigError(f"weights of {name} must be finite")
    if worst >= 0:
        raise ConfigError(
            f"weight {w[worst]:g} nA of {name} is not representable in {fmt.name}: the limit "
            f"is {fmt.weight_max} LSB x {scale:g} nA = {fmt.weight_max * scale:g} nA"
        )
    if off >= 0:
        raise ConfigError(
            f"weight {w[off]:g} nA of {name} is not a multiple of the scale "
            f"{scale:g} nA (rounding='exact'); nearest representable "
            f"{ints[off] * scale:g} nA"
        )
    return ints


@numba.njit(cache=True, nogil=True)
def _quantise(
    w: np.ndarray, scale: float, weight_max: int, exact: bool, tol: float
) -> tuple[np.ndarray, bool, int, int]:  # pragma: no cover - compiled
    """One pass of :func:`quantise_weights`: integer weights, whether all are finite, the
    first largest weight if it is above the limit (else -1), the first weight off the
    grid when ``exact`` (else -1)."""
    ints = np.empty(w.shape[0], np.int64)
    largest = -np.inf
    worst = -1
    off = -1
    for i in range(w.shape[0]):
        if not np.isfinite(w[i]):
            return ints, False, -1, -1
        q = w[i] / scale
        if q > largest:
            largest = q
            worst = i
        r = min(np.floor(q + 0.5), weight_max)
        ints[i] = np.int64(r)
        if exact and off < 0 and abs(q - r) > tol * max(q, 1.0):
            off = i
    if largest <= weight_max * (1.0 + tol):
        worst = -1
    return ints, True, worst, off


def delay_ticks(delay_ms: np.ndarray, tick_ms: float, fmt: WeightFormat, name: str) -> np.ndarray:
    """Delays in ticks: ``max(1, round_half_up(delay / tick))``, checked against ``fmt``.

    A delay below one tick becomes one tick (the shortest a spike can take: it acts in
    the next tick); at ``tick_ms == dt`` every delay is already a whole number of ticks.

    Raises
    ------
    MappingError
        A delay outside what the synapse word holds (names the projection and the limit).
    """
    d = np.asarray(delay_ms, dtype=np.float64)
    ticks = np.maximum(1, np.floor(d / tick_ms + 0.5)).astype(np.int64)
    if ticks.size and (ticks.max() > fmt.delay_max or ticks.min() < fmt.delay_min):
        bad = int(ticks.max()) if ticks.max() > fmt.delay_max else int(ticks.min())
        allowed = (
            f"{fmt.delay_min}..{fmt.delay_max} ticks"
            if fmt.delay_min != fmt.delay_max
            else f"only {fmt.delay_min} tick"
        )
        raise MappingError(
            f"delays of {name} reach {bad} ticks of {tick_ms:g} ms; the {fmt.name} synapse "
            f"word holds {allowed} ({fmt.delay_min * tick_ms:g}..{fmt.delay_max * tick_ms:g} ms)"
        )
    return ticks


def lif_constants_f32(model: LIF, tick_ms: float) -> np.ndarray:
    """Per-tick LIF propagators rounded to float32, rows ``LIF_CONSTANT_ROWS``; (10,)."""
    c = lif_constants(model, tick_ms)
    return np.array([getattr(c, name) for name in LIF_CONSTANT_ROWS], dtype=np.float32)


def ring_dtype(largest_sum: float) -> type[np.signedinteger]:
    """Storage type of the ring-buffer accumulators: the narrowest of int16, int32 and
    int64 that holds ``largest_sum`` (LSB, the most the synapses can add to one slot).

    Below ``RING_BUFFER_MAX`` no slot can saturate; above it int64 holds the exact sum and
    :func:`ring_current` saturates it when it is read, as the 32-bit accumulator would.
    """
    if largest_sum <= np.iinfo(np.int16).max:
        return np.int16
    if largest_sum <= RING_BUFFER_MAX:
        return np.int32
    return np.int64


@numba.njit(cache=True, inline="always")
def ring_current(acc: int, scale: np.float32) -> np.float32:  # pragma: no cover
    """Current (nA, float32) of a ring-buffer slot holding ``acc`` LSB (non-negative: one
    buffer per receptor, magnitudes only): saturated to the 32-bit accumulator, converted
    to float32 and multiplied by the receptor's scale (nA per LSB, float32)."""
    return np.float32(min(acc, RING_BUFFER_MAX)) * scale
