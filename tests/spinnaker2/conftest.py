"""Networks shared by the SpiNNaker2 tests."""

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.spinnaker2 import DeadPE, Machine


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
