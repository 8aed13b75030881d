"""Running a placed int8 EGRU or GRU on the twin, event-driven, PE slice by PE slice.

Per sequence and step, every PE (:class:`.deploy.UnitSlice`) of the layer:

1. runs the input product of its units' gate rows on the MAC array (the whole input step);
2. runs the recurrent product over the **columns of the units that sent a code in the
   previous step**: for the EGRU only the events (codes > 0), gathered into one MAC-array
   job of ``K = events`` products per row, for the GRU every unit (the zero point is
   subtracted on the ARM);
3. updates its units on the ARM (:func:`.quantise.cell_update`) and sends their codes;
4. adds the output product of **its own units that sent** (one job, ``K`` = those units)
   to its 32-bit output sums.

At the end the PEs' output sums are added and scaled to logits. The products are done by
:func:`~neurotwin.spinnaker2.accelerators.mac_matmul` one sample at a time, so the MAC work
counted (``macs``: products of every job) is exactly what an event-driven PE does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.spinnaker2.accelerators import mac_matmul
from neurotwin.spinnaker2.egru.deploy import RnnProgram, check_codes
from neurotwin.spinnaker2.egru.quantise import GATES, cell_update

__all__ = ["RnnRun", "run_rnn"]


@dataclass(frozen=True, eq=False)
class RnnRun:
    """What the twin computed for N sequences of T steps on P PEs.

    Parameters
    ----------
    logits
        (N, C) float32 output.
    sent
        (N, T, H) uint8 codes the units sent (EGRU: 0 = no event).
    received
        (N, T, P) codes each PE received for its recurrent product in each step (EGRU: the
        events of the previous step, 0 in the first; GRU: H).
    own_events
        (N, T, P) events each PE's units sent in each step (GRU: all its units).
    macs
        (N, 3) multiply-accumulates per sequence done by the MAC arrays of all PEs: input,
        recurrent and output products.
    """

    logits: np.ndarray
    sent: np.ndarray
    received: np.ndarray
    own_events: np.ndarray
    macs: np.ndarray

    @property
    def activity(self) -> float:
        """Fraction of units that send per step (1 for the GRU)."""
        return float(self.own_events.sum() / (self.sent.shape[0] * self.sent.shape[1]
                                               * self.sent.shape[2]))


def run_rnn(program: RnnProgram, codes: np.ndarray) -> RnnRun:
    """The twin's output for input codes (module docstring).

    Parameters
    ----------
    program
        From :func:`.deploy.deploy_rnn`.
    codes
        (N, T, I) uint8 input codes (:func:`.quantise.quantise_sequences`).

    Raises
    ------
    ConfigError
        Codes that are not uint8 (N, T >= 1, I).
    """
    model = program.model
    codes = np.asarray(codes)
    check_codes(model, codes)
    n, steps, _ = codes.shape
    h, zp, egru = model.n_hidden, np.int64(model.y_zero_point), model.kind == "egru"
    pes = len(program.slices)
    sent = np.zeros((n, steps, h), dtype=np.uint8)
    received = np.zeros((n, steps, pes), dtype=np.int64)
    own = np.zeros((n, steps, pes), dtype=np.int64)
    macs = np.zeros((n, 3), dtype=np.int64)
    acc_o = np.zeros((n, model.n_classes), dtype=np.int64)
    parts = []
    for sl in program.slices:
        a, b = sl.units
        rows = model.rows(a, b)
        w_hh = model.w_hh[rows]
        parts.append((a, b, rows, model.w_ih[rows].T, w_hh.T,
                      zp * w_hh.sum(axis=1, dtype=np.int64), model.w_out[:, a:b].T,
                      zp * model.w_out[:, a:b].sum(axis=1, dtype=np.int64)))
    y = np.full((n, h), zp, dtype=np.uint8)
    c = np.zeros((n, h), dtype=np.float32)
    for t in range(steps):
        new_y = np.empty_like(y)
        for p, (a, b, rows, w_ih_t, w_hh_t, zero_h, w_out_t, zero_o) in enumerate(parts):
            acc_i = mac_matmul(codes[:, t], w_ih_t)
            acc_h = np.zeros_like(acc_i)
            for s in range(n):
                cols = np.flatnonzero(y[s]) if egru else np.arange(h)
                received[s, t, p] = cols.size
                if cols.size:
                    acc_h[s] = mac_matmul(y[s, cols][None], w_hh_t[cols])[0]
            out, c[:, a:b] = cell_update(model, rows, acc_i, acc_h - zero_h, c[:, a:b],
                                         model.theta[a:b])
            for s in range(n):
                mine = np.flatnonzero(out[s]) if egru else np.arange(b - a)
                own[s, t, p] = mine.size
                if mine.size:
                    acc_o[s] += mac_matmul(out[s, mine][None], w_out_t[mine])[0]
            acc_o -= zero_o
            new_y[:, a:b] = out
            macs[:, 0] += w_ih_t.size
            macs[:, 1] += received[:, t, p] * GATES * (b - a)
            macs[:, 2] += own[:, t, p] * model.n_classes
        y = new_y
        sent[:, t] = y
    logits = acc_o.astype(np.float32) * model.m_out * np.float32(1.0 / steps) + model.b_out
    return RnnRun(logits, sent, received, own, macs)
