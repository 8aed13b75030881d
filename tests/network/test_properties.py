"""Property tests (issue 12): the network validators and the NIR reader, fed random and
malformed input, either accept it or raise a NeurotwinError; never any other exception."""

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neurotwin as nt
from neurotwin.errors import NeurotwinError
from neurotwin.network import fixed_fan_in, fixed_probability
from neurotwin.network.nir import from_nir, read, write

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.1, 1.0, 5.0, 20.0, -1.0, 0.0]),
)
small_arrays = hnp.arrays(
    st.sampled_from([np.float64, np.int64, np.bool_, np.float32]),
    hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.sampled_from(["20", "0.1", "1e3", "nan", object(), {"a": 1}, 1j]),
)
values = st.one_of(numbers, small_arrays, junk, st.lists(numbers, max_size=4),
                   st.lists(st.lists(numbers, max_size=3), max_size=3))  # fmt: skip
"""Anything a user might pass where a number, an array of numbers or one sequence per
source belongs."""


def accepts_or_refuses(make: Callable[[], Any]) -> Any:
    """Run ``make``; a NeurotwinError is a refusal, anything else but success a failure."""
    try:
        return make()
    except NeurotwinError:
        return None


# --- network validators -----------------------------------------------------------------------


@FAST
@given(dt=values, duration=values)
def test_network_dt_and_duration(dt: Any, duration: Any) -> None:
    net = accepts_or_refuses(lambda: nt.Network(dt=dt))
    if net is not None:
        assert net.dt > 0 and np.ndim(net.dt) == 0
        steps = accepts_or_refuses(lambda: net.steps(duration))
        assert steps is None or steps >= 1


@FAST
@given(size=st.one_of(st.integers(-3, 2**62), junk, numbers), rate=values, start=values,
       stop=values, v=values)  # fmt: skip
def test_nodes(size: Any, rate: Any, start: Any, stop: Any, v: Any) -> None:
    accepts_or_refuses(lambda: nt.SpikeSourcePoisson(size, rate=rate, start=start, stop=stop))
    accepts_or_refuses(lambda: nt.DCSource(rate, start=start, stop=stop))
    pop = accepts_or_refuses(lambda: nt.Population(size, nt.LIF(), initial={"v": v}))
    if pop is not None:
        assert pop.initial_values()["v"].shape == (pop.size,)


@FAST
@given(times=values)
def test_spike_source_array(times: Any) -> None:
    src = accepts_or_refuses(lambda: nt.SpikeSourceArray(times))
    if src is not None:
        for train in src.spike_times:
            assert train.dtype == np.float64 and np.all(np.diff(train) >= 0)
            assert np.all(np.isfinite(train)) and np.all(train >= 0)


@FAST
@given(weights=values, delays=values, receptor=st.sampled_from(["exc", "inh", None, "x", 1]),
       neurons=values, variable=st.sampled_from(["spikes", "v", "w", 3]))  # fmt: skip
def test_connect_and_record(weights: Any, delays: Any, receptor: Any, neurons: Any,
                            variable: Any) -> None:  # fmt: skip
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0], [2.0]]))
    pop = net.add(nt.Population(3, nt.LIF()))
    proj = accepts_or_refuses(
        lambda: net.connect(src, pop, weights, receptor=receptor, delays=delays)
    )
    if proj is not None:
        assert proj.shape == (2, 3)
        assert np.all(net.delay_steps(proj) >= 1)
    accepts_or_refuses(lambda: net.record(pop, variable, neurons=neurons))
    other = nt.Network(dt=0.1).add(nt.Population(3, nt.LIF()))  # also labelled 'pop0'
    assert accepts_or_refuses(lambda: net.connect(src, other, np.ones((2, 3)))) is None


@FAST
@given(n=st.one_of(st.integers(-2, 30), junk), p=values, weight=values,
       fan_in=st.one_of(st.integers(-2, 40), junk, numbers))  # fmt: skip
def test_connectors(n: Any, p: Any, weight: Any, fan_in: Any) -> None:
    rng = np.random.default_rng(0)
    accepts_or_refuses(lambda: fixed_probability(n, 5, p, weight, rng))
    accepts_or_refuses(lambda: fixed_fan_in(5, n, fan_in, weight, rng))


# --- the NIR reader -----------------------------------------------------------------------------

NEURON_FIELDS = {
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLIF": ("tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "IF": ("r", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_mem", "tau_syn", "r", "v_leak", "w_in"),
    "I": ("r",),
}
nir_values = st.one_of(
    hnp.arrays(np.float64, st.integers(0, 3), elements=st.floats(-5, 30)),
    hnp.arrays(np.float64, st.just(2)),  # anything, nan and inf included
    st.sampled_from([np.array(["5.0", "1"]), np.array([b"2", b"3"]), np.ones((2, 2)),
                     np.array([1e300, 1e300]), np.zeros(2), np.array([1, 2], dtype=object)]),
)


@st.composite
def nir_graphs(draw: st.DrawFn) -> nir.NIRGraph:
    """Input -> weight/scale/delay/threshold node -> neuron node -> Output, with random and
    often malformed shapes, parameters and stored spikes."""
    n_in = draw(st.sampled_from([1, 2, 3, 10**12, 0, 2.5, -1]))
    n_out = draw(st.sampled_from([1, 2, 3]))
    meta: dict[str, Any] = {}
    if draw(st.booleans()):
        meta = {"neurotwin_spike_times": draw(nir_values), "neurotwin_spike_ids": draw(nir_values)}
    kind = draw(st.sampled_from(sorted(NEURON_FIELDS)))
    params = {name: draw(st.one_of(nir_values, st.just(np.full(n_out, 5.0))))
              for name in NEURON_FIELDS[kind]}  # fmt: skip
    weight_shape = draw(st.sampled_from([(n_out, 2), (n_out, 1), (2, 2), (3,)]))
    middle = draw(st.sampled_from([
        lambda: nir.Linear(weight=np.full(weight_shape, draw(st.floats(-3, 3)))),
        lambda: nir.Affine(weight=np.ones(weight_shape), bias=draw(nir_values)),
        lambda: nir.Scale(scale=draw(nir_values)),
        lambda: nir.Delay(delay=draw(nir_values)),
        lambda: nir.Threshold(threshold=draw(nir_values)),
    ]))  # fmt: skip
    try:
        nodes = {
            "in": nir.Input(input_type={"input": np.array([n_in])}, metadata=meta),
            "mid": middle(),
            "n": getattr(nir, kind)(**params),
            "out": nir.Output(output_type={"output": np.array([n_out])}),
        }
    except Exception:  # nir's own constructors refuse some of these; not ours to judge
        assume(False)
    edges = list(itertools.pairwise(nodes))
    if draw(st.booleans()):
        edges.append(("in", "n"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@FAST
@given(graph=nir_graphs(), dt=st.sampled_from([0.1, 1.0, "0.1", -1.0, np.nan]),
       discretisation=st.sampled_from(["exact", "euler", "rk4"]),
       time_unit=st.sampled_from([None, 1.0, 1000.0, 0.0]))  # fmt: skip
def test_from_nir_accepts_or_refuses_random_graphs(graph, dt, discretisation, time_unit) -> None:
    net = accepts_or_refuses(lambda: from_nir(graph, dt=dt, time_unit=time_unit,
                                              discretisation=discretisation))  # fmt: skip
    if net is not None:
        assert set(net.nodes) <= {"in", "n"}
        for proj in net.projections:
            assert np.all(net.delay_steps(proj) >= 1)


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[1.0, 2.0], [3.0]], label="in"))
    pop = net.add(nt.Population(2, nt.LIF(), label="exc"))
    net.connect(src, pop, np.full((2, 2), 0.5), delays=0.3)
    path = tmp_path_factory.mktemp("nir") / "valid.nir"
    write(net, path)
    return path


def datasets(path: Path) -> list[str]:
    found: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset)
                     else None)  # fmt: skip
    return found


@FAST
@given(data=st.data(), replacement=st.one_of(
    nir_values, st.sampled_from([np.array(b"x"), np.array("CubaLIF"), np.array([[1e12]])])))
def test_read_accepts_or_refuses_tampered_files(valid_file: Path, tmp_path: Path, data: Any,
                                                replacement: np.ndarray) -> None:  # fmt: skip
    path = tmp_path / "tampered.nir"
    path.write_bytes(valid_file.read_bytes())
    name = data.draw(st.sampled_from(datasets(valid_file)))
    with h5py.File(path, "r+") as f:
        del f[name]
        if replacement.dtype.kind == "U":  # HDF5 stores text as bytes
            replacement = replacement.astype(bytes)
        if replacement.dtype != object:
            f.create_dataset(name, data=replacement)
    accepts_or_refuses(lambda: read(path))


@FAST
@given(data=st.data())
def test_read_refuses_corrupted_bytes(valid_file: Path, tmp_path: Path, data: Any) -> None:
    raw = bytearray(valid_file.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path / "corrupt.nir"
    path.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
    accepts_or_refuses(lambda: read(path))
