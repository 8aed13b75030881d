"""Per-inference time and energy against hand calculations, and the physical bound."""

import pytest
import torch
from torch import nn

from neurotwin.spinnaker2 import Machine, accelerators, dnn, specs
from neurotwin.spinnaker2.cost import energy_per_cycle


def _linear_program(clock_mhz: float = 300.0) -> dnn.DnnProgram:
    model = nn.Sequential(nn.Linear(100, 20)).eval()
    return dnn.deploy(dnn.quantise(model, torch.rand(8, 100)),
                      Machine(board_chips=1, clock_mhz=clock_mhz))


def test_one_linear_layer_by_hand():
    cost = dnn.estimate_dnn_cost(_linear_program())
    mac = specs.CYCLES_MAC_CALL + 2 * (100 + specs.CYCLES_MAC_TILE_DRAIN)  # 1 x 20: 2 tiles
    arm = specs.CYCLES_STAGE_OVERHEAD + 20 * specs.CYCLES_PER_REQUANTISE
    assert cost.pe_cycles.tolist() == [[0, 0, 0, mac, arm]]
    input_us = specs.DRAM_LATENCY_NS * 1e-3 + 100 / specs.DRAM_BYTES_PER_S * 1e6
    output_us = specs.DRAM_LATENCY_NS * 1e-3 + 20 / specs.DRAM_BYTES_PER_S * 1e6
    latency = input_us + (mac + arm) / 300.0 + output_us
    assert cost.latency_us == pytest.approx(latency)
    assert cost.dram_bytes == 120 and cost.noc_bytes == 0
    assert cost.energy_breakdown["pe"] == pytest.approx(energy_per_cycle(300.0) * (mac + arm))
    assert cost.energy_breakdown["idle"] == pytest.approx(specs.CHIP_IDLE_POWER_W * latency * 1e-6)
    assert cost.energy_j == pytest.approx(sum(cost.energy_breakdown.values()))
    assert cost.load_bytes == 20 * (100 + 12)


def test_pe_energy_within_what_the_clock_allows(cnn_model):
    program = dnn.deploy(cnn_model, max_cycles_per_pe=2000)
    cost = dnn.estimate_dnn_cost(program)
    bound = energy_per_cycle(300.0) * 300.0 * cost.latency_us * program.n_pes
    assert cost.energy_breakdown["pe"] <= bound
    assert cost.noc_bytes == sum(len(s.slices) * s.in_bytes for s in program.stages[1:])
    # stages pipelined: throughput set by the slowest stage
    assert cost.throughput_per_s == pytest.approx(1e6 / max(a + b for a, b in cost.stage_us))


def test_dvfs_levels_give_different_time_and_energy():
    fast = dnn.estimate_dnn_cost(_linear_program(300.0))
    slow = dnn.estimate_dnn_cost(_linear_program(150.0))
    assert slow.latency_us > fast.latency_us
    assert slow.energy_breakdown["pe"] == pytest.approx(
        fast.energy_breakdown["pe"] * (0.50 / 0.60) ** 2)


def test_later_stages_receive_over_the_noc(mlp_model):
    program = dnn.deploy(mlp_model)
    cost = dnn.estimate_dnn_cost(program)
    second = program.stages[1]
    assert cost.stage_us[1][0] == pytest.approx(
        accelerators.noc_transfer_cycles(second.in_bytes) / 300.0)
