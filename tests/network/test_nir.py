"""NIR import/export: every supported node type against closed-form solutions of its ODE,
round trips through a file, errors, and a cross-check against snnTorch's own NIR export."""

import itertools
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import neurotwin as nt
from neurotwin.network.nir import (
    NODE_TYPES,
    UNREACHABLE_THRESHOLD_MV,
    from_nir,
    read,
    to_nir,
    write,
)

DT = 0.1
MS_EXACT = {"time_unit": 1.0, "discretisation": "exact"}
"""The reading the closed-form tests check: time constants in ms, spikes as Dirac deltas
(the defaults for graphs from other tools are seconds and Euler steps, as they run them)."""


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def chain(*nodes: tuple[str, nir.NIRNode]) -> nir.NIRGraph:
    """A graph whose nodes are connected in the given order."""
    names = [name for name, _ in nodes]
    return nir.NIRGraph(
        nodes=dict(nodes), edges=list(itertools.pairwise(names)),
        type_check=False,
    )


def run(net: nt.Network, duration: float) -> nt.Result:
    return nt.simulate(net, duration=duration, backend="ideal", seed=0)


def grid(n: int) -> np.ndarray:
    return np.arange(n) * DT


# --- every supported node type -----------------------------------------------------------


def test_registry_holds_the_supported_node_types() -> None:
    required = {"Input", "Output", "Affine", "Linear", "LIF", "CubaLIF", "LI", "IF",
                "Scale", "Delay", "Threshold"}  # fmt: skip
    assert required <= set(NODE_TYPES.names())


def one_spike_graph(neuron: nir.NIRNode, weight: float) -> nir.NIRGraph:
    return chain(
        ("in", nir.Input(input_type={"input": a(1)})),
        ("w", nir.Linear(weight=np.array([[weight]]))),
        ("n", neuron),
        ("out", nir.Output(output_type={"output": a(1)})),
    )


def test_cuba_lif_response_to_one_spike_is_the_closed_form() -> None:
    tau_syn, tau_mem, r, v_leak, w_in, weight = 2.0, 10.0, 5.0, -1.0, 3.0, 0.4
    node = nir.CubaLIF(tau_syn=a(tau_syn), tau_mem=a(tau_mem), r=a(r), v_leak=a(v_leak),
                       v_threshold=a(100.0), v_reset=a(-1.0), w_in=a(w_in))  # fmt: skip
    net = from_nir(one_spike_graph(node, weight), dt=DT, **MS_EXACT, inputs={"in": [[1.0]]})
    model = net.population("n").model
    assert model.cm == pytest.approx(tau_mem / r)
    assert (model.tau_syn_exc, model.tau_syn_inh, model.v_rest) == (tau_syn, tau_syn, v_leak)
    net.record("n", "v")
    v = run(net, 10.0).trace("n", "v")[:, 0].numpy()
    # the spike at 1.0 ms reaches the neuron one step later (neurotwin's shortest delay);
    # a Dirac of weight W makes I jump by w_in W / tau_syn
    t = grid(v.size) - 1.1
    jump = w_in * weight / tau_syn
    expected = v_leak + np.where(
        t >= 0,
        r * jump * tau_syn / (tau_syn - tau_mem) * (np.exp(-t / tau_syn) - np.exp(-t / tau_mem)),
        0.0,
    )
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)


def test_lif_response_to_one_spike_is_a_jump_then_decay() -> None:
    tau, r, v_leak, weight = 8.0, 2.0, 0.5, 1.5
    node = nir.LIF(tau=a(tau), r=a(r), v_leak=a(v_leak), v_threshold=a(50.0), v_reset=a(0.0))
    net = from_nir(one_spike_graph(node, weight), dt=DT, **MS_EXACT, inputs={"in": [[1.0]]})
    net.record("n", "v")
    v = run(net, 8.0).trace("n", "v")[:, 0].numpy()
    # v jumps by r W / tau at the arrival (1.1 ms); grid samples see it from 1.2 ms on
    t = grid(v.size)
    expected = v_leak + np.where(t > 1.15, r * weight / tau * np.exp(-(t - 1.1) / tau), 0.0)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)


def test_if_integrates_without_leak_and_fires() -> None:
    node = nir.IF(r=a(2.0), v_threshold=a(1.0), v_reset=a(0.0))
    net = from_nir(one_spike_graph(node, 0.3), dt=DT, **MS_EXACT,
                   inputs={"in": [[1.0, 3.0, 5.0, 7.0]]})
    net.record("n", "v")
    res = run(net, 10.0)
    v = res.trace("n", "v")[:, 0].numpy()
    # each spike adds r W = 0.6 and nothing leaks; the second one crosses 1.0: it arrives
    # at 3.1 ms and the threshold test sees it at the end of the next step, 3.2 ms
    np.testing.assert_allclose(v[12:31], 0.6, rtol=0, atol=1e-12)
    times, _ = res.spikes("n")
    np.testing.assert_allclose(times, [3.2, 7.2])
    np.testing.assert_allclose(v[33:52], 0.0, atol=1e-12)


@pytest.mark.parametrize("kind", ["LI", "CubaLI", "I"])
def test_non_spiking_nodes_record_their_membrane(kind: str) -> None:
    nodes = {
        "LI": nir.LI(tau=a(5.0), r=a(1.0), v_leak=a(0.0)),
        "CubaLI": nir.CubaLI(tau_syn=a(1.0), tau_mem=a(5.0), r=a(1.0), v_leak=a(0.0)),
        "I": nir.I(r=a(1.0)),
    }
    net = from_nir(one_spike_graph(nodes[kind], 1e6), dt=DT, **MS_EXACT, inputs={"in": [[0.5]]})
    assert {k: set(v) for k, v in net.recordings.items()} == {"n": {"v"}}
    assert net.population("n").model.v_thresh == UNREACHABLE_THRESHOLD_MV
    v = run(net, 5.0).trace("n", "v")[:, 0].numpy()
    t = grid(v.size) - 0.6
    peak = {  # the closed-form membrane after a Dirac of weight W = 1e6
        "LI": np.where(t > 0.05, 1e6 / 5.0 * np.exp(-t / 5.0), 0.0),
        "CubaLI": np.where(t >= 0, 1e6 / (1.0 - 5.0) * (np.exp(-t) - np.exp(-t / 5.0)), 0.0),
        "I": np.where(t > 0.05, 1e6, 0.0),
    }[kind]
    np.testing.assert_allclose(v, peak, rtol=1e-12, atol=1e-6)


def test_affine_bias_into_cuba_lif_ramps_through_the_synapse() -> None:
    tau_syn, tau_mem, r, w_in, b = 2.0, 10.0, 4.0, 1.5, 0.25
    graph = chain(
        ("in", nir.Input(input_type={"input": a(2)})),
        ("w", nir.Affine(weight=np.zeros((1, 2)), bias=a(b))),
        ("n", nir.CubaLIF(tau_syn=a(tau_syn), tau_mem=a(tau_mem), r=a(r), v_leak=a(0.0),
                          v_threshold=a(10.0), v_reset=a(0.0), w_in=a(w_in))),
    )  # fmt: skip
    net = from_nir(graph, dt=DT, **MS_EXACT)
    net.record("n", "v")
    v = run(net, 20.0).trace("n", "v")[:, 0].numpy()
    # I(t) = w_in b (1 - exp(-t/tau_syn)) from I(0) = 0, v(0) = v_leak
    t, amp = grid(v.size), r * w_in * b
    expected = amp * (1 - np.exp(-t / tau_mem)) - amp * tau_syn / (tau_syn - tau_mem) * (
        np.exp(-t / tau_syn) - np.exp(-t / tau_mem)
    )
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)


def test_affine_bias_into_lif_is_a_constant_current() -> None:
    graph = chain(
        ("in", nir.Input(input_type={"input": a(1)})),
        ("w", nir.Affine(weight=np.zeros((2, 1)), bias=a(0.5, -0.25))),
        ("n", nir.LIF(tau=a(4.0, 4.0), r=a(2.0, 2.0), v_leak=a(1.0, 1.0),
                      v_threshold=a(9.0, 9.0), v_reset=a(0.0, 0.0))),
    )  # fmt: skip
    net = from_nir(graph, dt=DT, **MS_EXACT)
    net.record("n", "v")
    v = run(net, 10.0).trace("n", "v").numpy()
    t = grid(v.shape[0])[:, None]
    expected = 1.0 + 2.0 * a(0.5, -0.25)[None, :] * (1 - np.exp(-t / 4.0))
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)


def test_per_neuron_leak_and_resistance_become_dc_and_gains() -> None:
    graph = chain(
        ("in", nir.Input(input_type={"input": a(1)})),
        ("w", nir.Linear(weight=np.ones((2, 1)))),
        ("n", nir.LIF(tau=a(5.0, 5.0), r=a(1.0, 3.0), v_leak=a(-2.0, 1.0),
                      v_threshold=a(20.0, 20.0), v_reset=a(0.0, 0.0))),
    )  # fmt: skip
    net = from_nir(graph, dt=DT, **MS_EXACT, inputs={"in": [[2.0]]})
    net.record("n", "v")
    v = run(net, 6.0).trace("n", "v").numpy()
    # each neuron rests at its own v_leak and jumps by its own r W / tau
    t = grid(v.shape[0])[:, None]
    jump = np.where(t > 2.15, a(1.0, 3.0)[None, :] / 5.0 * np.exp(-(t - 2.1) / 5.0), 0.0)
    np.testing.assert_allclose(v, a(-2.0, 1.0)[None, :] + jump, rtol=0, atol=1e-12)


def test_scale_delay_and_threshold_shape_the_projection() -> None:
    lif = nir.LIF(tau=a(5.0, 5.0), r=a(5.0, 5.0), v_leak=a(0.0, 0.0),
                  v_threshold=a(1.0, 1.0), v_reset=a(0.0, 0.0))  # fmt: skip
    graph = chain(
        ("in", nir.Input(input_type={"input": a(3)})),
        ("thr", nir.Threshold(threshold=a(0.5, 1.5, 0.0))),  # drops the second source
        ("pre_delay", nir.Delay(delay=a(0.2, 0.2, 0.5))),
        ("scale", nir.Scale(scale=a(2.0, 2.0, -1.0))),
        ("w", nir.Linear(weight=np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]))),
        ("post_delay", nir.Delay(delay=a(0.0, 1.0))),
        ("n", lif),
    )
    net = from_nir(graph, dt=DT, **MS_EXACT)
    (proj,) = net.projections
    w = proj.weights
    assert proj.receptor is None  # the Scale made the third source's weight negative
    assert np.count_nonzero(w[1]) == 0
    assert w[0, 0] > 0 and w[2, 0] < 0 and w[0, 1] == 0 and w[2, 1] < 0
    assert w[2, 0] / w[0, 0] == pytest.approx(-0.5)
    delays = np.asarray(proj.delays)
    assert delays[0, 0] == pytest.approx(DT + 0.2)
    assert delays[2, 1] == pytest.approx(DT + 0.5 + 1.0)


def test_nested_subgraph_is_inlined_with_its_recurrence() -> None:
    lif = nir.LIF(tau=a(5.0, 5.0), r=a(1.0, 1.0), v_leak=a(0.0, 0.0),
                  v_threshold=a(1.0, 1.0), v_reset=a(0.0, 0.0))  # fmt: skip
    sub = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": a(2)}),
            "lif": lif,
            "w_rec": nir.Linear(weight=np.array([[0.0, 0.5], [0.5, 0.0]])),
            "output": nir.Output(output_type={"output": a(2)}),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    graph = chain(
        ("in", nir.Input(input_type={"input": a(1)})),
        ("w", nir.Linear(weight=np.ones((2, 1)))),
        ("rnn", sub),
        ("out", nir.Output(output_type={"output": a(2)})),
    )
    net = from_nir(graph, dt=DT, **MS_EXACT)
    assert set(net.nodes) == {"in", "rnn.lif"}
    assert {(p.pre, p.post) for p in net.projections} == {("in", "rnn.lif"),
                                                         ("rnn.lif", "rnn.lif")}  # fmt: skip
    assert {k: set(v) for k, v in net.recordings.items()} == {"rnn.lif": {"spikes"}}


# --- errors -------------------------------------------------------------------------------


class Resonator(nir.NIRNode):
    """A node type that NIR does not define (every type it defines is imported)."""

    def __init__(self) -> None:
        self.input_type = {"input": a(1)}
        self.output_type = {"output": a(1)}
        self.metadata = {}


def test_unsupported_node_names_its_type_and_the_supported_set() -> None:
    graph = nir.NIRGraph(nodes={"x": Resonator()}, edges=[], type_check=False)
    with pytest.raises(nt.ConfigError) as info:
        from_nir(graph, dt=DT, **MS_EXACT)
    message = str(info.value)
    assert "NIR node 'x' has type Resonator, which neurotwin cannot import" in message
    assert ("supported: Affine, AvgPool2d, Conv1d, Conv2d, CubaLI, CubaLIF, Delay, Flatten, I, "
            "IF, Input, LI, LIF, Linear, Output, Scale, SumPool2d, Threshold") in message


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.nir"
    path.write_bytes(b"this is not HDF5" * 10)
    with pytest.raises(nt.DataError, match="not a readable NIR file"):
        read(path, dt=DT)
    with pytest.raises(nt.DataError):
        read(tmp_path / "missing.nir", dt=DT)


def test_file_with_missing_keys_or_unknown_types_is_a_data_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.nir"
    with h5py.File(empty, "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(nt.DataError, match="not a readable NIR file"):
        read(empty, dt=DT)
    alien = tmp_path / "alien.nir"
    with h5py.File(alien, "w") as f:
        node = f.create_group("node")
        node.create_dataset("type", data="NIRGraph")
        node.create_dataset("edges", data=np.zeros((0, 2), dtype="S1"))
        inner = node.create_group("nodes").create_group("x")
        inner.create_dataset("type", data="Teleporter")
    with pytest.raises(nt.DataError, match="Teleporter"):
        read(alien, dt=DT)


def lif_node(n: int = 1, **overrides: np.ndarray) -> nir.LIF:
    params = {"tau": np.full(n, 5.0), "r": np.ones(n), "v_leak": np.zeros(n),
              "v_threshold": np.ones(n), "v_reset": np.zeros(n)}  # fmt: skip
    params.update(overrides)
    return nir.LIF(**params)


def test_import_errors_say_what_is_wrong() -> None:
    hetero = chain(("in", nir.Input(input_type={"input": a(2)})),
                   ("n", lif_node(2, tau=a(5.0, 6.0))))  # fmt: skip
    with pytest.raises(nt.ConfigError, match="2 different tau_mem values"):
        from_nir(hetero, dt=DT)
    li_feeds_lif = chain(
        ("in", nir.Input(input_type={"input": a(1)})),
        ("li", nir.LI(tau=a(5.0), r=a(1.0), v_leak=a(0.0))),
        ("n", lif_node()),
    )
    with pytest.raises(nt.ConfigError, match="non-spiking"):
        from_nir(li_feeds_lif, dt=DT)
    with pytest.raises(nt.ConfigError, match="dt is required"):
        from_nir(hetero)
    simple = chain(("in", nir.Input(input_type={"input": a(1)})), ("n", lif_node()))
    with pytest.raises(nt.ConfigError, match="must exceed the step"):
        from_nir(simple, dt=DT, time_unit=0.01, discretisation="euler")  # h = 2 tau
    with pytest.raises(nt.ConfigError, match="not Input nodes"):
        from_nir(simple, dt=DT, inputs={"nope": [[1.0]]})
    with pytest.raises(nt.ConfigError, match="must hold 1 spike trains"):
        from_nir(simple, dt=DT, inputs={"in": [[1.0], [2.0]]})
    with pytest.raises(nt.ConfigError, match="discretisation"):
        from_nir(simple, dt=DT, discretisation="rk4")  # type: ignore[arg-type]


def test_export_errors_say_what_nir_cannot_express() -> None:
    def net_with(model: nt.LIF | nt.AdEx) -> nt.Network:
        net = nt.Network(dt=DT)
        net.add(nt.Population(2, model, label="p"))
        return net

    with pytest.raises(nt.ConfigError, match="AdEx"):
        to_nir(net_with(nt.AdEx()))
    with pytest.raises(nt.ConfigError, match="refractory"):
        to_nir(net_with(nt.LIF(tau_refrac=2.0)))
    net = net_with(nt.LIF(tau_syn_exc=5.0, tau_syn_inh=10.0))
    src = net.add(nt.SpikeSourceArray([[1.0]], label="s"))
    net.connect(src, "p", np.ones((1, 2)), receptor="exc")
    to_nir(net)  # only one receptor in use: its time constant is the node's tau_syn
    net.connect(src, "p", np.ones((1, 2)), receptor="inh")
    with pytest.raises(nt.ConfigError, match="one synaptic time constant"):
        to_nir(net)
    poisson = net_with(nt.LIF())
    poisson.add(nt.SpikeSourcePoisson(3, rate=10.0))
    with pytest.raises(nt.ConfigError, match="SpikeSourcePoisson"):
        to_nir(poisson)
    timed = net_with(nt.LIF())
    timed.inject("p", nt.DCSource(1.0, start=5.0))
    with pytest.raises(nt.ConfigError, match="DCSource"):
        to_nir(timed)
    crossed = net_with(nt.LIF())
    crossed.connect("p", "p", np.ones((2, 2)), delays=np.array([[0.1, 0.2], [0.2, 0.1]]))
    with pytest.raises(nt.ConfigError, match="depend on both"):
        to_nir(crossed)


# --- round trips --------------------------------------------------------------------------


def round_trip_network(i_offset: float = 0.0) -> nt.Network:
    rng = np.random.default_rng(3)
    net = nt.Network(dt=DT)
    src = net.add(nt.SpikeSourceArray([rng.uniform(0, 40, 30), rng.uniform(0, 40, 25)],
                                      label="input"))  # fmt: skip
    model = nt.LIF(tau_mem=10.0, tau_syn_exc=4.0, tau_syn_inh=4.0, cm=0.5, v_rest=-65.0,
                   v_reset=-70.0, v_thresh=-55.0, i_offset=i_offset)  # fmt: skip
    exc = net.add(nt.Population(5, model, label="exc", initial={"v": rng.uniform(-70, -60, 5)}))
    inh = net.add(nt.Population(3, nt.LIF(tau_mem=5.0, tau_syn_exc=2.0, tau_syn_inh=2.0),
                                label="inh"))  # fmt: skip
    net.connect(src, exc, rng.uniform(0.5, 2.0, (2, 5)), receptor="exc", delays=0.3)
    net.connect(exc, inh, rng.uniform(-1.0, 3.0, (5, 3)), receptor=None,
                delays=np.tile(a(0.1, 0.4, 0.2), (5, 1)))  # fmt: skip
    net.connect(inh, exc, rng.uniform(0.0, 1.0, (3, 5)), receptor="inh",
                delays=np.tile(a(0.2, 0.5, 0.1)[:, None], (1, 5)))  # fmt: skip
    net.connect(exc, exc, nt.network.fixed_probability(5, 5, 0.5, 0.8, rng, allow_self=False))
    net.inject(inh, nt.DCSource(a(0.0, 0.3, 0.6)))
    for label in ("exc", "inh"):
        net.record(label, "spikes")
    return net


def assert_same_spikes(a_net: nt.Network, b_net: nt.Network, labels: tuple[str, ...]) -> None:
    res_a, res_b = run(a_net, 60.0), run(b_net, 60.0)
    for label in labels:
        times_a, ids_a = res_a.spikes(label)
        times_b, ids_b = res_b.spikes(label)
        assert times_a.size > 5, f"{label} should spike in this test"
        np.testing.assert_array_equal(times_a, times_b)
        np.testing.assert_array_equal(ids_a, ids_b)


def test_round_trip_keeps_parameters_weights_delays_and_spikes(tmp_path: Path) -> None:
    net = round_trip_network()
    write(net, tmp_path / "net.nir")
    back = read(tmp_path / "net.nir")  # dt and spike times come from the file's metadata
    assert back.dt == net.dt
    assert list(back.nodes) == list(net.nodes)
    src, src_back = net.nodes["input"], back.nodes["input"]
    for times, times_back in zip(src.spike_times, src_back.spike_times, strict=True):
        np.testing.assert_array_equal(times, times_back)
    exc, exc_back = net.population("exc"), back.population("exc")
    assert exc_back.model.to_dict() == pytest.approx(exc.model.to_dict())
    np.testing.assert_allclose(exc_back.initial_values()["v"], exc.initial_values()["v"])
    assert back.population("inh").model.to_dict() == pytest.approx(
        net.population("inh").model.to_dict()
    )
    assert len(back.projections) == len(net.projections)
    for proj, proj_back in zip(net.projections, back.projections, strict=True):
        assert (proj_back.pre, proj_back.post, proj_back.receptor) == (
            proj.pre, proj.post, proj.receptor
        )
        syn, syn_back = proj.synapses(), proj_back.synapses()
        np.testing.assert_array_equal(syn_back.pre, syn.pre)
        np.testing.assert_array_equal(syn_back.post, syn.post)
        np.testing.assert_allclose(syn_back.weight, syn.weight, rtol=1e-15)
        np.testing.assert_allclose(syn_back.delay, syn.delay, rtol=1e-12)
    assert {k: set(v) for k, v in back.recordings.items()} == {"exc": {"spikes"},
                                                               "inh": {"spikes"}}  # fmt: skip
    assert_same_spikes(net, back, ("exc", "inh"))


def test_round_trip_folds_constant_currents_into_the_leak(tmp_path: Path) -> None:
    net = round_trip_network(i_offset=0.2)
    write(net, tmp_path / "net.nir")
    back = read(tmp_path / "net.nir")
    model = net.population("exc").model
    folded = back.population("exc").model
    # i_offset in nA drives v towards v_rest + i_offset tau_mem / cm: the same dynamics
    assert folded.i_offset == 0.0
    assert folded.v_rest == pytest.approx(model.v_rest + model.i_offset * model.tau_mem / model.cm)
    assert_same_spikes(net, back, ("exc", "inh"))


def test_to_nir_writes_cuba_lif_with_signed_weights() -> None:
    net = round_trip_network()
    graph = to_nir(net, time_unit=1000.0)  # time constants in seconds
    node = graph.nodes["exc"]
    assert isinstance(node, nir.CubaLIF)
    np.testing.assert_allclose(node.tau_mem, 10.0e-3)
    np.testing.assert_allclose(node.tau_syn, 4.0e-3)
    np.testing.assert_allclose(node.r, 10.0 / 0.5)  # MΩ = ms / nF
    inh_to_exc = graph.nodes["inh->exc"]
    assert inh_to_exc.weight.shape == (5, 3)  # NIR: (n_out, n_in)
    assert np.all(inh_to_exc.weight <= 0)
    assert isinstance(graph.nodes["exc_output"], nir.Output)
    assert from_nir(graph).dt == DT  # time_unit and dt travel in the metadata


# --- cross-checks against other simulators' NIR export ----------------------------------


def test_snntorch_export_runs_spike_for_spike_in_euler_mode() -> None:
    """A two-layer snnTorch network, exported by snnTorch, imported here, same spikes.

    snnTorch steps its neurons with the semi-implicit Euler scheme per step k::

        syn[k] = alpha syn[k-1] + x[k]        mem[k] = beta mem[k-1] + syn[k]   (Synaptic)
        mem[k] = beta mem[k-1] + x[k]                                           (Leaky)

    and exports alpha = 1 - dt/tau_syn, beta = 1 - dt/tau_mem with its hard-coded
    dt = 1e-4 (seconds), w_in = tau_syn/dt and r = tau_mem/dt. With
    ``discretisation="euler"`` and h = dt / time_unit = 0.1 ms / 1000 = 1e-4, neurotwin's
    exact propagators decay by exactly alpha and beta per step (its tau = -dt / ln alpha),
    and the weights are scaled so that v[k + 2] of a first-layer neuron equals snnTorch's
    mem[k]: one step because neurotwin adds input to the current at the end of a step
    and v sees it in the next, one because a delay is at least one step. Each layer adds
    these two steps. snnTorch must reset to zero right at the spike (reset_mechanism
    "zero", reset_delay=False), which is what its export claims (v_reset = 0). snnTorch
    runs in float32 and neurotwin in float64, so membranes agree to 1e-5; spikes agree
    exactly as long as no membrane comes within that of the threshold, which is checked.
    """
    pytest.importorskip("nirtorch")  # snnTorch's exporter traces the model with it
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    n_in, n_hid, n_out, steps = 3, 4, 2, 300
    fc1, fc2 = torch.nn.Linear(n_in, n_hid), torch.nn.Linear(n_hid, n_out, bias=False)
    with torch.no_grad():
        fc1.weight.uniform_(0.0, 0.6)
        fc1.bias.uniform_(-0.05, 0.05)
        fc2.weight.uniform_(0.0, 1.0)
    lif1 = snn.Synaptic(alpha=torch.full((n_hid,), 0.8), beta=torch.full((n_hid,), 0.9),
                        threshold=torch.ones(n_hid), reset_mechanism="zero",
                        reset_delay=False, init_hidden=True)  # fmt: skip
    lif2 = snn.Leaky(beta=torch.full((n_out,), 0.85), threshold=torch.ones(n_out),
                     reset_mechanism="zero", reset_delay=False, init_hidden=True)  # fmt: skip
    model = torch.nn.Sequential(fc1, lif1, fc2, lif2)
    graph = export_to_nir(model, torch.zeros(1, n_in), ignore_dims=[0])

    x = (np.random.default_rng(1).random((steps, n_in)) < 0.2).astype(np.float32)
    lif1.reset_mem()
    lif2.reset_mem()
    spikes, mems, margin = ([], []), ([], []), np.inf
    with torch.no_grad():
        for k in range(steps):
            mem_prev = (lif1.mem.clone(), lif2.mem.clone())
            spk1 = lif1(fc1(torch.from_numpy(x[k : k + 1])))
            cur2 = fc2(spk1)
            spk2 = lif2(cur2)
            # membrane before the reset, to check the distance from the threshold
            pre1 = 0.9 * mem_prev[0].numpy() + lif1.syn.numpy()
            pre2 = 0.85 * mem_prev[1].numpy() + cur2.numpy()
            margin = min(margin, np.abs(pre1 - 1).min(), np.abs(pre2 - 1).min())
            for store, value in zip(spikes, (spk1, spk2), strict=True):
                store.append(value.numpy()[0])
            for store, value in zip(mems, (lif1.mem, lif2.mem), strict=True):
                store.append(value.numpy()[0].copy())
    assert margin > 1e-4

    trains = [(np.nonzero(x[:, i])[0] * DT).tolist() for i in range(n_in)]
    # the default reading of a graph from another tool: seconds, Euler steps
    net = from_nir(graph, dt=DT, inputs={"input": trains})
    hidden, readout = "1", "3"  # snnTorch names nodes by position in the Sequential
    net.record(hidden, "spikes", "v")
    net.record(readout, "v")
    res = run(net, (steps + 4) * DT)
    for layer, (label, lag) in enumerate(((hidden, 2), (readout, 4))):
        ref_steps, ref_ids = np.nonzero(np.array(spikes[layer]))
        times, ids = res.spikes(label)
        got_steps = np.rint(times / DT).astype(int) - lag
        keep = got_steps < steps
        assert ref_steps.size > 50
        got = sorted(zip(got_steps[keep], ids[keep], strict=True))
        assert got == sorted(zip(ref_steps, ref_ids, strict=True))
        v = res.trace(label, "v").numpy()[lag : lag + steps]
        np.testing.assert_allclose(v, np.array(mems[layer]), rtol=0, atol=1e-5)


def test_euler_mode_reproduces_the_euler_recursion() -> None:
    """The recursion of docs/nir.md, computed here in float64, against neurotwin.

    Input(2) -> Affine (with bias) -> CubaLIF(3) -> Linear -> LIF(2), with per-neuron r,
    w_in and v_leak; neurotwin lags two steps per layer.
    """
    h, steps = 1e-4, 400  # NIR time in seconds: dt = 0.1 ms
    w1 = np.array([[0.8, 0.3], [0.2, 0.9], [0.5, 0.5]])
    b1 = a(0.02, -0.01, 0.03)
    w2 = np.array([[0.6, 0.4, 0.0], [0.1, 0.5, 0.7]])
    tau_syn, tau_mem, tau2 = 5e-4, 1e-3, 8e-4
    r1, w_in, v_leak1 = a(10.0, 12.0, 8.0), a(5.0, 4.0, 6.0), a(0.0, 0.1, -0.1)
    r2, v_leak2 = a(8.0, 8.0), a(0.05, 0.0)
    graph = chain(
        ("in", nir.Input(input_type={"input": a(2)})),
        ("w1", nir.Affine(weight=w1, bias=b1)),
        ("hid", nir.CubaLIF(tau_syn=np.full(3, tau_syn), tau_mem=np.full(3, tau_mem), r=r1,
                            v_leak=v_leak1, v_threshold=np.ones(3), v_reset=np.zeros(3),
                            w_in=w_in)),
        ("w2", nir.Linear(weight=w2)),
        ("out", nir.LIF(tau=np.full(2, tau2), r=r2, v_leak=v_leak2, v_threshold=np.ones(2),
                        v_reset=np.zeros(2))),
    )  # fmt: skip
    x = (np.random.default_rng(5).random((steps, 2)) < 0.15).astype(float)
    i_syn, v1, v2 = np.zeros(3), v_leak1.copy(), v_leak2.copy()
    ref_v1, ref_v2, ref_s1, ref_s2 = [], [], [], []
    for k in range(steps):
        i_syn = (1 - h / tau_syn) * i_syn + h / tau_syn * w_in * (w1 @ x[k] + b1)
        v1 = (1 - h / tau_mem) * v1 + h / tau_mem * (v_leak1 + r1 * i_syn)
        s1 = v1 > 1.0
        v1 = np.where(s1, 0.0, v1)
        v2 = (1 - h / tau2) * v2 + h / tau2 * (v_leak2 + r2 * (w2 @ s1))
        s2 = v2 > 1.0
        v2 = np.where(s2, 0.0, v2)
        ref_v1.append(v1)
        ref_v2.append(v2)
        ref_s1.append(s1)
        ref_s2.append(s2)
    trains = [(np.nonzero(x[:, i])[0] * DT).tolist() for i in range(2)]
    net = from_nir(graph, dt=DT, time_unit=1000.0, discretisation="euler",
                   inputs={"in": trains})  # fmt: skip
    net.record("hid", "spikes", "v")
    net.record("out", "spikes", "v")
    res = run(net, (steps + 4) * DT)
    for label, lag, ref_v, ref_s in (("hid", 2, ref_v1, ref_s1), ("out", 4, ref_v2, ref_s2)):
        np.testing.assert_allclose(
            res.trace(label, "v").numpy()[lag : lag + steps], np.array(ref_v), atol=1e-12
        )
        times, ids = res.spikes(label)
        got_steps = np.rint(times / DT).astype(int) - lag
        keep = got_steps < steps
        ref_steps, ref_ids = np.nonzero(np.array(ref_s))
        assert ref_steps.size > 20
        got = sorted(zip(got_steps[keep], ids[keep], strict=True))
        assert got == sorted(zip(ref_steps, ref_ids, strict=True))


def test_written_file_passes_nir_type_checks(tmp_path: Path) -> None:
    write(round_trip_network(), tmp_path / "net.nir")
    graph = nir.read(tmp_path / "net.nir")  # what other tools do: read with type checks
    assert isinstance(graph.nodes["exc"], nir.CubaLIF)
    assert isinstance(graph.nodes["input"], nir.Input)
