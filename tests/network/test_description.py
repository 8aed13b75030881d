"""The description layer (Network, Population, Projection, sources, connectors): every bad
input raises ConfigError naming the parameter and the offending value; connectors have
the statistics they promise."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import neurotwin as nt
from neurotwin.dynamics import MODELS
from neurotwin.errors import ConfigError
from neurotwin.network import Synapses, fixed_fan_in, fixed_probability


@pytest.fixture
def net():
    """dt = 0.1 ms; 'in': 2 sources, 'exc': 3 LIF neurons, 'adex': 2 AdEx neurons."""
    network = nt.Network(dt=0.1)
    network.add(nt.SpikeSourceArray([[1.0, 5.0], [2.0]], label="in"))
    network.add(nt.Population(3, nt.LIF(), label="exc"))
    network.add(nt.Population(2, nt.AdEx(), label="adex"))
    return network


# --- projections --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.ones((3, 2)), r"weights from 'in' to 'exc' must have shape \(2, 3\) "
                          r"\(n_pre, n_post\), got \(3, 2\)"),
        (np.ones((2, 4)), r"must have shape \(2, 3\) \(n_pre, n_post\), got \(2, 4\)"),
        (sp.csr_array(np.ones((2, 2))), r"must have shape \(2, 3\).*got \(2, 2\)"),
        (np.ones(3), r"weights must be 2-D \(n_pre, n_post\), got shape \(3,\)"),
        (np.ones((2, 3, 1)), r"weights must be 2-D \(n_pre, n_post\), got shape \(2, 3, 1\)"),
        (np.array([[0.1, np.nan, 0.2], [0.0, 0.0, 0.0]]), "weights must be finite, got nan"),
        (np.array([[0.1, np.inf, 0.2], [0.0, 0.0, 0.0]]), "weights must be finite, got inf"),
        (sp.csr_array(np.array([[0.1, -np.inf, 0.2], [0.0, 0.0, 1.0]])),
         "weights must be finite, got -inf"),
        (np.array([[0.1, -0.5, 0.2], [0.0, 0.0, 0.0]]),
         r"weights for receptor 'exc' must be >= 0 nA \(magnitudes\), got -0.5"),
        (torch.tensor([[0.1, -0.25, 0.2], [0.0, 0.0, 0.0]]),
         r"weights for receptor 'exc' must be >= 0 nA \(magnitudes\), got -0.25"),
    ],
)
def test_connect_rejects_bad_weights(net, weights, match):
    with pytest.raises(ConfigError, match=match):
        net.connect("in", "exc", weights, receptor="exc")


def test_connect_rejects_ragged_or_non_numeric_weights(net):
    with pytest.raises(ConfigError, match="weights"):
        net.connect("in", "exc", [[0.1, 0.2, 0.3], [0.1]], receptor="exc")
    with pytest.raises(ConfigError, match="weights"):
        net.connect("in", "exc", [["a", "b", "c"], ["d", "e", "f"]], receptor="exc")


def test_negative_weights_for_inh_and_signed_matrices(net):
    signed = np.array([[0.1, -0.5, 0.0], [0.0, 0.3, -0.2]])
    with pytest.raises(ConfigError, match=r"receptor 'inh' must be >= 0 nA.*got -0.5"):
        net.connect("in", "exc", signed, receptor="inh")
    proj = net.connect("in", "exc", signed, receptor=None)
    syn = proj.synapses()
    np.testing.assert_array_equal(syn.weight, [0.1, -0.5, 0.3, -0.2])


def test_connect_rejects_unknown_receptor(net):
    with pytest.raises(ConfigError, match=r"receptor must be 'exc', 'inh' or None, got 'ampa'"):
        net.connect("in", "exc", np.ones((2, 3)), receptor="ampa")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("delays", "match"),
    [
        (0.15, r"delays of in->exc must be a multiple of the time step dt = 0.1 ms, got 0.15 ms"),
        (0.05, r"delays of in->exc must be a multiple of the time step dt = 0.1 ms, got 0.05 ms"),
        (1e-9, r"delays of in->exc must be >= dt = 0.1 ms, got 1e-09 ms"),
        (0.0, r"delays must be > 0 ms, got 0.0"),
        (-0.1, r"delays must be > 0 ms, got -0.1"),
        (math.nan, r"delays must be finite, got nan"),
        (math.inf, r"delays must be finite, got inf"),
        (np.where(np.eye(2, 3) > 0, 0.25, 0.2),
         r"delays of in->exc must be a multiple of the time step dt = 0.1 ms, got 0.25 ms"),
        (np.ones((3, 2)), r"delays must be a scalar or of shape \(2, 3\) \(one per synapse\), "
                          r"got shape \(3, 2\)"),
    ],
)
def test_connect_rejects_bad_delays(net, delays, match):
    with pytest.raises(ConfigError, match=match):
        net.connect("in", "exc", np.ones((2, 3)), receptor="exc", delays=delays)


def test_delays_on_the_grid_are_accepted_in_steps(net):
    delays = np.array([[0.1, 0.3, 1.2], [2.0, 0.7, 0.1]])
    proj = net.connect("in", "exc", np.ones((2, 3)), delays=delays)
    np.testing.assert_array_equal(net.delay_steps(proj), [1, 3, 12, 20, 7, 1])
    assert net.connect("in", "exc", np.ones((2, 3))).delays == pytest.approx(0.1)  # default dt


def test_sparse_delays_must_match_the_weight_pattern(net):
    w = sp.csr_array(np.array([[0.1, 0.0, 0.2], [0.0, 0.3, 0.0]]))
    good = sp.csr_array(np.array([[0.2, 0.0, 0.5], [0.0, 0.1, 0.0]]))
    proj = net.connect("in", "exc", w, delays=good)
    np.testing.assert_array_equal(net.delay_steps(proj), [2, 5, 1])
    bad = sp.csr_array(np.array([[0.2, 0.3, 0.0], [0.0, 0.1, 0.0]]))
    with pytest.raises(ConfigError, match="sparse delays must have the same pattern"):
        net.connect("in", "exc", w, delays=bad)
    with pytest.raises(ConfigError, match=r"delays must be a scalar or of shape \(3,\)"):
        net.connect("in", "exc", w, delays=np.full(4, 0.1))


def test_synapses_flatten_dense_and_sparse_alike():
    dense = np.array([[0.0, 0.4, 0.0], [0.7, 0.0, 0.2]])
    delays = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a = nt.Projection("a", "b", dense, delays=delays).synapses()
    sparse = sp.csr_array(dense)
    b = nt.Projection("a", "b", sparse, delays=np.array([2.0, 4.0, 6.0])).synapses()
    expected = Synapses(np.array([0, 1, 1]), np.array([1, 0, 2]), np.array([0.4, 0.7, 0.2]),
                        np.array([2.0, 4.0, 6.0]))
    for got in (a, b):
        for x, y in zip(got, expected, strict=True):
            np.testing.assert_array_equal(x, y)


# --- labels, recording, currents ------------------------------------------------------------


def test_duplicate_label(net):
    with pytest.raises(ConfigError, match="label 'exc' is already used in this network"):
        net.add(nt.Population(4, nt.LIF(), label="exc"))
    with pytest.raises(ConfigError, match="label 'in' is already used"):
        net.add(nt.SpikeSourcePoisson(2, rate=5.0, label="in"))


def test_labels_are_assigned_uniquely():
    network = nt.Network()
    a = network.add(nt.Population(2, nt.LIF()))
    b = network.add(nt.Population(2, nt.LIF()))
    s = network.add(nt.SpikeSourcePoisson(1, rate=1.0))
    assert (a.label, b.label, s.label) == ("pop0", "pop1", "source0")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda n: n.connect("nope", "exc", np.ones((2, 3))),
         r"pre 'nope' is not in this network; add\(\) it first \(known: in, exc, adex\)"),
        (lambda n: n.connect("in", "nope", np.ones((2, 3))), r"population 'nope' is not in"),
        (lambda n: n.connect("exc", "in", np.ones((3, 2))),
         "'in' is a spike source, not a population"),
        (lambda n: n.record("nope", "spikes"), r"recorded node 'nope' is not in this network"),
        (lambda n: n.inject("nope", nt.DCSource(1.0)), r"population 'nope' is not in"),
        (lambda n: n.inject("in", nt.DCSource(1.0)), "'in' is a spike source, not a population"),
        (lambda n: n.connect(nt.Population(2, nt.LIF(), label="other"), "exc", np.ones((2, 3))),
         r"pre 'other' is not in this network"),
    ],
)
def test_unknown_labels(net, call, match):
    with pytest.raises(ConfigError, match=match):
        call(net)


def test_add_rejects_non_nodes(net):
    with pytest.raises(ConfigError, match=r"add\(\) takes a Population.*got LIF"):
        net.add(nt.LIF())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "var", "match"),
    [
        ("exc", "w", r"cannot record 'w' of 'exc'; recordable: spikes, v, i_exc, i_inh"),
        ("exc", "V", r"cannot record 'V' of 'exc'"),
        ("in", "v", r"cannot record 'v' of 'in'; recordable: spikes$"),
        ("adex", "g_exc", r"cannot record 'g_exc' of 'adex'; recordable: spikes, v, i_exc, "
                          r"i_inh, w"),
    ],
)
def test_unknown_record_variable(net, label, var, match):
    with pytest.raises(ConfigError, match=match):
        net.record(label, var)


def test_record_accepts_model_variables(net):
    net.record("exc", "spikes", "v")
    net.record("adex", "w")
    net.record("in", "spikes")
    assert set(net.recordings) == {"exc", "adex", "in"}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: nt.DCSource(np.ones((2, 2))), r"amplitude must be a scalar or 1-D, got shape "
                                               r"\(2, 2\)"),
        (lambda: nt.DCSource(np.array([1.0, np.nan])), "amplitude must be finite, got nan"),
        (lambda: nt.DCSource(1.0, start=-1.0), "start must be >= 0 ms, got -1.0"),
        (lambda: nt.DCSource(1.0, start=5.0, stop=2.0), r"stop must be >= start \(5.0 ms\), "
                                                        r"got 2.0"),
    ],
)
def test_bad_dc_source(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_dc_source_amplitude_must_match_population(net):
    with pytest.raises(ConfigError, match=r"DCSource amplitude must be a scalar or of shape "
                                          r"\(3,\) for 'exc', got shape \(4,\)"):
        net.inject("exc", nt.DCSource(np.ones(4)))
    net.inject("exc", nt.DCSource(np.ones(3)))
    net.inject("exc", nt.DCSource(0.5, start=1.0, stop=2.0))
    assert len(net.currents) == 2


# --- nodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "4"])
def test_population_size(size):
    with pytest.raises(ConfigError, match=f"size must be an integer >= 1, got {size!r}"):
        nt.Population(size, nt.LIF())


@pytest.mark.parametrize(
    ("initial", "match"),
    [
        ({"w": 0.0}, r"initial value for unknown state variable 'w' of LIF; known: v, i_exc, "
                     r"i_inh"),
        ({"v": np.zeros(4)}, r"initial\['v'\] must be a scalar or of shape \(3,\), got shape "
                             r"\(4,\)"),
        ({"v": np.zeros((3, 1))}, r"initial\['v'\] must be a scalar or of shape \(3,\)"),
        ({"v": [-60.0, np.nan, -60.0]}, r"initial\['v'\] must be finite, got nan"),
    ],
)
def test_population_initial_values(initial, match):
    with pytest.raises(ConfigError, match=match):
        nt.Population(3, nt.LIF(), initial=initial)


def test_population_initial_values_broadcast():
    pop = nt.Population(3, nt.AdEx(), initial={"v": [-60.0, -61.0, -62.0], "w": 0.1})
    values = pop.initial_values()
    np.testing.assert_array_equal(values["v"], [-60.0, -61.0, -62.0])
    np.testing.assert_array_equal(values["w"], [0.1, 0.1, 0.1])
    np.testing.assert_array_equal(values["i_exc"], [0.0, 0.0, 0.0])


def test_population_model_must_be_a_neuron_model():
    with pytest.raises(ConfigError, match=r"model must be a neuron model .*got str"):
        nt.Population(3, "lif")  # type: ignore[arg-type]


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown neuron model 'foo'; known: .*adex, .*lif"):
        MODELS.get("foo")
    assert MODELS.get("lif") is nt.LIF and MODELS.get("adex") is nt.AdEx
    assert {"lif", "adex"} <= set(MODELS.names())


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([[1.0, -1.0], [2.0]], r"spike_times\[0\] must be >= 0 ms, got -1.0"),
        ([[1.0], [np.nan]], r"spike_times\[1\] must be finite, got nan"),
        ([[1.0], [np.inf]], r"spike_times\[1\] must be finite, got inf"),
        (np.array([1.0, 2.0]), "spike_times must hold one sequence per source"),
        ([], "spike_times must hold at least one source"),
    ],
)
def test_bad_spike_source_array(times, match):
    with pytest.raises(ConfigError, match=match):
        nt.SpikeSourceArray(times)


def test_spike_source_array_sorts_and_counts():
    src = nt.SpikeSourceArray([[5.0, 1.0], [], [2.0]])
    assert src.size == 3
    np.testing.assert_array_equal(src.spike_times[0], [1.0, 5.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 2, "rate": -1.0}, "rate must be >= 0 Hz, got -1.0"),
        ({"size": 2, "rate": np.nan}, "rate must be finite, got nan"),
        ({"size": 2, "rate": np.ones(3)}, r"rate must be a scalar or of shape \(2,\), got shape "
                                          r"\(3,\)"),
        ({"size": 0, "rate": 1.0}, "size must be an integer >= 1, got 0"),
        ({"size": 2, "rate": 1.0, "start": 5.0, "stop": 1.0},
         r"stop must be >= start \(5.0 ms\), got 1.0"),
    ],
)
def test_bad_poisson_source(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        nt.SpikeSourcePoisson(**kwargs)


@pytest.mark.parametrize(
    ("dt", "match"),
    [(0.0, "dt must be > 0 ms, got 0.0"), (-0.1, "dt must be > 0 ms, got -0.1"),
     (math.nan, "dt must be finite, got nan")],
)
def test_network_dt(dt, match):
    with pytest.raises(ConfigError, match=match):
        nt.Network(dt=dt)


def test_network_duration_on_the_grid(net):
    assert net.steps(100.0) == 1000
    with pytest.raises(ConfigError, match=r"duration must be a multiple of the time step dt = "
                                          r"0.1 ms, got 100.05 ms"):
        net.steps(100.05)
    with pytest.raises(ConfigError, match=r"duration must be > 0 ms, got 0\.0"):
        net.steps(0.0)
    with pytest.raises(ConfigError, match="duration must be finite"):
        net.steps(math.inf)


# --- connectors -----------------------------------------------------------------------------


def test_fixed_probability_statistics():
    n_pre, n_post, p = 400, 300, 0.1
    w = fixed_probability(n_pre, n_post, p, 0.25, np.random.default_rng(1))
    assert isinstance(w, sp.csr_array) and w.shape == (n_pre, n_post)
    mean, sd = n_pre * n_post * p, math.sqrt(n_pre * n_post * p * (1 - p))
    assert abs(w.nnz - mean) < 5 * sd
    np.testing.assert_array_equal(w.data, 0.25)
    # each row ~ Binomial(n_post, p); each column ~ Binomial(n_pre, p)
    rows, cols = np.diff(w.indptr), np.bincount(w.indices, minlength=n_post)
    assert abs(rows.mean() - n_post * p) < 5 * math.sqrt(n_post * p * (1 - p) / n_pre)
    assert abs(rows.var() / (n_post * p * (1 - p)) - 1) < 0.3
    assert abs(cols.mean() - n_pre * p) < 5 * math.sqrt(n_pre * p * (1 - p) / n_post)
    # no duplicate entries
    w.sum_duplicates()
    assert np.all(w.data == 0.25)


def test_fixed_probability_without_self_connections():
    n, p = 300, 0.2
    w = fixed_probability(n, n, p, 1.0, np.random.default_rng(2), allow_self=False)
    assert np.all(w.diagonal() == 0)
    mean, sd = (n * n - n) * p, math.sqrt((n * n - n) * p * (1 - p))
    assert abs(w.nnz - mean) < 5 * sd
    dense = fixed_probability(20, 20, 1.0, 0.5, np.random.default_rng(0), allow_self=False)
    np.testing.assert_array_equal(dense.toarray(), 0.5 * (1 - np.eye(20)))


def test_fixed_probability_zero_weight_keeps_pattern_without_self():
    w = fixed_probability(10, 10, 1.0, 0.0, np.random.default_rng(0), allow_self=False)
    assert w.nnz == 90


def test_fixed_probability_edges_and_reproducibility():
    assert fixed_probability(5, 6, 0.0, 1.0, np.random.default_rng(0)).nnz == 0
    assert fixed_probability(5, 6, 1.0, 1.0, np.random.default_rng(0)).nnz == 30
    a = fixed_probability(50, 40, 0.3, 1.0, np.random.default_rng(7))
    b = fixed_probability(50, 40, 0.3, 1.0, np.random.default_rng(7))
    c = fixed_probability(50, 40, 0.3, 1.0, np.random.default_rng(8))
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 5, 1.5, 1.0), r"p must lie in \[0.0, 1.0\], got 1.5"),
        ((5, 5, -0.1, 1.0), r"p must lie in \[0.0, 1.0\], got -0.1"),
        ((5, 5, np.nan, 1.0), "p must be finite, got nan"),
        ((5, 5, 0.5, np.inf), "weight must be finite, got inf"),
        ((-1, 5, 0.5, 1.0), "n_pre must be an integer >= 0, got -1"),
        ((5, 2.5, 0.5, 1.0), "n_post must be an integer >= 0, got 2.5"),
    ],
)
def test_fixed_probability_rejects_bad_input(args, match):
    with pytest.raises(ConfigError, match=match):
        fixed_probability(*args, rng=np.random.default_rng(0))


@pytest.mark.parametrize(("n_pre", "n_post", "allow_self"),
                         [(200, 150, True), (200, 200, False), (50, 80, False)])
def test_fixed_fan_in_statistics(n_pre, n_post, allow_self):
    fan_in = 20
    w = fixed_fan_in(n_pre, n_post, fan_in, 0.3, np.random.default_rng(3), allow_self=allow_self)
    assert w.shape == (n_pre, n_post)
    dense = w.toarray()
    np.testing.assert_array_equal((dense != 0).sum(axis=0), fan_in)  # exactly fan_in each
    assert set(np.unique(dense)) <= {0.0, 0.3}  # distinct sources: no summed duplicates
    if not allow_self:
        k = min(n_pre, n_post)
        assert np.all(dense[np.arange(k), np.arange(k)] == 0)
    # sources uniformly used: out-degree ~ Binomial-like, mean n_post fan_in / n_pre, no
    # source systematically left out
    out = (dense != 0).sum(axis=1)
    assert out.min() > 0
    expected = n_post * fan_in / n_pre
    assert abs(out.mean() - expected) < 1e-9
    chi2 = ((out - expected) ** 2 / expected).sum()
    assert chi2 < n_pre + 5 * math.sqrt(2 * n_pre)


@pytest.mark.parametrize(("n_pre", "n_post", "window", "fan_in", "allow_self"),
                         [(300, 300, 40, 12, False), (300, 100, 31, 8, True),
                          (100, 300, 20, 15, False), (60, 60, 60, 30, True)])
def test_fixed_fan_in_window(n_pre, n_post, window, fan_in, allow_self):
    """Local connectivity: every source lies in the target's ring window, exactly fan_in
    distinct ones, own index excluded without self, and every position of the window is
    used about equally (sparse and dense draws)."""
    w = fixed_fan_in(n_pre, n_post, fan_in, 0.5, np.random.default_rng(5),
                     allow_self=allow_self, window=window)
    dense = w.toarray() != 0
    np.testing.assert_array_equal(dense.sum(axis=0), fan_in)
    offset_counts = np.zeros(window, np.int64)
    for q in range(n_post):
        centre = math.floor((q + 0.5) * n_pre / n_post)
        first = centre - window // 2
        offsets = (np.flatnonzero(dense[:, q]) - first) % n_pre
        assert offsets.max() < window, (q, offsets)
        if not allow_self and q < n_pre and (q - first) % n_pre < window:
            assert not dense[q, q]
        offset_counts[offsets] += 1
    # positions used uniformly (own position excluded: it sits at window // 2 or nearby)
    expected = n_post * fan_in / window
    inner = np.delete(offset_counts, np.arange(window // 2 - 1, window // 2 + 2))
    assert np.all(np.abs(inner - expected) < 6 * math.sqrt(expected) + 2), offset_counts
    limit = rf"window \(None, or at most n_pre = {n_pre}\) must be an integer in \[1, {n_pre}\]"
    with pytest.raises(ConfigError, match=rf"{limit}, got {n_pre + 1}"):
        fixed_fan_in(n_pre, n_post, 1, 0.5, np.random.default_rng(0), window=n_pre + 1)
    with pytest.raises(ConfigError, match=r"fan_in must lie in \[0, "):
        fixed_fan_in(n_pre, n_post, window + 1, 0.5, np.random.default_rng(0), window=window)


def test_fixed_fan_in_window_of_everything_draws_as_random():
    """window = n_pre centred on each target is the whole population: same distribution
    (here: same support and exact fan-in); the draws differ only in where offsets start."""
    w = fixed_fan_in(50, 50, 49, 1.0, np.random.default_rng(1), allow_self=False, window=50)
    np.testing.assert_array_equal(w.toarray(), 1 - np.eye(50))


def test_fixed_fan_in_reproducible_and_limits():
    a = fixed_fan_in(30, 20, 5, 1.0, np.random.default_rng(4))
    b = fixed_fan_in(30, 20, 5, 1.0, np.random.default_rng(4))
    assert (a != b).nnz == 0
    full = fixed_fan_in(10, 10, 9, 1.0, np.random.default_rng(0), allow_self=False)
    np.testing.assert_array_equal(full.toarray(), 1 - np.eye(10))
    assert fixed_fan_in(10, 10, 0, 1.0, np.random.default_rng(0)).nnz == 0
    with pytest.raises(ConfigError, match=r"fan_in must lie in \[0, 9\], got 10"):
        fixed_fan_in(10, 10, 10, 1.0, np.random.default_rng(0), allow_self=False)
    with pytest.raises(ConfigError, match=r"fan_in must lie in \[0, 10\], got 11"):
        fixed_fan_in(10, 10, 11, 1.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"fan_in must lie in \[0, 10\], got -1"):
        fixed_fan_in(10, 10, -1, 1.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"fan_in must be an integer, got 2\.5"):
        fixed_fan_in(10, 10, 2.5, 1.0, np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="weight must be finite, got nan"):
        fixed_fan_in(10, 10, 2, np.nan, np.random.default_rng(0))


def test_connector_output_connects(net):
    w = fixed_probability(3, 3, 0.5, 0.2, np.random.default_rng(0), allow_self=False)
    proj = net.connect("exc", "exc", w, receptor="inh", delays=0.5)
    assert proj.shape == (3, 3)
    np.testing.assert_array_equal(net.delay_steps(proj), 5)
