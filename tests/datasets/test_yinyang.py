"""Yin-Yang generator: identity with the reference generator, geometry, balance, seeds."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from neurotwin.datasets import yinyang_class, yinyang_samples, yinyang_splits
from neurotwin.errors import ConfigError

# Golden values: obtained by running the reference generator unmodified
# (lkriener/yin_yang_data_set, dataset.py at commit 121a380, class YinYangDataset with
# size/seed 5000/42, 1000/41, 1000/40; numpy 2.3.5, x86-64) and stacking its samples into
# float64 arrays. sha256 is over the little-endian float64 bytes, resp. int64 labels.
GOLDEN = {
    "train": {
        "inputs_sha256": "f5a4054d56f2a058f8250fba7ff9720458e1625db7af78a295e45701745b2228",
        "labels_sha256": "534d12acda4f9dbc7208a99d3646115a4aa7d74ca31d6d23f822079a568559b7",
        "counts": [1681, 1702, 1617],
        "first": [0.6803075385877797, 0.450499251969543, 0.3196924614122203, 0.549500748030457],
        "last": [0.7690797231107925, 0.5883389337522971, 0.23092027688920747,
                 0.41166106624770293],
        "labels": [2, 1, 2, 1, 1, 1, 0, 2, 2, 0, 1, 1],
    },
    "validation": {
        "inputs_sha256": "5eac358bdf2122763dce3703a79f3005e56e46a4db25ec329a07333d0f7b8093",
        "labels_sha256": "5a4c2f605814a620f514c1091f10441ce562cd81e902ce701b3cf94ae7576f7d",
        "counts": [316, 336, 348],
        "first": [0.6805727261759029, 0.3209733938933629, 0.3194272738240971,
                  0.6790266061066371],
        "last": [0.7107040957004825, 0.804733352731108, 0.28929590429951746,
                 0.19526664726889198],
        "labels": [0, 1, 0, 0, 2, 1, 1, 1, 1, 2, 2, 2],
    },
    "test": {
        "inputs_sha256": "7bab3ed668ed4992679cff6339fe21bfe7d0c921ddc6187eaa3bc6ef34b888d7",
        "labels_sha256": "daa0f8f4e3b37b1ddec2afee22f09afb768f0e575f3f568e7469f1ebc6af73c1",
        "counts": [350, 316, 334],
        "first": [0.23409664559563403, 0.4017249751828972, 0.765903354404366,
                  0.5982750248171028],
        "last": [0.32834060537145815, 0.3899830419619741, 0.6716593946285419,
                 0.6100169580380259],
        "labels": [2, 2, 1, 1, 1, 2, 2, 0, 2, 2, 0, 1],
    },
}
SIZES = {"train": 5000, "validation": 1000, "test": 1000}


@pytest.fixture(scope="module")
def splits():
    return yinyang_splits()


def _geometric_label(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class from the shape, written independently: squared distances, half-discs."""
    c = 0.5
    in_left_half_disc = (x - 0.25) ** 2 + (y - c) ** 2 <= 0.25**2
    in_right_half_disc = (x - 0.75) ** 2 + (y - c) ** 2 <= 0.25**2
    in_dot = ((x - 0.25) ** 2 + (y - c) ** 2 < 0.01) | ((x - 0.75) ** 2 + (y - c) ** 2 < 0.01)
    upper_region = (y > c) & ~in_right_half_disc
    label = np.where(upper_region | in_left_half_disc, 1, 0)
    return np.where(in_dot, 2, label)


@pytest.mark.parametrize("name", ["train", "validation", "test"])
def test_identical_to_reference_generator(splits, name):
    samples = getattr(splits, name)
    gold = GOLDEN[name]
    assert samples.inputs.shape == (SIZES[name], 4)
    assert samples.inputs.dtype == np.float64
    assert samples.inputs[0].tolist() == gold["first"]
    assert samples.inputs[-1].tolist() == gold["last"]
    assert samples.labels[:12].tolist() == gold["labels"]
    assert np.bincount(samples.labels).tolist() == gold["counts"]
    inputs_bytes = samples.inputs.astype("<f8").tobytes()
    labels_bytes = samples.labels.astype("<i8").tobytes()
    assert hashlib.sha256(inputs_bytes).hexdigest() == gold["inputs_sha256"]
    assert hashlib.sha256(labels_bytes).hexdigest() == gold["labels_sha256"]


@pytest.mark.parametrize("name", ["train", "validation", "test"])
def test_labels_match_independent_geometry(splits, name):
    samples = getattr(splits, name)
    x, y = samples.inputs[:, 0], samples.inputs[:, 1]
    assert np.all((x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25 + 1e-12)
    np.testing.assert_array_equal(samples.labels, _geometric_label(x, y))
    assert np.array_equal(samples.inputs[:, 2], 1.0 - x)
    assert np.array_equal(samples.inputs[:, 3], 1.0 - y)


def test_classes_balanced(splits):
    # goal classes are uniform: each count is Binomial(n, 1/3); allow 4 standard deviations
    for samples in (splits.train, splits.validation, splits.test):
        n = len(samples)
        counts = np.bincount(samples.labels, minlength=3)
        assert np.all(np.abs(counts - n / 3) < 4 * math.sqrt(n * 2 / 9))


def test_same_seed_same_data_different_seed_differs():
    a, b, c = yinyang_samples(200, 7), yinyang_samples(200, 7), yinyang_samples(200, 8)
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.labels, b.labels)
    assert np.all(a.inputs != c.inputs)


def test_smaller_size_is_prefix(splits):
    head = yinyang_samples(50, 42)
    assert np.array_equal(head.inputs, splits.train.inputs[:50])
    assert np.array_equal(head.labels, splits.train.labels[:50])
    assert len(yinyang_samples(0, 42)) == 0


def test_larger_split_continues_the_published_stream(splits):
    # a validation set of 1500: the published 1000 (its reference hash), then new samples
    big = yinyang_splits(train_size=1, validation_size=1500, test_size=1).validation
    head = big.inputs[:1000]
    assert hashlib.sha256(head.astype("<f8").tobytes()).hexdigest() == \
        GOLDEN["validation"]["inputs_sha256"]
    assert np.array_equal(big.labels[:1000], splits.validation.labels)
    tail = big.inputs[1000:]
    assert len(tail) == 500 and not np.isin(tail[:, 0], splits.validation.inputs[:, 0]).any()
    assert np.array_equal(yinyang_class(tail[:, 0], tail[:, 1]), big.labels[1000:])


def test_class_areas_match_shape():
    # uniform points in the square: class frequencies are the analytic areas
    points = np.random.default_rng(3).random((2, 20000))
    labels = yinyang_class(points[0], points[1])
    dots = 2 * math.pi * 0.1**2
    halves = (math.pi * 0.25 - dots) / 2
    expected = {-1: 1 - math.pi * 0.25, 0: halves, 1: halves, 2: dots}
    for label, area in expected.items():
        fraction = np.mean(labels == label)
        assert abs(fraction - area) < 4 * math.sqrt(area * (1 - area) / points.shape[1])


def test_class_is_point_symmetric():
    # rotating by 180 degrees about the centre swaps classes 0 and 1 and keeps dots
    grid = np.linspace(0.0, 1.0, 61)
    x, y = np.meshgrid(grid, grid)
    x, y = x + 1e-7, y + 3e-7  # keep off the boundaries, where rotation is not exact
    here, there = yinyang_class(x, y), yinyang_class(1.0 - x, 1.0 - y)
    inside = here >= 0
    assert np.array_equal(inside, there >= 0)
    swap = np.array([1, 0, 2])
    np.testing.assert_array_equal(there[inside], swap[here[inside]])


def test_class_of_known_points():
    labels = yinyang_class([0.5, 0.25, 0.75, 0.5, 0.5, 0.02], [0.9, 0.5, 0.5, 0.1, 0.5, 0.02])
    # top: upper half (1); left dot (2); right dot (2); bottom (0); centre: on the lower
    # boundary of the left half-disc (1); corner: outside (-1)
    assert labels.tolist() == [1, 2, 2, 0, 1, -1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": -1, "seed": 0}, "size"),
        ({"size": 2.5, "seed": 0}, "size"),
        ({"size": 3, "seed": 2**32}, "seed"),
        ({"size": 3, "seed": -1}, "seed"),
        ({"size": 3, "seed": 0, "r_small": 0.25}, "r_small"),
        ({"size": 3, "seed": 0, "r_small": 0.0}, "r_small"),
        ({"size": 3, "seed": 0, "r_big": float("nan")}, "r_big"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        yinyang_samples(**kwargs)
