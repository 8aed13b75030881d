"""The adjoint pieces against independent references (matrix exponential of -A^T)."""

from __future__ import annotations

import scipy.linalg
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_adjoint import AdjointState, adjoint_flow, adjoint_params


def test_adjoint_flow_is_the_transposed_propagator() -> None:
    p = EventLIF(tau_mem=20.0, tau_syn=5.0, cm=0.7)
    a = [[-1 / p.tau_mem, 1 / p.cm], [0.0, -1 / p.tau_syn]]
    lam = torch.tensor([[0.3], [-1.2]], dtype=torch.float64)
    state = AdjointState(lam[0], lam[1], torch.tensor([12.0], dtype=torch.float64))
    back = adjoint_flow(state, torch.tensor([4.5], dtype=torch.float64), adjoint_params(p))
    # lam(t - s) = expm(A^T s) lam(t): the costate of x(t) = expm(A s) x(t - s)
    ref = scipy.linalg.expm(torch.tensor(a, dtype=torch.float64).T.numpy() * 7.5) @ lam.numpy()
    assert abs(float(back.lam_v[0]) - ref[0, 0]) < 1e-13
    assert abs(float(back.lam_i[0]) - ref[1, 0]) < 1e-13
    assert float(back.t[0]) == 4.5
