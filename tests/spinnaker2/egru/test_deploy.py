"""Placing an int8 EGRU/GRU: SRAM per slice, the fewest PEs, and clear refusals."""

import itertools

import numpy as np
import pytest

from neurotwin.errors import CapacityError, ConfigError
from neurotwin.spinnaker2 import Machine
from neurotwin.spinnaker2.egru import deploy_rnn
from neurotwin.spinnaker2.egru.deploy import slice_bytes
from neurotwin.spinnaker2.specs import PE_DATA_BYTES


def test_slice_bytes_by_hand(firing_model):
    q = firing_model("egru", 10, [0], n_inputs=3, n_classes=4)
    # 4096 reserved + 3*2*(3+10) weights + 4*2 output weights + 3*2*(20+8) constants and
    # accumulators + 8*2 state + 3 input + 4*10 events + 12*4 output sums
    assert slice_bytes(q, 2) == 4096 + 78 + 8 + 168 + 16 + 3 + 40 + 48


def test_sram_decides_the_split(firing_model):
    q = firing_model("gru", 300, [0], n_inputs=28)
    program = deploy_rnn(q)
    n = program.n_pes
    assert n > 1 and all(sl.sram_bytes <= PE_DATA_BYTES for sl in program.slices)
    assert slice_bytes(q, -(-300 // (n - 1))) > PE_DATA_BYTES   # one PE fewer would not fit
    units = [sl.units for sl in program.slices]
    assert units[0][0] == 0 and units[-1][1] == 300
    assert all(a[1] == b[0] for a, b in itertools.pairwise(units))


def test_a_unit_that_fits_no_pe_is_refused(firing_model):
    q = firing_model("egru", 2, [0], n_inputs=40_000)
    with pytest.raises(CapacityError, match=r"PE data memory \(bytes\): needed 164254, available "
                                            r"98304 \(EGRU layer \(I=40000, H=2, C=4\): one "
                                            r"hidden unit"):
        deploy_rnn(q)


def test_more_slices_than_pes_are_refused(firing_model):
    q = firing_model("egru", 200, [0], n_inputs=3)
    with pytest.raises(CapacityError, match=r"not enough PEs: needed 200, available 152 "
                                            r"\(EGRU layer"):
        deploy_rnn(q, Machine(board_chips=1), max_cycles_per_step=1)


def test_accumulator_overflow_is_refused(firing_model):
    q = firing_model("gru", 2, [0], n_inputs=9_000)
    q.w_ih[:] = 127   # 255 * 127 * 9000 > 2^28 - 1
    with pytest.raises(CapacityError, match=r"MAC accumulator.*GRU layer \(I=9000.*input product"):
        deploy_rnn(q)


def test_bad_options_are_refused(firing_model):
    q = firing_model("egru", 4, [0])
    with pytest.raises(ConfigError, match="max_cycles_per_step"):
        deploy_rnn(q, max_cycles_per_step=0)
    with pytest.raises(ConfigError, match="DVFS"):
        deploy_rnn(q, clock_mhz=200.0)
    assert np.isclose(deploy_rnn(q, clock_mhz=150.0).clock_mhz, 150.0)
