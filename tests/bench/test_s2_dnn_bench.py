"""The ``s2-dnn`` benchmark: a quick run writes a complete result, the twin equal to torch."""

import json

import pytest

from neurotwin.bench import BENCHMARKS, run_benchmark
from neurotwin.bench.s2_dnn import validate
from neurotwin.errors import ConfigError


def test_is_registered():
    assert "s2-dnn" in BENCHMARKS.names()


def test_quick_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "s2-dnn.json"
    run_benchmark("s2-dnn", images=60, quick=True, output=str(out), show=False)
    written = json.loads(out.read_text())
    validate(written)
    assert written["codes_equal"]
    assert written["accuracy"]["twin"] == written["accuracy"]["torch_int8"]
    assert set(written["measurements"]) == {"twin", "torch_int8", "torch_float"}
    assert all(m["images_per_s"] > 0 for m in written["measurements"].values())
    est = written["per_inference"]
    assert est["energy_j"] == pytest.approx(sum(est["energy_breakdown_j"].values()))
    assert est["latency_us"] > 0 and written["assumptions"]


def test_options_are_checked():
    with pytest.raises(ConfigError, match="images"):
        run_benchmark("s2-dnn", images=0, show=False, output=None)
    with pytest.raises(ConfigError, match="DVFS"):
        run_benchmark("s2-dnn", clock_mhz=200.0, show=False, output=None)
