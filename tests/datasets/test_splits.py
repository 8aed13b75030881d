"""Samples/Splits containers: shapes and dtypes are checked at construction."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.datasets import Samples, Splits
from neurotwin.errors import ConfigError


def test_samples_basics():
    samples = Samples(np.zeros((3, 2)), np.array([0, 1, 2], dtype=np.int32))
    assert len(samples) == 3 and samples.n_features == 2
    assert samples.labels.dtype == np.int64
    splits = Splits(train=samples, test=samples)
    assert splits.validation is None


@pytest.mark.parametrize(
    ("inputs", "labels", "match"),
    [
        (np.zeros(3), np.zeros(3, int), "inputs"),
        (np.zeros((3, 2), int), np.zeros(3, int), "inputs"),
        (np.zeros((3, 2)), np.zeros(3), "labels"),
        (np.zeros((3, 2)), np.zeros((3, 1), int), "labels"),
        (np.zeros((3, 2)), np.zeros(2, int), "one label per input row"),
    ],
)
def test_samples_validation(inputs, labels, match):
    with pytest.raises(ConfigError, match=match):
        Samples(inputs, labels)
