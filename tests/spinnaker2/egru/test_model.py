"""The torch EGRU/GRU cells against torch's nn.GRU and a plain numpy transcription of the
EGRU equations; the pseudo-derivative against its formula."""

import numpy as np
import pytest
import torch

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.egru import RnnClassifier, spike


def test_dense_gru_is_torch_nn_gru():
    torch.manual_seed(1)
    model = RnnClassifier("gru", 5, 7, 3)
    gru = torch.nn.GRU(5, 7, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(model.weight_ih)
        gru.weight_hh_l0.copy_(model.weight_hh)
        gru.bias_ih_l0.copy_(model.bias_ih)
        gru.bias_hh_l0.copy_(model.bias_hh)
        x = torch.randn(4, 6, 5)
        expected, _ = gru(x)
        logits, events = model(x)
    y = torch.zeros(4, 7)
    c = torch.zeros(4, 7)
    for t in range(6):
        y, c, _ = model.step(x[:, t], y, c)
        torch.testing.assert_close(y, expected[:, t], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, model.readout(expected.mean(dim=1)), rtol=1e-5, atol=1e-6)
    assert bool((events == 1).all())


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_egru_step_follows_the_equations():
    torch.manual_seed(2)
    model = RnnClassifier("egru", 4, 6, 2, theta_mean=0.2)
    p = {k: v.detach().double().numpy() for k, v in model.named_parameters()}
    theta = np.maximum(p["theta"], 0.02)
    x = torch.randn(3, 9, 4) * 2.0
    xs = x.double().numpy()
    with torch.no_grad():
        logits, events = model(x.double().float())
    y = np.zeros((3, 6))
    c = np.zeros((3, 6))
    total = np.zeros((3, 6))
    fired = 0
    for t in range(9):
        gi = xs[:, t] @ p["weight_ih"].T + p["bias_ih"]
        gh = y @ p["weight_hh"].T + p["bias_hh"]
        r = _sigmoid(gi[:, :6] + gh[:, :6])
        u = _sigmoid(gi[:, 6:12] + gh[:, 6:12])
        z = np.tanh(gi[:, 12:] + r * gh[:, 12:])
        state = u * c + (1 - u) * z
        e = (state > theta).astype(float)
        y, c = e * state, state - e * theta
        total += y
        fired += int(e.sum())
        np.testing.assert_array_equal(events[t].numpy(), e)
    expected = (total / 9) @ p["readout.weight"].T + p["readout.bias"]
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert 0 < fired < 3 * 9 * 6   # some units sent, not all: the threshold mattered


def test_pseudo_derivative_is_the_triangle():
    v = torch.tensor([-1.5, -0.5, -0.1, 0.0, 0.2, 0.9, 2.0], requires_grad=True)
    out = spike(v, gamma=0.3, epsilon=1.0)
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [0, 0, 0, 0, 1, 1, 1])
    expected = [0.0, 0.15, 0.27, 0.3, 0.24, 0.03, 0.0]
    np.testing.assert_allclose(v.grad.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="unknown cell kind 'lstm'"):
        RnnClassifier("lstm", 2, 3, 2)
    with pytest.raises(ConfigError, match="theta_mean"):
        RnnClassifier("egru", 2, 3, 2, theta_mean=1.5)
    model = RnnClassifier("egru", 28, 8, 10)
    with pytest.raises(ConfigError, match=r"\(batch, steps, 28\), got \(2, 28\)"):
        model(torch.zeros(2, 28))
