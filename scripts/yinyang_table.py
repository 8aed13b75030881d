"""The accuracy table of a multi-seed ``neurotwin run yinyang`` run, from its metrics.json.

    python scripts/yinyang_table.py /tmp/yy_report/metrics.json [more metrics.json ...]

Prints the Markdown table that docs/experiments/yinyang.md shows for a set of seeds: mean
and sample standard deviation and the per-seed values of the
test accuracy at the selected (best-validation) epoch, at the last epoch, the validation
and running training accuracy, the selection holdout when the run had one, and the
deployment agreement; then the selected epochs. Several files (runs of the same
configuration on other seeds) are pooled: their seeds are joined. Nothing is typed in by
hand: the page's figures are this script's output for the files it names. The
``mnist-latency`` experiment writes the same layout; its tables come from here too (the
rows it does not have are left out).

Runs with ``restarts`` > 1: the table is that of the kept networks, followed by one row
per seed with every restart's validation, selection-holdout and test accuracy and the
kept one. ``--restart R`` makes the first table that of restart R alone on every seed
(restart 0 is the ``restarts`` 1 run; the deployment check ran on the kept network only,
so that row is left out).

    python scripts/yinyang_table.py --restart 0 /tmp/yy_report/metrics.json
"""

from __future__ import annotations

import argparse
import json
import math
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


def _per_seed(run: dict[str, Any], key: str, restart: int | None) -> list[float] | None:
    """``key`` per seed of one run: the kept networks' (restart None) or restart
    ``restart``'s; None where the run does not hold it."""
    if restart is None:
        return run[key]["per_seed"] if key in run else None
    out = []
    for s in run["seeds"]:
        seed = run["per_seed"][str(s)]
        if "restarts" in seed:
            if restart >= len(seed["restarts"]):
                raise SystemExit(f"seed {s} has {len(seed['restarts'])} restarts, no {restart}")
            seed = seed["restarts"][restart]
        elif restart > 0:
            raise SystemExit(f"seed {s} was trained without restarts: no restart {restart}")
        if key not in seed:
            return None
        out.append(seed[key])
    return out


def restarts_table(records: list[dict[str, Any]]) -> str:
    """Markdown rows per seed: every restart's validation / holdout / test accuracy and the
    kept restart; then the kept networks' means against restart 0's ('' without restarts)."""
    seeds = [(s, m["per_seed"][str(s)]) for r in records for m in [r["metrics"]]
             for s in m["seeds"]]
    if not all("restarts" in seed for _, seed in seeds):
        return ""
    k = len(seeds[0][1]["restarts"])
    held = "holdout_accuracy" in seeds[0][1]

    def cell(rec: dict[str, Any]) -> str:
        parts = [rec["validation_accuracy"], *([rec["holdout_accuracy"]] if held else []),
                 rec["test_accuracy"]]
        return " / ".join(f"{100 * v:.2f}" for v in parts)

    what = "validation / holdout / test" if held else "validation / test"
    lines = [f"| seed | {' | '.join(f'restart {r}: {what}' for r in range(k))} | kept |",
             "|---|" + "---|" * (k + 1)]
    for s, seed in seeds:
        lines.append(f"| {s} | {' | '.join(cell(r) for r in seed['restarts'])} | "
                     f"{seed['kept_restart']} |")
    for key in ("holdout_accuracy", "test_accuracy") if held else ("test_accuracy",):
        kept = [seed[key] for _, seed in seeds]
        first = [seed["restarts"][0][key] for _, seed in seeds]
        gain = [a - b for a, b in zip(kept, first, strict=True)]
        lines.append(f"\n{key}: kept {100 * statistics.fmean(kept):.2f} %, restart 0 "
                     f"{100 * statistics.fmean(first):.2f} %, kept minus restart 0 "
                     f"{100 * statistics.fmean(gain):+.2f} points (mean over {len(gain)} seeds)")
    return "\n".join(lines)


def table(records: list[dict[str, Any]], restart: int | None = None) -> str:
    """Markdown rows (mean ± sample std over the seeds, per seed) of run records, pooled:
    of the kept networks, or of restart ``restart`` alone."""
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
        found = [_per_seed(m, key, restart) for m in runs]
        if any(f is None for f in found):
            continue
        values = [v for f in found if f is not None for v in f]
        if any(math.isnan(v) for v in values):  # not measured (e.g. deploy_samples 0)
            continue
        spread = statistics.stdev(values) if len(values) > 1 else float("nan")
        figure = f"{100 * statistics.fmean(values):.2f} ± {100 * spread:.2f} %"
        if label.startswith("**"):
            figure = f"**{figure}**"
        per_seed = ", ".join(f"{100 * v:.1f}" for v in values)
        lines.append(f"| {label} | {figure} | {per_seed} |")
    epochs = [m["per_seed"][str(s)]["selected_epoch"] for m in runs for s in m["seeds"]
              ] if restart is None else [e for m in runs for e in
                                         _per_seed(m, "selected_epoch", restart) or []]
    lines.append(f"\nSelected epochs: {', '.join(str(e) for e in epochs)}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, nargs="+", help="metrics.json of runs with seeds")
    parser.add_argument("--restart", type=int, default=None,
                        help="the table of this restart alone (0: the restarts=1 run)")
    args = parser.parse_args()
    records = [json.loads(path.read_text()) for path in args.metrics]
    print(table(records, args.restart))
    if args.restart is None and (extra := restarts_table(records)):
        print()
        print(extra)


if __name__ == "__main__":
    main()
