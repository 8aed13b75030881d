"""Jobs for the launcher tests: ranks that fail on purpose. Worker processes import this
module through PYTHONPATH (the tests prepend this folder)."""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from neurotwin.engines.distributed.comm import SpikeExchange, join_group, world_from_env


def exchange_then_fail(fault: str, timeout_s: float) -> str:
    """One good exchange, then rank 1 exits (``fault="exit"``) or stalls
    (``fault="stall"``) while rank 0 waits in the next exchange."""
    world = world_from_env()
    assert world is not None
    rank, ranks = world
    join_group(rank, ranks, timeout_s)
    exchange = SpikeExchange(rank, ranks, timeout_s, torch.int32)
    exchange.all_gather(np.arange(rank + 1), step=0)
    if rank == 1:
        if fault == "exit":
            os._exit(3)
        time.sleep(120)
    exchange.all_gather(np.arange(3), step=1)
    return "finished"


def exchange_sizes(sizes: list[list[int]], timeout_s: float) -> list[tuple]:
    """Exchanges where rank r sends ``sizes[k][r]`` codes (``r * 10**6 + i``) in exchange
    k; per exchange, the gathered codes, the collectives so far and the capacity after."""
    world = world_from_env()
    assert world is not None
    rank, ranks = world
    join_group(rank, ranks, timeout_s)
    exchange = SpikeExchange(rank, ranks, timeout_s, torch.int32)
    out = []
    for k, per_rank in enumerate(sizes):
        got = exchange.all_gather(rank * 10**6 + np.arange(per_rank[rank]), step=k)
        out.append((got, exchange.collectives, exchange.capacity))
    return out
