"""IDX reader: valid files of each type, plain and gzip; every kind of damage is a DataError
that names the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from neurotwin.datasets import read_idx
from neurotwin.errors import DataError

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written from the format description, independent of the reader."""
    header = struct.pack(">BBBB", 0, 0, TYPE_CODES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", list(TYPE_CODES))
def test_reads_every_type(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype is np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(array))
    out = read_idx(path)
    assert out.shape == (2, 3, 4)
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_reads_gzip_and_checks_magic(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(path, magic=0x00000801), labels)
    with pytest.raises(DataError, match=r"labels\.gz.*0x00000801, expected 0x00000803"):
        read_idx(path, magic=0x00000803)


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda b: b"\x01" + b[1:], "bad magic number 0x01000803"),
        (lambda b: b[:2] + b"\x07" + b[3:], "bad magic number 0x00000703"),
        (lambda b: b[:3] + b"\x00" + b[4:], "bad magic number 0x00000800"),
        (lambda b: b[:3], "truncated header: 3 bytes"),
        (lambda b: b[:10], "truncated header: 10 bytes, 3 dimensions need 16"),
        (lambda b: b[:-1], r"truncated data: header declares shape \(2, 3, 4\).*23 bytes"),
        (lambda b: b + b"\x00\x00", "2 unexpected bytes after the data"),
        (lambda b: b"", "truncated header: 0 bytes"),
    ],
)
def test_damaged_files_raise_data_error_naming_file(tmp_path, mangle, match):
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(mangle(good))
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: cannot read"):
        read_idx(path)


def test_corrupt_gzip_stream(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8))))
    compressed[20:40] = b"\xff" * 20
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DataError, match=r"bad\.gz: cannot read"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_idx(tmp_path / "absent")
