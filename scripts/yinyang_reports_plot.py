"""Per-seed test accuracy of several multi-seed ``neurotwin run yinyang`` reports, side by
side with the paper's figure, from their metrics.json.

    python scripts/yinyang_reports_plot.py --out docs/img/yinyang_reports.png \\
        --set "seeds 200-209|previous defaults" /tmp/yy_report/s2*/metrics.json \\
        --restart0 "seeds 400-409|restart 0 alone" /work/runs/yyv/report/s4*/metrics.json \\
        --set "seeds 400-409|defaults" /work/runs/yyv/report/s4*/metrics.json

Each ``--set LABEL FILES...`` pools the kept networks of its files (as
``yinyang_table.py`` does); ``--restart0 LABEL FILES...`` takes restart 0 alone (the
``restarts`` 1 run); the sets are drawn in the order given, '|' in a label breaks its
line. Dots: one seed each (test accuracy at the selected epoch); diamond and bar: mean and
sample standard deviation; band: the paper's 98.1 ± 0.2 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from matplotlib.figure import Figure
from yinyang_table import _per_seed

PAPER_MEAN, PAPER_STD = 98.1, 0.2
"""Wunderlich & Pehle 2021, Yin-Yang test accuracy (mean ± std, %)."""


def accuracies(files: list[str], restart: int | None) -> list[float]:
    """Test accuracy (%) per seed of the runs in ``files``, pooled."""
    out = []
    for name in files:
        run = json.loads(Path(name).read_text())["metrics"]
        found = _per_seed(run, "test_accuracy", restart)
        if found is None:
            raise SystemExit(f"{name}: no test accuracy per seed")
        out += [100 * v for v in found]
    return out


class _Set(argparse.Action):
    """Collects ``--set`` and ``--restart0`` in the order given: (restart, label, files)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option: str | None = None) -> None:
        assert isinstance(values, list)
        if len(values) < 2:
            parser.error(f"{option} needs a label and at least one metrics.json")
        restart = 0 if option == "--restart0" else None
        getattr(namespace, self.dest).append((restart, values[0], values[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    for option, what in (("--set", "the kept networks"), ("--restart0", "restart 0 alone")):
        parser.add_argument(option, nargs="+", action=_Set, dest="sets", default=[],
                            metavar="LABEL FILE",
                            help=f"label ('|' breaks the line), then metrics.json files: {what}")
    args = parser.parse_args()
    sets = [(label.replace("|", "\n"), accuracies(files, restart))
            for restart, label, files in args.sets]
    if not sets:
        raise SystemExit("name at least one --set or --restart0")
    fig = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(PAPER_MEAN - PAPER_STD, PAPER_MEAN + PAPER_STD, color="0.85",
               label=f"paper {PAPER_MEAN} ± {PAPER_STD} %")
    ax.axhline(PAPER_MEAN, color="0.5", lw=1)
    for x, (_, values) in enumerate(sets):
        offsets = [x + 0.25 * ((i % 5) - 2) / 2 for i in range(len(values))]
        ax.plot(offsets, values, "o", ms=4, alpha=0.6, color=f"C{x}")
        mean = statistics.fmean(values)
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        ax.errorbar([x + 0.35], [mean], yerr=[spread], fmt="D", ms=7, capsize=4,
                    color=f"C{x}")
        ax.annotate(f"{mean:.2f} ± {spread:.2f}", (x + 0.42, mean), fontsize="small",
                    va="center")
    ax.set_xticks(range(len(sets)), [label for label, _ in sets], fontsize="small")
    ax.set_xlim(-0.6, len(sets) + 0.1)
    ax.set_ylabel("test accuracy at the selected epoch (%)")
    ax.set_title("Yin-Yang, EventProp: reports on seeds no choice was made on\n"
                 "dots: one seed each; diamond: mean ± sample std", fontsize="medium")
    ax.legend(loc="lower left", fontsize="small")
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
