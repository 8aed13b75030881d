"""The twin's event-driven int8 EGRU/GRU: bit for bit the plain dense reference, and MAC work
that follows the event count."""

import numpy as np
import pytest
import torch

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2 import DeadPE, Machine
from neurotwin.spinnaker2.egru import (
    RnnClassifier,
    deploy_rnn,
    quantise_rnn,
    quantise_sequences,
    reference_forward,
    run_rnn,
)


@pytest.mark.parametrize("kind", ["egru", "gru"])
def test_twin_equals_the_int8_reference(kind):
    torch.manual_seed(5)
    model = RnnClassifier(kind, 28, 40, 10, theta_mean=0.1)
    q = quantise_rnn(model)
    codes = quantise_sequences(torch.rand(30, 10, 28).numpy(), 28)
    machine = Machine(board_chips=1, faults=[DeadPE(0, 0, 1)])
    program = deploy_rnn(q, machine, max_cycles_per_step=3_000)
    assert program.n_pes >= 3 and all(sl.pe != 1 for sl in program.slices)
    twin = run_rnn(program, codes)
    logits, sent = reference_forward(q, codes)
    np.testing.assert_array_equal(twin.logits, logits)
    np.testing.assert_array_equal(twin.sent, sent)
    np.testing.assert_array_equal(twin.sent, sent)
    if kind == "egru":
        assert 0.0 < twin.activity < 1.0   # events were skipped, and the result is the same


def test_mac_count_follows_a_known_event_count(firing_model):
    h, steps, firing = 9, 5, [1, 4, 7]
    q = firing_model("egru", h, firing)
    program = deploy_rnn(q, max_cycles_per_step=2_500)
    codes = np.random.default_rng(0).integers(0, 256, (2, steps, 3)).astype(np.uint8)
    twin = run_rnn(program, codes)
    expected_sent = np.zeros(h, bool)
    expected_sent[firing] = True
    assert ((twin.sent > 0) == expected_sent).all()
    per_step = np.array([0] + [len(firing)] * (steps - 1))   # no events before the first step
    for p, sl in enumerate(program.slices):
        np.testing.assert_array_equal(twin.received[:, :, p], np.tile(per_step, (2, 1)))
        mine = sum(sl.units[0] <= f < sl.units[1] for f in firing)
        assert (twin.own_events[:, :, p] == mine).all()
    macs = [steps * 3 * 3 * h, (steps - 1) * len(firing) * 3 * h, steps * len(firing) * 4]
    np.testing.assert_array_equal(twin.macs, [macs, macs])
    logits, sent = reference_forward(q, codes)
    np.testing.assert_array_equal(twin.logits, logits)
    np.testing.assert_array_equal(twin.sent, sent)


def test_dense_gru_multiplies_every_column(firing_model):
    h, steps = 9, 5
    q = firing_model("gru", h, [1])
    twin = run_rnn(deploy_rnn(q), np.zeros((1, steps, 3), np.uint8))
    np.testing.assert_array_equal(twin.macs[0], [steps * 9 * h, steps * h * 3 * h,
                                                 steps * h * 4])
    assert twin.activity == 1.0


def test_bad_codes_are_refused(firing_model):
    program = deploy_rnn(firing_model("egru", 4, [0]))
    with pytest.raises(ConfigError, match=r"EGRU layer \(I=3, H=4, C=4\): input codes must be "
                                          r"uint8 \(N, T >= 1, 3\), got float64"):
        run_rnn(program, np.zeros((1, 2, 3)))
    with pytest.raises(ConfigError, match="got uint8 \\(1, 2, 5\\)"):
        run_rnn(program, np.zeros((1, 2, 5), np.uint8))
