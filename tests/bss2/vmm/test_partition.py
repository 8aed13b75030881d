"""Blocks, slots, runs, chips; CapacityError; the hardware time and the overhead model."""

import pytest

from neurotwin.bss2 import specs, vmm
from neurotwin.errors import CapacityError


def test_blocks_cover_the_matrix_over_hemispheres_runs_and_chips():
    s = vmm.partition([("fc", 784, 500)], chips=2)
    assert len(s.blocks) == 7 * 2
    assert [b.rows for b in s.blocks[:7]] == [(i, min(i + 128, 784)) for i in range(0, 784, 128)]
    assert {b.columns for b in s.blocks} == {(0, 256), (256, 500)}
    assert [(b.run, b.chip, b.hemisphere) for b in s.blocks[:5]] == [
        (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0)]
    assert s.runs == 4
    assert "14 blocks, 4 run(s) on 2 chip(s)" in s.table()


def test_hardware_time_per_vector():
    s = vmm.partition([("a", 100, 10)])
    expected = specs.VMM_MEMBRANE_RESET_US + 3 * 100 * 2 * 0.008 + specs.CADC_SAMPLE_PERIOD_US
    assert s.hardware_time_us(num_sends=3, wait_between_events=2) == pytest.approx(expected)


def test_capacity_error_names_what_was_needed():
    with pytest.raises(CapacityError, match=r"needed 5, available 2.*fc1: 4, fc2: 1.*3 run"):
        vmm.partition([("fc1", 500, 10), ("fc2", 10, 10)], chips=1, max_runs=1)
    assert vmm.partition([("fc1", 500, 10)], chips=2, max_runs=1).runs == 1


def test_overhead_breakdown_sums_its_parts():
    s = vmm.partition([("a", 128, 256)])
    m = vmm.OverheadModel()
    o = vmm.inference_overhead(s, batch=10, model=m)
    assert o.transfers == pytest.approx((2 * 128 * 256 * 1.5 + 10 * 128 * 4) / 125e6)
    assert o.chip_execution == pytest.approx(10 * s.hardware_time_us() * 1e-6)
    assert o.total == pytest.approx(sum(o.to_dict()[k] for k in (
        "host_preparation", "transfers", "fpga", "chip_execution", "readout")))
    big = vmm.inference_overhead(s, batch=1000, model=m)
    assert big.total / 1000 < o.total / 10  # fixed costs amortise over the batch
    assert "chip_execution" in o.table()


def test_sends_per_matrix():
    s = vmm.partition([("a", 100, 10), ("b", 50, 10), ("c", 20, 10)])  # runs: (a, b), (c)
    t = s.hardware_time_us({"a": 1, "b": 3, "c": 2}, wait_between_events=1)
    fixed = specs.VMM_MEMBRANE_RESET_US + specs.CADC_SAMPLE_PERIOD_US
    assert t == pytest.approx(2 * fixed + max(100 * 1, 50 * 3) * 0.008 + 20 * 2 * 0.008)
    o = vmm.inference_overhead(s, 1, {"a": 1, "b": 3, "c": 2}, 1, vmm.OverheadModel())
    assert o.transfers == pytest.approx((2 * 1700 * 1.5 + (100 + 150 + 40) * 4) / 125e6)
