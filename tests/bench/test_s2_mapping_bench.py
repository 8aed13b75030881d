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
