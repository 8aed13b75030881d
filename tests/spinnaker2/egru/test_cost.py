"""Cycles, bytes, time and energy of an EGRU/GRU sequence: by hand from the constants, the
EGRU below the dense GRU when it is sparse, and nothing above what the clock allows."""

import numpy as np

from neurotwin.spinnaker2 import Machine
from neurotwin.spinnaker2.accelerators import exp_cycles, mac_cycles
from neurotwin.spinnaker2.cost import energy_per_cycle
from neurotwin.spinnaker2.egru import deploy_rnn, estimate_rnn_cost, run_rnn, step_cycles
from neurotwin.spinnaker2.specs import (
    CYCLES_PER_EVENT_RECEIVED,
    CYCLES_PER_GRU_UNIT,
    CYCLES_PER_PARTIAL_SUM,
    CYCLES_PER_REQUANTISE,
    CYCLES_STAGE_OVERHEAD,
    EVENT_BYTES,
)


def test_step_cycles_by_hand(firing_model):
    q = firing_model("egru", 10, [0], n_inputs=3, n_classes=4)
    mac, arm = step_cycles(q, 4, np.array([0, 6]), np.array([0, 2]))
    tiles = -(-12 // 16)   # one row of 3 x 4 = 12 gate outputs: one tile
    assert mac[0] == 100 + tiles * (3 + 16)   # the input job only
    assert mac[1] == mac[0] + (100 + tiles * (6 + 16)) + (100 + 1 * (2 + 16))
    fixed = (CYCLES_STAGE_OVERHEAD + 24 * CYCLES_PER_REQUANTISE + exp_cycles(12)
             + 4 * CYCLES_PER_GRU_UNIT + 4 * CYCLES_PER_PARTIAL_SUM)
    np.testing.assert_array_equal(arm, [fixed, fixed + 6 * CYCLES_PER_EVENT_RECEIVED])
    assert mac_cycles(1, 0, 12) == 0


def test_sparse_egru_costs_less_than_the_dense_gru(firing_model):
    h, steps = 48, 6
    codes = np.random.default_rng(1).integers(0, 256, (3, steps, 3)).astype(np.uint8)
    costs = {}
    for kind in ("egru", "gru"):
        q = firing_model(kind, h, [3, 30])
        program = deploy_rnn(q, max_cycles_per_step=3_000)
        costs[kind] = estimate_rnn_cost(program, run_rnn(program, codes))
    egru, gru = costs["egru"], costs["gru"]
    assert egru.activity == 2 / h and gru.activity == 1.0
    assert egru.macs[1] == (steps - 1) * 2 * 3 * h and gru.macs[1] == steps * h * 3 * h
    assert egru.mac_cycles < gru.mac_cycles
    assert egru.noc_bytes < gru.noc_bytes
    assert egru.latency_us < gru.latency_us and egru.energy_j < gru.energy_j


def test_noc_bytes_and_energy_are_physical(firing_model):
    h, steps = 40, 4
    q = firing_model("egru", h, [0, 39])   # first and last unit: on different PEs
    codes = np.zeros((1, steps, 3), np.uint8)
    for clock in (300.0, 150.0):
        program = deploy_rnn(q, Machine(board_chips=1, clock_mhz=clock), max_cycles_per_step=3_000)
        pes = program.n_pes
        assert pes >= 2
        cost = estimate_rnn_cost(program, run_rnn(program, codes))
        # both events of every step go to every other PE, then the output sums to one PE
        assert cost.noc_bytes == steps * 2 * (pes - 1) * EVENT_BYTES + (pes - 1) * 4 * 4
        cycles = cost.mac_cycles + cost.arm_cycles
        assert cycles <= clock * cost.latency_us * pes   # no PE beyond its clock
        assert np.isclose(cost.energy_breakdown["pe"], energy_per_cycle(clock) * cycles)
        if clock == 300.0:
            fast = cost
    assert cost.latency_us > fast.latency_us
    assert cost.energy_breakdown["pe"] < fast.energy_breakdown["pe"]   # lower V at 150 MHz
