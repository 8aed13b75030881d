"""Run PyNN 0.13's system test scenarios against neurotwin.pynn (and pyNN.brian2).

Usage::

    python scripts/pynn_scenarios.py /tmp/pynn-0.13.0 --backend ideal [--brian2] [--json out.json]

The first argument is the unpacked PyNN 0.13.0 sdist (``pip download --no-deps
--no-binary :all: PyNN==0.13.0``). The scenarios (``test/system/scenarios``) are copied
to a scratch directory and run under pytest; their ``run_with_simulators`` decorator is
replaced so that each scenario that names a point-neuron simulator ("nest" or "brian2")
runs on ``neurotwin`` (``neurotwin.pynn`` with ``setup(backend=...)``), and, with
``--brian2``, each scenario that names "brian2" also runs on pyNN.brian2 in the same
session. Per file it prints passed / failed / refused / skipped, where "refused" is a
failure by ``NotImplementedError`` or a neurotwin hardware error (``CapacityError``,
``MappingError``, ``ConfigError``): a documented unsupported feature or hardware limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

CONFTEST = '''
import functools, json, sys, types
import pytest
import neurotwin.pynn as _nt
from neurotwin.errors import NeurotwinError

BACKEND = {backend!r}
OPTIONS = {options!r}
WITH_BRIAN2 = {brian2!r}

_module = types.ModuleType("pyNN.neurotwin")
_module.__dict__.update({{k: getattr(_nt, k) for k in dir(_nt) if not k.startswith("__")}})
_module.setup = functools.partial(_nt.setup, backend=BACKEND, **OPTIONS)
sys.modules["pyNN.neurotwin"] = _module

from scenarios import fixtures  # noqa: E402

def run_with_simulators(*sim_names):
    names = []
    if "nest" in sim_names or "brian2" in sim_names:
        names.append("neurotwin")
    if WITH_BRIAN2 and "brian2" in sim_names:
        names.append("brian2")
    params = [pytest.param(fixtures.LazySimulator(n), id=n) for n in names]
    if not params:
        return pytest.mark.skip(reason="no point-neuron simulator named")
    return pytest.mark.parametrize("sim", params)

fixtures.run_with_simulators = run_with_simulators
OUTCOMES = {{}}
DURATIONS = {{}}

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    DURATIONS[item.nodeid] = DURATIONS.get(item.nodeid, 0.0) + report.duration
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        kind = report.outcome
        if report.failed and call.excinfo is not None and call.excinfo.errisinstance(
                (NotImplementedError, NeurotwinError)):
            kind = "refused"
        error = call.excinfo
        message = f"{{error.typename}}: {{str(error.value)[:160]}}" if error is not None else ""
        OUTCOMES[item.nodeid] = [kind, message]

def pytest_runtest_logfinish(nodeid, location):
    if nodeid in OUTCOMES:
        OUTCOMES[nodeid].append(DURATIONS.get(nodeid, 0.0))

def pytest_sessionfinish(session):
    with open({out!r}, "w") as f:
        json.dump(OUTCOMES, f, indent=1)
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="unpacked PyNN 0.13.0 sdist")
    parser.add_argument("--backend", default="ideal", choices=["ideal", "bss2", "spinnaker2"])
    parser.add_argument("--brian2", action="store_true", help="also run pyNN.brian2")
    parser.add_argument("--json", type=Path, help="write every test's outcome here")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    args = parser.parse_args()
    scenarios = args.sdist / "test" / "system" / "scenarios"
    if not scenarios.is_dir():
        parser.error(f"{scenarios} not found: give the unpacked PyNN 0.13.0 sdist")
    options: dict[str, object] = {}  # each backend with its defaults
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(scenarios, work / "scenarios")
        out = work / "outcomes.json"
        (work / "conftest.py").write_text(CONFTEST.format(
            backend=args.backend, options=options, brian2=args.brian2, out=str(out)))
        (work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
        cmd = [sys.executable, "-m", "pytest", "-q", "--tb=no", "-rN", "scenarios"]
        if args.k:
            cmd += ["-k", args.k]
        start = time.perf_counter()
        # this checkout's sources first, as the tests run them
        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
        subprocess.run(cmd, cwd=work, check=False, env=env)
        wall = time.perf_counter() - start
        outcomes = json.loads(out.read_text())
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seconds: dict[str, float] = defaultdict(float)
    for nodeid, (kind, _, *duration) in outcomes.items():
        file = nodeid.split("::")[0].split("/")[-1]
        sim = nodeid.rsplit("[", 1)[-1].rstrip("]").split("-")[0] if "[" in nodeid else "-"
        table[(sim, file)][kind] += 1
        seconds[sim] += sum(duration)
    kinds = ("passed", "failed", "refused", "skipped")
    print(f"\nbackend {args.backend}; wall time {wall:.0f} s")
    print(f"{'simulator':<10} {'file':<32} " + " ".join(f"{k:>8}" for k in kinds))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (sim, file), counts in sorted(table.items()):
        print(f"{sim:<10} {file:<32} " + " ".join(f"{counts[k]:>8}" for k in kinds))
        for k in kinds:
            totals[sim][k] += counts[k]
    for sim, counts in sorted(totals.items()):
        print(f"{sim:<10} {'TOTAL':<32} " + " ".join(f"{counts[k]:>8}" for k in kinds)
              + f"   {seconds[sim]:.0f} s in its tests")
    if args.json:
        args.json.write_text(json.dumps(outcomes, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
