"""Models with fixed random weights shared by the DNN twin tests."""

import pytest
import torch
from torch import nn

from neurotwin.spinnaker2 import dnn


def cnn() -> nn.Sequential:
    """Every supported layer: padding, stride 2, max and average pooling, a ReLU that is
    not fused (after pooling), Flatten, Linear with and without ReLU."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 10, 3, stride=2), nn.AvgPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(10 * 3 * 3, 24), nn.ReLU(), nn.Linear(24, 10),
    ).eval()


def mlp() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 40), nn.ReLU(), nn.Linear(40, 10)).eval()


def images(n: int, seed: int) -> torch.Tensor:
    """Random images with negative values too, so that zero points are not 0."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2.0 - 0.5


@pytest.fixture(scope="module")
def cnn_model() -> dnn.QuantisedModel:
    return dnn.quantise(cnn(), images(64, 0))


@pytest.fixture(scope="module")
def mlp_model() -> dnn.QuantisedModel:
    return dnn.quantise(mlp(), images(64, 0))
