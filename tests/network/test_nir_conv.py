"""NIR Conv1d, Conv2d, SumPool2d, AvgPool2d and Flatten: the unrolled matrices against
torch's own convolution and pooling, a convolutional SNN read and simulated against an
Euler reference built on torch.nn.functional, snnTorch's own import of the same graph,
files, the round trip, and errors that name the node."""

import itertools
from pathlib import Path

import nir
import numpy as np
import pytest
import scipy.sparse as sp

import neurotwin as nt
from neurotwin.network.nir import from_nir, read, write
from neurotwin.network.nir.conv import conv_matrix, pool_matrix

torch = pytest.importorskip("torch")
F = torch.nn.functional

DT = 0.1  # ms; h = 1e-4 s with the default time unit (seconds)
H = 1e-4
LAG_STEPS = 2  # per layer, docs/nir.md


def t(x: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


# --- the unrolled matrices against torch ---------------------------------------------------


@pytest.mark.parametrize(
    ("c_in", "c_out", "size", "kernel", "stride", "padding", "dilation", "groups"),
    [
        (2, 3, (7, 6), (3, 3), (1, 1), (1, 1), (1, 1), 1),
        (2, 4, (9, 8), (3, 2), (2, 1), (1, 0), (1, 2), 2),
        (3, 3, (6, 6), (2, 2), (2, 2), (0, 0), (1, 1), 3),  # depthwise
        (1, 2, (5, 7), (3, 3), (1, 1), "same", (2, 1), 1),
        (2, 2, (5, 5), (2, 3), (1, 2), "valid", (1, 1), 1),
    ],
)
def test_conv2d_matrix_is_torchs_conv2d(c_in, c_out, size, kernel, stride, padding, dilation,
                                        groups) -> None:  # fmt: skip
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(c_out, c_in // groups, *kernel))
    x = rng.normal(size=(3, c_in, *size))
    matrix, out = conv_matrix(weight, (c_in, *size), stride, padding, dilation, groups)
    ref = F.conv2d(t(x), t(weight), stride=stride, padding=padding, dilation=dilation,
                   groups=groups).numpy()  # fmt: skip
    assert out == ref.shape[1:]
    got = (matrix @ x.reshape(3, -1).T).T
    np.testing.assert_allclose(got, ref.reshape(3, -1), rtol=0, atol=1e-12)


def test_conv1d_matrix_is_torchs_conv1d() -> None:
    rng = np.random.default_rng(1)
    weight, x = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 2, 13))
    matrix, out = conv_matrix(weight, (2, 13), 3, 2, 2, 1)
    ref = F.conv1d(t(x), t(weight), stride=3, padding=2, dilation=2).numpy()
    assert out == ref.shape[1:]
    np.testing.assert_allclose((matrix @ x.reshape(2, -1).T).T, ref.reshape(2, -1), atol=1e-12)


@pytest.mark.parametrize(("kernel", "stride", "padding"),
                         [((2, 2), (2, 2), (0, 0)), ((3, 2), (2, 1), (1, 1)), (2, 1, 0)])
def test_pool_matrices_are_torchs_pooling(kernel, stride, padding) -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 7, 6))
    avg, out = pool_matrix((3, 7, 6), kernel, stride, padding, average=True)
    ref_avg = F.avg_pool2d(t(x), kernel, stride, padding).numpy()
    # a sum pool is an average pool whose divisor is 1
    ref_sum = F.avg_pool2d(t(x), kernel, stride, padding, divisor_override=1).numpy()
    total, _ = pool_matrix((3, 7, 6), kernel, stride, padding, average=False)
    assert out == ref_avg.shape[1:]
    flat = x.reshape(2, -1).T
    np.testing.assert_allclose((avg @ flat).T, ref_avg.reshape(2, -1), atol=1e-12)
    np.testing.assert_allclose((total @ flat).T, ref_sum.reshape(2, -1), atol=1e-12)


def test_unrolled_conv_is_sparse() -> None:
    weight = np.ones((8, 2, 3, 3))
    matrix, _ = conv_matrix(weight, (2, 16, 16), 1, 1, 1, 1)
    assert sp.issparse(matrix)
    # per channel pair and axis, 3 taps at 14 inner positions and 2 at the 2 edges: 46
    assert matrix.nnz == 8 * 2 * (3 * 14 + 2 * 2) ** 2
    assert matrix.shape == (8 * 16 * 16, 2 * 16 * 16)


# --- a convolutional SNN ---------------------------------------------------------------------

C_IN, SIZE, C_HID, N_OUT, STEPS = 2, 8, 4, 5, 200


def lif(shape: tuple[int, ...], tau: float, r: float, threshold: float) -> nir.LIF:
    return nir.LIF(tau=np.full(shape, tau), r=np.full(shape, r), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, threshold), v_reset=np.zeros(shape))  # fmt: skip


def conv_graph(pool: str = "SumPool2d", flatten_start: int = 0) -> tuple[nir.NIRGraph, dict]:
    """Input(2, 8, 8) -> Conv2d -> LIF(4, 8, 8) -> pool -> Flatten -> Affine -> LIF(5)."""
    rng = np.random.default_rng(3)
    p = {
        "conv_w": rng.uniform(-0.3, 1.0, size=(C_HID, C_IN, 3, 3)),
        "conv_b": np.array([0.05, 0.0, -0.02, 0.1]),
        "fc_w": rng.uniform(-0.2, 0.6, size=(N_OUT, C_HID * 4 * 4)),
    }
    pool_node = getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                   padding=np.array([0, 0]))  # fmt: skip
    hid = (C_HID, SIZE, SIZE)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([C_IN, SIZE, SIZE])}),
        "conv": nir.Conv2d(input_shape=(SIZE, SIZE), weight=p["conv_w"], stride=1, padding=1,
                           dilation=1, groups=1, bias=p["conv_b"]),
        "lif1": lif(hid, tau=2e-3, r=20.0, threshold=1.0),
        "pool": pool_node,
        "flat": nir.Flatten(input_type={"input": np.array([C_HID, 4, 4])},
                            start_dim=flatten_start),
        "fc": nir.Affine(weight=p["fc_w"], bias=np.zeros(N_OUT)),
        "lif2": lif((N_OUT,), tau=1e-3, r=10.0, threshold=1.0),
        "output": nir.Output(output_type={"output": np.array([N_OUT])}),
    }  # fmt: skip
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)),
                         type_check=False)  # fmt: skip
    return graph, p


def input_frames() -> np.ndarray:
    return (np.random.default_rng(4).random((STEPS, C_IN, SIZE, SIZE)) < 0.08).astype(float)


def spike_trains(x: np.ndarray) -> list[list[float]]:
    flat = x.reshape(STEPS, -1)
    return [(np.nonzero(flat[:, i])[0] * DT).tolist() for i in range(flat.shape[1])]


def euler_reference(p: dict, x: np.ndarray, average: bool) -> tuple[np.ndarray, np.ndarray]:
    """NIR's LIF stepped as snnTorch and Norse do (docs/nir.md), torch's conv and pooling."""
    v1, v2 = np.zeros((C_HID, SIZE, SIZE)), np.zeros(N_OUT)
    s1_all, s2_all, margin = [], [], np.inf
    for k in range(STEPS):
        y1 = F.conv2d(t(x[k][None]), t(p["conv_w"]), bias=t(p["conv_b"]), padding=1)[0]
        v1 = (1 - H / 2e-3) * v1 + H / 2e-3 * 20.0 * y1.numpy()
        s1 = v1 > 1.0
        pooled = F.avg_pool2d(t(s1[None]), 2, 2, divisor_override=None if average else 1)[0]
        y2 = p["fc_w"] @ pooled.numpy().ravel()
        v2 = (1 - H / 1e-3) * v2 + H / 1e-3 * 10.0 * y2
        s2 = v2 > 1.0
        margin = min(margin, np.abs(v1 - 1.0).min(), np.abs(v2 - 1.0).min())
        v1, v2 = np.where(s1, 0.0, v1), np.where(s2, 0.0, v2)
        s1_all.append(s1.ravel())
        s2_all.append(s2)
    assert margin > 1e-9  # float rounding cannot flip a spike
    return np.array(s1_all), np.array(s2_all)


def neurotwin_spikes(net: nt.Network) -> tuple[list, list]:
    net.record("lif1", "spikes")
    res = nt.simulate(net, duration=(STEPS + 2 * LAG_STEPS) * DT, backend="ideal", seed=0)
    out = []
    for label, lag in (("lif1", LAG_STEPS), ("lif2", 2 * LAG_STEPS)):
        times, ids = res.spikes(label)
        steps = np.rint(times / DT).astype(int) - lag
        keep = steps < STEPS
        out.append(sorted(zip(steps[keep].tolist(), ids[keep].tolist(), strict=True)))
    return out[0], out[1]


def as_pairs(spikes: np.ndarray) -> list:
    steps, ids = np.nonzero(spikes)
    return sorted(zip(steps.tolist(), ids.tolist(), strict=True))


@pytest.mark.parametrize("pool", ["SumPool2d", "AvgPool2d"])
def test_conv_pool_flatten_graph_reads_and_simulates_like_the_euler_reference(pool) -> None:
    graph, p = conv_graph(pool)
    x = input_frames()
    net = from_nir(graph, dt=DT, inputs={"input": spike_trains(x)})
    # Conv2d -> LIF is one projection; SumPool2d -> Flatten -> Affine compose into another
    assert [(proj.pre, proj.post) for proj in net.projections] == [("input", "lif1"),
                                                                   ("lif1", "lif2")]
    assert net.population("lif1").size == C_HID * SIZE * SIZE
    ref1, ref2 = euler_reference(p, x, average=pool == "AvgPool2d")
    got1, got2 = neurotwin_spikes(net)
    assert len(as_pairs(ref1)) > 200 and len(as_pairs(ref2)) > 10
    assert got1 == as_pairs(ref1)
    assert got2 == as_pairs(ref2)


def test_snntorch_import_of_the_same_conv_graph_spikes_the_same() -> None:
    """snnTorch's own NIR import (Conv2d, AvgPool2d, Flatten, Affine, LIF) as reference;
    its Flatten keeps the batch dimension, so the graph flattens from dimension 1."""
    import_nir = pytest.importorskip("snntorch.import_nir")
    graph, _ = conv_graph("AvgPool2d", flatten_start=1)
    model = import_nir.import_from_nir(graph)
    x = input_frames()
    out, state = [], None
    with torch.no_grad():
        for k in range(STEPS):
            y, state = model(torch.tensor(x[k][None], dtype=torch.float32), state)
            out.append(y.numpy()[0].copy())
    net = from_nir(graph, dt=DT, inputs={"input": spike_trains(x)})
    _, got2 = neurotwin_spikes(net)
    ref = as_pairs(np.array(out))
    assert len(ref) > 10
    assert got2 == ref


def test_conv_graph_from_a_file_and_round_trip(tmp_path: Path) -> None:
    graph, _ = conv_graph()
    nir.write(tmp_path / "conv.nir", graph)
    x = input_frames()
    net = read(tmp_path / "conv.nir", dt=DT, inputs={"input": spike_trains(x)})
    direct = from_nir(graph, dt=DT, inputs={"input": spike_trains(x)})
    assert neurotwin_spikes(net) == neurotwin_spikes(direct)
    # neurotwin writes the unrolled projections as Linear nodes (a Network holds synapses,
    # not kernels); reading that back gives the same spikes
    write(net, tmp_path / "back.nir")
    back = read(tmp_path / "back.nir")
    assert neurotwin_spikes(back) == neurotwin_spikes(net)


def test_conv1d_graph_runs_and_shapes_flow_without_input_shape() -> None:
    """Conv1d with input_shape None: the shape comes from the Input node's type."""
    rng = np.random.default_rng(6)
    weight = rng.uniform(0.0, 1.0, size=(3, 2, 3))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 10])}),
        "conv": nir.Conv1d(input_shape=None, weight=weight, stride=2, padding=1, dilation=1,
                           groups=1, bias=np.zeros(3)),
        "lif": lif((3, 5), tau=2e-3, r=20.0, threshold=1.0),
    }  # fmt: skip
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "lif")],
                         type_check=False)  # fmt: skip
    net = from_nir(graph, dt=DT)
    (proj,) = net.projections
    matrix, out = conv_matrix(weight, (2, 10), 2, 1, 1, 1)
    assert out == (3, 5)
    syn = proj.synapses()
    dense = np.zeros(proj.shape)
    dense[syn.pre, syn.post] = syn.weight
    gain = dense[np.nonzero(matrix.T.toarray())] / matrix.T.toarray()[np.nonzero(matrix.T)]
    np.testing.assert_allclose(gain, gain[0])  # the unrolled matrix times one neuron gain
    assert np.count_nonzero(dense) == matrix.nnz


# --- errors name the node ---------------------------------------------------------------------


def test_channels_that_do_not_match_are_an_error_naming_the_node() -> None:
    graph, _ = conv_graph()
    graph.nodes["input"] = nir.Input(input_type={"input": np.array([3, SIZE, SIZE])})
    with pytest.raises(nt.ConfigError, match=r"NIR node 'conv' \(Conv2d\) takes input of "
                                             r"shape \[2, 8, 8\] \(128 values\), but 192"):
        from_nir(graph, dt=DT)


def test_unsupported_padding_mode_is_an_error_naming_the_node() -> None:
    graph, _ = conv_graph()
    graph.nodes["conv"].padding = "reflect"  # nir's constructor refuses it; files need not
    with pytest.raises(nt.ConfigError, match=r"NIR node 'conv' \(Conv2d\): padding mode "
                                             r"'reflect' is not supported"):
        from_nir(graph, dt=DT)


def test_strided_same_padding_is_refused() -> None:
    graph, _ = conv_graph()
    graph.nodes["conv"].padding, graph.nodes["conv"].stride = "same", (2, 2)
    with pytest.raises(nt.ConfigError, match=r"'conv' \(Conv2d\): padding='same' needs "
                                             "stride 1"):
        from_nir(graph, dt=DT)


def test_pooling_of_a_flat_signal_is_an_error_naming_the_node() -> None:
    graph, _ = conv_graph()
    graph.nodes["lif1"] = lif((C_HID * SIZE * SIZE,), tau=2e-3, r=20.0, threshold=1.0)
    with pytest.raises(nt.ConfigError, match=r"NIR node 'pool' \(SumPool2d\): 2-D pooling "
                                             r"needs an input shape \(channels, height, "
                                             r"width\), got \[256\]"):
        from_nir(graph, dt=DT)


def test_bad_conv_parameters_name_the_node() -> None:
    graph, p = conv_graph()
    graph.nodes["conv"].bias = np.zeros(3)
    with pytest.raises(nt.ConfigError, match=r"'conv' \(Conv2d\): bias must have one value per "
                                             r"output channel \(4\), got shape \(3,\)"):
        from_nir(graph, dt=DT)
    graph.nodes["conv"].bias, graph.nodes["conv"].groups = p["conv_b"], 3
    graph.nodes["conv"].input_shape = None  # the shape from the Input: groups do not fit it
    with pytest.raises(nt.ConfigError, match=r"'conv' \(Conv2d\): a kernel of shape "
                                             r"\[4, 2, 3, 3\] with groups=3 takes 6 input "
                                             r"channels.*the input has 2 channels"):
        from_nir(graph, dt=DT)


def test_a_conv_bias_into_a_threshold_is_an_error_naming_the_node() -> None:
    graph, _ = conv_graph()
    nodes = dict(graph.nodes)
    nodes["thr"] = nir.Threshold(threshold=np.zeros(C_HID * SIZE * SIZE))
    edges = [("input", "conv"), ("conv", "thr"), ("thr", "lif1")]
    edges += [e for e in graph.edges if e[0] not in ("input", "conv")]
    with pytest.raises(nt.ConfigError, match=r"NIR node 'thr': a Threshold cannot take a bias"):
        from_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=DT)


def test_a_huge_unrolled_conv_is_a_capacity_error() -> None:
    with pytest.raises(nt.CapacityError, match="unrolled convolution"):
        conv_matrix(np.broadcast_to(np.ones(1), (4096, 4096, 3, 3)), (4096, 4096, 4096), 1, 1, 1,
                    1)


def test_snntorch_export_of_a_conv_snn_reads_and_spikes_like_snntorch() -> None:
    """snnTorch builds and runs the model; its own export_to_nir writes the graph
    (Conv2d, AvgPool2d, Flatten, Affine, LIF); neurotwin's default reading of that graph
    spikes as snnTorch's forward pass did (2 steps later per layer)."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    conv, fc = torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Linear(36, 3)
    with torch.no_grad():
        conv.weight.uniform_(-0.2, 0.8)
        fc.weight.uniform_(0.0, 1.2)

    def leaky(shape: tuple[int, ...]):
        return snn.Leaky(beta=torch.full(shape, 0.9), threshold=torch.ones(shape),
                         reset_mechanism="zero", reset_delay=False, init_hidden=True)

    model = torch.nn.Sequential(conv, leaky((4, 6, 6)), torch.nn.AvgPool2d(2),
                                torch.nn.Flatten(), fc, leaky((3,)))  # fmt: skip
    graph = export_to_nir(model, torch.zeros(1, 2, 6, 6), ignore_dims=[0])
    steps = 150
    x = (np.random.default_rng(7).random((steps, 2, 6, 6)) < 0.15).astype(np.float32)
    model[1].reset_mem()
    model[5].reset_mem()
    out = []
    with torch.no_grad():
        for k in range(steps):
            out.append(model(torch.from_numpy(x[k : k + 1])).numpy()[0].copy())
    flat = x.reshape(steps, -1)
    trains = [(np.nonzero(flat[:, i])[0] * DT).tolist() for i in range(flat.shape[1])]
    net = from_nir(graph, dt=DT, inputs={"input": trains})
    assert [p.shape for p in net.projections] == [(72, 144), (144, 3)]
    res = nt.simulate(net, duration=(steps + 2 * LAG_STEPS) * DT, backend="ideal", seed=0)
    times, ids = res.spikes("5")  # snnTorch names nodes by position in the Sequential
    got = np.rint(times / DT).astype(int) - 2 * LAG_STEPS
    keep = got < steps
    ref = as_pairs(np.array(out))
    assert len(ref) > 10
    assert sorted(zip(got[keep].tolist(), ids[keep].tolist(), strict=True)) == ref
