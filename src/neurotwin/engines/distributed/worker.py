"""One rank started by :func:`neurotwin.engines.distributed.launch.launch`:
``python -m neurotwin.engines.distributed.worker FOLDER``.

Runs the pickled job of ``FOLDER/job.pkl``; rank 0 writes its value to
``FOLDER/result.pkl``. A rank whose job raises writes the error to
``FOLDER/error-RANK.pkl`` for the launcher to raise, and exits with status 1.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from neurotwin.errors import DistributedError, NeurotwinError

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the job of the folder ``argv[0]`` as rank ``$RANK``; the exit status."""
    folder = Path(argv[0])
    rank = int(os.environ["RANK"])
    torch.set_num_threads(1)
    with (folder / "job.pkl").open("rb") as f:
        job, args = pickle.load(f)
    try:
        value = job(*args)
    except NeurotwinError as err:
        try:  # an error whose __init__ takes other arguments than its message may not load
            payload = pickle.dumps(err)
            pickle.loads(payload)
        except Exception:
            payload = pickle.dumps(DistributedError(f"rank {rank}: {type(err).__name__}: {err}"))
        (folder / f"error-{rank}.pkl").write_bytes(payload)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    if rank == 0:
        with (folder / "result.pkl").open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    _leave_group()
    return 0


def _leave_group() -> None:
    """Leave the process group together (a barrier, then destroy it): a rank that exits
    with the group still open lets the interpreter tear gloo's threads down under it,
    which can abort the process (SIGABRT, "terminate called without an active
    exception") after its work is done. Only after a successful job: after a failure the
    other ranks may be gone, and the barrier would wait for the time-out."""
    if not dist.is_initialized():
        return
    try:
        dist.barrier()
        dist.destroy_process_group()
    except RuntimeError as err:  # the run's result is written; say why the exit was unclean
        print(f"neurotwin rank {os.environ.get('RANK', '?')}: leaving the group: {err}",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
