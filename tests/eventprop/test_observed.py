"""EventProp at observed spike times (the backward pass of hardware-in-the-loop training):
at a twin's times the gradient is the model's derivative there (plain-numpy reference),
not the ideal forward's; at the ideal times it is EventProp's."""

import numpy as np
import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.eventprop import lif_layer
from neurotwin.eventprop.observed import observed_lif_layer
from neurotwin.spikes import Spikes

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0, cm=20.0)


def _psp(lag: np.ndarray) -> np.ndarray:
    """Membrane response (mV) to a unit weight (1 nA jump) ``lag`` ms after its arrival:
    the analytic kernel of ``dv/dt = -v/tau_mem + i/cm``, ``di/dt = -i/tau_syn``."""
    tm, ts = P.tau_mem, P.tau_syn
    k = tm * ts / (P.cm * (tm - ts)) * (np.exp(-lag / tm) - np.exp(-lag / ts))
    return np.where(lag > 0, k, 0.0)


def _layer() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    arrive = torch.tensor([[0.5, 1.0, 2.0, 3.5]], dtype=torch.float64)
    ids = torch.tensor([[0, 1, 2, 3]])
    w = torch.tensor([[3.0, 2.0], [2.5, 3.0], [2.0, 1.0], [1.0, 2.5]], dtype=torch.float64)
    return arrive, ids, w


def test_hil_gradient_is_the_models_gradient_at_the_twins_spike_times():
    arrive, ids, w = _layer()
    # a "twin" whose synapses are 12 % stronger: the same inputs fire earlier
    twin = lif_layer(arrive, ids, w * 1.12, P, 30.0, max_spikes=1)
    ideal_w = w.clone().requires_grad_()
    ideal = lif_layer(arrive, ids, ideal_w, P, 30.0, max_spikes=1)
    ideal.times[torch.isfinite(ideal.times)].sum().backward()
    hil_w = w.clone().requires_grad_()
    observed = Spikes(twin.times.detach(), twin.ids)
    out = observed_lif_layer(Spikes(arrive, ids), hil_w, observed, P, 30.0)
    assert torch.equal(out.times.detach(), observed.times)
    out.times[torch.isfinite(out.times)].sum().backward()
    # reference, plain numpy: first spike t* of neuron n, v = v_thresh there,
    # dt*/dw_jn = -psp(t* - a_j) / (dv/dt at t*), dv/dt = -v_thresh/tau_mem + i(t*)/cm
    ref = np.zeros((4, 2))
    a = arrive.numpy()[0]
    for t, n in zip(twin.times.detach().numpy()[0], twin.ids.numpy()[0], strict=True):
        lag = t - a
        current = float(np.sum(np.where(lag > 0, w.numpy()[:, n] * np.exp(-lag / P.tau_syn),
                                        0.0)))
        slope = -P.v_thresh / P.tau_mem + current / P.cm
        ref[:, n] = -_psp(lag) / slope
    assert twin.times.shape[1] == 2  # both neurons fired on the twin
    assert hil_w.grad is not None and ideal_w.grad is not None
    np.testing.assert_allclose(hil_w.grad.numpy(), ref, rtol=1e-9, atol=1e-12)
    assert float((hil_w.grad - ideal_w.grad).abs().max()) > 0.05 * float(ideal_w.grad.abs().max())


def test_hil_gradient_at_the_ideal_times_is_eventprops():
    arrive, ids, w = _layer()
    ideal_w = w.clone().requires_grad_()
    ideal = lif_layer(arrive, ids, ideal_w, P, 30.0)
    ideal.times[torch.isfinite(ideal.times)].square().sum().backward()
    hil_w = w.clone().requires_grad_()
    out = observed_lif_layer(Spikes(arrive, ids), hil_w,
                             Spikes(ideal.times.detach(), ideal.ids), P, 30.0)
    out.times[torch.isfinite(out.times)].square().sum().backward()
    assert hil_w.grad is not None and ideal_w.grad is not None
    torch.testing.assert_close(hil_w.grad, ideal_w.grad, rtol=1e-10, atol=1e-12)


def test_observed_layer_refuses_bad_observations():
    arrive, ids, w = _layer()
    bad = Spikes(torch.tensor([[40.0]], dtype=torch.float64), torch.tensor([[0]]))
    with pytest.raises(ConfigError, match="t_max"):
        observed_lif_layer(Spikes(arrive, ids), w, bad, P, 30.0)
    bad = Spikes(torch.tensor([[4.0]], dtype=torch.float64), torch.tensor([[5]]))
    with pytest.raises(ConfigError, match="observed ids"):
        observed_lif_layer(Spikes(arrive, ids), w, bad, P, 30.0)
