"""The Potjans & Diesmann (2014) microcircuit: tables vs the source, connectivity vs the
analytic numbers, scaling, a tiny run, bad inputs."""

import math
import tracemalloc

import numpy as np
import pytest

import neurotwin as nt
from neurotwin import errors
from neurotwin.errors import CapacityError, ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.microcircuit import MicrocircuitConfig
from neurotwin.experiments.microcircuit_model import (
    CONN_PROBS,
    FULL_MEAN_RATES_HZ,
    FULL_NEURONS,
    K_EXT,
    NEURON,
    POPULATIONS,
    build_network,
    estimate_bytes,
    full_synapse_numbers,
    psc_over_psp,
    scaled_params,
)


def test_tables_are_the_published_ones():
    # PD14 Table 5 / NEST example network_params.py, spot values and totals
    assert FULL_NEURONS.sum() == 77_169
    assert dict(zip(POPULATIONS, FULL_NEURONS, strict=True))["L5I"] == 1065
    assert CONN_PROBS[0, 0] == 0.1009 and CONN_PROBS[4, 5] == 0.3726
    assert CONN_PROBS[7, 7] == 0.1443 and CONN_PROBS[2, 5] == 0.0003
    assert np.all(CONN_PROBS[:, 7][:6] == 0)  # L6I projects only within L6
    assert K_EXT.tolist() == [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
    assert (NEURON.tau_mem, NEURON.cm, NEURON.tau_syn_exc, NEURON.tau_syn_inh) == (
        10.0, 0.25, 0.5, 0.5)
    assert (NEURON.v_thresh, NEURON.v_reset, NEURON.v_rest, NEURON.tau_refrac) == (
        -50.0, -65.0, -65.0, 2.0)


def test_psc_gives_a_psp_peak_of_0p15_mv():
    # PSP of a current jump w decaying with tau_s into a membrane (tau_m, C_m), on a fine
    # grid in plain numpy: its peak for the 87.81 pA of the paper is 0.15 mV
    w_pa = 0.15 * psc_over_psp()
    assert w_pa == pytest.approx(87.81, abs=0.01)
    t = np.linspace(0.0, 10.0, 200_001)
    tau_m, tau_s, c_pf = 10.0, 0.5, 250.0
    psp = w_pa / c_pf * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m)
                                                            - np.exp(-t / tau_s))
    assert psp.max() == pytest.approx(0.15, rel=1e-6)


def test_full_scale_synapse_numbers():
    k = full_synapse_numbers()
    assert k.sum() == pytest.approx(2.9888e8, rel=1e-3)  # "about 0.3 billion synapses"
    # in-degree K_ij / N_i -> -ln(1 - C_ij) N_j for large populations (first order in 1/M)
    expected = -np.log1p(-CONN_PROBS) * FULL_NEURONS[None, :]
    assert np.allclose(k / FULL_NEURONS[:, None], expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("background", ["poisson", "dc"])
def test_k_scaling_keeps_the_mean_input(background):
    # mean input current with the full-scale rates: scaled weights x scaled in-degrees
    # + the DC compensation equals the full model's (PD14 / NEST example scaling rule)
    tau = NEURON.tau_syn_exc * 1e-3
    full = scaled_params(1.0, 1.0, background)
    small = scaled_params(0.5, 0.05, background)

    def mean_input(p):
        indegree = p.synapses / p.neurons[:, None]
        rec = (p.weight_na * indegree * FULL_MEAN_RATES_HZ).sum(axis=1) * tau
        bg = p.weight_ext_na * p.k_ext * 8.0 * tau if background == "poisson" else 0.0
        return rec + bg + p.dc_na

    assert np.allclose(mean_input(small), mean_input(full), rtol=2e-3, atol=1e-4)
    assert np.allclose(small.weight_na, full.weight_na / math.sqrt(0.05))
    assert small.neurons.tolist() == np.round(FULL_NEURONS * 0.5).astype(int).tolist()
    assert np.all(small.synapses == np.round(full_synapse_numbers() * 0.5 * 0.05))


def test_built_network_has_the_table_connectivity():
    params = scaled_params(0.01, background="poisson")
    net = build_network(params, seed=3)
    counts = np.zeros((8, 8), int)
    for proj in net.projections:
        if proj.pre in POPULATIONS:
            counts[POPULATIONS.index(proj.post), POPULATIONS.index(proj.pre)] += proj.n_synapses
            syn = proj.synapses()
            exc = POPULATIONS.index(proj.pre) % 2 == 0
            assert proj.receptor == ("exc" if exc else "inh")
            assert np.all(syn.delay >= net.dt - 1e-12)
    assert np.array_equal(counts, params.synapses)
    # L4E -> L23E carries twice the weight of other excitatory pathways
    assert params.weight_na[0, 2] == pytest.approx(2 * params.weight_na[0, 0])
    assert params.weight_na[0, 1] == pytest.approx(-4 * params.weight_na[0, 0])
    # each neuron's background: rate 8 Hz x K_ext summed over its sources
    for i, pop in enumerate(POPULATIONS):
        src = net.nodes[f"bg_{pop}"]
        per_neuron = src.rate.sum() / net.nodes[pop].size
        assert per_neuron == pytest.approx(8.0 * params.k_ext[i])
        assert src.rate.max() <= 500.0


def test_delays_and_weights_have_the_published_spread():
    net = build_network(scaled_params(0.02, background="dc"), seed=0)
    exc = [p for p in net.projections if p.pre == "L4E" and p.post == "L4E"]
    d = np.concatenate([p.synapses().delay for p in exc])
    w = np.concatenate([p.synapses().weight for p in exc])
    # normal(1.5, 0.75) ms redrawn below 0.05 ms, rounded to 0.1 ms: mean of the
    # truncated normal 1.5 + 0.75 phi(a) / (1 - Phi(a)), a = -1.9333
    a = (0.05 - 1.5) / 0.75
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    assert d.mean() == pytest.approx(1.5 + 0.75 * phi / (1 - big_phi), abs=0.02)
    assert w.std() / w.mean() == pytest.approx(0.1, abs=0.01)


def test_tiny_run_gives_finite_rates(tmp_path):
    assert "microcircuit" in EXPERIMENTS.names()
    config = {"scale": 0.01, "t_presim": 20.0, "duration": 80.0, "s2_duration": 20.0}
    out = run_experiment("microcircuit", config, seed=0, out_dir=tmp_path)
    m = out["metrics"]
    rates = [m["populations"][p]["rate_hz"] for p in POPULATIONS]
    assert all(np.isfinite(rates)) and sum(rates) > 0
    assert m["n_neurons"] == int(np.round(FULL_NEURONS * 0.01).sum())
    s2 = m["spinnaker2"]
    assert s2["status"] == "ok" and s2["chips"] >= 1 and s2["router_entries_max"] > 0
    assert s2["real_time_ratio"] >= 1.0 and s2["energy_j"] > 0
    assert (tmp_path / "raster.png").stat().st_size > 0
    assert (tmp_path / "rates.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scale": 0.0}, "scale"), ({"scale": -0.1}, "scale"), ({"scale": 1.5}, "scale"),
     ({"scale": float("nan")}, "scale"), ({"k_scale": 2.0}, "k_scale"),
     ({"background": "noise"}, "background"), ({"scale": 1e-5}, "without neurons"),
     ({"v0": "flat"}, "v0")],
)
def test_bad_inputs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        config = MicrocircuitConfig(**kwargs)
        build_network(scaled_params(config.scale, config.k_scale, config.background), 0,
                      v0=config.v0)


def test_full_size_is_refused_before_allocating_where_it_does_not_fit(monkeypatch):
    # full size: 298.9 million synapses at 12 bytes, the background: about 4.1 GB
    assert 3.6e9 < estimate_bytes(scaled_params(1.0), 0.1, 500.0) < 4.5e9
    monkeypatch.setattr(errors, "machine_memory", lambda: 3 * 2**30)
    with pytest.raises(CapacityError, match="microcircuit with 77169 neurons"):
        build_network(scaled_params(1.0), seed=0)


def test_memory_estimate_bounds_the_measured_peak_of_build_and_run():
    """tracemalloc's peak (numpy reports its allocations to it) of building, compiling
    and running 200 ms against :func:`estimate_bytes`: above it never, far below not."""
    params = scaled_params(0.05, 0.3)
    small = build_network(scaled_params(0.01), seed=0)
    nt.simulate(small, 1.0)  # compile the kernels outside the measurement
    tracemalloc.start()
    try:
        net = build_network(params, seed=0)
        nt.simulate(net, 200.0, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = estimate_bytes(params, 0.1, 500.0)
    assert 0.8 * estimate < peak <= estimate


def test_mean_only_keeps_the_numbers_and_stores_means():
    params = scaled_params(0.01, background="dc")
    means = build_network(params, seed=5, mean_only=True)
    counts = np.zeros((8, 8), int)
    for p in means.projections:
        counts[POPULATIONS.index(p.post), POPULATIONS.index(p.pre)] += p.n_synapses
    assert np.array_equal(counts, params.synapses)
    proj = next(p for p in means.projections if p.pre == "L4E" and p.post == "L23E")
    csr = proj.csr()
    assert csr.weight.ndim == 0 and float(csr.weight) == pytest.approx(params.weight_na[0, 2])
    assert float(csr.delay) == pytest.approx(1.5)
