"""The ``s2-mapping`` benchmark: a tiny run without sPyNNaker writes a complete result."""

import json
from pathlib import Path

import pytest

from neurotwin.bench import BENCHMARKS, run_benchmark, s2_mapping
from neurotwin.bench.s2_mapping import SCHEMA, validate
from neurotwin.errors import ConfigError, DataError


def test_is_registered():
    assert "s2-mapping" in BENCHMARKS.names()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "s2-mapping.json"
    result = run_benchmark("s2-mapping", sizes="2000", fan_in=20, skip_spynnaker=True,
                           big=False, output=str(out), show=False, timeout_s=300)
    return out, result


def test_tiny_run_writes_a_complete_result(tiny):
    out, _ = tiny
    written = json.loads(out.read_text())
    validate(written)
    assert set(SCHEMA[""]) <= set(written)
    row = written["sizes"][0]
    nt = row["neurotwin"]
    assert nt["status"] == "ok", nt["reason"]
    assert 0 < nt["path_a_s"] <= nt["path_b_s"] <= nt["path_b_with_network_s"]
    assert nt["pes"] >= 1 and nt["peak_rss_mb"] > 0
    assert row["spynnaker"] == {"status": "skipped", "reason": "skip_spynnaker=True"}
    assert row["path_a_ratio"] is None and row["path_b_ratio"] is None
    assert written["big"] == {"enabled": False}
    assert written["targets_met"]["path_a_ratio"] is None


def test_validate_names_missing_keys(tiny):
    result = json.loads(tiny[0].read_text())
    del result["sizes"][0]["neurotwin"]["path_a_s"]
    with pytest.raises(DataError, match=r"sizes\.0\.neurotwin\.path_a_s"):
        validate(result)


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="sizes"):
        run_benchmark("s2-mapping", sizes="ten", output=None, show=False)
    with pytest.raises(ConfigError, match="fan_in"):
        run_benchmark("s2-mapping", sizes="1000", fan_in=2000, output=None, show=False)


def test_peer_runner_never_imports_neurotwin():
    source = Path(s2_mapping.PEER).read_text()
    assert "import neurotwin" not in source and "from neurotwin" not in source


def test_missing_spynnaker_env_is_a_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(s2_mapping, "SPYNNAKER_PYTHON", tmp_path / "none" / "python")
    out = s2_mapping._spynnaker(1000, 10, 0, tmp_path, 10.0, skip=False)
    assert out["status"] == "skipped" and "missing" in out["reason"]


def _timer(category, algorithm, seconds, skipped=None, work="Other"):
    return {"category": category, "algorithm": algorithm, "work": work, "time_s": seconds,
            "skipped": skipped}


def test_a_peer_failing_in_data_generation_keeps_its_mapping_time():
    """sPyNNaker's timer rows after a MemoryError in the data writer: (a) sums the mapping
    algorithms (no reports, no virtual machine), (b) is unknown but at least (a) plus the
    data generation until the failure; a failure before the tables exist is raised."""
    from neurotwin.bench.peers_spynnaker import stage_times

    rows = [
        _timer("Mapping Stage", "Splitter partitioner", 3.5),
        _timer("Mapping Stage", "Virtual machine generator", 4.2),
        _timer("Mapping Stage", "Partitioner report", 0.1, "cfg off", work="Reporting"),
        _timer("Mapping Stage", "Application Router", 147.5),
        _timer("Mapping Stage", "Merged routing table generator", 13.9),
        _timer("Loading Stage", "Pair compressor", 0.04, "Tables already small enough"),
        _timer("Loading Stage", "SDRAM outgoing partition allocator", 0.2),
        _timer("Loading Stage", "Graph data specification writer", 66.0, "MemoryError"),
    ]
    out = stage_times(rows, MemoryError("Unable to allocate"))
    assert out["status"] == "partial" and "MemoryError" in out["reason"]
    assert out["path_a_s"] == pytest.approx(3.5 + 147.5 + 13.9)
    assert out["path_b_s"] is None
    assert out["path_b_at_least_s"] == pytest.approx(3.5 + 147.5 + 13.9 + 0.2 + 66.0)
    done = stage_times(rows[:-1])
    assert done["status"] == "ok" and done["path_b_s"] == pytest.approx(165.1)
    with pytest.raises(MemoryError):
        stage_times(rows[:2], MemoryError("early"))
    # the ratios: (a) from a partial run, (b) only bounded
    ours = {"status": "ok", "path_a_s": 0.0165, "path_b_s": 0.033}
    assert s2_mapping._ratio(ours, out, "path_a_s") == pytest.approx(0.0165 / 164.9)
    assert s2_mapping._ratio(ours, out, "path_b_s") is None
    assert s2_mapping._bound(ours, out) == pytest.approx(0.033 / 231.1)
