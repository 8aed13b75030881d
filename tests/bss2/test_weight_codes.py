"""Every synapse of a mapping holds its weight rounded half up to the population's weight
LSB, with the row mode of its sign: checked code by code on weights off the LSB grid."""

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import specs
from neurotwin.bss2.mapping import map_network

LIF = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0, v_reset=-65.0,
             v_thresh=-55.0, tau_refrac=1.0)


def off_grid(rng: np.random.Generator, shape: tuple[int, int], lsb: float) -> np.ndarray:
    """Weights (nA, >= 0) below 62.9 LSB: half uniform, half within 1e-6..0.04 LSB
    of a rounding boundary k + 0.5 (on either side)."""
    uniform = rng.uniform(0.0, 62.9, shape)
    near = rng.integers(0, 63, shape) + 0.5 \
        + rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(-6, np.log10(0.04), shape)
    return np.where(rng.random(shape) < 0.5, uniform, near) * lsb


def network(lsb: dict[str, float]) -> nt.Network:
    """Two populations of different weight LSBs; exc, inh and signed projections."""
    rng = np.random.default_rng(12)
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0]] * 20, label="in"))
    a = net.add(nt.Population(30, LIF, label="a"))
    b = net.add(nt.Population(20, replace(LIF, cm=0.7), label="b"))
    net.connect(src, a, off_grid(rng, (20, 30), lsb["a"]), receptor="exc")
    net.connect(src, b, off_grid(rng, (20, 20), lsb["b"]), receptor="inh")
    sign = np.where(rng.random((30, 20)) < 0.4, -1.0, 1.0)
    net.connect(a, b, sign * off_grid(rng, (30, 20), lsb["b"]), receptor=None)
    net.connect(b, a, off_grid(rng, (20, 30), lsb["a"]), receptor="inh")
    return net


@pytest.mark.parametrize("weight_scale", [0.013, 0.02])
def test_every_synapse_code_is_the_weight_rounded_half_up(weight_scale):
    # a given weight_scale fixes each population's LSB (its model sets the rounding of
    # the gain code), whatever the weights: a first mapping with small weights finds it
    with warnings.catch_warnings():  # the probe's weights need not survive quantisation
        warnings.simplefilter("ignore", specs.QuantizationWarning)
        probe = map_network(network(dict.fromkeys("ab", weight_scale / 2)),
                            weight_scale=weight_scale)
    lsb = {label: p.weight_lsb_na for label, p in probe.populations.items()}
    assert lsb["a"] != lsb["b"]
    net = network(lsb)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", specs.QuantizationWarning)
        m = map_network(net, weight_scale=weight_scale)
    # weights just below half an LSB vanish: each projection's count is warned, exactly
    vanished_warned = {}
    for w in caught:
        assert issubclass(w.category, specs.QuantizationWarning), str(w.message)
        found = re.match(r"(\d+) of \d+ weights of projection (\S+) ", str(w.message))
        assert found, str(w.message)
        vanished_warned[found.group(2)] = int(found.group(1))
    assert {label: p.weight_lsb_na for label, p in m.populations.items()} == lsb
    codes = np.asarray(m.config.weights)
    modes = np.asarray(m.config.row_modes)
    exc, inh = specs.ROW_MODES.index("excitatory"), specs.ROW_MODES.index("inhibitory")
    near_half = 0
    for proj, slots in zip(net.projections, m.placements, strict=True):
        syn = proj.synapses()
        assert slots.shape == (syn.pre.size, 3)
        h, row, col = slots.T
        x = np.abs(syn.weight) / lsb[proj.post]
        expected = np.floor(x + 0.5)
        np.testing.assert_array_equal(codes[h, row, col], expected,
                                      err_msg=f"{proj.pre}->{proj.post}")
        want_mode = inh if proj.receptor == "inh" else exc
        if proj.receptor is None:
            want_mode = np.where(syn.weight < 0, inh, exc)
        np.testing.assert_array_equal(modes[h, row], np.broadcast_to(want_mode, row.shape))
        near_half += np.count_nonzero(np.abs(x - np.floor(x) - 0.5) < 0.04)
        vanished = int(np.count_nonzero((expected == 0) & (syn.weight != 0)))
        assert vanished_warned.get(f"{proj.pre}->{proj.post}", 0) == vanished
    assert near_half > 300  # the boundaries are exercised
    assert codes.max() == 63  # the top of the range too


def test_weight_scale_by_population_sets_each_populations_lsb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", specs.QuantizationWarning)
        net = network(dict.fromkeys("ab", 0.005))
        alone = {s: map_network(net, weight_scale=s).populations for s in (0.013, 0.02)}
        m = map_network(net, weight_scale={"a": 0.013, "b": 0.02})
    # each population gets the LSB a single scale of its own gives it
    assert m.populations["a"].weight_lsb_na == alone[0.013]["a"].weight_lsb_na
    assert m.populations["b"].weight_lsb_na == alone[0.02]["b"].weight_lsb_na
    assert m.populations["a"].weight_lsb_na == pytest.approx(0.013, rel=0.01)
    assert m.populations["b"].weight_lsb_na == pytest.approx(0.02, rel=0.01)


@pytest.mark.parametrize(("scale", "message"), [
    ({"c": 0.01}, r"unknown populations \['c'\]"),
    ({"a": -0.01}, "positive number of nA per LSB, got -0.01 for 'a'"),
    (float("nan"), "positive number"),
])
def test_bad_weight_scales_are_refused(scale, message):
    with pytest.raises(nt.ConfigError, match=message):
        map_network(network(dict.fromkeys("ab", 0.01)), weight_scale=scale)
