"""scripts/yinyang_reports_plot.py on hand-written metrics files: the per-seed figures it
draws (kept networks and restart 0, worked out by hand) and the PNG it writes."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture()
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # it imports yinyang_table beside it
    spec = importlib.util.spec_from_file_location("yinyang_reports_plot",
                                                  SCRIPTS / "yinyang_reports_plot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path) -> str:
    restarts = {"3": [0.95, 0.97], "4": [0.99, 0.96]}  # test accuracy per restart
    kept = {"3": 1, "4": 0}
    per_seed = {s: {"test_accuracy": t[kept[s]], "kept_restart": kept[s],
                    "restarts": [{"test_accuracy": v} for v in t]}
                for s, t in restarts.items()}
    metrics = {"seeds": [3, 4], "per_seed": per_seed,
               "test_accuracy": {"per_seed": [0.97, 0.99]}}
    path.write_text(json.dumps({"config": {"restarts": 2}, "metrics": metrics}))
    return str(path)


def test_kept_and_restart_zero_accuracies(script, tmp_path):
    name = _write(tmp_path / "metrics.json")
    assert script.accuracies([name], None) == pytest.approx([97.0, 99.0])
    assert script.accuracies([name], 0) == pytest.approx([95.0, 99.0])
    assert script.accuracies([name, name], 0) == pytest.approx([95.0, 99.0, 95.0, 99.0])


def test_writes_the_figure_and_refuses_a_set_without_files(tmp_path):
    name = _write(tmp_path / "metrics.json")
    out = tmp_path / "reports.png"
    run = [sys.executable, str(SCRIPTS / "yinyang_reports_plot.py"), "--out", str(out)]
    done = subprocess.run([*run, "--set", "kept|networks", name, "--restart0", "r0", name],
                          capture_output=True, text=True, check=True)
    assert out.stat().st_size > 0 and "wrote" in done.stdout
    bad = subprocess.run([*run, "--set", "no files"], capture_output=True, text=True)
    assert bad.returncode != 0 and "needs a label and at least one metrics.json" in bad.stderr
