"""int8 quantisation of an EGRU/GRU: torch's symmetric per-row scales, refusals, and the
quantised model staying close to the float one."""

import numpy as np
import pytest
import torch

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.egru import (
    RnnClassifier,
    quantise_rnn,
    quantise_sequences,
    reference_forward,
)


def test_weights_are_symmetric_per_row_int8():
    torch.manual_seed(0)
    model = RnnClassifier("egru", 6, 5, 3)
    q = quantise_rnn(model)
    w = model.weight_hh.detach().numpy().astype(np.float64)
    scale = np.abs(w).max(axis=1) / 127.5   # torch's symmetric qint8: max |w| over (255 / 2)
    # nearest code (ties at the row's extreme may go either way in float32)
    assert np.abs(q.w_hh - w / scale[:, None]).max() <= 0.5 + 1e-4
    assert (np.abs(q.w_hh.astype(int)).max(axis=1) >= 127).all()
    np.testing.assert_allclose(q.m_hh, scale / 255.0, rtol=1e-6)   # EGRU events: scale 1/255
    assert q.y_zero_point == 0 and quantise_rnn(RnnClassifier("gru", 6, 5, 3)).y_zero_point == 128


def test_nan_weights_and_bad_sequences_are_refused():
    model = RnnClassifier("egru", 4, 3, 2)
    with torch.no_grad():
        model.weight_hh[1, 2] = float("nan")
    with pytest.raises(ConfigError, match=r"egru weight_hh: 1 NaN or infinite value\(s\) of 27"):
        quantise_rnn(model)
    with pytest.raises(ConfigError, match=r"\(N, T >= 1, 4\), got \(2, 4\)"):
        quantise_sequences(np.zeros((2, 4)), 4)
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        quantise_sequences(np.full((1, 2, 4), 1.5), 4)


@pytest.mark.parametrize("kind", ["egru", "gru"])
def test_int8_model_stays_close_to_float(kind):
    torch.manual_seed(3)
    model = RnnClassifier(kind, 28, 32, 10, theta_mean=0.1)
    x = torch.rand(40, 12, 28)
    codes = quantise_sequences(x.numpy(), 28)
    with torch.no_grad():
        logits, events = model(torch.from_numpy(codes.astype(np.float32) / 255))
    q_logits, sent = reference_forward(quantise_rnn(model), codes)
    scale = float(logits.abs().max())
    assert np.abs(q_logits - logits.numpy()).max() < 0.05 * scale
    if kind == "egru":   # events agree except where a state sits within rounding of theta
        agree = ((sent > 0) == (events.permute(1, 0, 2).numpy() > 0)).mean()
        assert agree > 0.97
        assert 0.02 < (sent > 0).mean() < 0.9
