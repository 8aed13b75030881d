"""The two compiled halves of a rank's work between exchanges.

:func:`advance_local` steps the rank's neurons over one exchange interval [j0, j1) and
lists their spikes; :func:`deliver` adds the spikes of every rank, gathered after the
interval, into the rank's ring buffer.

Why the result is bitwise the single-process one. Every float sum of the engine is a
ring-buffer slot, ``buf[slot, trial, target] += weight``; the single-process kernel
(:func:`neurotwin.engines.step._numba_chunk`) adds, for each step j in order, first the
synapses of the neurons that spiked in step j (ascending index), then those of the
sources that emitted in step j (ascending index), each row in CSR order. A rank holds
the same rows restricted to its targets, in the same order, and keeps that order:

* a neuron's synapse has a delay d >= the exchange interval, so a spike of step j in
  [j0, j1) lands in slot j + d >= j1: no step of the interval reads it, and adding it
  after the interval (:func:`deliver`, in (step, index) order) changes no sum's order;
* a source's synapse may be shorter. Every rank draws every source spike, so a synapse
  landing inside the interval (j + d < j1) is added at step j, as in one process (no
  neuron spike of the interval can land there before it); one landing at or after j1 is
  added by :func:`deliver` after the interval's neuron spikes of the same step, again
  the single-process order.

Spike codes are ``(trial * stride + j - j0) * n_global + global id``, so sorting the
gathered codes gives (trial, step, id) order.
"""

from __future__ import annotations

import numba
import numpy as np

from neurotwin.engines.segments import update_segments
from neurotwin.engines.synapse_codes import deliver_row

__all__ = ["advance_local", "deliver"]


@numba.njit(cache=True, nogil=True)
def advance_local(
    j0, j1, c0, stride, n_global, state, refrac, i_ext, buf, slots4, flags,
    segments, kinds, c, n_refrac,
    indptr, code, weights, tabled, target_mask, delay_shift, delay_mask, weight_shift,
    src_ptr, src_ids, dc_ptr, dc_neuron, dc_value,
    trace_code, trace_neuron, traces, rails, global_id, out,
):  # pragma: no cover - compiled; tested through the sharded runs
    """Advance every trial over steps [j0, j1) of an interval; write the spike codes of
    the rank's neurons into ``out`` and return how many.

    ``src_ptr``/``src_ids`` are the chunk's source CSR (from
    :func:`~neurotwin.engines.plan.source_spikes`) for the chunk starting at step
    ``c0``; ``dc_ptr`` is indexed by ``j - j0``. The synapses are packed words
    (:mod:`neurotwin.engines.synapse_codes`).
    """
    n_slots = buf.shape[0]
    n_out = 0
    for b in range(state.shape[1]):
        v = state[0, b]
        ie = state[1, b]
        ii = state[2, b]
        w = state[3, b]
        de = state[4, b]
        dn = state[5, b]
        rf = refrac[b]
        fl = flags[b]
        fl_words = fl.view(np.uint64)
        ix = i_ext[b]
        for j in range(j0, j1):
            for e in range(dc_ptr[j - j0], dc_ptr[j - j0 + 1]):
                ix[dc_neuron[e]] = dc_value[e]
            for r in range(trace_code.shape[0]):
                traces[b, j, r] = state[trace_code[r], b, trace_neuron[r]]
            slot = j % n_slots
            update_segments(v, ie, ii, w, de, dn, rf, fl, ix, slots4[slot, b, 0],
                            slots4[slot, b, 1], segments, kinds, c, n_refrac, rails)
            base = (b * stride + j - j0) * n_global
            for word in range(fl_words.shape[0]):  # 8 flags at a time: spikes are rare
                if fl_words[word] == 0:
                    continue
                for i in range(8 * word, 8 * word + 8):
                    if fl[i]:
                        out[n_out] = base + global_id[i]
                        n_out += 1
            for e in range(src_ptr[b, j - c0], src_ptr[b, j - c0 + 1]):
                row = n_global + src_ids[e]
                _deliver_part(buf, b, j, j1, True, indptr[row], indptr[row + 1], code,
                              weights, tabled, target_mask, delay_shift, delay_mask,
                              weight_shift)
    return n_out


@numba.njit(cache=True, nogil=True, inline="always")
def _deliver_part(
    buf, b, j, j1, before, lo, hi, code, weights, tabled, target_mask, delay_shift,
    delay_mask, weight_shift,
):  # pragma: no cover - compiled; tested through the sharded runs
    """Add the synapses ``lo:hi`` of a spike of step j that land before step ``j1``
    (``before``) or at or after it (not ``before``)."""
    n_slots = buf.shape[0]
    for q in range(lo, hi):
        c = code[q]
        d = np.int64((c >> delay_shift) & delay_mask)
        if (j + d < j1) == before:
            w = weights[np.int64(c >> weight_shift)] if tabled else weights[q]
            buf[(j + d) % n_slots, b, np.int64(c & target_mask)] += w


@numba.njit(cache=True, nogil=True)
def deliver(
    j0, j1, c0, stride, n_global, buf, codes,
    indptr, code, weights, tabled, target_mask, delay_shift, delay_mask, weight_shift,
    src_ptr, src_ids,
):  # pragma: no cover - compiled; tested through the sharded runs
    """Add the interval's spikes (``codes`` of every rank, sorted) and the source
    synapses that land at or after ``j1`` into the rank's ring buffer, step by step."""
    n_slots = buf.shape[0]
    e = 0
    for b in range(buf.shape[1]):
        for j in range(j0, j1):
            key = b * stride + j - j0
            while e < codes.shape[0] and codes[e] // n_global == key:
                i = codes[e] % n_global
                deliver_row(buf, b, j % n_slots, indptr[i], indptr[i + 1], code, weights,
                            tabled, target_mask, delay_shift, delay_mask, weight_shift)
                e += 1
            for s in range(src_ptr[b, j - c0], src_ptr[b, j - c0 + 1]):
                row = n_global + src_ids[s]
                _deliver_part(buf, b, j, j1, False, indptr[row], indptr[row + 1], code,
                              weights, tabled, target_mask, delay_shift, delay_mask,
                              weight_shift)
