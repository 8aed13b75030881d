"""The event-based GRU (EGRU) of Subramoney et al. 2023 and the dense GRU, in torch.

Equations (per step ``t``, units ``i``; gate layout and the GRU part exactly torch's
``nn.GRU``, rows ordered reset, update, candidate)::

    r_t  = sigmoid(W_r x_t + b_ir + U_r y_{t-1} + b_hr)                  reset gate
    u_t  = sigmoid(W_u x_t + b_iu + U_u y_{t-1} + b_hu)                  update gate
    z_t  = tanh(W_z x_t + b_iz + r_t * (U_z y_{t-1} + b_hz))             candidate
    c'_t = u_t * c_{t-1} + (1 - u_t) * z_t                               internal state
    e_t  = H(c'_t - theta)                                               event (1 or 0)
    y_t  = e_t * c'_t                                                    what is sent
    c_t  = c'_t - e_t * theta                                            reset by subtraction

with ``H(v) = 1`` for ``v > 0`` else 0 and the per-unit threshold ``theta`` a trained
parameter. The dense GRU is the same cell without events: ``y_t = c_t = c'_t``, which is
torch's ``nn.GRU`` (tested against it). In training, ``H`` has the pseudo-derivative::

    dH/dv = gamma * max(0, 1 - |v| / epsilon)

These are the equations of Subramoney, Nazeer, Schöne, Mayr, Kappel, "Efficient recurrent
architectures through activity sparsity and sparse back-propagation through time", ICLR
2023 (the EGRU), as implemented in the authors' public code (Efficient-Scalable-Machine-
Learning/EvNN, ``frameworks/pytorch/egru.py`` ``EGRUScript`` and ``lib/egru_forward_cpu.cc``):
GRU with the reset gate applied after the recurrent product, ``y = c H(c - theta)``, reset
by subtracting the threshold, the triangular pseudo-derivative with their defaults
``gamma = 0.7`` (dampening factor), ``epsilon = 1`` (support 1.0) and thresholds drawn from
a Beta distribution of mean 0.3. Here ``theta`` is kept at least ``THETA_MIN`` so that every
event has a positive value (the twin sends its 8-bit code).

The classifier reads out the mean of ``y`` over the sequence::

    logits = W_o (1/T) sum_t y_t + b_o

so the output product, like the recurrent one, only involves the units that sent events.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neurotwin.errors import ConfigError

__all__ = ["KINDS", "THETA_MIN", "RnnClassifier", "spike"]

KINDS = ("egru", "gru")
"""Cell kinds: event-based or dense."""
THETA_MIN = 0.02
"""Smallest threshold; ``theta`` is clamped to it in the forward pass (above the 8-bit
code step 1/255, so an event never rounds to the code 0 of 'no event')."""


class _Spike(torch.autograd.Function):
    """Heaviside step with the triangular pseudo-derivative (module docstring)."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, gamma: float, epsilon: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.gamma, ctx.epsilon = gamma, epsilon
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (v,) = ctx.saved_tensors
        surrogate = ctx.gamma * torch.clamp(1.0 - v.abs() / ctx.epsilon, min=0.0)
        return grad * surrogate, None, None


def spike(v: torch.Tensor, gamma: float = 0.7, epsilon: float = 1.0) -> torch.Tensor:
    """``H(v)`` (1 where ``v > 0``) with the pseudo-derivative ``gamma max(0, 1 - |v|/epsilon)``."""
    out: torch.Tensor = _Spike.apply(v, gamma, epsilon)
    return out


class RnnClassifier(nn.Module):
    """One EGRU or GRU layer and a linear readout of the mean output (module docstring).

    The weights have the layout of torch's ``nn.GRU``: ``weight_ih`` of shape (3H, I),
    ``weight_hh`` of shape (3H, H), ``bias_ih`` and ``bias_hh`` of shape (3H,), their rows
    in the order reset, update, candidate; ``theta`` of shape (H,); ``readout`` is a
    ``Linear(H, n_classes)``.

    Parameters
    ----------
    kind
        ``"egru"`` or ``"gru"``.
    n_inputs, n_hidden, n_classes
        Sizes I, H and the number of classes.
    theta_mean
        Mean of the Beta(a, 3) distribution the thresholds start from (EGRU only).
    gamma, epsilon
        Height and half width of the pseudo-derivative.
    """

    def __init__(self, kind: str, n_inputs: int, n_hidden: int, n_classes: int, *,
                 theta_mean: float = 0.3, gamma: float = 0.7, epsilon: float = 1.0) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"unknown cell kind {kind!r} (known: {', '.join(KINDS)})")
        if not 0.0 < theta_mean < 1.0:
            raise ConfigError(f"theta_mean must lie in (0, 1), got {theta_mean}")
        self.kind, self.gamma, self.epsilon = kind, gamma, epsilon
        # torch's initialisation of nn.GRU, uniform(+-1/sqrt(H))
        init = {k: v.detach().clone() for k, v in nn.GRU(n_inputs, n_hidden).named_parameters()}
        self.weight_ih = nn.Parameter(init["weight_ih_l0"])
        self.weight_hh = nn.Parameter(init["weight_hh_l0"])
        self.bias_ih = nn.Parameter(init["bias_ih_l0"])
        self.bias_hh = nn.Parameter(init["bias_hh_l0"])
        alpha = 3.0 * theta_mean / (1.0 - theta_mean)
        theta = torch.distributions.Beta(alpha, 3.0).sample((n_hidden,))
        self.theta = nn.Parameter(theta, requires_grad=kind == "egru")
        self.readout = nn.Linear(n_hidden, n_classes)

    @property
    def n_hidden(self) -> int:
        """Hidden units H."""
        return int(self.weight_hh.shape[1])

    def thresholds(self) -> torch.Tensor:
        """The thresholds used in the forward pass: ``max(theta, THETA_MIN)``."""
        return self.theta.clamp(min=THETA_MIN)

    def step(self, x: torch.Tensor, y: torch.Tensor, c: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: ``(y_t, c_t, e_t)`` from ``x_t`` (B, I), ``y_{t-1}`` and ``c_{t-1}`` (B, H);
        ``e_t`` is all ones for the dense GRU."""
        gi = x @ self.weight_ih.T + self.bias_ih
        gh = y @ self.weight_hh.T + self.bias_hh
        ir, iu, iz = gi.chunk(3, dim=1)
        hr, hu, hz = gh.chunk(3, dim=1)
        r = torch.sigmoid(ir + hr)
        u = torch.sigmoid(iu + hu)
        z = torch.tanh(iz + r * hz)
        state = u * c + (1.0 - u) * z
        if self.kind == "gru":
            return state, state, torch.ones_like(state)
        theta = self.thresholds()
        e = spike(state - theta, self.gamma, self.epsilon)
        return e * state, state - e * theta, e

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, classes) and events (T, B, H) of sequences ``x`` (B, T, I)."""
        if x.ndim != 3 or x.shape[2] != self.weight_ih.shape[1]:
            raise ConfigError(f"input must be (batch, steps, {self.weight_ih.shape[1]}), "
                              f"got {tuple(x.shape)}")
        batch = x.shape[0]
        y = x.new_zeros(batch, self.n_hidden)
        c = x.new_zeros(batch, self.n_hidden)
        total = x.new_zeros(batch, self.n_hidden)
        events = []
        for t in range(x.shape[1]):
            y, c, e = self.step(x[:, t], y, c)
            total = total + y
            events.append(e)
        return self.readout(total / x.shape[1]), torch.stack(events)
