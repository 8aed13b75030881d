"""The ``neurotwin`` command: info, run, bench, and one-line errors with exit status 2."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from neurotwin.cli import main, parse_options
from neurotwin.errors import ConfigError
from neurotwin.registry import Registry

TINY = {"n_neurons": 200, "duration": 100.0}


def write_config(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_info_lists_registries_and_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for expected in ("neurotwin", "0.1.0", "ideal", "lif", "adex", "cuba", "torch", "cpu", "numba"):
        assert expected in out


def test_unknown_experiment_exits_2_listing_known_ones(capsys):
    assert main(["run", "no-such-experiment"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no-such-experiment'" in err
    assert "known:" in err and "cuba" in err
    assert "Traceback" not in err


def test_unknown_backend_exits_2(capsys, tmp_path):
    assert main(["run", "cuba", "--backend", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'; known: " in err and "ideal" in err


def test_impossible_out_folder_fails_before_the_run(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "cuba", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert f"output folder '{blocker / 'sub'}' cannot be written" in err
    assert "cuba (ideal)" not in err  # no progress bar: nothing ran


def test_non_utf8_config_is_a_data_error(capsys, tmp_path):
    config = tmp_path / "c.json"
    config.write_bytes(b'{"n_neurons": 200, "label": "\xe9"}')
    assert main(["run", "cuba", "--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text (byte 0xe9 at offset 29)" in err and "Traceback" not in err


def test_experiment_with_its_own_backend_refuses_another(capsys, tmp_path):
    assert main(["run", "s2-balanced", "--backend", "ideal", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'s2-balanced' always runs on spinnaker2; a backend ('ideal') does not apply" in err


@pytest.mark.parametrize(
    ("name", "runs_on"),
    [("s2-balanced", "spinnaker2"), ("bss2-neuron", "bss2"), ("mnist-latency", "event engine"),
     ("cuba", None), ("yinyang", None)],
)
def test_experiments_declare_where_they_run(name, runs_on):
    from neurotwin.experiments import EXPERIMENTS

    exp = EXPERIMENTS.get(name)
    assert exp.runs_on == runs_on
    assert exp.backend_for(None) == (runs_on or "ideal")
    if runs_on is None:
        assert exp.backend_for("spinnaker2") == "spinnaker2"


def test_config_with_unknown_key_lists_valid_keys(capsys, tmp_path):
    config = write_config(tmp_path / "c.json", {**TINY, "n_neurone": 3})
    assert main(["run", "cuba", "--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'n_neurone'" in err
    assert "valid keys: n_neurons, p_connect" in err
    assert not (tmp_path / "metrics.json").exists()


def test_error_is_one_line_from_the_installed_command(tmp_path):
    config = write_config(tmp_path / "c.json", {"n_neurons": "many"})
    proc = subprocess.run(
        [sys.executable, "-m", "neurotwin.cli", "run", "cuba", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"neurotwin: error: {config}: config key 'n_neurons' must be int, got 'many'"
    ]


def test_run_cuba_writes_metrics_and_plots_to_results(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "tiny.json", TINY)
    assert main(["run", "cuba", "--config", str(config), "--seed", "3"]) == 0
    out_dir = tmp_path / "results" / "cuba"
    record = json.loads((out_dir / "metrics.json").read_text())
    assert record["experiment"] == "cuba"
    assert record["backend"] == "ideal"
    assert record["seed"] == 3
    assert record["config"]["n_neurons"] == 200
    assert record["config"]["duration"] == 100.0
    metrics = record["metrics"]
    assert set(metrics["rate_hz"]) == {"exc", "inh", "all"}
    assert set(metrics["wall_time_s"]) == {"network", "build", "simulate"}
    for name in ("raster.png", "rate.png", "traces.png"):
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "rate_hz.exc" in out
    assert "results in results/cuba/" in out


def test_parse_options_reads_json_values_and_flags():
    words = [
        "--duration",
        "1000",
        "--sizes=[1000, 2000]",
        "--quick",
        "--peer",
        "brian2",
        "--scale-up",
        "0.5",
    ]
    assert parse_options(words) == {
        "duration": 1000,
        "sizes": [1000, 2000],
        "quick": True,
        "peer": "brian2",
        "scale_up": 0.5,
    }


def test_parse_options_rejects_stray_words():
    with pytest.raises(ConfigError, match="--key value"):
        parse_options(["stray"])


@pytest.fixture
def fake_bench(monkeypatch):
    """A stand-in ``neurotwin.bench`` recording the calls it gets."""
    registry: Registry[object] = Registry("benchmark")
    registry.register("toy")(object())
    calls = []

    def run_benchmark(name, **opts):
        calls.append((name, opts))
        return {"ratio": {"brian2": 2.5}, "output": opts.get("output", "bench/results/toy.json")}

    module = types.ModuleType("neurotwin.bench")
    module.BENCHMARKS = registry
    module.run_benchmark = run_benchmark
    monkeypatch.setitem(sys.modules, "neurotwin.bench", module)
    return calls


def test_bench_passes_options_through(fake_bench, capsys):
    assert main(["bench", "toy", "--trials", "2", "--quick"]) == 0
    assert fake_bench == [("toy", {"trials": 2, "quick": True})]
    assert "results in bench/results/toy.json" in capsys.readouterr().out
    assert main(["bench", "toy", "--output", "elsewhere.json"]) == 0
    assert "results in elsewhere.json" in capsys.readouterr().out


def test_bench_unknown_name_exits_2(fake_bench, capsys):
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'; known: toy" in capsys.readouterr().err
    assert fake_bench == []


def test_bench_without_bench_module_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "neurotwin.bench", None)  # import raises
    assert main(["bench", "cuba"]) == 2
    assert "benchmarks are not available" in capsys.readouterr().err
    assert main(["info"]) == 0
    assert "benchmarks" in capsys.readouterr().out


def test_resume_flag_needs_a_checkpointing_experiment(capsys):
    assert main(["run", "cuba", "--resume"]) == 2
    assert "does not checkpoint" in capsys.readouterr().err


def test_inline_json_config(tmp_path):
    assert main(["run", "cuba", "--config", json.dumps(TINY), "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["config"]["n_neurons"] == 200 and record["config"]["duration"] == 100.0


def test_inline_json_config_errors_name_the_option(capsys, tmp_path):
    assert main(["run", "cuba", "--config", '{"n_neurons": ', "--out", str(tmp_path)]) == 2
    assert "--config JSON is not valid JSON" in capsys.readouterr().err
    assert main(["run", "cuba", "--config", '{"bogus": 1}', "--out", str(tmp_path)]) == 2
    assert "--config: unknown config key 'bogus'" in capsys.readouterr().err


def test_ranks_need_an_experiment_that_simulates_on_the_ideal_backend(capsys, tmp_path):
    assert main(["run", "yinyang", "--ranks", "2", "--out", str(tmp_path)]) == 2
    assert "'yinyang' cannot run over several ranks" in capsys.readouterr().err
    assert main(["run", "cuba", "--ranks", "2", "--backend", "bss2", "--out",
                 str(tmp_path)]) == 2
    assert "--ranks runs the 'ideal' backend only" in capsys.readouterr().err
