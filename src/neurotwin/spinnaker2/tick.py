r"""The compiled tick loop of the SpiNNaker2 twin: what every PE does in one tick.

Per tick ``j`` (length ``tick_ms``), on every PE of a population slice:

1. **Neuron update** (float32, :mod:`.numerics`; :func:`update_segment`): each LIF neuron
   is propagated with the per-tick constants of its population, its synaptic currents
   decay and take the ring-buffer slot of tick ``j`` (integer sum of weights x the
   receptor's scale), the slot is cleared, the threshold is tested. The arithmetic is that
   of the ideal engine's step (:func:`neurotwin.dynamics.lif.lif_step`) in float32, so
   with ``tick_ms == dt`` and exactly representable weights whose scale is a power of two
   the spikes equal those of ``nt.simulate(net, backend="ideal", dtype="float32")``.
2. **Spikes out**: a spiking neuron's PE sends one multicast packet with the neuron's
   key; where it goes is its route class (:mod:`.program`).
3. **Packets in** (charged to tick ``j + 1``, when the receiving PE processes them;
   :func:`deliver_spikes`): each synapse of the sending unit that its class delivers adds
   its integer weight to the ring-buffer slot of tick ``j + delay``.

Spike sources run on their own PEs and send packets the same way (arrays at their
times rounded to the tick, Poisson sources drawn per tick from the ideal engine's
streams: :func:`~neurotwin.engines.plan.source_spikes`, :func:`~neurotwin.engines.plan.trial_rngs`).

Cost per PE and tick (cycles; constants in :mod:`.specs`)::

    cycles = CYCLES_TICK_OVERHEAD + neurons * CYCLES_PER_NEURON
             (+ Poisson sources * CYCLES_PER_POISSON_SOURCE on source PEs)
             + packets with a row * CYCLES_PER_PACKET
             + packets without a row * CYCLES_PER_FILTERED_PACKET
             + synapses processed * CYCLES_PER_SYNAPSE + packets sent * CYCLES_PER_SPIKE_SENT

A packet "with a row" is one whose key has a synaptic row on the receiving PE; the others
are dropped by the bit-field filter before the row lookup (as sPyNNaker does).

The deadline is ``clock_mhz * 1e3 * tick_ms`` cycles; a PE over it is a deadline miss
(PE, tick, cycles over). **Late ticks** (the model of time): a tick ends when its slowest
PE finishes, so a tick whose busiest PE needs ``c > budget`` cycles lasts
``c / clock_mhz`` µs instead of ``tick_ms``, and the next tick starts that much later; the
kernel sums the cycles by which each tick runs over (``late``). The machine then runs
slower than real time; the model time of a tick, hence every spike, is unchanged.

How the kernel counts (integers, inside the compiled tick loop): packets sent per PE;
synapses processed per receiving PE (one count per delivered synapse); rows found per
receiving PE (one per spike and PE its synapses reach: a unit's synapses are sorted by
PE); packets received per PE from the spikes per route class, each class adding its count
to its receiving PEs (:func:`count_packets`). A class stored as the complement of its
receivers adds its count to all receiving PEs once and takes it back from the few it
misses.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from neurotwin.dynamics.lif import LIFConstants
from neurotwin.engines.neuron_update import SynapticInput, lif_update
from neurotwin.spinnaker2.numerics import RING_BUFFER_MAX
from neurotwin.spinnaker2.program import SLICE_SHIFT, WEIGHT_SHIFT

__all__ = ["count_packets", "deliver_spikes", "run_ticks", "update_segment"]

NO_RAIL_LOW = np.float32(-np.inf)
NO_RAIL_HIGH = np.float32(np.inf)
"""The membrane has no rails on SpiNNaker2 (float32 state, unbounded)."""

PREFETCH_AHEAD = 8
"""Spikes ahead whose synaptic rows are prefetched while one is delivered."""
PREFETCH_SYNAPSES = 1024
"""At most this many synapses of a row are prefetched."""


@numba.njit(cache=True, nogil=True)
def update_segment(
    lo, hi, v, ie, ii, rf, fl, r_exc, r_inh, c, n_refrac, scale_e, scale_i
):  # pragma: no cover - compiled
    """One tick of neurons lo..hi-1 of one population: the shared update
    (:func:`~neurotwin.engines.neuron_update.lif_update`) with SpiNNaker2's numerics —
    float32 state and constants ``c`` (rows of :func:`.numerics.lif_constants_f32`), no
    injected current, no noise, no rails, and the input read from the ring-buffer slots
    ``r_exc``/``r_inh`` as integer counts saturated at the accumulator's limit and
    multiplied by the population's float32 scale (the slots are cleared)."""
    k = LIFConstants(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], n_refrac)
    syn = SynapticInput(r_exc[lo:hi], r_inh[lo:hi], scale_e, scale_i, RING_BUFFER_MAX)
    lif_update(v[lo:hi], ie[lo:hi], ii[lo:hi], rf[lo:hi], fl[lo:hi], k, syn,
               None, None, None, None, NO_RAIL_LOW, NO_RAIL_HIGH)


@intrinsic
def _prefetch(typingctx, arr, index):  # pragma: no cover - compiled
    """Hint the CPU to bring ``arr[index]`` into the cache (``llvm.prefetch``: read,
    high locality); changes no value."""
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        name = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def deliver_spikes(
    units, m, base, ring, syn, unit_slice, class_count, touched, syn_next, row_next, sent
):  # pragma: no cover - compiled
    """Spikes of ``units[:m]``: one packet sent by each unit's PE, counted for its route
    class (expanded to packets per PE by :func:`count_packets`), and its delivered synapses
    added to the ring buffer from the slot at ``base`` on and counted per receiving PE
    (``syn`` = unit_class, syn_ptr, syn_word), as are the PEs where it finds a row
    (``row_next``; the synapses are sorted by PE, so a new PE is a new row). The rows of the spikes
    ``PREFETCH_AHEAD`` ahead are prefetched: a row lies anywhere in the synapse table,
    and waiting for it one spike at a time dominates otherwise."""
    unit_class, syn_ptr, syn_word = syn
    size = ring.shape[0]
    for k in range(m):
        if k + PREFETCH_AHEAD < m:
            ahead = units[k + PREFETCH_AHEAD]
            first = syn_ptr[ahead]
            for q in range(first, min(syn_ptr[ahead + 1], first + PREFETCH_SYNAPSES), 8):
                _prefetch(syn_word, q)  # type: ignore[call-arg]
        u = units[k]
        sent[unit_slice[u]] += 1
        c = unit_class[u]
        if class_count[c] == 0:
            touched[0] += 1
            touched[touched[0]] = c
        class_count[c] += 1
        lo, hi = syn_ptr[u], syn_ptr[u + 1]
        row = syn_word[lo:hi]
        last = np.int64(-1)  # the PE of the previous synapse
        for q in range(hi - lo):
            word = row[q]
            x = base + np.int64(word & np.uint64(0xFFFFFFFF))
            if x >= size:
                x -= size
            ring[x] += np.int64((word >> np.uint64(WEIGHT_SHIFT)) & np.uint64(0xFF))
            target = np.int64(word >> np.uint64(SLICE_SHIFT))
            syn_next[target] += 1
            if target != last:
                row_next[target] += 1
                last = target


@numba.njit(cache=True, nogil=True)
def count_packets(class_count, touched, pkt_next, bcast_next, recv):  # pragma: no cover - compiled
    """Packets received per PE from the spikes counted per class (``touched[0]`` classes in
    ``touched[1:]``); a complement class adds to ``bcast_next`` (all receiving PEs) and
    takes back from the PEs it misses. Resets the counts; returns the new ``bcast_next``."""
    recv_ptr, recv_slice, recv_neg = recv
    for k in range(1, touched[0] + 1):
        c = touched[k]
        count = class_count[c]
        if recv_neg[c]:
            bcast_next += count
            count = -count
        for q in range(recv_ptr[c], recv_ptr[c + 1]):
            pkt_next[recv_slice[q]] += count
        class_count[c] = 0
    touched[0] = 0
    return bcast_next


@numba.njit(cache=True, nogil=True)
def run_ticks(
    b0, b1, j0, j1, reached, state, refrac, flags, ring, seg_ptr, seg_consts, seg_refrac,
    seg_scale, syn, recv, universe, unit_slice, sends, src_ptr, src_ids, class_count, touched,
    spiking,
    base_cycles, c_pkt, c_filtered, c_syn, c_sent, budget, pkt, bcast, syn_count, row_count,
    sent, max_cycles, total_cycles, late, miss_trial, miss_tick, miss_slice, miss_cycles,
    miss_count,
    record, spike_step, spike_id, spike_count, n_record, unit_spikes,
    trace_code, trace_neuron, traces,
):  # pragma: no cover - compiled; tested through run_program
    """Advance trials b0..b1-1 from their ``reached`` tick to ``j1`` (see module doc);
    ``late[b]`` sums the cycles by which the busiest PE of each tick of trial ``b`` runs
    over the budget."""
    n = state.shape[2]
    span = 2 * n
    # a program of spike sources only has no neuron slots: one (empty) slot, no division
    n_slots = ring.shape[1] // span if span > 0 else 1
    n_slices = base_cycles.shape[0]
    cap = spike_step.shape[1]
    miss_cap = miss_tick.shape[0]
    for b in range(b0, b1):
        v = state[0, b]
        ie = state[1, b]
        ii = state[2, b]
        rf = refrac[b]
        fl = flags[b]
        fl_words = fl.view(np.uint64)
        rg = ring[b]
        for j in range(reached[b], j1):
            if spike_count[b] + n_record > cap:
                break
            k = j - j0
            for r in range(trace_code.shape[0]):
                traces[b, j, r] = state[trace_code[r], b, trace_neuron[r]]
            base = (j % n_slots) * span
            r_exc = rg[base : base + n]
            r_inh = rg[base + n : base + span]
            for s in range(seg_ptr.shape[0] - 1):
                update_segment(seg_ptr[s], seg_ptr[s + 1], v, ie, ii, rf, fl, r_exc, r_inh,
                               seg_consts[:, s], seg_refrac[s], seg_scale[0, s],
                               seg_scale[1, s])
            cur = j % 2
            nxt = 1 - cur
            sent_b = sent[b]
            m = 0
            for word in range(fl_words.shape[0]):  # 8 flags at a time: spikes are rare
                if fl_words[word] == 0:
                    continue
                for i in range(8 * word, 8 * word + 8):
                    if not fl[i]:
                        continue
                    unit_spikes[b, i] += 1
                    if sends[i]:
                        spiking[m] = i
                        m += 1
                    if record[i]:
                        cnt = spike_count[b]
                        spike_step[b, cnt] = j
                        spike_id[b, cnt] = i
                        spike_count[b] = cnt + 1
            for e in range(src_ptr[b, k], src_ptr[b, k + 1]):
                unit = n + src_ids[e]
                unit_spikes[b, unit] += 1
                if sends[unit]:
                    spiking[m] = unit
                    m += 1
            deliver_spikes(spiking, m, base, rg, syn, unit_slice, class_count[b], touched[b],
                           syn_count[b, nxt], row_count[b, nxt], sent_b)
            bcast[b, nxt] = count_packets(class_count[b], touched[b], pkt[b, nxt], bcast[b, nxt],
                                          recv)
            pkt_cur = pkt[b, cur]
            syn_cur = syn_count[b, cur]
            row_cur = row_count[b, cur]
            everyone = bcast[b, cur]
            slowest = 0
            for s in range(n_slices):
                received = pkt_cur[s] + (everyone if universe[s] else 0)
                cycles = (base_cycles[s] + row_cur[s] * c_pkt
                          + (received - row_cur[s]) * c_filtered + syn_cur[s] * c_syn
                          + sent_b[s] * c_sent)
                total_cycles[b, s] += cycles
                slowest = max(slowest, cycles)
                if cycles > max_cycles[b, s]:
                    max_cycles[b, s] = cycles
                if cycles > budget:
                    m = miss_count[0]
                    if m < miss_cap:
                        miss_trial[m] = b
                        miss_tick[m] = j
                        miss_slice[m] = s
                        miss_cycles[m] = cycles
                    miss_count[0] = m + 1
                pkt_cur[s] = 0
                syn_cur[s] = 0
                row_cur[s] = 0
                sent_b[s] = 0
            if slowest > budget:
                late[b] += slowest - budget
            bcast[b, cur] = 0
            reached[b] = j + 1
