"""Whole runs through the ``neurotwin`` command: a training run resumed with ``--resume``,
and ``--backend bss2`` / ``--backend spinnaker2`` on the CUBA network."""

import json
from pathlib import Path

import pytest

from neurotwin.cli import main

YINYANG = {"train_size": 64, "validation_size": 16, "test_size": 24, "n_hidden": 30,
           "decision_grid": 6, "deploy_chunk": 10, "deploy_samples": 2,
           # under "cosine" the epochs fix the schedule
           "lr_schedule": "exponential", "restarts": 1}
CUBA = {"n_neurons": 200, "duration": 100.0}
TIMES = {"train_time_s", "eval_time_s"}


def write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def history(folder: Path) -> list[dict]:
    """The epochs' metrics without their wall times."""
    epochs = json.loads((folder / "history.json").read_text())
    return [{k: v for k, v in e.items() if k not in TIMES} for e in epochs]


def test_resume_through_the_cli_continues_the_first_run(tmp_path, capsys):
    one = write(tmp_path / "one.json", {**YINYANG, "epochs": 1})
    two = write(tmp_path / "two.json", {**YINYANG, "epochs": 2})
    out = tmp_path / "run"
    assert main(["run", "yinyang", "--config", one, "--out", str(out), "--seed", "1"]) == 0
    first = history(out)
    assert len(first) == 1
    assert main(["run", "yinyang", "--config", two, "--out", str(out), "--seed", "1",
                 "--resume"]) == 0
    resumed = history(out)
    assert len(resumed) == 2 and [e["epoch"] for e in resumed] == [1, 2]
    assert resumed[0] == first[0]
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["per_seed"]["1"]["resumed_from_epoch"] == 1
    # the same as two epochs in one go
    straight = tmp_path / "straight"
    assert main(["run", "yinyang", "--config", two, "--out", str(straight), "--seed",
                 "1"]) == 0
    assert history(straight) == resumed
    capsys.readouterr()


@pytest.fixture(scope="module")
def ideal_cuba(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("cuba_ideal")
    config = write(out / "tiny.json", CUBA)
    assert main(["run", "cuba", "--config", config, "--out", str(out), "--seed", "3"]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("backend", ["bss2", "spinnaker2"])
def test_cuba_runs_on_a_hardware_backend_through_the_cli(backend, ideal_cuba, tmp_path, capsys):
    config = write(tmp_path / "tiny.json", CUBA)
    out = tmp_path / "out"
    assert main(["run", "cuba", "--config", config, "--out", str(out), "--seed", "3",
                 "--backend", backend]) == 0
    assert f"cuba ({backend})" in capsys.readouterr().err
    record = json.loads((out / "metrics.json").read_text())
    assert record["backend"] == backend
    assert record["config"] == ideal_cuba["config"]
    rates, ideal = record["metrics"]["rate_hz"], ideal_cuba["metrics"]["rate_hz"]
    # measured: bss2 equal to ideal, spinnaker2 (1 ms ticks) 2 % above
    for label in ("exc", "inh", "all"):
        assert ideal[label] > 5.0
        assert rates[label] == pytest.approx(ideal[label], rel=0.1), label
    for name in ("raster.png", "rate.png", "traces.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # two worker processes: ~30 s here
def test_cuba_over_two_ranks_through_the_cli(ideal_cuba, tmp_path, capsys):
    """``--ranks 2`` starts two processes; the spikes are the single-process run's."""
    config = write(tmp_path / "tiny.json", CUBA)
    out = tmp_path / "out"
    assert main(["run", "cuba", "--config", config, "--out", str(out), "--seed", "3",
                 "--ranks", "2"]) == 0
    capsys.readouterr()
    record = json.loads((out / "metrics.json").read_text())
    assert record["config"] == ideal_cuba["config"]
    assert record["metrics"]["spike_count"] == ideal_cuba["metrics"]["spike_count"]
    assert record["metrics"]["rate_hz"] == ideal_cuba["metrics"]["rate_hz"]
