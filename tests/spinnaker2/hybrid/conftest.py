"""A small int8 CNN front end and a converted readout shared by the hybrid tests."""

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.spinnaker2 import dnn, hybrid

CODE = hybrid.RateCode(ticks=12, full_rate_code=40)


def _front_model() -> nn.Sequential:
    """Conv, pooling and Linear layers ending in a ReLU: 24 features."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 24), nn.ReLU()).eval()


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g)


@pytest.fixture(scope="session")
def code() -> hybrid.RateCode:
    return CODE


@pytest.fixture(scope="session")
def images() -> Callable[[int, int], torch.Tensor]:
    """Random images in [0, 1): ``images(n, seed)``."""
    return _images


@pytest.fixture(scope="session")
def front_model() -> Callable[[], nn.Sequential]:
    return _front_model


@pytest.fixture(scope="module")
def front() -> dnn.QuantisedModel:
    return dnn.quantise(_front_model(), _images(64, 0))


@pytest.fixture(scope="module")
def readout(front: dnn.QuantisedModel) -> hybrid.SpikingReadout:
    spikes = CODE.spikes(dnn.reference_codes(front, _images(64, 0)), front.output_zero_point)
    weight = np.random.default_rng(4).normal(size=(10, 24))
    return hybrid.readout_from_linear(weight, spikes.sum(axis=2), target_spikes=4.0)
