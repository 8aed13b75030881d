"""Splitting work into parts for threads."""

import numpy as np

from neurotwin.spinnaker2.parallel import run_parts, split


def test_split_balances_work_and_covers_every_item(monkeypatch):
    monkeypatch.setattr("neurotwin.spinnaker2.parallel.MIN_PART_WORK", 10)
    work = np.array([50, 0, 0, 50, 25, 25, 100])
    cum = np.concatenate([[0], np.cumsum(work)])
    b = split(cum, parts=4)
    assert b[0] == 0 and b[-1] == work.size and np.all(np.diff(b) > 0)
    per_part = np.add.reduceat(work, b[:-1])
    assert per_part.sum() == work.sum() and per_part.max() <= 150
    assert split(cum, parts=1).tolist() == [0, work.size]


def test_small_work_stays_in_one_part():
    cum = np.arange(101) * 10  # 1,000 synapses: below MIN_PART_WORK
    assert split(cum, parts=8).tolist() == [0, 100]


def test_run_parts_keeps_part_order():
    bounds = np.array([0, 3, 7, 10])
    assert run_parts(lambda a, b: (a, b), bounds) == [(0, 3), (3, 7), (7, 10)]
