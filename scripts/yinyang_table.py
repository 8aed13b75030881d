"""The accuracy table of a multi-seed ``neurotwin run yinyang`` run, from its metrics.json.

    python scripts/yinyang_table.py /tmp/yy_report/metrics.json [more metrics.json ...]

Prints the Markdown table that docs/experiments/yinyang.md shows for a set of seeds: mean
and sample standard deviation and the per-seed values of the
test accuracy at the selected (best-validation) epoch, at the last epoch, the validation
and running training accuracy, the selection holdout when the run had one, and the
deployment agreement; then the selected epochs. Several files (runs of the same
configuration on other seeds) are pooled: their seeds are joined. Nothing is typed in by
hand: the page's figures are this script's output for the files it names.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROWS = (
    ("test_accuracy", "**test, selected epoch (the reported figure)**"),
    ("last_epoch_test_accuracy", "test, last epoch"),
    ("validation_accuracy", "validation (selected epoch)"),
    ("train_accuracy", "training (running, last epoch)"),
    ("holdout_accuracy", "selection holdout (selected epoch)"),
    ("last_epoch_holdout_accuracy", "selection holdout (last epoch)"),
    ("deployment_agreement", "deployment agreement (ideal backend, dt 0.01 ms)"),
)


def table(records: list[dict[str, Any]]) -> str:
    """Markdown rows (mean ± sample std over the seeds, per seed) of run records, pooled."""
    runs = [r["metrics"] for r in records]
    # fields a run's version did not have yet (added later with a default that trains as
    # before) are left out of the comparison, and named
    common = set.intersection(*(set(r["config"]) for r in records)) - {"seeds", "resume"}
    configs = [{k: r["config"][k] for k in sorted(common)} for r in records]
    differ = sorted(k for k in common if any(c[k] != configs[0][k] for c in configs))
    if differ:
        raise SystemExit(f"the files come from different configurations ({differ}): not pooled")
    missing = sorted(set.union(*(set(r["config"]) for r in records)) - common - {"resume", "seeds"})
    if missing:
        print(f"(fields not in every file, not compared: {missing})", file=sys.stderr)
    seeds = [s for m in runs for s in m["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"a seed occurs in more than one file: {sorted(seeds)}")
    lines = [f"| | mean ± std (sample std, {len(seeds)} seeds) | per seed "
             f"({', '.join(str(s) for s in seeds)}) |", "|---|---|---|"]
    for key, label in ROWS:
        if not all(key in m for m in runs):
            continue
        values = [v for m in runs for v in m[key]["per_seed"]]
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        figure = f"{100 * statistics.fmean(values):.2f} ± {100 * spread:.2f} %"
        if label.startswith("**"):
            figure = f"**{figure}**"
        per_seed = ", ".join(f"{100 * v:.1f}" for v in values)
        lines.append(f"| {label} | {figure} | {per_seed} |")
    epochs = [m["per_seed"][str(s)]["selected_epoch"] for m in runs for s in m["seeds"]]
    lines.append(f"\nSelected epochs: {', '.join(str(e) for e in epochs)}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, nargs="+", help="metrics.json of runs with seeds")
    args = parser.parse_args()
    print(table([json.loads(path.read_text()) for path in args.metrics]))


if __name__ == "__main__":
    main()
