"""The torch kernel's synapse layout (engines/synapse_matrices.py): event rows add what
numpy's add.at adds in the same order, the split between dense and event synapses loses
nothing, and a sparse network runs on the torch kernel bit for bit as on the numba kernel."""

import numpy as np
import pytest
import torch

import neurotwin as nt
from neurotwin.engines.synapse_matrices import DENSE_FILL, deliver_rows, torch_synapses


def random_csr(rng, n_pre, n_targets, m, n_slots):
    rows = np.sort(rng.integers(0, n_pre, m))
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_pre), out=indptr[1:])
    target = rng.integers(0, n_targets, m)
    delay = rng.integers(1, n_slots, m)
    weight = rng.normal(0.0, 1.0, m)
    return rows, indptr, target, delay, weight


def test_event_rows_add_as_add_at():
    rng = np.random.default_rng(0)
    n_pre, n_targets, n_slots, trials = 300, 80, 6, 3
    _rows, indptr, target, delay, weight = random_csr(rng, n_pre, n_targets, 2000, n_slots)
    dense, events = torch_synapses(indptr, target, weight, delay, n_targets, torch.float64,
                                   torch.device("cpu"))
    assert dense == [] and events is not None  # 2000 of 300 x 80 x 5: sparse everywhere
    pre = rng.random((trials, n_pre)) < 0.2
    buf = torch.as_tensor(rng.normal(0.0, 1.0, (n_slots, trials, n_targets)))
    expected = buf.numpy().copy()
    step = 4
    for b in range(trials):
        for p in np.flatnonzero(pre[b]):  # spikes in index order, synapses in row order
            lo, hi = indptr[p], indptr[p + 1]
            np.add.at(expected[:, b, :], ((step + delay[lo:hi]) % n_slots, target[lo:hi]),
                      weight[lo:hi])
    deliver_rows(events, buf, step, torch.as_tensor(pre))
    assert buf.numpy().tobytes() == expected.tobytes()
    silent = buf.clone()
    deliver_rows(events, buf, step, torch.zeros((trials, n_pre), dtype=torch.bool))
    assert torch.equal(buf, silent)


def test_dense_and_event_synapses_partition_the_table():
    """Delay 1 fills 60 % of a small matrix (dense), delays 2-3 are sparse (events): the
    two hold every synapse once, with its weight."""
    rng = np.random.default_rng(1)
    n_pre, n_targets = 20, 10
    full = rng.random((n_pre, n_targets)) < 0.6
    pre_d, tgt_d = np.nonzero(full)
    pre_s = rng.integers(0, n_pre, 15)
    tgt_s = rng.integers(0, n_targets, 15)
    pre = np.concatenate([pre_d, pre_s])
    tgt = np.concatenate([tgt_d, tgt_s])
    delay = np.concatenate([np.ones(pre_d.size, np.int64), rng.integers(2, 4, 15)])
    weight = rng.uniform(0.1, 1.0, pre.size)
    order = np.argsort(pre, kind="stable")
    pre, tgt, delay, weight = pre[order], tgt[order], delay[order], weight[order]
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
    assert pre_d.size > DENSE_FILL * n_pre * n_targets
    dense, events = torch_synapses(indptr, tgt, weight, delay, n_targets, torch.float64,
                                   torch.device("cpu"))
    assert [d for d, _ in dense] == [1] and events is not None
    want = np.zeros((n_pre, n_targets))
    np.add.at(want, (pre[delay == 1], tgt[delay == 1]), weight[delay == 1])
    np.testing.assert_array_equal(dense[0][1].numpy(), want)
    got = sorted(zip(np.repeat(np.arange(n_pre), np.diff(events.indptr.numpy())),
                     events.target.numpy(), events.delay.numpy(), events.weight.numpy(),
                     strict=True))
    sel = delay > 1
    assert got == sorted(zip(pre[sel], tgt[sel], delay[sel], weight[sel], strict=True))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sparse_network_runs_on_torch_as_on_numba(dtype):
    """Non-dyadic weights, several delays, Poisson input, two trials: the event rows add
    in the numba kernel's order, so spikes and traces are the same bits."""
    rng = np.random.default_rng(2)
    net = nt.Network(dt=0.1)
    noise = net.add(nt.SpikeSourcePoisson(200, rate=40.0, label="noise"))
    pop = net.add(nt.Population(400, nt.LIF(), label="pop"))
    net.connect(noise, pop, (rng.random((200, 400)) < 0.05) * rng.uniform(0.5, 1.5, (200, 400)),
                receptor="exc", delays=rng.choice([0.1, 0.4, 1.3], (200, 400)))
    net.connect(pop, pop, (rng.random((400, 400)) < 0.02) * rng.uniform(0.1, 0.9, (400, 400)),
                receptor="inh", delays=rng.choice([0.2, 0.7], (400, 400)))
    net.record(pop, "spikes", "v", "i_exc", "i_inh")
    a = nt.simulate(net, 60.0, seed=5, trials=2, kernel="numba", dtype=dtype)
    b = nt.simulate(net, 60.0, seed=5, trials=2, kernel="torch", dtype=dtype)
    assert a.spikes("pop", 1)[0].size > 50
    for trial in (0, 1):
        for got, want in zip(b.spikes("pop", trial), a.spikes("pop", trial), strict=True):
            np.testing.assert_array_equal(got, want)
    for var in ("v", "i_exc", "i_inh"):
        for trial in (0, 1):
            assert torch.equal(a.trace("pop", var, trial), b.trace("pop", var, trial))
