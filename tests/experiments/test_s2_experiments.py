"""The SpiNNaker2 experiments on tiny configs: metrics and plots are written, a network
that does not fit is recorded, not raised."""

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.s2_balanced import S2BalancedConfig, tick_rate
from neurotwin.experiments.s2_scale import S2ScaleConfig

TINY_BALANCED = {"n_exc": 400, "n_inh": 100, "n_ext": 100, "fan_in": 20, "fan_in_ext": 10,
                 "duration": 50.0, "raster_neurons": 20}


def test_both_are_registered():
    assert {"s2-balanced", "s2-scale"} <= set(EXPERIMENTS.names())


def test_balanced_tiny_writes_metrics_and_plots(tmp_path):
    out = run_experiment("s2-balanced", TINY_BALANCED, seed=1, out_dir=tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    m = written["metrics"]
    for name in m["files"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert m["n_neurons"] == 500
    assert m["n_synapses"] == 500 * (20 + 10)
    assert m["pes"] >= 3 and m["chips"] >= 1
    assert set(m["deadline"]) == {"300", "150"}
    assert m["deadline"]["150"]["budget_cycles"] == 150_000
    # the clock changes the budget, not the work: the same PE cycles at both clocks
    assert m["deadline"]["150"]["max_pe_cycles"] == m["deadline"]["300"]["max_pe_cycles"]
    # ... but a cycle costs less at 150 MHz (0.50 V against 0.60 V)
    pe = {clock: m["energy_breakdown_j"][clock]["pe_cycles"] for clock in ("150", "300")}
    assert pe["300"] / pe["150"] == pytest.approx(1.44, rel=1e-9)
    for clock in ("150", "300"):
        assert m["energy_j"][clock] == pytest.approx(sum(m["energy_breakdown_j"][clock].values()))
        assert m["hardware_time_us"][clock] == pytest.approx(
            50e3 + m["deadline"][clock]["late_us"])
    assert m["rate_hz"]["exc"] >= 0
    assert m["router_tables"]["entries_after_max"] <= m["router_tables"]["entries_before_max"]
    assert out["metrics"]["wall_time_s"]["map"] > 0


def test_balanced_refuses_weights_beyond_int4_and_clocks_off_the_dvfs_levels():
    with pytest.raises(ConfigError, match="int4"):
        S2BalancedConfig(w_lsb=4, g=5)
    with pytest.raises(ConfigError, match="DVFS level"):
        S2BalancedConfig(clocks_mhz=(300.0, 200.0))


def test_rate_bins_hold_the_same_number_of_ticks():
    """One neuron spiking in every 1 ms tick of 1 s (stamped at the ends of the ticks,
    1..1000 ms): every 5 ms bin holds 5 ticks, so every bin reads 1000 Hz."""
    centres, rate = tick_rate(np.arange(1, 1001, dtype=float), 1, 1000.0, 5.0)
    assert centres.size == 200 and centres[0] == 2.5 and centres[-1] == 997.5
    np.testing.assert_array_equal(rate, np.full(200, 1000.0))
    _, short = tick_rate(np.arange(1, 13, dtype=float), 1, 12.0, 5.0)  # last bin 2 ms
    np.testing.assert_array_equal(short, [1000.0, 1000.0, 1000.0])


def assert_readable(metrics: Mapping[str, Any]) -> None:
    """Every leaf is a scalar or a list of scalars: the summary prints one line per
    number, never a raw dict."""
    for value in metrics.values():
        if isinstance(value, Mapping):
            assert_readable(value)
        elif isinstance(value, list | tuple):
            assert all(not isinstance(v, Mapping | list | tuple) for v in value)


def test_scale_tiny_maps_each_size_and_records_what_does_not_fit(tmp_path):
    cfg = {"sizes": [300, 1000], "fan_in": 10, "connectivity": ["random"]}
    m = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]
    assert (tmp_path / "scale.png").stat().st_size > 1000
    assert_readable(m)
    assert list(m["sizes"]) == ["random"] and list(m["sizes"]["random"]) == ["300", "1000"]
    small, large = m["sizes"]["random"].values()
    assert small["status"] == large["status"] == "ok"
    assert large["pes"] >= small["pes"]
    assert small["entries_after_max"] <= small["entries_before_max"]

    squeezed = {"sizes": [300, 60_000], "fan_in": 10, "connectivity": ["random"],
                "max_synapses": 5000}
    rows = run_experiment("s2-scale", squeezed, out_dir=tmp_path / "b")["metrics"]["sizes"]
    assert rows["random"]["300"]["status"] == "ok"
    skipped = rows["random"]["60000"]
    assert skipped["status"] == "skipped" and "max_synapses" in skipped["reason"]


def test_scale_records_capacity_errors_and_skips_larger_sizes_of_that_series(tmp_path):
    cfg = {"sizes": [40_000, 50_000], "fan_in": 5, "router_entries": 1,
           "connectivity": ["random"]}
    sizes = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]["sizes"]
    first, second = sizes["random"]["40000"], sizes["random"]["50000"]
    assert first["status"] == "capacity_error"
    assert first["resource"] == "routing entries" and "needed" in first["reason"]
    assert second["status"] == "skipped" and "40000 neurons did not fit" in second["reason"]
    cfg["stop_at_capacity_error"] = False
    rows = run_experiment("s2-scale", cfg, out_dir=tmp_path / "b")["metrics"]["sizes"]
    assert [r["status"] for r in rows["random"].values()] == ["capacity_error"] * 2


def test_scale_local_series_needs_fewer_router_entries_than_random(tmp_path):
    """Same PEs, but with sources from a ring window a slice's spikes reach the chips
    around it only: fewer entries per router than with sources from everywhere."""
    cfg = {"sizes": [8000], "fan_in": 10, "local_window": 200, "neurons_per_pe": 20}
    rows = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]["sizes"]
    by = {series: sizes["8000"] for series, sizes in rows.items()}
    assert set(by) == {"random", "local"} and all(r["status"] == "ok" for r in by.values())
    assert by["local"]["pes"] == by["random"]["pes"] == 400
    assert by["local"]["entries_before_max"] < by["random"]["entries_before_max"] / 2


def test_scale_config_is_checked():
    with pytest.raises(ConfigError, match="sizes"):
        S2ScaleConfig(sizes=())
    with pytest.raises(ConfigError, match="fan_in"):
        S2ScaleConfig(sizes=(10,), fan_in=20)
    with pytest.raises(ConfigError, match="connectivity must be"):
        S2ScaleConfig(connectivity=("grid",))
    with pytest.raises(ConfigError, match="local_window must be at least fan_in 100"):
        S2ScaleConfig(local_window=50)
