"""The SpiNNaker2 experiments on tiny configs: metrics and plots are written, a network
that does not fit is recorded, not raised."""

import json

import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.s2_balanced import S2BalancedConfig
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
    # the clock changes the budget only: the same PE cycles at both clocks
    assert m["deadline"]["150"]["max_pe_cycles"] == m["deadline"]["300"]["max_pe_cycles"]
    assert m["energy_j"] > 0 and m["rate_hz"]["exc"] >= 0
    assert m["router_tables"]["entries_after_max"] <= m["router_tables"]["entries_before_max"]
    assert out["metrics"]["wall_time_s"]["map"] > 0


def test_balanced_refuses_weights_beyond_int4():
    with pytest.raises(ConfigError, match="int4"):
        S2BalancedConfig(w_lsb=4, g=5)


def test_scale_tiny_maps_each_size_and_records_what_does_not_fit(tmp_path):
    cfg = {"sizes": [300, 1000], "fan_in": 10, "connectivity": ["random"]}
    m = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]
    assert (tmp_path / "scale.png").stat().st_size > 1000
    assert [r["status"] for r in m["sizes"]] == ["ok", "ok"]
    assert {r["connectivity"] for r in m["sizes"]} == {"random"}
    assert m["sizes"][1]["pes"] >= m["sizes"][0]["pes"]
    assert m["sizes"][0]["entries_after_max"] <= m["sizes"][0]["entries_before_max"]

    squeezed = {"sizes": [300, 60_000], "fan_in": 10, "connectivity": ["random"],
                "max_synapses": 5000}
    rows = run_experiment("s2-scale", squeezed, out_dir=tmp_path / "b")["metrics"]["sizes"]
    assert rows[0]["status"] == "ok"
    assert rows[1]["status"] == "skipped" and "max_synapses" in rows[1]["reason"]


def test_scale_records_capacity_errors_and_skips_larger_sizes_of_that_series(tmp_path):
    cfg = {"sizes": [40_000, 50_000], "fan_in": 5, "router_entries": 1,
           "connectivity": ["random"]}
    first, second = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]["sizes"]
    assert first["status"] == "capacity_error"
    assert first["resource"] == "routing entries" and "needed" in first["reason"]
    assert second["status"] == "skipped" and "40000 neurons did not fit" in second["reason"]
    cfg["stop_at_capacity_error"] = False
    rows = run_experiment("s2-scale", cfg, out_dir=tmp_path / "b")["metrics"]["sizes"]
    assert [r["status"] for r in rows] == ["capacity_error", "capacity_error"]


def test_scale_local_series_needs_fewer_router_entries_than_random(tmp_path):
    """Same PEs, but with sources from a ring window a slice's spikes reach the chips
    around it only: fewer entries per router than with sources from everywhere."""
    cfg = {"sizes": [8000], "fan_in": 10, "local_window": 200, "neurons_per_pe": 20}
    rows = run_experiment("s2-scale", cfg, out_dir=tmp_path)["metrics"]["sizes"]
    by = {r["connectivity"]: r for r in rows}
    assert set(by) == {"random", "local"} and all(r["status"] == "ok" for r in rows)
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
