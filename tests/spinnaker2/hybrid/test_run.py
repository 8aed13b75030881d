"""The hybrid program on the twin: spike for spike equal to the plain reference (torch int8
then numpy), packets that follow the router tables, and the per-inference cost."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from neurotwin.spinnaker2 import Machine, dnn, hybrid
from neurotwin.spinnaker2.dnn.cost import estimate_dnn_cost
from neurotwin.spinnaker2.program import compile_program
from neurotwin.spinnaker2.routing import Tables
from neurotwin.spinnaker2.specs import CHIP_IDLE_POWER_W


def assert_same(run: hybrid.HybridRun, ref: hybrid.ReferenceRun) -> int:
    for (t_run, n_run), (t_ref, n_ref) in zip(run.spikes, ref.spikes, strict=True):
        np.testing.assert_array_equal(t_run, t_ref)
        np.testing.assert_array_equal(n_run, n_ref)
    np.testing.assert_array_equal(run.counts, ref.counts)
    np.testing.assert_array_equal(run.v_last, ref.v_last)
    return int(run.counts.sum())


@pytest.fixture(scope="module")
def program(front, readout, code) -> hybrid.HybridProgram:
    return hybrid.deploy_hybrid(front, readout, code=code, max_cycles_per_pe=900)


def test_twin_equals_the_reference_spike_for_spike(front, program, images):
    x = images(40, 7)
    run = hybrid.run_hybrid(program, dnn.quantise_input(front, x))
    ref = hybrid.reference_hybrid(program, x)
    np.testing.assert_array_equal(run.features, dnn.reference_codes(front, x))
    n = assert_same(run, ref)
    assert n > 40 * 2  # a readout that spikes, not a silent one
    np.testing.assert_array_equal(run.predictions, ref.predictions)
    assert len(program.senders) > 1  # the last stage is cut over several sending PEs


def test_senders_are_the_last_dnn_stage_pes(program):
    pl = program.snn.placement
    last = program.dnn.stages[-1].slices
    n = len(last)
    assert [(int(c), int(p)) for c, p in zip(pl.slice_chip[:n], pl.slice_pe[:n], strict=True)] \
        == [(sl.chip, sl.pe) for sl in last]
    dnn_pes = {(sl.chip, sl.pe) for st in program.dnn.stages for sl in st.slices}
    lif = {(int(c), int(p)) for c, p in zip(pl.slice_chip[n:], pl.slice_pe[n:], strict=True)}
    assert lif and not lif & dnn_pes
    for k, (lo, hi) in enumerate(program.senders):  # every feature's key reaches the readout
        for key in pl.key_of(f"dnn{k}", np.arange(hi - lo)).tolist():
            assert {tuple(d) for d in pl.destinations(key).tolist()} == lif


def test_packets_cross_links_on_a_board_as_the_tables_send_them(front, readout, code, images):
    machine = Machine(n_boards=1)
    far = 20
    prog = hybrid.deploy_hybrid(front, readout, machine, code=code, snn_chip=far)
    x = images(12, 9)
    run = hybrid.run_hybrid(prog, dnn.quantise_input(front, x))
    assert_same(run, hybrid.reference_hybrid(prog, x))
    parent, _ = machine.shortest_path_tree(0)
    hops, chip = 0, far
    while chip != 0:
        chip, hops = int(parent[chip]), hops + 1
    sent = code.spikes(run.features, prog.zero_point).sum(axis=(1, 2)).mean()
    assert run.cost.packets_sent == pytest.approx(sent)
    assert hops > 1 and run.cost.link_hops == pytest.approx(sent * hops)
    assert run.cost.router_entries >= hops + 1  # one entry per chip on the path at least


def test_no_table_entry_no_delivery(front, program, images):
    """With empty router tables the senders' packets are dropped at the source chip: the
    readout gets nothing and stays silent, though the DNN stage computes the same."""
    pl = program.snn.placement
    n_chips = pl.machine.n_chips
    empty = Tables(np.zeros(n_chips + 1, np.int64), np.zeros(0, np.uint32),
                   np.zeros(0, np.uint32), np.zeros((0, 3), np.uint64))
    snn = compile_program(program.snn.network, replace(pl, tables=empty), program.tick_ms,
                          program.snn.clock_mhz, weight_format="int8",
                          weight_scale=program.readout.lsb_na, rounding="exact")
    cut = replace(program, snn=snn)
    run = hybrid.run_hybrid(cut, dnn.quantise_input(front, images(5, 7)))
    assert run.counts.sum() == 0 and run.cost.packets_delivered == 0
    assert run.cost.packets_sent > 0


def test_cost_per_inference(front, program, images):
    run = hybrid.run_hybrid(program, dnn.quantise_input(front, images(6, 3)))
    cost = run.cost
    dnn_cost = estimate_dnn_cost(program.dnn)
    assert cost.dnn_us == pytest.approx(sum(a + b for a, b in dnn_cost.stage_us))
    assert cost.deadline_misses == 0
    assert cost.snn_us == pytest.approx(program.run_ticks * program.tick_ms * 1e3)
    assert cost.latency_us == pytest.approx(cost.dnn_us + cost.snn_us)
    assert cost.energy_breakdown["idle"] == pytest.approx(CHIP_IDLE_POWER_W * cost.latency_us
                                                          * 1e-6)
    rows = cost.pe_cycles
    n_dnn = program.dnn.n_pes
    np.testing.assert_array_equal(rows[:n_dnn, 2], dnn_cost.pe_cycles[:, 3:].sum(axis=1))
    senders = rows[n_dnn - len(program.senders):n_dnn]
    assert (senders[:, 3] > 0).all() and (rows[n_dnn:, 3] > 0).all()
    assert (rows[n_dnn:, 2] == 0).all()
    # no PE does more cycles than the clock allows in the time charged
    assert rows[:, 3].max() <= program.snn.clock_mhz * cost.snn_us
    assert cost.max_pe_cycles <= cost.budget_cycles


def test_a_convolution_stage_sends_whole_channels(images, code):
    """A front end ending in Conv2d, pooling and Flatten: each sending PE computes whole
    channels, hence runs of 6 x 6 features; the twin still equals the reference."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten()).eval()
    front = dnn.quantise(model, images(32, 0))
    spikes = code.spikes(dnn.reference_codes(front, images(32, 0)), front.output_zero_point)
    weight = np.random.default_rng(6).normal(size=(10, 216))
    readout = hybrid.readout_from_linear(weight, spikes.sum(axis=2), target_spikes=4.0)
    prog = hybrid.deploy_hybrid(front, readout, code=code, max_cycles_per_pe=2000)
    widths = [hi - lo for lo, hi in prog.senders]
    assert len(widths) > 1 and all(w % 36 == 0 for w in widths) and sum(widths) == 216
    x = images(10, 11)
    run = hybrid.run_hybrid(prog, dnn.quantise_input(front, x))
    assert assert_same(run, hybrid.reference_hybrid(prog, x)) > 10
