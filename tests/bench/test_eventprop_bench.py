"""The ``eventprop`` benchmark: registry, options, memory helper and the JSON schema."""

import json

import pytest
import torch

from neurotwin.bench import BENCHMARKS, run_benchmark
from neurotwin.bench.eventprop import SCHEMA, step_memory_mb, validate
from neurotwin.errors import ConfigError, DataError


def test_eventprop_is_registered():
    assert "eventprop" in BENCHMARKS.names()


def test_unknown_option_lists_options():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) bogus .*skip_jaxsnn"):
        run_benchmark("eventprop", bogus=1)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"durations": "10.05"}, "multiple of the time step"),
     ({"durations": "ten"}, "durations"),
     ({"batch_size": 0}, "batch_size"),
     ({"n_samples": 3, "batch_size": 4}, "n_samples")],
)
def test_bad_options_raise(options, match):
    with pytest.raises(ConfigError, match=match):
        run_benchmark("eventprop", show=False, output=None, **options)


def test_step_memory_helper_sees_an_allocation():
    kept = []
    mb, how = step_memory_mb(lambda: kept.append(bytearray(60 * 2**20)))
    if mb is None:
        pytest.skip(how)
    assert 55 <= mb <= 80
    assert "VmHWM" in how


def test_validate_names_missing_keys():
    with pytest.raises(DataError) as err:
        validate({"benchmark": "eventprop", "epoch": {"enabled": True, "tools": {
            "jaxsnn": {"status": "skipped", "reason": "x"}, "neurotwin_eventprop": {}}}})
    message = str(err.value)
    assert "machine" in message and "epoch.tools.neurotwin_eventprop.epoch_time_s" in message
    assert "epoch.tools.jaxsnn" not in message


def test_tiny_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "eventprop.json"
    result = run_benchmark(
        "eventprop", n_samples=2, batch_size=2, skip_jaxsnn=True, skip_bptt_epoch=True,
        durations="1", memory_batch_size=2, output=str(out), show=False,
    )
    written = json.loads(out.read_text())
    validate(written)
    assert set(SCHEMA[""]) <= set(written)
    tools = written["epoch"]["tools"]
    assert tools["neurotwin_eventprop"]["status"] == "ok", tools["neurotwin_eventprop"]
    assert tools["neurotwin_eventprop"]["epoch_time_s"] > 0
    assert tools["jaxsnn"]["status"] == "skipped" and written["epoch"]["ratio"] is None
    rows = written["memory"]["rows"]
    assert [r["steps"] for r in rows] == [10]
    for row in rows:
        for method in ("eventprop", "bptt"):
            assert row[method]["status"] == "ok", row[method]
            assert row[method]["step_mb"] is None or row[method]["step_mb"] >= 0
    assert result["memory"]["ratio_at_longest"] == rows[-1]["ratio"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_option_without_a_device_says_so():
    with pytest.raises(ConfigError, match="no CUDA device"):
        run_benchmark("eventprop", cuda=True, show=False, output=None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tiny_cuda_run_adds_gpu_epochs_and_memory(tmp_path):
    written = run_benchmark(
        "eventprop", n_samples=4, batch_size=2, skip_jaxsnn=True, durations="1,10",
        memory_batch_size=2, output=str(tmp_path / "eventprop.json"), show=False, cuda=True,
    )
    validate(written)
    tools = written["epoch"]["tools"]
    for name in ("neurotwin_eventprop_cuda", "neurotwin_bptt_cuda"):
        assert tools[name]["status"] == "ok", tools[name]
        assert tools[name]["device"] == torch.cuda.get_device_name(0)
    rows = written["memory"]["rows"]
    for row in rows:
        for method in ("eventprop_cuda", "bptt_cuda"):
            assert row[method]["status"] == "ok", row[method]
            assert row[method]["step_mb"] > 0
    # BPTT keeps every step's state: 10x the steps, several times the GPU memory
    assert rows[1]["bptt_cuda"]["step_mb"] > 2 * rows[0]["bptt_cuda"]["step_mb"]
    assert written["memory"]["ratio_cuda_at_longest"] == rows[-1]["ratio_cuda"]
