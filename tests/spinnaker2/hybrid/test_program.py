"""Deploying a hybrid program: bad front ends, readouts and machines get clear errors."""

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.errors import CapacityError, ConfigError
from neurotwin.spinnaker2 import Machine, dnn, hybrid
from neurotwin.spinnaker2.hybrid import program as hybrid_program


def readout_of(n_features: int) -> hybrid.SpikingReadout:
    return hybrid.SpikingReadout(np.ones((3, n_features), np.int64), 2.0**-6)


def test_front_end_must_end_in_a_relu_and_be_flat(front_model, images):
    no_relu = dnn.quantise(front_model()[:-1], images(16, 0))
    with pytest.raises(ConfigError, match=r"must end in a ReLU \(layer 4 \(Linear\) has none\)"):
        hybrid.deploy_hybrid(no_relu, readout_of(24))
    torch.manual_seed(0)
    conv = dnn.quantise(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), images(16, 0))
    with pytest.raises(ConfigError, match=r"flat feature vector.*\(2, 26, 26\)"):
        hybrid.deploy_hybrid(conv, readout_of(2))


def test_readout_width_must_match(front):
    with pytest.raises(ConfigError, match="reads 23 features, the DNN stage gives 24"):
        hybrid.deploy_hybrid(front, readout_of(23))


def test_unsupported_layers_and_nan_weights_name_the_layer(images):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.Sigmoid())
    with pytest.raises(ConfigError, match=r"layer 2 \(Sigmoid\) is not supported"):
        dnn.quantise(model, images(8, 0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.ReLU())
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(ConfigError, match=r"layer 1 \(Linear\): weight has 1 NaN"):
        dnn.quantise(model, images(8, 0))


def test_no_pe_left_for_the_snn_stage(images):
    """A DNN stage cut into one PE per output takes all 152 PEs of the chip."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 152), nn.ReLU())
    front = dnn.quantise(model, images(8, 0))
    with pytest.raises(CapacityError, match=r"PEs: needed 1, available 0 \(SNN stage 'snn'"):
        hybrid.deploy_hybrid(front, readout_of(152), max_cycles_per_pe=1)


def test_features_per_sending_pe_are_limited_by_the_keys(front, monkeypatch):
    monkeypatch.setattr(hybrid_program, "MAX_FEATURES_PER_SENDER", 8)
    with pytest.raises(CapacityError, match=r"routing keys per sending PE: needed 24, "
                                            r"available 8 \(DNN stage layer 4 \(Linear\)"):
        hybrid.deploy_hybrid(front, readout_of(24))


def test_snn_chip_must_exist(front):
    with pytest.raises(ConfigError, match=r"snn_chip must lie in \[0, 0\]"):
        hybrid.deploy_hybrid(front, readout_of(24), Machine(board_chips=1), snn_chip=3)
