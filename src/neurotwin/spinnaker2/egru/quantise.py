"""An EGRU or GRU classifier in int8 for the SpiNNaker2 twin, and the plain int8 reference.

Weights are quantised as the DNN twin quantises them (:mod:`..dnn.quantisation`): torch's
symmetric per-output-channel ``qint8`` observer, one scale per row. What the PEs send each
other is 8-bit: the input pixels are their bytes (scale 1/255, zero point 0), the EGRU's
events ``y`` (in ``[theta, 1]``) have scale 1/255 and zero point 0, so "no event" is the code
0; the dense GRU's ``h`` (in ``[-1, 1]``) has scale 1/127 and zero point 128. The internal
state ``c`` stays in float32 on the PE that owns the unit. Per step, with integer
accumulators of the MAC array (``x``, ``y`` codes; ``w`` int8 weights; ``zp`` the zero point
of ``y``)::

    acc_i[o] = sum_k x[k] w_ih[o, k]
    acc_h[o] = sum_j y[j] w_hh[o, j] - zp sum_j w_hh[o, j]         (EGRU: j over events only)
    a_i = float32(acc_i) m_ih + b_ih          m_ih = float32(s_x) s_ih[o]      (float32)
    a_h = float32(acc_h) m_hh + b_hh          m_hh = float32(s_y) s_hh[o]

then the cell of :mod:`.model` in float32 (:func:`cell_update`, the one place of these
numerics), with ``sigmoid(v) = 1 / (1 + exp(-v))`` and ``tanh(v) = 2 sigmoid(2 v) - 1`` (one
exponential each, on the exp unit), and ``y`` quantised as
``code = clip(rint(y / s_y) + zp, 0, 255)``. The readout adds
``sum_j y[j] w_o[o, j] - zp sum_j w_o[o, j]`` every step and ends with
``logits = float32(acc_o) m_o / T + b_o`` (``m_o = float32(s_y) s_o[o]``).

:func:`reference_forward` computes this with plain dense integer products over all units
and all samples at once: the twin (:mod:`.run`) must equal it bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.dnn.quantisation import torch_int8
from neurotwin.spinnaker2.egru.model import RnnClassifier

__all__ = ["CODE_MAX", "QuantisedRnn", "cell_update", "quantise_rnn", "quantise_sequences",
           "reference_forward"]

CODE_MAX = 255
"""Largest unsigned 8-bit code."""
GATES = 3
"""Gate rows per unit: reset, update, candidate."""


@dataclass(frozen=True, eq=False)
class QuantisedRnn:
    """An int8 EGRU or GRU classifier (equations: module docstring).

    Parameters
    ----------
    kind
        ``"egru"`` or ``"gru"``.
    w_ih, w_hh, w_out
        int8 weights (3H, I), (3H, H), (C, H); rows reset, update, candidate.
    m_ih, m_hh, m_out
        float32 multipliers per row (activation scale times weight scale).
    b_ih, b_hh, b_out
        float32 biases.
    theta
        (H,) float32 thresholds (EGRU; unused by the GRU).
    y_scale, y_zero_point
        Quantisation of what units send (1/255 and 0 for the EGRU, 1/127 and 128 for the
        GRU).
    """

    kind: str
    w_ih: np.ndarray
    w_hh: np.ndarray
    w_out: np.ndarray
    m_ih: np.ndarray
    m_hh: np.ndarray
    m_out: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    b_out: np.ndarray
    theta: np.ndarray
    y_scale: float
    y_zero_point: int

    @property
    def n_inputs(self) -> int:
        """Inputs per step, I."""
        return int(self.w_ih.shape[1])

    @property
    def n_hidden(self) -> int:
        """Hidden units, H."""
        return int(self.w_hh.shape[1])

    @property
    def n_classes(self) -> int:
        """Output classes, C."""
        return int(self.w_out.shape[0])

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Gate rows (reset, update, candidate) of units ``start..stop-1``, as indices."""
        h = self.n_hidden
        return np.concatenate([np.arange(g * h + start, g * h + stop) for g in range(GATES)])


def _quantise_rows(name: str, weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales per row of ``weight``, by torch's symmetric per-channel
    observer (the DNN twin's weight quantisation)."""
    w = weight.detach().float()
    bad = int((~torch.isfinite(w)).sum())
    if bad:
        raise ConfigError(f"{name}: {bad} NaN or infinite value(s) of {w.numel()}; int8 "
                          f"quantisation needs finite weights")
    with torch_int8():
        observer = torch.ao.quantization.PerChannelMinMaxObserver(
            ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        observer(w)
        scales, zero_points = observer.calculate_qparams()
        q = torch.quantize_per_channel(w, scales.double(), zero_points, 0, torch.qint8)
    return q.int_repr().numpy().astype(np.int8), scales.numpy().astype(np.float32)


def _finite(name: str, value: torch.Tensor) -> np.ndarray:
    v = value.detach().float().numpy()
    bad = int((~np.isfinite(v)).sum())
    if bad:
        raise ConfigError(f"{name}: {bad} NaN or infinite value(s) of {v.size}")
    return v.astype(np.float32)


def quantise_rnn(model: RnnClassifier) -> QuantisedRnn:
    """The int8 model of a trained :class:`~.model.RnnClassifier` (module docstring).

    Raises
    ------
    ConfigError
        A weight, bias or threshold with NaN or infinite values (naming the tensor).
    """
    egru = model.kind == "egru"
    y_scale, y_zero = (1.0 / CODE_MAX, 0) if egru else (1.0 / 127.0, 128)
    w_ih, s_ih = _quantise_rows(f"{model.kind} weight_ih", model.weight_ih)
    w_hh, s_hh = _quantise_rows(f"{model.kind} weight_hh", model.weight_hh)
    w_out, s_out = _quantise_rows(f"{model.kind} readout.weight", model.readout.weight)
    theta = _finite(f"{model.kind} theta", model.thresholds())
    x_scale, sy = np.float32(1.0 / CODE_MAX), np.float32(y_scale)
    return QuantisedRnn(
        kind=model.kind, w_ih=w_ih, w_hh=w_hh, w_out=w_out,
        m_ih=x_scale * s_ih, m_hh=sy * s_hh, m_out=sy * s_out,
        b_ih=_finite(f"{model.kind} bias_ih", model.bias_ih),
        b_hh=_finite(f"{model.kind} bias_hh", model.bias_hh),
        b_out=_finite(f"{model.kind} readout.bias", model.readout.bias),
        theta=theta, y_scale=y_scale, y_zero_point=y_zero)


def quantise_sequences(x: np.ndarray | torch.Tensor, n_inputs: int) -> np.ndarray:
    """uint8 input codes (N, T, I) of sequences ``x`` with values in [0, 1] (scale 1/255).

    Raises
    ------
    ConfigError
        Not (N, T, n_inputs), values outside [0, 1] or not finite.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != n_inputs or x.shape[1] == 0:
        raise ConfigError(f"sequences must be (N, T >= 1, {n_inputs}), got {x.shape}")
    if not np.isfinite(x).all() or x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise ConfigError("sequence values must be finite and in [0, 1] (pixels / 255)")
    return np.rint(x * np.float32(CODE_MAX)).astype(np.uint8)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):   # exp(-v) = inf gives the right limit 0
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))


def cell_update(model: QuantisedRnn, rows: np.ndarray, acc_i: np.ndarray, acc_h: np.ndarray,
                c: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of units on the ARM in float32: new codes and state.

    Parameters
    ----------
    model
        The quantised model.
    rows
        The units' gate rows (:meth:`QuantisedRnn.rows`), 3 c indices.
    acc_i, acc_h
        (N, 3 c) int64 accumulators of the input and recurrent products (zero point
        corrected).
    c
        (N, c) float32 internal state.
    theta
        (c,) float32 thresholds of the units.

    Returns
    -------
    ((N, c) uint8 codes to send, (N, c) float32 new state).
    """
    a_i = acc_i.astype(np.float32) * model.m_ih[rows] + model.b_ih[rows]
    a_h = acc_h.astype(np.float32) * model.m_hh[rows] + model.b_hh[rows]
    n = c.shape[1]
    r = _sigmoid(a_i[:, :n] + a_h[:, :n])
    u = _sigmoid(a_i[:, n:2 * n] + a_h[:, n:2 * n])
    z = np.float32(2.0) * _sigmoid(np.float32(2.0) * (a_i[:, 2 * n:] + r * a_h[:, 2 * n:])) \
        - np.float32(1.0)
    state = u * c + (np.float32(1.0) - u) * z
    if model.kind == "egru":
        e = (state > theta).astype(np.float32)
        y, state = e * state, state - e * theta
    else:
        y = state
    codes = np.rint(y * np.float32(1.0 / model.y_scale)) + np.float32(model.y_zero_point)
    return np.clip(codes, 0, CODE_MAX).astype(np.uint8), state


def reference_forward(model: QuantisedRnn, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The int8 model run plainly: dense int64 products over every unit, all samples at once.

    Parameters
    ----------
    model
        The quantised model.
    codes
        (N, T, I) uint8 input codes (:func:`quantise_sequences`).

    Returns
    -------
    ((N, C) float32 logits, (N, T, H) uint8 codes the units sent).
    """
    n, steps, _ = codes.shape
    h, zp = model.n_hidden, np.int64(model.y_zero_point)
    w_ih, w_hh, w_out = (w.astype(np.int64) for w in (model.w_ih, model.w_hh, model.w_out))
    y = np.full((n, h), zp, dtype=np.int64)
    c = np.zeros((n, h), dtype=np.float32)
    acc_o = np.zeros((n, model.n_classes), dtype=np.int64)
    sent = np.zeros((n, steps, h), dtype=np.uint8)
    every = model.rows(0, h)
    for t in range(steps):
        acc_i = codes[:, t].astype(np.int64) @ w_ih.T
        acc_h = (y - zp) @ w_hh.T
        out, c = cell_update(model, every, acc_i, acc_h, c, model.theta)
        y = out.astype(np.int64)
        acc_o += (y - zp) @ w_out.T
        sent[:, t] = out
    logits = acc_o.astype(np.float32) * model.m_out * np.float32(1.0 / steps) + model.b_out
    return logits, sent
