r"""The PPU's vector unit: signed fixed-point lanes with the chip's saturating numerics.

A vector register is :data:`~neurotwin.bss2.specs.PPU_VECTOR_BITS` = 1024 bit wide: 128
lanes of 8 bit or 64 lanes of 16 bit (libnux ``VectorFracSat8`` / ``VectorFracSat16``).
A lane holds a signed integer ``x`` of ``bits`` bits that reads as the fraction
``x / 2**(bits - 1)`` (Q0.7 / Q0.15). With ``sat`` the clamp to the lane
(:func:`~neurotwin.bss2.specs.ppu_saturate`, the one place the numerics live) and
``F = bits - 1``, the instructions are, lane by lane::

    add_fs(a, b)    = sat(a + b)                      fxvaddbfs / fxvaddhfs
    sub_fs(a, b)    = sat(a - b)                      fxvsubbfs / fxvsubhfs
    mul_fs(a, b)    = sat(floor(a * b / 2**F))        fxvmulbfs / fxvmulhfs
    add_m(a, b)     = wrap(a + b)                     fxvaddbm  (modulo, two's complement)
    shift(a, n)     = wrap(a * 2**n)  for n >= 0      fxvshb / fxvshh (modulo)
                    = floor(a / 2**-n) for n < 0      (arithmetic right shift)
    select(c, a, b, cond) = a where cond(c) else b    fxvcmpb c; fxvsel (cond: gt, lt, eq
                                                      against 0)

The multiply truncates towards minus infinity: libnux builds its right shift by ``n`` as
``fxvmulbfs`` with ``1 << (7 - n)``, which is exact only for that rounding; the one
product that overflows, ``-1 * -1``, saturates to ``2**F - 1``. Rounding to nearest is
a program's business (add half an LSB before the shift), as on the chip.

Arrays of any length are accepted; their cost is ``ceil(size / lanes)`` vector
instructions (:func:`vector_ops`). Values must already fit the lane: a value outside it
is a :class:`~neurotwin.bss2.ppu.errors.ProgramError` (the register cannot hold it).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu.errors import ProgramError

__all__ = ["Condition", "add_fs", "add_m", "lanes", "mul_fs", "select", "shift", "splat",
           "sub_fs", "vector_ops"]

Condition = Literal["gt", "lt", "eq"]


def lanes(bits: int) -> int:
    """Lanes of one vector op: 128 for 8-bit, 64 for 16-bit lanes."""
    if bits == 8:
        return specs.PPU_LANES_8
    if bits == 16:
        return specs.PPU_LANES_16
    raise ProgramError(f"PPU lanes are 8 or 16 bit, got {bits!r}")


def vector_ops(size: int, bits: int) -> int:
    """Vector instructions needed for ``size`` lanes of ``bits`` bits."""
    return -(-int(size) // lanes(bits))


def _lane(name: str, value: Any, bits: int) -> np.ndarray:
    """``value`` as int64 after checking it fits a signed ``bits``-bit lane."""
    lanes(bits)
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ProgramError(f"{name}: vector lanes hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)  # results are new arrays: no copy needed
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if arr.size and (arr.min() < low or arr.max() > high):
        bad = arr[(arr < low) | (arr > high)].ravel()[0]
        raise ProgramError(f"{name}: {bad} does not fit a signed {bits}-bit lane "
                           f"[{low}, {high}]")
    return arr


def _wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap-around to a signed ``bits``-bit lane (modulo instructions)."""
    # a cast to the lane's width wraps exactly so (numpy casts integers modulo 2**bits)
    return values.astype(_LANE_TYPES[bits]).astype(np.int64)


_LANE_TYPES = {8: np.int8, 16: np.int16}


def splat(value: int, shape: int | tuple[int, ...], bits: int) -> np.ndarray:
    """``value`` in every lane of ``shape`` (fxvsplatb / fxvsplath)."""
    return np.full(shape, _lane("splat", value, bits).item(), np.int64)


def add_fs(a: Any, b: Any, bits: int = 8) -> np.ndarray:
    """Fractional saturating add: ``sat(a + b)``."""
    return specs.ppu_saturate(_lane("a", a, bits) + _lane("b", b, bits), bits, overwrite=True)


def sub_fs(a: Any, b: Any, bits: int = 8) -> np.ndarray:
    """Fractional saturating subtract: ``sat(a - b)``."""
    return specs.ppu_saturate(_lane("a", a, bits) - _lane("b", b, bits), bits, overwrite=True)


def mul_fs(a: Any, b: Any, bits: int = 8) -> np.ndarray:
    """Fractional saturating multiply: ``sat(floor(a * b / 2**(bits - 1)))``."""
    product = _lane("a", a, bits) * _lane("b", b, bits)
    # >> on int64 is floor division by a power of two (numpy shifts arithmetically)
    return specs.ppu_saturate(product >> specs.PPU_FRACTION_BITS[bits], bits, overwrite=True)


def add_m(a: Any, b: Any, bits: int = 8) -> np.ndarray:
    """Modulo add: ``a + b`` wrapped around the lane (two's complement)."""
    return _wrap(_lane("a", a, bits) + _lane("b", b, bits), bits)


def shift(a: Any, n: int, bits: int = 8) -> np.ndarray:
    """Shift by ``n`` bits: left (modulo) for n >= 0, arithmetic right for n < 0."""
    if not isinstance(n, (int, np.integer)) or abs(int(n)) >= bits:
        raise ProgramError(f"shift count must be an integer with |n| < {bits}, got {n!r}")
    arr = _lane("a", a, bits)
    return _wrap(arr << int(n), bits) if n >= 0 else arr >> int(-n)


def select(compared: Any, a: Any, b: Any, cond: Condition, bits: int = 8) -> np.ndarray:
    """``a`` in the lanes where ``compared`` is > 0 (gt), < 0 (lt) or == 0 (eq), else ``b``."""
    tests = {"gt": np.greater, "lt": np.less, "eq": np.equal}
    if cond not in tests:
        raise ProgramError(f"condition must be one of {sorted(tests)}, got {cond!r}")
    c = _lane("compared", compared, bits)
    return np.where(tests[cond](c, 0), _lane("a", a, bits), _lane("b", b, bits))
