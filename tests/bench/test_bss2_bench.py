"""The ``bss2`` benchmark: the full-chip network fills the chip, and a tiny run writes a
complete result."""

import json

import pytest

from neurotwin.bench import BENCHMARKS, run_benchmark
from neurotwin.bench.bss2 import SCHEMA, full_chip_network, validate
from neurotwin.bss2 import specs
from neurotwin.bss2.mapping import map_network
from neurotwin.errors import ConfigError, DataError

TINY = {"duration": 5.0, "trials": 2, "repeats": 1, "calibration_circuits": 0,
        "show": False}


def test_bss2_is_registered():
    assert "bss2" in BENCHMARKS.names()


def test_full_chip_network_uses_every_circuit_and_row():
    usage = map_network(full_chip_network(0), weight_scale=0.006).usage()
    assert usage["neurons"] == (512.0, 512.0)
    assert usage["synapse rows"] == (512.0, 512.0)
    assert usage["synapse drivers"] == (256.0, 256.0)
    assert usage["synapses"] == (float(specs.N_SYNAPSES), float(specs.N_SYNAPSES))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bss2.json"
    return out, run_benchmark("bss2", output=str(out), profile=True, **TINY)


def test_tiny_run_writes_a_complete_result(tiny):
    out, result = tiny
    written = json.loads(out.read_text())
    validate(written)
    assert result["output"] == str(out)
    names = set(written["measurements"])
    assert names == {"bss2_single", "bss2_batched", "ideal_single", "ideal_batched",
                     "bss2_plastic"}
    plastic = written["measurements"]["bss2_plastic"]
    assert plastic["plain_ratio"]["wall"] == pytest.approx(
        plastic["wall_time_s"] / written["measurements"]["bss2_single"]["wall_time_s"])
    for m in written["measurements"].values():
        assert m["wall_time_s"] > 0 and m["cpu_time_s"] >= 0
        assert m["target_s"] is None  # targets are for 1 s of model time only
        assert m["spikes"] >= 0
    assert written["measurements"]["bss2_batched"]["hardware_time_us"] == 10.0
    assert written["profile"]["bss2_single"][0]["own_s"] >= 0


def test_validate_names_missing_keys(tiny):
    result = json.loads(tiny[0].read_text())
    del result["measurements"]["bss2_single"]["cpu_time_s"]
    del result["network"]
    with pytest.raises(DataError, match=r"network, measurements\.bss2_single\.cpu_time_s"):
        validate(result)
    assert set(SCHEMA[""]) <= set(json.loads(tiny[0].read_text()))


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="trials"):
        run_benchmark("bss2", **{**TINY, "trials": 0})
    with pytest.raises(ConfigError, match="calibration_circuits"):
        run_benchmark("bss2", **{**TINY, "calibration_circuits": 513})
