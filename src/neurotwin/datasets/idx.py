"""Reader of the IDX array format (LeCun's MNIST files), plain or gzip-compressed.

Layout, all integers big-endian::

    byte 0, 1      0, 0
    byte 2         element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                   0x0D float32, 0x0E float64
    byte 3         number of dimensions d >= 1
    4 .. 4+4d      d sizes, uint32 each
    then           prod(sizes) elements, row-major

The first four bytes read as one uint32 are the *magic number*: 2051 (0x00000803) for
MNIST images (uint8, 3 dims), 2049 (0x00000801) for labels (uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from neurotwin.errors import DataError

__all__ = ["IDX_TYPES", "read_idx"]

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX element type code -> big-endian numpy dtype."""

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == _GZIP_MAGIC else open
        with opener(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as error:
        # gzip reports a cut-off stream as EOFError and a damaged one as OSError/zlib.error
        raise DataError(f"{path}: cannot read: {error}") from error


def read_idx(path: str | os.PathLike[str], *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file into an array, checking its header against its size.

    Parameters
    ----------
    path
        The file; gzip-compressed content is recognised by its first bytes.
    magic
        If given, the required magic number (e.g. 2051 for MNIST images).

    Returns
    -------
    numpy.ndarray
        The elements in native byte order, of the shape the header declares.

    Raises
    ------
    DataError
        Naming the file: unreadable or damaged gzip stream, wrong or unexpected magic
        number, header or data shorter than declared, or bytes after the data.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: truncated header: {len(data)} bytes, need at least 4")
    found = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPES)
        raise DataError(
            f"{path}: bad magic number 0x{found:08X}: an IDX file starts with bytes 0, 0, "
            f"a type code ({known}) and a dimension count >= 1"
        )
    if magic is not None and found != magic:
        raise DataError(f"{path}: magic number 0x{found:08X}, expected 0x{magic:08X}")
    dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated header: {len(data)} bytes, {ndim} dimensions need {header}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    held = len(data) - header
    if held < expected:
        raise DataError(
            f"{path}: truncated data: header declares shape {shape} of {dtype.name} "
            f"({expected} bytes), file holds {held} bytes"
        )
    if held > expected:
        raise DataError(
            f"{path}: {held - expected} unexpected bytes after the data of shape {shape}"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header)
    return array.reshape(shape).astype(dtype.newbyteorder("="))
