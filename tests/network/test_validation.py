"""Bad inputs to the network description (issue 12): nodes are resolved by identity, not
label; scalar parameters refuse strings and arrays; flat spike-time lists are refused;
what cannot fit in memory is a CapacityError before allocation."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.errors import CapacityError, ConfigError, check_memory, check_scalar, machine_memory
from neurotwin.network import fixed_fan_in, fixed_probability
from neurotwin.network.nodes import check_interval

# --- nodes by identity ----------------------------------------------------------------------


def two_networks() -> tuple[nt.Network, nt.Network]:
    """Two networks that both label their population 'pop0' and their source 'source0'."""
    nets = []
    for size in (3, 4):
        net = nt.Network(dt=0.1)
        net.add(nt.SpikeSourceArray([[1.0]] * size))
        net.add(nt.Population(size, nt.LIF()))
        nets.append(net)
    return nets[0], nets[1]


def test_a_node_of_another_network_with_the_same_label_is_refused() -> None:
    a, b = two_networks()
    foreign_pop, foreign_src = b.nodes["pop0"], b.nodes["source0"]
    own_src = a.nodes["source0"]
    match = r"not this network's node 'pop0' but another object with that label"
    with pytest.raises(ConfigError, match=match):
        a.connect(own_src, foreign_pop, np.ones((3, 4)))
    with pytest.raises(ConfigError, match=r"pre 'source0' is not this network's node"):
        a.connect(foreign_src, "pop0", np.ones((4, 3)))
    with pytest.raises(ConfigError, match=match):
        a.record(foreign_pop, "spikes")
    with pytest.raises(ConfigError, match=match):
        a.inject(foreign_pop, nt.DCSource(1.0))
    with pytest.raises(ConfigError, match=match):
        a.population(foreign_pop)
    assert a.projections == [] and a.recordings == {} and a.currents == []
    # this network's own nodes, and labels, still work
    a.connect(own_src, a.nodes["pop0"], np.ones((3, 3)))
    a.connect("source0", "pop0", np.ones((3, 3)))


def test_the_object_passed_to_add_is_not_the_labelled_node() -> None:
    net = nt.Network()
    template = nt.Population(2, nt.LIF())
    added = net.add(template)
    assert added.label == "pop0" and template.label is None
    match = (r"population: this Population has no label, so it is not a node of this "
             r"network; add\(\) returns the labelled")
    with pytest.raises(ConfigError, match=match):
        net.connect(net.add(nt.SpikeSourceArray([[1.0]])), template, np.ones((1, 2)))
    net.connect("source0", added, np.ones((1, 2)))


def test_a_node_added_twice_is_refused() -> None:
    net = nt.Network()
    pop = net.add(nt.Population(2, nt.LIF(), label="exc"))
    with pytest.raises(ConfigError, match=r"Population 'exc' is already in this network; "
                                          r"add\(\) each node once"):
        net.add(pop)
    # a template without a label makes a new node each time (pop0, pop1)
    template = nt.Population(2, nt.LIF())
    assert net.add(template).label == "pop0" and net.add(template).label == "pop1"


def test_a_node_argument_must_be_a_node_or_a_label() -> None:
    net = nt.Network()
    net.add(nt.Population(2, nt.LIF(), label="exc"))
    with pytest.raises(ConfigError, match="recorded node must be a node of this network or its "
                                          "label, got int"):
        net.record(3, "spikes")  # type: ignore[arg-type]


# --- scalar parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: nt.Network(dt="0.1"), r"dt must be a number, got '0.1' \(str\)"),
        (lambda: nt.Network(dt=[0.1, 0.2]), r"dt must be a single number \(in ms\), got an "
                                             r"array of shape \(2,\)"),
        (lambda: nt.Network(dt=True), "dt must be a number, got True"),
        (lambda: nt.Network().steps("10"), "duration must be a number, got '10'"),
        (lambda: nt.Network().steps(np.ones(2)), r"duration must be a single number"),
        (lambda: nt.DCSource("1.0"), "amplitude must be a number, got '1.0'"),
        (lambda: nt.DCSource(1.0, start="1"), "start must be a number, got '1'"),
        (lambda: nt.DCSource(1.0, stop=np.array([1.0, 2.0])), r"stop must be a single number"),
        (lambda: nt.DCSource(1.0, stop=float("nan")), r"stop must be >= start \(0.0 ms\)"),
        (lambda: nt.SpikeSourcePoisson(2, rate="5"), "rate must be a number, got '5'"),
        (lambda: nt.SpikeSourcePoisson(2, rate=5.0, start=[1.0]), r"start must be a single"),
        (lambda: nt.SpikeSourcePoisson(2, rate=5.0, stop="9"), "stop must be a number"),
        (lambda: nt.Population(2, nt.LIF(), initial={"v": "-60"}),
         r"initial\['v'\] must be a number, got '-60'"),
        (lambda: nt.Projection("a", "b", [["0.5"]]), "weights must be a number or an array of "
                                                     "numbers, got strings"),
        (lambda: nt.Projection("a", "b", [[0.5]], delays="1.0"), "delays must be a number"),
        (lambda: fixed_probability(3, 3, "0.5", 1.0, np.random.default_rng(0)),
         "p must be a number"),
        (lambda: fixed_probability(3, 3, [0.5, 0.5], 1.0, np.random.default_rng(0)),
         r"p must be a single number"),
        (lambda: fixed_probability(3, 3, 0.5, np.ones(3), np.random.default_rng(0)),
         r"weight must be a single number \(in nA\)"),
        (lambda: fixed_fan_in(3, 3, 1, "1.0", np.random.default_rng(0)),
         "weight must be a number"),
    ],
)
def test_strings_and_arrays_are_refused_where_a_number_is_required(make, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_check_scalar_and_interval() -> None:
    assert check_scalar("x", np.float32(0.5)) == 0.5
    assert check_scalar("x", np.array(2)) == 2.0
    check_interval(0.0, float("inf"))
    with pytest.raises(ConfigError, match=r"stop must be >= start \(2.0 ms\), got 1.0"):
        check_interval(2.0, 1.0)


# --- spike times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "times", [[1.0, 5.0], (1.0, 5.0), np.array([1.0, 5.0]), [np.float64(1.0), 5]],
)
def test_a_flat_sequence_of_spike_times_is_refused_like_a_flat_array(times) -> None:
    with pytest.raises(ConfigError, match=r"one sequence per source.*got a flat sequence of "
                                          r"numbers \[1.0, 5.0\]: write \[\[1.0, 5.0\]\] for "
                                          r"one source"):
        nt.SpikeSourceArray(times)


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([1.0, [2.0]], "mixes numbers and sequences"),
        (5.0, "one sequence of spike times per source, got float"),
        ("1.0", "got str"),
        (np.array(1.0), "got ndarray"),
        ([["1.0"]], r"spike_times\[0\] must be a number or an array of numbers, got strings"),
        ([[None]], r"spike_times\[0\] must be a number"),
        (np.array([]), "at least one source"),
    ],
)
def test_bad_spike_time_containers(times, match) -> None:
    with pytest.raises(ConfigError, match=match):
        nt.SpikeSourceArray(times)


def test_spike_times_per_source() -> None:
    ragged = nt.SpikeSourceArray([[5.0, 1.0], [2.0], []])
    assert [t.tolist() for t in ragged.spike_times] == [[1.0, 5.0], [2.0], []]
    rows = nt.SpikeSourceArray(np.array([[3.0, 1.0], [2.0, 4.0]]))
    assert [t.tolist() for t in rows.spike_times] == [[1.0, 3.0], [2.0, 4.0]]
    assert nt.SpikeSourceArray([[1.0, 5.0]]).size == 1


# --- memory -----------------------------------------------------------------------------------


def test_population_beyond_memory_is_a_capacity_error() -> None:
    with pytest.raises(CapacityError) as info:
        nt.Population(10**12, nt.LIF())
    err = info.value
    assert err.resource == "memory (bytes)"
    assert err.needed == 10**12 * 3 * 8 and err.available == machine_memory()
    assert "a population of 1000000000000 LIF neurons" in str(err)
    assert "GiB of memory" in str(err)


def test_poisson_sources_beyond_memory_are_a_capacity_error() -> None:
    with pytest.raises(CapacityError, match="1000000000000 Poisson sources"):
        nt.SpikeSourcePoisson(10**12, rate=1.0)


def test_check_memory() -> None:
    available = machine_memory()
    assert available is not None and available > 2**20
    check_memory("a small thing", 1024)
    with pytest.raises(CapacityError, match=r"needed \d+, available \d+ \(twice this machine"):
        check_memory("twice this machine", 2 * available)
