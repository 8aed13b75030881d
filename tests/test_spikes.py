"""The padded spike-batch format: one validation for datasets and engines, and reading the
first spike of each neuron off a batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurotwin.errors import ConfigError
from neurotwin.spikes import PAD_ID, Spikes, check_padded_batch, collect_spikes, first_spike_times

INF = math.inf


def test_validation_names_the_caller_arrays():
    times, ids = np.array([[1.0, INF]]), np.array([[3, PAD_ID]])
    check_padded_batch(times, ids, 4)
    with pytest.raises(ConfigError, match=r"input_ids must lie in \[0, 3\) \(rows of w\)"):
        check_padded_batch(times, ids, 3, names=("input_times", "input_ids"),
                           sources=" (rows of w)")  # fmt: skip
    with pytest.raises(ConfigError, match="each row of input_times must be ascending"):
        check_padded_batch(np.array([[2.0, 1.0]]), np.array([[0, 0]]), 1,
                           names=("input_times", "input_ids"))  # fmt: skip


def test_first_spike_times_and_collect():
    b = torch.tensor([0, 1, 0, 0])
    n = torch.tensor([2, 0, 2, 1])
    t = torch.tensor([3.0, 1.0, 2.0, 2.0], dtype=torch.float64)
    spikes = collect_spikes([(b, n, t)], batch=3, dtype=torch.float64, device=torch.device("cpu"))
    assert spikes.ids.tolist() == [[1, 2, 2], [0, PAD_ID, PAD_ID], [PAD_ID] * 3]
    assert spikes.times[0].tolist() == [2.0, 2.0, 3.0]
    first = first_spike_times(Spikes(spikes.times, spikes.ids), 3)
    assert first.tolist() == [[INF, 2.0, 2.0], [1.0, INF, INF], [INF, INF, INF]]
