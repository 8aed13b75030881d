"""16 KiB per PPU: data that does not fit is a CapacityError, access outside the memory
a ProgramError."""

import numpy as np
import pytest

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu import Memory, ProgramError
from neurotwin.errors import CapacityError


def test_buffers_round_trip_and_fill_16_kib():
    assert specs.PPU_MEMORY_BYTES == 16384
    mem = Memory(code_bytes=4096)
    a = mem.allocate("a", 128, bits=8)
    b = mem.allocate("b", 64, bits=16)
    mem.write(a, np.arange(-64, 64))
    mem.write(b, np.arange(64) * 500 - 16000)
    np.testing.assert_array_equal(mem.read(a), np.arange(-64, 64))
    np.testing.assert_array_equal(mem.read(b), np.arange(64) * 500 - 16000)
    mem.allocate("rest", 16384 - 4096 - 256, bits=8)
    assert mem.used == 16384
    with pytest.raises(CapacityError, match="PPU memory"):
        mem.allocate("one more", 1)


def test_code_alone_beyond_16_kib():
    with pytest.raises(CapacityError):
        Memory(code_bytes=16385)


def test_access_outside_the_memory_names_the_limit():
    mem = Memory()
    buf = mem.allocate("last", 16384, bits=8)
    with pytest.raises(ProgramError, match=r"outside the PPU memory \[0, 16384\)"):
        mem.read(buf, offset=16380, count=8)
    with pytest.raises(ProgramError, match="8-bit lanes"):
        mem.write(buf, np.array([200]))
