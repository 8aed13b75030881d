"""The ``cuba`` benchmark: registry, options, per-process measurement and the JSON schema."""

import json
import subprocess
import sys

import pytest

from neurotwin.bench import BENCHMARKS, run_benchmark
from neurotwin.bench import child as child_module
from neurotwin.bench.cuba import SCHEMA, validate
from neurotwin.bench.runner import check_tools, run_tool
from neurotwin.errors import ConfigError, DataError

TINY = {"n_neurons": 50, "duration": 20.0, "show": False}


def test_cuba_is_registered():
    assert "cuba" in BENCHMARKS.names()


def test_unknown_benchmark_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown benchmark 'nope'; known: .*cuba"):
        run_benchmark("nope")


def test_unknown_option_lists_options():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) bogus .*n_neurons"):
        run_benchmark("cuba", bogus=1)


def test_unknown_tool_lists_tools():
    with pytest.raises(ConfigError, match=r"unknown benchmark tool 'brian3'; known: .*nest_1t"):
        check_tools(["neurotwin", "brian3"])
    with pytest.raises(ConfigError, match="brian3"):
        run_benchmark("cuba", tools="neurotwin,brian3", **TINY)


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="sizes"):
        run_benchmark("cuba", sizes=[0], **TINY)


def test_missing_package_is_skipped_not_failed(tmp_path, monkeypatch):
    tool = child_module.Tool("peers_nest.py", "run_nest", {}, "no_such_simulator_pkg", "x")
    monkeypatch.setitem(child_module.TOOLS, "ghost", tool)
    out = run_tool("ghost", {}, tmp_path / "net.npz", 10.0, tmp_path)
    assert out["status"] == "skipped"
    assert out["reason"].startswith("ImportError") and "no_such_simulator_pkg" in out["reason"]


def test_rusage_exec_measures_a_command(tmp_path):
    out = tmp_path / "usage.json"
    wrapper = child_module.Path(child_module.__file__).with_name("rusage_exec.py")
    code = subprocess.call([sys.executable, str(wrapper), str(out), sys.executable, "-c",
                            "import time; x = bytearray(50 * 2**20); time.sleep(0.1)"])
    usage = json.loads(out.read_text())
    assert code == 0 and usage["returncode"] == 0
    assert usage["wall_time_s"] > 0
    assert 50 <= usage["peak_rss_mb"] <= usage["ru_maxrss_mb"] + 1


def test_peak_rss_of_this_process():
    rss = child_module.peak_rss_mb()
    assert rss is None or rss > 10


def _complete_result():
    tool = dict.fromkeys(SCHEMA["tools.*"])
    cell = dict.fromkeys(SCHEMA["scaling.sizes.*.tools.*"])
    return {
        **dict.fromkeys(SCHEMA[""]),
        "machine": dict.fromkeys(SCHEMA["machine"]),
        "tools": {"neurotwin": tool, "nest_1t": dict(tool)},
        "comparison": {"nest_1t": dict.fromkeys(SCHEMA["comparison.*"])},
        "cold_start": {"enabled": False},
        "scaling": {**dict.fromkeys(SCHEMA["scaling"]), "enabled": True,
                    "sizes": [{**dict.fromkeys(SCHEMA["scaling.sizes.*"]),
                               "tools": {"neurotwin": cell}}]},
    }


def test_validate_accepts_a_complete_result():
    validate(_complete_result())


def test_validate_names_missing_keys():
    result = _complete_result()
    del result["tools"]["nest_1t"]["peak_rss_mb"]
    del result["scaling"]["sizes"][0]["tools"]["neurotwin"]["time_per_synapse_ns"]
    del result["machine"]
    with pytest.raises(DataError) as err:
        validate(result)
    message = str(err.value)
    assert "tools.nest_1t.peak_rss_mb" in message
    assert "scaling.sizes.0.tools.neurotwin.time_per_synapse_ns" in message
    assert "machine" in message


def test_neurotwin_only_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "cuba.json"
    result = run_benchmark("cuba", peers=False, quick=True, repeats=1, output=str(out), **TINY)
    written = json.loads(out.read_text())
    validate(written)
    entry = written["tools"]["neurotwin"]
    assert entry["status"] == "ok", entry["reason"]
    assert entry["total_spikes"] > 0 and entry["peak_rss_mb"] > 0
    # the run's CPU time: positive, and not more than its wall time with one thread
    assert 0 < entry["simulate_cpu_s"] <= entry["simulate_time_s"] * 1.05 + 0.01
    assert written["scaling"] == {"enabled": False}
    assert result["fingerprint"] == written["fingerprint"]


@pytest.mark.slow
def test_full_small_run_compares_every_installed_peer(tmp_path):
    out = tmp_path / "cuba.json"
    result = run_benchmark(
        "cuba", n_neurons=200, duration=100.0, repeats=1, sizes=[200, 400], fan_in=20,
        scaling_duration=50.0, output=str(out), show=False,
    )
    validate(json.loads(out.read_text()))
    for name, entry in result["tools"].items():
        assert entry["status"] in ("ok", "skipped"), (name, entry["reason"])
    for name, cmp in result["comparison"].items():
        assert cmp["spike_count_equal"], name
    assert result["cold_start"]["status"] == "ok"
    assert result["cold_start"]["compile_overhead_s"] > 0
    assert result["scaling"]["exponent"]["neurotwin"] is not None
    for row in result["scaling"]["sizes"]:
        assert row["tools"]["neurotwin"]["simulate_cpu_s"] > 0
    brian2 = result["tools"]["brian2_cpp_standalone"]
    if brian2["status"] == "ok":  # one thread: its simulate time is std::clock, CPU time
        assert brian2["simulate_cpu_s"] == brian2["simulate_time_s"]
        assert result["comparison"]["brian2_cpp_standalone"]["simulate_cpu_ratio"] > 0
