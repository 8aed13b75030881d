"""The time-stepped engine over several processes (ranks) with torch.distributed.

Neurons are split round-robin over the ranks, each rank holding the synapses onto its
neurons (:mod:`.partition`); spikes are all-gathered every exchange interval, the
smallest delay between neurons, as in NEST (:mod:`.comm`); the kernels keep every float
sum in the single-process order, so spikes and traces are bitwise those of one process
(:mod:`.kernel`); :mod:`.run` runs a rank, :mod:`.launch` starts ranks on this machine.
See docs/distributed.md.
"""

from neurotwin.engines.distributed.comm import DEFAULT_TIMEOUT_S as DEFAULT_TIMEOUT_S
from neurotwin.engines.distributed.comm import resolve_ranks as resolve_ranks
from neurotwin.engines.distributed.comm import world_from_env as world_from_env
from neurotwin.engines.distributed.partition import Shard as Shard
from neurotwin.engines.distributed.partition import make_shard as make_shard
from neurotwin.engines.distributed.run import ShardedProgram as ShardedProgram
from neurotwin.engines.distributed.run import run_sharded as run_sharded
from neurotwin.engines.distributed.run import shard_program as shard_program

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Shard",
    "ShardedProgram",
    "make_shard",
    "resolve_ranks",
    "run_sharded",
    "shard_program",
    "world_from_env",
]
