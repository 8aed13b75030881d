"""scripts/yinyang_table.py on a hand-written metrics file with restarts: the kept networks'
table, restart 0's, and the per-seed restart rows (figures worked out by hand)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "yinyang_table.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("yinyang_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _restart(validation, holdout, test, epoch):
    return {"validation_accuracy": validation, "holdout_accuracy": holdout,
            "test_accuracy": test, "selected_epoch": epoch}


def _record():
    seeds = {
        "3": [_restart(0.97, 0.96, 0.95, 10), _restart(0.99, 0.98, 0.97, 20)],
        "4": [_restart(0.98, 0.97, 0.99, 30), _restart(0.98, 0.99, 0.96, 40)],
    }
    kept = {"3": 1, "4": 0}  # seed 4: a tie on validation goes to restart 0
    per_seed = {s: {**r[kept[s]], "kept_restart": kept[s], "restarts": r}
                for s, r in seeds.items()}
    metrics = {"seeds": [3, 4], "per_seed": per_seed}
    for key in ("validation_accuracy", "holdout_accuracy", "test_accuracy"):
        metrics[key] = {"per_seed": [per_seed[s][key] for s in ("3", "4")]}
    return {"config": {"restarts": 2, "seeds": [3, 4]}, "metrics": metrics}


def test_kept_table_and_restart_rows(script):
    out = script.table([_record()])
    assert "**98.00 ± 1.41 %**" in out  # kept test 97, 99: std 2 / sqrt(2)
    assert "Selected epochs: 20, 30." in out
    rows = script.restarts_table([_record()])
    assert "| 3 | 97.00 / 96.00 / 95.00 | 99.00 / 98.00 / 97.00 | 1 |" in rows
    assert "| 4 | 98.00 / 97.00 / 99.00 | 98.00 / 99.00 / 96.00 | 0 |" in rows
    # holdout: kept 98, 97 -> 97.5; restart 0: 96, 97 -> 96.5
    assert "holdout_accuracy: kept 97.50 %, restart 0 96.50 %, kept minus restart 0 +1.00" in rows


def test_restart_zero_table_is_the_single_run(script):
    out = script.table([_record()], restart=0)
    assert "**97.00 ± 2.83 %**" in out  # restart 0's test 95, 99: std 4 / sqrt(2)
    assert "Selected epochs: 10, 30." in out
    with pytest.raises(SystemExit, match="no 2"):
        script.table([_record()], restart=2)
