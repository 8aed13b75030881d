"""Start the ranks of a run on this machine: one Python process per rank, in the
environment torchrun would give it, and wait for them.

Workers are fresh interpreters running :mod:`neurotwin.engines.distributed.worker`, not
``torch.multiprocessing.spawn`` children: spawn re-imports the user's main script in
every child, so a script calling ``nt.simulate(..., ranks=2)`` at top level (without an
``if __name__ == "__main__"`` guard) would start itself again. The job (a function of
neurotwin and its arguments) travels as a pickle in a scratch folder; rank 0's return
value comes back the same way, and so does the error of a rank that raised one.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurotwin.engines.distributed.comm import world_from_env
from neurotwin.errors import DistributedError, NeurotwinError, check_int

__all__ = ["free_port", "launch", "run_ranks"]

POLL_S = 0.05
"""How often the launcher looks at its workers, s."""
GRACE_S = 5.0
"""How long a worker told to stop (SIGTERM) may take before it is killed, s."""


def free_port() -> int:
    """A TCP port on localhost that no one listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _failure(folder: Path, failed: list[tuple[int, int]]) -> NeurotwinError:
    """The error to raise for the ranks that ended badly, ``failed`` (rank, exit code):
    a neurotwin error a rank raised that is not about its peers (a bad input); else a
    rank that died without raising (the cause; what another rank saw is added); else
    the first rank's error about its peers."""
    raised = {}
    for path in folder.glob("error-*.pkl"):
        with path.open("rb") as f:
            raised[int(path.stem.split("-")[1])] = pickle.load(f)
    for rank in sorted(raised):
        if not isinstance(raised[rank], DistributedError):
            return raised[rank]
    died = [(rank, code) for rank, code in failed if rank not in raised]
    if died:
        rank, code = died[0]
        seen = "".join(f"; rank {r} then saw: {raised[r]}" for r in sorted(raised))
        return DistributedError(f"rank {rank} {_describe_exit(code)} (its output above says "
                                f"why); the run was stopped{seen}")
    return raised[min(raised)]


def launch(job: Callable[..., Any], ranks: int, args: tuple[Any, ...] = ()) -> Any:
    """Run ``job(*args)`` in ``ranks`` worker processes on this machine and return rank
    0's value.

    Each worker has ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` (127.0.0.1)
    and ``MASTER_PORT`` (a free port) set as under torchrun, and one torch thread (the
    ranks share the cores). ``job`` must be a module-level function of neurotwin (it
    travels pickled by name).

    Raises
    ------
    NeurotwinError
        The error a worker raised (a neurotwin error is passed on as it is).
    DistributedError
        When a worker died or failed otherwise; the other workers are stopped at once.
    """
    check_int("ranks", ranks, low=1)
    # the folder that holds the neurotwin package (src/neurotwin/engines/distributed/ here)
    package_root = str(Path(__file__).resolve().parents[3])
    with tempfile.TemporaryDirectory(prefix="neurotwin-ranks-") as scratch:
        folder = Path(scratch)
        with (folder / "job.pkl").open("wb") as f:
            pickle.dump((job, args), f, protocol=pickle.HIGHEST_PROTOCOL)
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
                   WORLD_SIZE=str(ranks), OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(
                       [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "neurotwin.engines.distributed.worker", scratch],
                env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
            )
            for rank in range(ranks)
        ]
        try:
            while True:
                codes = [proc.poll() for proc in procs]
                failed = [(r, c) for r, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    _stop(procs)
                    raise _failure(folder, failed)
                if all(c == 0 for c in codes):
                    break
                time.sleep(POLL_S)
        finally:
            _stop(procs)  # also on KeyboardInterrupt: no orphaned ranks
        with (folder / "result.pkl").open("rb") as f:
            return pickle.load(f)


def run_ranks(
    run_rank: Callable[..., Any],
    art: Any,
    duration: float,
    seed: int,
    trials: int,
    progress: Callable[[int, int], None] | None,
) -> Any:
    """``run_rank(art, rank, duration, seed, trials, progress)`` as this process's rank when
    it already belongs to the group (``art.in_group``: started by torchrun), else in
    ``art.ranks`` workers started here (``progress`` is then not called: the steps happen
    in other processes). ``run_rank`` is module level: it travels pickled by name."""
    if art.in_group:
        world = world_from_env()
        assert world is not None  # in_group is set from the environment
        return run_rank(art, world[0], duration, seed, trials, progress)
    return launch(_rank_job, art.ranks, (run_rank, art, duration, seed, trials))


def _rank_job(
    run_rank: Callable[..., Any], art: Any, duration: float, seed: int, trials: int
) -> Any:
    """What a launched worker runs: its rank of :func:`run_ranks`."""
    world = world_from_env()
    assert world is not None  # the launcher sets RANK and WORLD_SIZE
    return run_rank(art, world[0], duration, seed, trials, None)
