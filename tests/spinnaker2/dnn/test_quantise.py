"""Models the twin refuses, with errors that name the layer and the limit."""

import pytest
import torch
from torch import nn

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2 import dnn

from .conftest import images, mlp


def _calibration() -> torch.Tensor:
    return images(8, 0)


@pytest.mark.parametrize(("model", "match"), [
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Sigmoid()),
     r"layer 2 \(Sigmoid\) is not supported.*supported: Linear, Conv2d"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)), r"layer 1 \(BatchNorm2d\)"),
    (nn.Sequential(nn.Conv2d(1, 4, 3, groups=1, dilation=2)), r"layer 0 \(Conv2d\).*dilation"),
    (nn.Sequential(nn.Conv2d(1, 4, 3, padding="same")), r"layer 0 \(Conv2d\).*padding"),
    (nn.Sequential(nn.MaxPool2d(2, padding=1), nn.Flatten(), nn.Linear(225, 2)),
     r"layer 0 \(MaxPool2d\).*padding=0"),
    (nn.Sequential(nn.Flatten(0), nn.Linear(784, 2)), r"layer 0 \(Flatten\)"),
    (nn.Sequential(nn.Flatten(), nn.ReLU()), "no Linear or Conv2d"),
])
def test_unsupported_layers_are_named(model, match):
    with pytest.raises(ConfigError, match=match):
        dnn.quantise(model, _calibration())


def test_not_sequential_is_refused():
    with pytest.raises(ConfigError, match=r"nn\.Sequential"):
        dnn.quantise(nn.Linear(784, 10), _calibration())  # type: ignore[arg-type]


@pytest.mark.parametrize(("bad", "what"), [(float("nan"), "weight"), (float("inf"), "bias")])
def test_weights_that_do_not_quantise_are_named(bad, what):
    model = mlp()
    with torch.no_grad():
        getattr(model[3], what).view(-1)[:2] = bad
    with pytest.raises(ConfigError, match=rf"layer 3 \(Linear\): {what} has 2 NaN or infinite"):
        dnn.quantise(model, _calibration())


def test_bad_calibration_is_refused():
    x = _calibration()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ConfigError, match="calibration data has NaN"):
        dnn.quantise(mlp(), x)
    with pytest.raises(ConfigError, match="N >= 1"):
        dnn.quantise(mlp(), torch.zeros(0, 1, 28, 28))


def test_quantise_leaves_the_float_model_alone_and_restores_the_engine():
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    engine = torch.backends.quantized.engine
    qmodel = dnn.quantise(model, _calibration())
    assert torch.backends.quantized.engine == engine
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert isinstance(model[1], nn.Linear)
    # the fused ReLU is part of the first MAC layer
    assert [type(layer).__name__ for layer in qmodel.layers] == ["Flatten", "MacLayer", "MacLayer"]
    assert qmodel.layers[1].relu and not qmodel.layers[2].relu
