"""The PPU's memory: 16 KiB per processor for its program's data, checked access.

A program declares its data once (:meth:`Memory.allocate`: name, lanes, bit width);
more than :data:`~neurotwin.bss2.specs.PPU_MEMORY_BYTES` in all is a
:class:`~neurotwin.errors.CapacityError`. Reads and writes go through byte addresses;
one outside the memory is a :class:`~neurotwin.bss2.ppu.errors.ProgramError` naming the
address and the limit. The code itself is not counted (the twin runs Python, not PPU
instructions): ``code_bytes`` reserves what the real program's instructions would take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu.errors import ProgramError
from neurotwin.errors import CapacityError, check_int

__all__ = ["Buffer", "Memory"]


@dataclass(frozen=True)
class Buffer:
    """A named block of the memory: ``size`` signed lanes of ``bits`` bits from byte
    address ``address``."""

    name: str
    address: int
    size: int
    bits: int

    @property
    def nbytes(self) -> int:
        """Bytes the block takes."""
        return self.size * self.bits // 8


class Memory:
    """One PPU's memory (bytes), with its program's buffers.

    Parameters
    ----------
    code_bytes
        Bytes reserved for the program's instructions (default 0).
    size
        Bytes of memory (default the chip's 16 KiB).
    """

    def __init__(self, code_bytes: int = 0, size: int = specs.PPU_MEMORY_BYTES) -> None:
        check_int("code_bytes", code_bytes, low=0)
        self.size = check_int("size", size, low=1)
        if code_bytes > self.size:
            raise CapacityError("PPU memory", code_bytes, self.size,
                                "bytes of program code")
        self._bytes = np.zeros(self.size, np.uint8)
        self._next = code_bytes
        self.buffers: dict[str, Buffer] = {}

    @property
    def used(self) -> int:
        """Bytes taken by code and buffers."""
        return self._next

    def allocate(self, name: str, size: int, bits: int = 8) -> Buffer:
        """Reserve ``size`` lanes of ``bits`` (8 or 16) bits; CapacityError past 16 KiB."""
        if name in self.buffers:
            raise ProgramError(f"buffer {name!r} is already allocated")
        check_int("size", size, low=1)
        if bits not in (8, 16):
            raise ProgramError(f"buffers hold 8- or 16-bit lanes, got {bits!r}")
        need = size * bits // 8
        if self._next + need > self.size:
            raise CapacityError("PPU memory", self._next + need, self.size,
                                f"bytes; buffer {name!r} needs {need}")
        buf = Buffer(name, self._next, size, bits)
        self._next += need
        self.buffers[name] = buf
        return buf

    def _span(self, address: int, nbytes: int) -> slice:
        if address < 0 or address + nbytes > self.size:
            raise ProgramError(f"access to bytes [{address}, {address + nbytes}) lies "
                               f"outside the PPU memory [0, {self.size})")
        return slice(address, address + nbytes)

    def read(self, buffer: Buffer, offset: int = 0, count: int | None = None) -> np.ndarray:
        """Lanes ``offset .. offset + count`` of ``buffer`` as signed int64."""
        count = buffer.size - offset if count is None else count
        width = buffer.bits // 8
        raw = self._bytes[self._span(buffer.address + offset * width, count * width)]
        dtype = np.int8 if buffer.bits == 8 else np.dtype("<i2")
        return raw.view(dtype).astype(np.int64)

    def write(self, buffer: Buffer, values: np.ndarray, offset: int = 0) -> None:
        """Store ``values`` (signed, must fit the lanes) from lane ``offset`` of ``buffer``."""
        values = np.asarray(values, np.int64)
        low, high = -(1 << (buffer.bits - 1)), (1 << (buffer.bits - 1)) - 1
        if values.size and (values.min() < low or values.max() > high):
            raise ProgramError(f"buffer {buffer.name!r} holds {buffer.bits}-bit lanes "
                               f"[{low}, {high}], got {values.min()}..{values.max()}")
        width = buffer.bits // 8
        span = self._span(buffer.address + offset * width, values.size * width)
        dtype = np.int8 if buffer.bits == 8 else np.dtype("<i2")
        self._bytes[span] = values.astype(dtype).view(np.uint8)
