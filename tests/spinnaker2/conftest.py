"""Networks shared by the SpiNNaker2 tests."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.spinnaker2 import DeadPE, Machine, Tables
from neurotwin.spinnaker2.routing import route_links, route_pes


def build_random_network(seed: int, scale: int = 1) -> nt.Network:
    """Several LIF/AdEx populations, Poisson and array sources, sparse random projections
    (recurrent and feed-forward, signed and unsigned, mixed delays)."""
    rng = np.random.default_rng(seed)
    net = nt.Network(dt=1.0)
    sizes = {"a": 120 * scale, "b": 75 * scale, "c": 40 * scale}
    for label, n in sizes.items():
        model = nt.AdEx() if label == "c" else nt.LIF()
        net.add(nt.Population(n, model, label=label))
    net.add(nt.SpikeSourcePoisson(60 * scale, rate=rng.uniform(1, 20, 60 * scale), label="noise"))
    net.add(nt.SpikeSourceArray([[1.0, 2.0 + k] for k in range(30)], label="arr"))
    pres = ["a", "b", "c", "noise", "arr"]
    sizes_all = {**sizes, "noise": 60 * scale, "arr": 30}
    for pre in pres:
        for post in sizes:
            if rng.random() < 0.35 and not (pre == "arr" and post == "a"):
                continue
            density = rng.uniform(0.005, 0.08)
            w = sp.random(sizes_all[pre], sizes[post], density=density, random_state=rng,
                          format="csr")
            delays = rng.integers(1, 9, w.nnz).astype(float)
            net.connect(pre, post, w, receptor="exc", delays=delays)
    return net


@pytest.fixture
def random_network() -> Callable[..., nt.Network]:
    """Factory: ``random_network(seed, scale=1)``."""
    return build_random_network


def build_few_pe_machine(pes_per_chip: int, n_boards: int = 1, faults: tuple = ()) -> Machine:
    """A machine whose chips keep only their first ``pes_per_chip`` PEs (the rest declared
    dead), so that small networks spread over many chips."""
    full = Machine(n_boards)
    dead = [DeadPE(int(x), int(y), pe) for x, y in full.chip_xy
            for pe in range(pes_per_chip, 152)]
    return Machine(n_boards, faults=(*dead, *faults))


@pytest.fixture
def few_pe_machine() -> Callable[..., Machine]:
    """Factory: ``few_pe_machine(pes_per_chip, n_boards=1, faults=())``."""
    return build_few_pe_machine


class Walk(NamedTuple):
    """Where one key goes (:func:`walk_one_key`)."""

    deliveries: np.ndarray
    """(n, 2) (chip, PE) pairs, sorted."""
    hops: np.ndarray
    """Sorted ``chip * 6 + link`` of every link a copy crosses."""
    loop_chip: int
    """First chip a copy reaches again (and is dropped at), -1 if none."""


def walk_one_key(machine: Machine, tables: Tables, key: int, source_chip: int) -> Walk:
    """Reference router walk, one key at a time in plain Python: the golden values for the
    package's compiled walk (``spinnaker2.router``). First matching entry per chip; no match:
    a copy that arrived over a link goes on in its direction, a local one is dropped; dead
    links drop; a copy that reaches a chip again is dropped; copies depth first, links in
    order."""
    key = int(key) & 0xFFFFFFFF
    deliveries: list[tuple[int, int]] = []
    hops: list[int] = []
    seen: set[int] = set()
    loop_chip = -1
    stack = [(int(source_chip), -1)]
    while stack:
        chip, travel = stack.pop()
        if chip in seen:
            loop_chip = chip if loop_chip < 0 else loop_chip
            continue
        seen.add(chip)
        links: list[int] = [travel] if travel >= 0 else []
        for e in range(int(tables.offsets[chip]), int(tables.offsets[chip + 1])):
            if key & int(tables.mask[e]) == int(tables.key[e]):
                deliveries.extend((chip, int(p)) for p in route_pes(tables.route[e]))
                links = route_links(tables.route[e]).tolist()
                break
        for d in links:
            if machine.link_alive[chip, d]:
                hops.append(chip * 6 + d)
                stack.append((int(machine.neighbour[chip, d]), d))
    return Walk(np.array(sorted(deliveries), np.int64).reshape(-1, 2), np.sort(hops), loop_chip)


@pytest.fixture
def reference_walk() -> Callable[[Machine, Tables, int, int], Walk]:
    """:func:`walk_one_key`: the reference router walk for one key."""
    return walk_one_key
