r"""Plasticity rules shipped as PPU programs, in the vector unit's fixed point.

Both rules work on whole rows of one hemisphere's synapse array, half a row (128
synapses) per vector op, in 16-bit lanes. With ``c`` and ``a`` the causal and acausal
correlation (CADC LSB: how far the sensor reads fell below the reset level, as on the
chip) and ``w`` the 6-bit weight::

    pair STDP  (stdp):   dw = r(eta_plus * c) - r(eta_minus * a)
    R-STDP     (rstdp):  dw = r(learning_rate * (R - R_bar) * c);  R_bar += (R - R_bar) / 2
    then                 w  = min(max(w + dw, 0), 63); the row's sensors are reset

where the factors are rounded to Q0.15 (``q = round(f * 2**15)``) and ``r`` is the
fixed-point scale-and-round of :func:`scale_round`::

    r(f * x) = floor((floor(64 x * q / 2**15) + 32) / 64)

    homeostasis:         dw = +step where count < target, -step where count > target
                         (count: the column's neuron's spike counter since the last call)

    structural:          w = min(max(w + r(eta * c) - decay, 0), 63); then every synapse
                         with w < threshold is rewired: label = pool[x mod len(pool)]
                         (x the PPU's next xorshift32 number, synapses in row-major
                         order), w = w_init; the row's sensors are reset

(x is shifted up by 6 bits first so that the truncating fractional multiply keeps 6
fractional bits; adding half of them rounds half up). ``R`` comes from the program's
``reward(call)``; on the chip a PPU computes it (the Pong experiment simulates its game
on the PPU).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu.errors import ProgramError
from neurotwin.bss2.ppu.processor import PPU
from neurotwin.bss2.ppu.program import PlasticityProgram, Timer

__all__ = ["correlation_rows", "homeostasis", "rstdp", "saturate_weights", "scale_round",
           "stdp", "structural", "to_q15", "update_rows"]

GUARD_BITS = 6
"""Fractional bits kept by :func:`scale_round` (x < 2**9 keeps 64 x inside 16 bit)."""


def to_q15(factor: float) -> int:
    """``factor`` in [-1, 1) as a Q0.15 lane value (rounded to nearest, saturated)."""
    return int(np.clip(np.rint(factor * 2**15), -2**15, 2**15 - 1))


def scale_round(ppu: PPU, x: np.ndarray, q: int) -> np.ndarray:
    """``round(x * q / 2**15)``, half up, in 16-bit lanes (x in 0..511, q in Q0.15)."""
    scaled = ppu.mul_fs(ppu.shift(x, GUARD_BITS, bits=16),
                        ppu.splat(q, x.shape, bits=16), bits=16)
    half = ppu.splat(1 << (GUARD_BITS - 1), x.shape, bits=16)
    return ppu.shift(ppu.add_fs(scaled, half, bits=16), -GUARD_BITS, bits=16)


def saturate_weights(ppu: PPU, w: np.ndarray) -> np.ndarray:
    """Clamp 16-bit lanes to the weight range 0..63 (two compare/selects)."""
    zero = ppu.splat(0, w.shape, bits=16)
    w = ppu.select(w, w, zero, "gt", bits=16)
    top = ppu.splat(specs.WEIGHT_MAX, w.shape, bits=16)
    return ppu.select(ppu.sub_fs(w, top, bits=16), top, w, "gt", bits=16)


def _above_reset(ppu: PPU, reads: np.ndarray, base: int) -> np.ndarray:
    """Correlation in CADC LSB: how far the reads fell below the reset level (the read
    falls as correlation accumulates); above it (read noise) counts as 0."""
    return np.maximum(ppu.sub_fs(ppu.splat(base, reads.shape, 16), reads, bits=16), 0)


def update_rows(ppu: PPU, rows: Sequence[int],
                delta: Callable[[np.ndarray, np.ndarray], np.ndarray],
                acausal: bool = True) -> None:
    """For each half row of ``rows``: ``w = sat(w + delta(c, a))``, then reset its
    sensors (``acausal=False``: the acausal branch is not read, ``a`` is zeros)."""
    base = ppu.baseline_code()
    # all rows at once: the lanes are independent, the cost is per 128 synapses anyway
    chosen = list(rows)
    c = _above_reset(ppu, ppu.read_causal(chosen), base)
    a = _above_reset(ppu, ppu.read_acausal(chosen), base) if acausal else np.zeros_like(c)
    w = ppu.read_weights(chosen)
    ppu.write_weights(chosen, None, saturate_weights(ppu, ppu.add_fs(w, delta(c, a), bits=16)))
    ppu.reset_correlation(chosen)


def correlation_rows(ppu: PPU, rows: Sequence[int], q_causal: int,
                     q_acausal: int | None = None) -> None:
    """``w = sat(w + r(q_causal c) - r(q_acausal a))`` on whole ``rows`` (without the
    acausal term, and without reading the acausal sensors, when ``q_acausal`` is None),
    then reset the rows' sensors: :func:`update_rows` with the delta of
    :func:`scale_round`, run as one compiled kernel (:meth:`PPU.correlation_update`:
    the same weights and cycles). A sensor read outside the CADC's range takes the
    vector ops themselves (the CADC clamps it, with a warning)."""
    if ppu.correlation_update(rows, q_causal, q_acausal):
        return
    if q_acausal is None:
        update_rows(ppu, rows, lambda c, a: scale_round(ppu, c, q_causal), acausal=False)
    else:
        update_rows(ppu, rows, lambda c, a: ppu.sub_fs(
            scale_round(ppu, c, q_causal), scale_round(ppu, a, q_acausal), bits=16))


def _rows(rows: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(r) for r in rows)
    if not out or min(out) < 0 or max(out) >= specs.SYNRAM_ROWS:
        raise ProgramError(f"rows must be synapse rows 0..{specs.SYNRAM_ROWS - 1}, got {rows}")
    return out


def _columns(columns: Sequence[int] | None) -> np.ndarray:
    if columns is None:
        return np.arange(specs.SYNRAM_COLUMNS)
    out = np.asarray(columns, np.int64)
    if out.ndim != 1 or (out.size and (out.min() < 0 or out.max() >= specs.SYNRAM_COLUMNS)):
        raise ProgramError(f"columns must be synapse columns 0..{specs.SYNRAM_COLUMNS - 1}, "
                           f"got {columns}")
    return out


def stdp(rows: Sequence[int], timer: Timer, eta_plus: float = 0.5, eta_minus: float = 0.5,
         hemisphere: int = 0) -> PlasticityProgram:
    """Nearest-neighbour pair STDP through the correlation sensors (module docstring).

    ``eta_plus``, ``eta_minus``: weight LSB per sensor LSB, each in [0, 1).
    """
    q_plus, q_minus = to_q15(eta_plus), to_q15(eta_minus)
    chosen = _rows(rows)

    def body(ppu: PPU, call: int) -> None:
        correlation_rows(ppu, chosen, q_plus, q_minus)

    return PlasticityProgram(body, timer, hemisphere)


def rstdp(rows: Sequence[int], timer: Timer, reward: Callable[[int], float],
          learning_rate: float = 0.125, hemisphere: int = 0) -> PlasticityProgram:
    """Reward-modulated STDP: eligibility from the causal sensors (module docstring).

    ``reward(call)`` gives R of the call (0..1); the running mean starts at the first R.
    """
    chosen = _rows(rows)
    mean: list[float] = []

    def body(ppu: PPU, call: int) -> None:
        r = float(reward(call))
        if not mean:
            mean.append(r)
        success = r - mean[0]
        mean[0] += success / 2.0
        ppu.scalar(4)
        correlation_rows(ppu, chosen, to_q15(learning_rate * success))

    return PlasticityProgram(body, timer, hemisphere)


def homeostasis(rows: Sequence[int], timer: Timer, column_neurons: np.ndarray,
                target_count: int, step: int = 1, hemisphere: int = 0) -> PlasticityProgram:
    """Homeostatic rate control from the spike counters (module docstring).

    ``column_neurons`` (256,): the logical neuron of each column, -1 for none
    (:meth:`~neurotwin.bss2.ppu.program.PPURuntime.column_neurons`); ``target_count``
    spikes per period (0..255); ``step`` LSB per call (1..63). Every call also resets the
    counters it read.
    """
    chosen = _rows(rows)
    cols = np.asarray(column_neurons, np.int64)
    if cols.shape != (specs.SYNRAM_COLUMNS,):
        raise ProgramError(f"column_neurons must have {specs.SYNRAM_COLUMNS} entries, got "
                           f"shape {cols.shape}")
    if not 0 <= target_count <= specs.PPU_SPIKE_COUNTER_MAX or not 1 <= step <= specs.WEIGHT_MAX:
        raise ProgramError(f"target_count must lie in 0..{specs.PPU_SPIKE_COUNTER_MAX} and "
                           f"step in 1..{specs.WEIGHT_MAX}, got {target_count}, {step}")
    used = np.unique(cols[cols >= 0])

    def body(ppu: PPU, call: int) -> None:
        counts = np.zeros(specs.SYNRAM_COLUMNS, np.int64)
        read = ppu.read_spike_counts(used)
        lookup = np.zeros(int(used.max()) + 1 if used.size else 1, np.int64)
        lookup[used] = read
        counts[cols >= 0] = lookup[cols[cols >= 0]]
        ppu.reset_spike_counts(used)
        # columns without a neuron: count == target, no change
        counts[cols < 0] = target_count
        error = ppu.sub_fs(ppu.splat(target_count, counts.size, 16), counts, bits=16)
        zero = ppu.splat(0, counts.size, 16)
        down = ppu.select(error, ppu.splat(-step, counts.size, 16), zero, "lt", bits=16)
        dw = ppu.select(error, ppu.splat(step, counts.size, 16), down, "gt", bits=16)
        w = ppu.read_weights(list(chosen))
        # one add per row (the change vector is reused)
        w = ppu.add_fs(w, np.broadcast_to(dw, w.shape), bits=16)
        ppu.write_weights(list(chosen), None, saturate_weights(ppu, w))

    return PlasticityProgram(body, timer, hemisphere)


def structural(pools: Mapping[int, Sequence[int]], timer: Timer, eta: float = 0.5,
               decay: int = 1, threshold: int = 4, w_init: int = 8,
               columns: Sequence[int] | None = None, hemisphere: int = 0
               ) -> PlasticityProgram:
    """Structural plasticity: label rewiring that keeps the fan-in fixed (module
    docstring; the scheme of Billaudelle et al. 2021, "Structural plasticity on an
    accelerated analog neuromorphic hardware system", Neural Networks 133).

    Correlation-driven growth and a constant decay weaken the synapses whose source does
    not help their neuron fire; a synapse that falls below ``threshold`` is given a new
    presynaptic partner (a random label from its row's pool) and starts again at
    ``w_init``. No synapse is added or removed, so every neuron keeps its fan-in.

    Parameters
    ----------
    pools
        Row -> the labels it may take (6-bit; the addresses of the units its synapse
        driver carries: :meth:`~neurotwin.bss2.ppu.program.PPURuntime.driver_labels`).
        The rows treated are its keys.
    eta
        Weight LSB per causal sensor LSB, in [0, 1).
    decay, threshold, w_init
        Weight LSB: taken off per call (0..63), the pruning level (1..63) and a rewired
        synapse's weight (threshold..63).
    columns
        The columns that may be rewired (None: all 256; pass the columns that have a
        neuron, :meth:`~neurotwin.bss2.ppu.program.PPURuntime.column_neurons`).
    """
    chosen = _rows(list(pools))
    pool = {r: np.asarray(pools[r], np.int64) for r in chosen}
    for r, labels in pool.items():
        if not labels.size or labels.min() < 0 or labels.max() > specs.ADDRESS_MAX:
            raise ProgramError(f"the label pool of row {r} must hold 6-bit labels "
                               f"(0..{specs.ADDRESS_MAX}), got {labels.tolist()}")
    if not (0 <= decay <= specs.WEIGHT_MAX and 1 <= threshold <= specs.WEIGHT_MAX
            and threshold <= w_init <= specs.WEIGHT_MAX):
        raise ProgramError(f"need 0 <= decay <= 63, 1 <= threshold <= w_init <= 63; got "
                           f"decay {decay}, threshold {threshold}, w_init {w_init}")
    q = to_q15(eta)
    active = np.zeros(specs.SYNRAM_COLUMNS, np.int64)
    active[_columns(columns)] = 1

    def body(ppu: PPU, call: int) -> None:
        c = _above_reset(ppu, ppu.read_causal(list(chosen)), ppu.baseline_code())
        w = ppu.read_weights(list(chosen))
        grown = ppu.add_fs(w, scale_round(ppu, c, q), bits=16)
        w = saturate_weights(ppu, ppu.sub_fs(grown, ppu.splat(decay, w.shape, 16), bits=16))
        below = ppu.sub_fs(w, ppu.splat(threshold, w.shape, 16), bits=16)
        # columns that may not be rewired compare as above the threshold
        below = ppu.select(np.broadcast_to(active, w.shape), below,
                           ppu.splat(1, w.shape, 16), "gt", bits=16)
        w = ppu.select(below, ppu.splat(w_init, w.shape, 16), w, "lt", bits=16)
        labels = ppu.read_labels(list(chosen))
        for i, col in np.argwhere(below < 0):
            options = pool[chosen[i]]
            labels[i, col] = options[ppu.random() % options.size]
            ppu.scalar(3)  # modulo, pool lookup, lane insert
        ppu.write_weights(list(chosen), None, w)
        ppu.write_labels(list(chosen), None, labels)
        ppu.reset_correlation(list(chosen))

    return PlasticityProgram(body, timer, hemisphere)
