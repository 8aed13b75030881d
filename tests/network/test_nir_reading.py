"""Reading malformed NIR (issue 12): stored spikes with ids outside the Input, shapes too
large to allocate, strings where NIR stores numbers; and reading in O(spikes)."""

import itertools
import time
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import neurotwin as nt
from neurotwin.network.nir import from_nir, read, write
from neurotwin.network.nir.nodes import META_SPIKE_IDS, META_SPIKE_TIMES


def input_graph(size: int, times: np.ndarray, ids: np.ndarray) -> nir.NIRGraph:
    node = nir.Input(input_type={"input": np.array([size])},
                     metadata={META_SPIKE_TIMES: times, META_SPIKE_IDS: ids})  # fmt: skip
    return nir.NIRGraph(nodes={"in": node}, edges=[], type_check=False)


def lif_graph(**params: np.ndarray) -> nir.NIRGraph:
    values = {"tau": np.array([5.0]), "r": np.ones(1), "v_leak": np.zeros(1),
              "v_threshold": np.ones(1), "v_reset": np.zeros(1)}  # fmt: skip
    values.update(params)
    nodes = {"in": nir.Input(input_type={"input": np.array([1])}),
             "w": nir.Linear(weight=np.ones((1, 1))), "n": nir.LIF(**values)}  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes)), type_check=False)


# --- stored spikes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "shown"),
    [([0, 3], "3.0"), ([0, -1], "-1.0"), ([0, 0.5], "0.5"), ([0, np.nan], "nan")],
)
def test_spike_ids_outside_the_input_are_a_data_error(ids, shown) -> None:
    graph = input_graph(3, np.array([1.0, 2.0]), np.array(ids, dtype=np.float64))
    with pytest.raises(nt.DataError, match=rf"NIR node 'in' \(Input\): neurotwin_spike_ids must "
                                           rf"be integers in \[0, 2\] \(the Input has 3 elements"
                                           rf"\), got {shown}"):
        from_nir(graph, dt=0.1)


@pytest.mark.parametrize(
    ("times", "ids", "match"),
    [
        ([1.0, 2.0], [0], "must have the same length, got 2 and 1"),
        ([1.0, -2.0], [0, 1], r"neurotwin_spike_times must be finite and >= 0 ms, got -2.0"),
        ([1.0, np.inf], [0, 1], r"must be finite and >= 0 ms, got inf"),
    ],
)
def test_bad_stored_spikes_are_a_data_error(times, ids, match) -> None:
    with pytest.raises(nt.DataError, match=match):
        from_nir(input_graph(3, np.array(times), np.array(ids)), dt=0.1)


def test_stored_spikes_are_split_per_source_and_sorted() -> None:
    rng = np.random.default_rng(1)
    times = rng.uniform(0.0, 50.0, 400)
    ids = rng.integers(0, 37, 400)
    net = from_nir(input_graph(40, times, ids), dt=0.1)
    trains = net.nodes["in"].spike_times
    assert len(trains) == 40
    for k, train in enumerate(trains):  # the naive per-source scan as reference
        np.testing.assert_array_equal(train, np.sort(times[ids == k]))


def test_reading_stored_spikes_takes_time_in_the_number_of_spikes() -> None:
    # a scan per source took 3 s for 8,000 sources x 50 spikes; this is 25x that work
    n, per = 50_000, 10
    rng = np.random.default_rng(2)
    times = rng.uniform(0.0, 100.0, n * per)
    ids = rng.permutation(np.repeat(np.arange(n), per))
    start = time.perf_counter()
    net = from_nir(input_graph(n, times, ids), dt=0.1)
    elapsed = time.perf_counter() - start
    assert net.nodes["in"].size == n
    assert elapsed < 8.0, f"reading {n} sources x {per} spikes took {elapsed:.1f} s"


# --- sizes -------------------------------------------------------------------------------------


def test_an_input_too_large_for_memory_is_a_capacity_error_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.nir"
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([1e12])})},
                         edges=[], type_check=False)  # fmt: skip
    nir.write(path, graph)
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    with pytest.raises(nt.CapacityError, match=r"not enough memory \(bytes\): needed "
                                               r"160000000000000, available \d+ \(Input node "
                                               r"of 1000000000000 elements"):
        read(path, dt=0.1)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    ("shape", "error", "match"),
    [
        ([2.5], nt.DataError, r"Input shape must hold positive integers, got \[2.5\]"),
        ([0], nt.DataError, r"Input shape must hold positive integers, got \[0.0\]"),
        ([3, -1], nt.DataError, r"positive integers, got \[3.0, -1.0\]"),
        (["3"], nt.DataError, r"NIR node 'in' \(Input\): Input shape must be a number"),
        ([2**40, 2**40], nt.CapacityError, "Input node of 1208925819614629174706176 elements"),
    ],
)
def test_bad_input_shapes(shape, error, match) -> None:
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array(shape)})},
                         edges=[], type_check=False)  # fmt: skip
    with pytest.raises(error, match=match):
        from_nir(graph, dt=0.1)


# --- strings where numbers belong ----------------------------------------------------------------


def test_string_parameters_are_a_data_error_naming_node_and_parameter() -> None:
    with pytest.raises(nt.DataError, match=r"NIR node 'n' \(LIF\): tau must be a number or an "
                                           r"array of numbers, got strings"):
        from_nir(lif_graph(tau=np.array(["5.0"])), dt=0.1)
    with pytest.raises(nt.DataError, match=r"NIR node 'n' \(LIF\): v_threshold must be a number"):
        from_nir(lif_graph(v_threshold=np.array([b"1"])), dt=0.1)
    graph = lif_graph()
    graph.nodes["w"] = nir.Linear(weight=np.array([["0.5"]]))
    with pytest.raises(nt.DataError, match=r"NIR node 'w' \(Linear\): weight must be a number"):
        from_nir(graph, dt=0.1)


def test_string_parameter_in_a_file_is_a_data_error(tmp_path: Path) -> None:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0]], label="in"))
    pop = net.add(nt.Population(1, nt.LIF(), label="exc"))
    net.connect(src, pop, np.ones((1, 1)))
    path = tmp_path / "net.nir"
    write(net, path)
    with h5py.File(path, "r+") as f:
        group = f["node/nodes/exc"]
        del group["tau_mem"]
        group.create_dataset("tau_mem", data=np.array([b"20"]))
    with pytest.raises(nt.DataError, match=r"NIR node 'exc' \(CubaLIF\): tau_mem must be a "
                                           r"number or an array of numbers, got bytes"):
        read(path)


def test_string_graph_metadata_is_a_data_error() -> None:
    graph = lif_graph()
    graph.metadata = {"neurotwin_dt": "0.1"}
    with pytest.raises(nt.DataError, match="graph metadata neurotwin_dt must be a number"):
        from_nir(graph)
    graph.metadata = {"neurotwin_dt": np.array([0.1, 0.2])}
    with pytest.raises(nt.DataError, match="neurotwin_dt must be one number, got shape"):
        from_nir(graph)


def test_string_dt_and_inputs_are_config_errors() -> None:
    with pytest.raises(nt.ConfigError, match=r"dt must be a number, got '0\.1'"):
        from_nir(lif_graph(), dt="0.1")  # type: ignore[arg-type]
    with pytest.raises(nt.ConfigError, match=r"spike_times\[0\] must be a number"):
        from_nir(lif_graph(), dt=0.1, inputs={"in": [["1.0"]]})
    with pytest.raises(nt.ConfigError, match="flat sequence of numbers"):
        from_nir(lif_graph(), dt=0.1, inputs={"in": [1.0, 2.0]})
