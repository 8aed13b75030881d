"""``rounding="nearest"`` (the default) end to end on weights off the integer grid: every
synapse word holds round_half_up(|w| / scale), computed here; the run gives the spikes
of the ideal backend on those rounded weights exactly, and rates close to the ideal
backend on the weights as given."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.spinnaker2 import SpiNNaker2Backend

LSB = 2.0**-4  # nA per weight LSB: float32 sums of whole LSBs are exact
SHAPES = {("noise", "a"): (30, 40), ("noise", "b"): (30, 20), ("a", "a"): (40, 40),
          ("a", "b"): (40, 20), ("b", "a"): (20, 40)}
RECEPTORS = {("noise", "a"): "exc", ("noise", "b"): "exc", ("a", "a"): None,
             ("a", "b"): "exc", ("b", "a"): "inh"}


def off_grid_weights() -> dict[tuple[str, str], np.ndarray]:
    """Weights (nA) of 0.6..15 LSB (15: the int4 limit), a third within 1e-6..0.04 LSB of
    k + 0.5; the recurrent ones signed; sparse."""
    rng = np.random.default_rng(8)
    weights = {}
    for key, shape in SHAPES.items():
        uniform = rng.uniform(0.6, 15.0, shape)
        near = rng.integers(1, 15, shape) + 0.5 \
            + rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-6, np.log10(0.04), shape)
        w = np.where(rng.random(shape) < 1 / 3, near, uniform) * LSB
        if RECEPTORS[key] is None:
            w *= np.where(rng.random(shape) < 0.3, -1.0, 1.0)
        weights[key] = w * (rng.random(shape) < 0.3)
    return weights


def network(weights: dict[tuple[str, str], np.ndarray]) -> nt.Network:
    rng = np.random.default_rng(9)
    net = nt.Network(dt=1.0)
    net.add(nt.SpikeSourcePoisson(30, rate=rng.uniform(10, 60, 30), label="noise"))
    model = nt.LIF(tau_mem=10.0, tau_syn_exc=3.0, tau_syn_inh=6.0, v_thresh=-57.0)
    net.add(nt.Population(40, model, label="a"))
    net.add(nt.Population(20, model, label="b"))
    for (pre, post), w in weights.items():
        delays = rng.integers(1, 4, w.shape).astype(float)
        net.connect(pre, post, w, receptor=RECEPTORS[(pre, post)], delays=delays)
    for label in ("a", "b"):
        net.record(label, "spikes")
    return net


def rounded(weights: dict[tuple[str, str], np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """Round half up to the LSB, sign kept."""
    return {k: np.sign(w) * np.floor(np.abs(w) / LSB + 0.5) * LSB for k, w in weights.items()}


def test_synapse_words_hold_the_weights_rounded_half_up():
    weights = off_grid_weights()
    net = network(weights)
    prog = SpiNNaker2Backend().map(net, tick_ms=1.0, weight_scale=LSB)
    assert set(prog.scales.values()) == {LSB}
    n = prog.n_neurons
    word = prog.syn_word.astype(np.int64)
    index = word & 0xFFFFFFFF
    got = np.stack([np.repeat(np.arange(n + prog.n_sources), np.diff(prog.syn_ptr)),
                    index % n, index % (2 * n) // n, (word >> 32) & 0xFF], axis=1)
    want, near_half = [], 0
    for (pre, post), w in weights.items():
        pre_first = (prog.pop_slices[pre][0] if pre in prog.pop_slices
                     else n + prog.source_slices[pre][0])
        i, j = np.nonzero(w)
        x = np.abs(w[i, j]) / LSB
        near_half += np.count_nonzero(np.abs(x - np.floor(x) - 0.5) < 0.04)
        want.append(np.stack([pre_first + i, prog.pop_slices[post][0] + j,
                              (w[i, j] < 0) | (RECEPTORS[(pre, post)] == "inh"),
                              np.floor(x + 0.5)], axis=1).astype(np.int64))
    want = np.concatenate(want)
    assert near_half > 200  # the rounding boundaries are exercised
    np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])


def test_spikes_are_the_ideal_ones_on_the_rounded_weights():
    weights = off_grid_weights()
    s2 = nt.simulate(network(weights), 1000.0, backend="spinnaker2", seed=3, tick_ms=1.0,
                     weight_scale=LSB)  # rounding="nearest": the default
    on_grid = nt.simulate(network(rounded(weights)), 1000.0, backend="ideal", seed=3,
                          dtype="float32")
    as_given = nt.simulate(network(weights), 1000.0, backend="ideal", seed=3)
    for label in ("a", "b"):
        assert s2.spikes(label)[0].size > 50, label
        for x, y in zip(s2.spikes(label), on_grid.spikes(label), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=label)
        # measured within 2.5 % (weights move by at most half an LSB, 3 % on average)
        assert s2.mean_rate(label) == pytest.approx(as_given.mean_rate(label), rel=0.1)
