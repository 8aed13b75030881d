"""Run a command; write its wall time (s) and peak resident memory (MiB) as JSON.

Usage: ``python rusage_exec.py OUT.json CMD [ARGS...]``; exits with the command's status.

Run by file path (Brian2's ``run_cmd_unix`` wraps the standalone binary with it), so it
imports the standard library only. The peak RSS is the command's ``VmHWM`` (Linux),
sampled every :data:`POLL_S` while it runs: growth in its last few milliseconds may be
missed, but not inflated by this wrapper. ``ru_maxrss`` from ``wait4`` is written too,
as ``ru_maxrss_mb``; it is an upper bound that includes this wrapper's own size (Linux
carries the spawner's high-water mark across exec).
"""

from __future__ import annotations

import json
import os
import sys
import time

POLL_S = 0.002
"""Sampling interval of the command's peak RSS, s."""


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> int:
    """Spawn ``argv[1:]``, wait for it, write ``{"wall_time_s", "peak_rss_mb",
    "ru_maxrss_mb", "returncode"}`` to ``argv[0]`` and return the command's exit code."""
    if len(argv) < 2:
        print("usage: rusage_exec.py OUT.json CMD [ARGS...]", file=sys.stderr)
        return 2
    out, cmd = argv[0], argv[1:]
    start = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, dict(os.environ))
    peak_kb = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            break
        peak_kb = max(peak_kb, _hwm_kb(pid))
        time.sleep(POLL_S)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    maxrss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    with open(out, "w") as f:
        json.dump({"wall_time_s": wall, "peak_rss_mb": peak_kb / 1024 if peak_kb else maxrss_mb,
                   "ru_maxrss_mb": maxrss_mb, "returncode": code}, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
