"""The twin's int8 inference equals torch's int8 model bit for bit."""

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2 import Machine, dnn

from .conftest import cnn, images, mlp


def _check_equal(qmodel: dnn.QuantisedModel, program: dnn.DnnProgram, x: torch.Tensor) -> None:
    codes = dnn.run_dnn(program, dnn.quantise_input(qmodel, x))
    reference = dnn.reference_codes(qmodel, x)
    assert codes.dtype == np.uint8 and codes.shape == reference.shape
    np.testing.assert_array_equal(codes, reference)


def test_cnn_equals_torch_int8(cnn_model):
    assert [type(layer).__name__ for layer in cnn_model.layers] == [
        "MacLayer", "Pool", "MacLayer", "Pool", "Relu", "Flatten", "MacLayer", "MacLayer"]
    _check_equal(cnn_model, dnn.deploy(cnn_model), images(300, 1))


def test_mlp_equals_torch_int8(mlp_model):
    _check_equal(mlp_model, dnn.deploy(mlp_model), images(300, 2))


def test_per_tensor_weights_equal_torch_int8():
    qmodel = dnn.quantise(cnn(), images(64, 0), per_channel=False)
    assert all(np.unique(layer.multiplier).size == 1
               for layer in qmodel.layers if isinstance(layer, dnn.MacLayer))
    _check_equal(qmodel, dnn.deploy(qmodel), images(200, 3))


def test_split_over_many_pes_is_still_exact(cnn_model):
    program = dnn.deploy(cnn_model, max_cycles_per_pe=600)
    assert all(len(stage.slices) > 1 for stage in program.stages)
    _check_equal(cnn_model, program, images(100, 4))


def test_reduction_cut_for_the_29_bit_accumulator_is_exact():
    # 9,000 products of up to 255 x 127 exceed 2^28: the reduction is cut into parts
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(9000, 4)).eval()
    with torch.no_grad():
        model[0].weight.fill_(0.02)
    x = torch.rand(20, 9000) * 4.0
    qmodel = dnn.quantise(model, x)
    program = dnn.deploy(qmodel)
    assert len(program.stages[0].chunks) == 2
    _check_equal(qmodel, program, x)


def test_codes_of_the_wrong_shape_or_type_are_refused(mlp_model):
    program = dnn.deploy(mlp_model)
    with pytest.raises(ConfigError, match="uint8"):
        dnn.run_dnn(program, np.zeros((2, 1, 28, 28), dtype=np.int64))
    with pytest.raises(ConfigError, match="shape"):
        dnn.run_dnn(program, np.zeros((2, 28, 28), dtype=np.uint8))


def test_machine_with_dead_pes(mlp_model):
    from neurotwin.spinnaker2 import DeadPE

    program = dnn.deploy(mlp_model, Machine(board_chips=1, faults=[DeadPE(0, 0, 0)]))
    assert all(sl.pe != 0 for stage in program.stages for sl in stage.slices)
    _check_equal(mlp_model, program, images(50, 6))


def test_mlp_deploys_on_the_default_single_chip():
    program = dnn.deploy(dnn.quantise(mlp(), images(16, 0)))
    assert program.machine.n_chips == 1
