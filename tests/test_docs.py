"""Every code block of README.md and docs/ works as written.

Python blocks run: the blocks of one page in order, in one namespace (a page reads as one
session), in a scratch working directory. Shell blocks are checked without running them
(they start long experiments and benchmarks): each ``neurotwin`` line must parse and name
a registered experiment or benchmark, each ``make`` line a target of the Makefile.

A block may be excluded only by an HTML comment on the line before it,
``<!-- not run: reason -->``, for code that needs files a test machine lacks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\w+)\s*\n(.*?)^```\s*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")


def blocks(page: Path, language: str) -> list[tuple[int, str]]:
    """(line number, code) of the page's blocks in ``language``, without excluded ones."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) != language:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if SKIP.search(before):
            continue
        found.append((text.count("\n", 0, match.start()) + 1, match.group(2)))
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


PYTHON_PAGES = [p for p in PAGES if blocks(p, "python")]
SHELL_PAGES = [p for p in PAGES if blocks(p, "bash")]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for line, code in blocks(page, "python"):
        try:
            exec(compile(code, f"{_name(page)}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{_name(page)}, block at line {line}: {err!r}") from err


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+):", text, re.M))


def _check_neurotwin(words: list[str]) -> None:
    from neurotwin.bench import BENCHMARKS
    from neurotwin.cli import build_parser, parse_options
    from neurotwin.experiments import EXPERIMENTS

    args = build_parser().parse_args(words)
    if args.command == "run":
        EXPERIMENTS.get(args.experiment)
    elif args.command == "bench":
        BENCHMARKS.get(args.name)
        parse_options(args.options)


@pytest.mark.parametrize("page", SHELL_PAGES, ids=_name)
def test_shell_blocks_name_real_commands(page):
    targets = _makefile_targets()
    for line, code in blocks(page, "bash"):
        for k, raw in enumerate(code.splitlines()):
            command = raw.split(" #", 1)[0].strip()
            if not command or command.startswith("#"):
                continue
            where = f"{_name(page)}:{line + 1 + k}: {command}"
            words = shlex.split(command)
            if words[0] == "neurotwin":
                try:
                    _check_neurotwin(words[1:])
                except SystemExit as err:
                    raise AssertionError(f"{where}: the command line does not parse") from err
            elif words[0] == "make":
                unknown = [w for w in words[1:] if "=" not in w and w not in targets]
                assert not unknown, f"{where}: no make target {unknown}"
