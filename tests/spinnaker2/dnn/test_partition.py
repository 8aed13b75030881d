"""Cutting a model into PE slices: SRAM, accumulator range, PEs, placement."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.errors import CapacityError
from neurotwin.spinnaker2 import Machine, dnn, specs
from neurotwin.spinnaker2.dnn.partition import reduction_chunks

from .conftest import images


def test_slices_cover_every_output_once_and_fit_sram(cnn_model):
    program = dnn.deploy(cnn_model, max_cycles_per_pe=2000)
    places = [(sl.chip, sl.pe) for stage in program.stages for sl in stage.slices]
    assert len(set(places)) == len(places) == program.n_pes
    for stage in program.stages:
        covered = np.concatenate([np.arange(*sl.outputs) for sl in stage.slices])
        np.testing.assert_array_equal(covered, np.arange(stage.layer.n_outputs))
        assert all(sl.sram_bytes <= specs.PE_DATA_BYTES for sl in stage.slices)


def test_sram_of_a_linear_slice_by_hand():
    model = nn.Sequential(nn.Linear(100, 20)).eval()
    program = dnn.deploy(dnn.quantise(model, torch.rand(8, 100)))
    (sl,) = program.stages[0].slices
    # reserved + input + weights + constants + accumulators and codes
    assert sl.sram_bytes == specs.PE_RESERVED_DATA_BYTES + 100 + 20 * 100 + 12 * 20 + 5 * 20


def test_a_layer_whose_one_channel_does_not_fit_names_layer_and_limit():
    model = nn.Sequential(nn.Flatten(), nn.Linear(100_000, 2)).eval()
    qmodel = dnn.quantise(model, torch.rand(4, 100_000))
    with pytest.raises(CapacityError, match=r"PE data memory.*available 98304.*layer 1 \(Linear\)"):
        dnn.deploy(qmodel)


def test_too_few_pes():
    model = nn.Sequential(nn.Linear(64, 200)).eval()
    qmodel = dnn.quantise(model, torch.rand(4, 64))
    with pytest.raises(CapacityError, match=r"not enough PEs: needed 200, available 152.*layer 0"):
        dnn.deploy(qmodel, max_cycles_per_pe=1)
    assert dnn.deploy(qmodel, Machine(n_boards=1), max_cycles_per_pe=1).n_pes == 200


def test_reduction_chunks_keep_every_sum_in_the_accumulator():
    model = nn.Sequential(nn.Linear(20_000, 3)).eval()
    torch.manual_seed(0)
    qmodel = dnn.quantise(model, torch.rand(4, 20_000))
    layer = qmodel.layers[0]
    chunks = reduction_chunks(layer)
    assert chunks[0][0] == 0 and chunks[-1][1] == 20_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    worst = 255 * np.abs(layer.weight.astype(np.int64))
    for start, stop in chunks:
        assert worst[:, start:stop].sum(axis=1).max() <= specs.MAC_ACCUMULATOR_MAX


def test_reduction_chunks_of_full_scale_weights_by_hand():
    model = nn.Sequential(nn.Linear(20_000, 1, bias=False)).eval()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    layer = dnn.quantise(model, torch.rand(4, 20_000)).layers[0]
    assert int(np.abs(layer.weight).max()) == 127
    per_chunk = specs.MAC_ACCUMULATOR_MAX // (255 * 127)
    assert reduction_chunks(layer) == ((0, per_chunk), (per_chunk, 2 * per_chunk),
                                       (2 * per_chunk, 20_000))


def test_stages_hold_the_layers_before_and_after(cnn_model):
    program = dnn.deploy(cnn_model)
    assert [len(s.before) for s in program.stages] == [0, 0, 0, 0]
    assert [len(s.after) for s in program.stages] == [1, 3, 0, 0]
    assert program.stages[0].in_shape == (1, 28, 28)
    assert images(1, 0).shape[1:] == program.stages[0].in_shape
