"""The default reading of a NIR graph from another tool agrees with the tools that wrote
it: the NIR paper's single-LIF reference case and snnTorch's own NIR import, step for
step (neurotwin two steps later per layer, docs/nir.md)."""

import nir
import numpy as np
import pytest

import neurotwin as nt
from neurotwin.network.nir import from_nir

DT = 0.1  # ms, the NIR paper's dt = 1e-4 s

# The input of the NIR paper's LIF experiment (Pedersen et al. 2024, paper/01_lif in
# github.com/neuromorphs/NIR): one entry per 10 steps of 0.1 ms, 34 spikes in all.
PAPER_INPUT = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
               0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1,
               1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0,
               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # fmt: skip
PAPER_STEPS = len(PAPER_INPUT) * 10
PAPER_SPIKE_STEPS = [460, 510, 710, 760]
"""Output spikes of every platform in the paper (lif_snntorch.csv, lif_norse.csv,
lif_spinnaker2.csv and the exact event-based lif_exact.csv agree on these steps)."""

LAG_STEPS = 2  # per layer: the input enters v one step later, an edge takes one step


def paper_graph() -> nir.NIRGraph:
    """lif_norse.nir of the paper: Input -> Affine(1, bias 0) -> LIF -> Output, seconds."""
    one = np.ones(1)
    nodes = {
        "input": nir.Input(input_type={"input": one}),
        "0": nir.Affine(weight=np.ones((1, 1)), bias=np.zeros(1)),
        "1": nir.LIF(tau=np.full(1, 0.0025), r=one, v_leak=np.zeros(1),
                     v_threshold=np.full(1, 0.1), v_reset=np.zeros(1)),
        "output": nir.Output(output_type={"output": one}),
    }  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=[("input", "0"), ("0", "1"), ("1", "output")])


def paper_input_steps() -> np.ndarray:
    return np.array([10 * k for k, x in enumerate(PAPER_INPUT) if x])


def neurotwin_steps(**options: object) -> np.ndarray:
    times = (paper_input_steps() * DT).tolist()
    net = from_nir(paper_graph(), dt=DT, inputs={"input": [times]}, **options)  # type: ignore[arg-type]
    res = nt.simulate(net, duration=(PAPER_STEPS + LAG_STEPS) * DT, backend="ideal", seed=0)
    return np.rint(res.spikes("1")[0] / DT).astype(int)


def test_paper_input_has_34_spikes() -> None:
    assert paper_input_steps().size == 34


def test_default_reading_of_the_paper_lif_spikes_where_the_platforms_do() -> None:
    np.testing.assert_array_equal(neurotwin_steps() - LAG_STEPS, PAPER_SPIKE_STEPS)


def test_default_reading_matches_snntorchs_own_import_of_the_graph() -> None:
    torch = pytest.importorskip("torch")
    import_nir = pytest.importorskip("snntorch.import_nir")
    model = import_nir.import_from_nir(paper_graph())
    x = np.zeros(PAPER_STEPS, dtype=np.float32)
    x[paper_input_steps()] = 1.0
    out, state = [], None
    with torch.no_grad():
        for k in range(PAPER_STEPS):
            y, state = model(torch.tensor([[x[k]]]), state)
            out.append(float(y.reshape(-1)[0]))
    snntorch_steps = np.nonzero(out)[0]
    np.testing.assert_array_equal(snntorch_steps, PAPER_SPIKE_STEPS)  # the paper's figure
    np.testing.assert_array_equal(neurotwin_steps() - LAG_STEPS, snntorch_steps)


def test_the_exact_reading_stays_available_and_differs() -> None:
    """Dirac spikes of area 1 s jump v by r / tau = 400 >> 0.1: every input spike fires
    (what the default did before it followed the ecosystem)."""
    steps = neurotwin_steps(discretisation="exact")
    assert steps.size == 34
    np.testing.assert_array_equal(steps, paper_input_steps() + LAG_STEPS)
