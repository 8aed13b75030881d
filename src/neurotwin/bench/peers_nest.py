"""NEST peer of the benchmark: ``iaf_psc_exp`` neurons, the reference of neurotwin's
step semantics (exact propagators; v held for round(t_ref/dt) steps after a spike; a
delay of one step reaches the current at the end of the next step).

Parameter translation (neurotwin unit -> NEST unit):

    =============  ==============  =======
    neurotwin      NEST            scale
    =============  ==============  =======
    tau_mem        tau_m           1 (ms)
    tau_syn_exc    tau_syn_ex      1 (ms)
    tau_syn_inh    tau_syn_in      1 (ms)
    tau_refrac     t_ref           1 (ms)
    cm             C_m             1000 (nF -> pF)
    v_rest         E_L             1 (mV)
    v_reset        V_reset         1 (mV)
    v_thresh       V_th            1 (mV)
    i_offset       I_e             1000 (nA -> pA)
    weight exc     weight          +1000 (nA -> pA)
    weight inh     weight          -1000 (nA -> pA; the sign selects the receptor)
    =============  ==============  =======

Synapse models: NEST stores at most :data:`MAX_CONNECTIONS_PER_MODEL` connections per
virtual process (thread) and synapse model, fewer than the full microcircuit's 299 M
synapses over 2 threads. The synapses therefore go through copies of ``static_synapse``
(``nest.CopyModel``, identical dynamics: same weights and delays, no plasticity): one per
receptor for the arrays, one per presynaptic population for the rules (the largest, from
L2/3E, holds 93 M synapses at full size, 47 M per thread with 2 threads).

Like :mod:`neurotwin.bench.peers_brian2` this module imports numpy only at load time and
nothing from neurotwin; inputs are the ``spec`` and ``arrays`` of
:class:`neurotwin.bench.flat.FlatNetwork`.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

__all__ = ["MAX_CONNECTIONS_PER_MODEL", "PARAMETERS", "build_network", "nest_parameters",
           "rule_synapse_model", "run_nest"]

MAX_CONNECTIONS_PER_MODEL = 134_217_726
"""Connections NEST 3.10 holds per virtual process and synapse model (2**27 - 2; the
figure its "Too many connections" KernelException names)."""

PARAMETERS: tuple[tuple[str, str, float], ...] = (
    ("tau_mem", "tau_m", 1.0),
    ("tau_syn_exc", "tau_syn_ex", 1.0),
    ("tau_syn_inh", "tau_syn_in", 1.0),
    ("tau_refrac", "t_ref", 1.0),
    ("cm", "C_m", 1000.0),
    ("v_rest", "E_L", 1.0),
    ("v_reset", "V_reset", 1.0),
    ("v_thresh", "V_th", 1.0),
    ("i_offset", "I_e", 1000.0),
)
"""(neurotwin name, NEST name, scale) of every LIF parameter."""

CONDUCTANCE_PARAMETERS: tuple[tuple[str, str, float], ...] = (
    ("e_rev_exc", "E_ex", 1.0),
    ("e_rev_inh", "E_in", 1.0),
)
"""The reversal potentials (mV) of the conductance-based models (NEST ``*_cond_*``)."""

ADEX_PARAMETERS: tuple[tuple[str, str, float], ...] = (
    ("delta_t", "Delta_T", 1.0),
    ("v_spike", "V_peak", 1.0),
    ("a", "a", 1.0),
    ("b", "b", 1000.0),
    ("tau_w", "tau_w", 1.0),
)
"""AdEx's extras (NEST ``aeif_*``): a in nS on both sides, b nA -> pA."""


def nest_parameters(params: dict[str, Any]) -> dict[str, float]:
    """NEST's names and units for one neurotwin neuron model's parameters (its
    ``to_dict()``): :data:`PARAMETERS`, the membrane starting at rest (``V_m``); a
    conductance-based model (one with reversal potentials) gives its leak as
    ``g_L = cm / tau_mem`` (nS) instead of ``tau_m``; an AdEx model adds
    :data:`ADEX_PARAMETERS`."""
    out = {nest: params[name] * scale for name, nest, scale in PARAMETERS}
    out["V_m"] = params["v_rest"]
    if "e_rev_exc" in params:
        del out["tau_m"]
        out.update({nest: params[name] * scale for name, nest, scale in CONDUCTANCE_PARAMETERS})
        out["g_L"] = params["cm"] / params["tau_mem"] * 1e3
    if "delta_t" in params:
        out.update({nest: params[name] * scale for name, nest, scale in ADEX_PARAMETERS})
    return out

_SIGN = {"exc": 1.0, "inh": -1.0}


def _import_nest() -> Any:
    os.environ.setdefault("PYNEST_QUIET", "1")  # no start-up banner on stdout
    import nest

    nest.verbosity = nest.VerbosityLevel.ERROR
    return nest


def build_network(
    spec: dict[str, Any], arrays: dict[str, np.ndarray], threads: int = 1
) -> tuple[Any, Any]:
    """Reset the NEST kernel and create the flat network in it.

    Parameters
    ----------
    spec, arrays
        The flat network (:class:`neurotwin.bench.flat.FlatNetwork`).
    threads
        ``local_num_threads`` of the kernel.

    Raises
    ------
    ValueError
        If initial synaptic currents are nonzero (``iaf_psc_exp`` cannot set them), or
        if a synapse model would carry more than ``threads`` times
        :data:`MAX_CONNECTIONS_PER_MODEL` connections (NEST would stop while connecting).

    Returns
    -------
    neurons, recorder
        The NodeCollection of the N neurons (global index k is ``neurons[k]``) and the
        ``spike_recorder`` connected to all of them.
    """
    _check_model_sizes(spec, arrays, int(threads))
    nest = _import_nest()
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": float(spec["dt"]), "local_num_threads": int(threads)})
    model = spec["model"]
    params = {nest_name: model[name] * scale for name, nest_name, scale in PARAMETERS}
    neurons = nest.Create("iaf_psc_exp", int(spec["n_neurons"]), params=params)
    if np.any(arrays["i_exc0"] != 0) or np.any(arrays["i_inh0"] != 0):
        raise ValueError(
            "NEST's iaf_psc_exp cannot start with nonzero synaptic currents; "
            "initial i_exc/i_inh must be 0 nA for the NEST peer"
        )
    neurons.set(V_m=arrays["v0"].tolist())
    if "i_offset" in arrays:  # populations that differ in their bias current
        neurons.set(I_e=(1000.0 * arrays["i_offset"]).tolist())
    first = neurons[0].global_id
    dt = float(spec["dt"])
    for receptor, sign in _SIGN.items():
        pre = arrays[f"{receptor}_pre"]
        if pre.size == 0:
            continue
        nest.CopyModel("static_synapse", f"static_synapse_{receptor}")
        nest.Connect(
            pre + first,
            arrays[f"{receptor}_post"] + first,
            conn_spec="one_to_one",
            syn_spec={
                "synapse_model": f"static_synapse_{receptor}",
                "weight": sign * 1000.0 * arrays[f"{receptor}_weight"],
                "delay": arrays[f"{receptor}_delay_steps"] * dt,
            },
        )
    for rule in spec.get("rules", []):
        model = rule_synapse_model(spec, rule)
        if model not in nest.synapse_models:
            nest.CopyModel("static_synapse", model)
        _connect_rule(nest, neurons, rule, dt, model)
    for first, size, inputs, rate_hz, weight_na, delay_steps in spec.get("background", []):
        # one generator sends an independent train to each target (NEST's semantics)
        generator = nest.Create("poisson_generator", params={"rate": inputs * rate_hz})
        nest.Connect(generator, neurons[int(first):int(first) + int(size)],
                     syn_spec={"weight": 1000.0 * weight_na, "delay": delay_steps * dt})
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    return neurons, recorder


def _check_model_sizes(spec: dict[str, Any], arrays: dict[str, np.ndarray],
                       threads: int) -> None:
    """Refuse before any allocation the networks NEST cannot connect: a synapse model
    with more connections than all threads together hold (the targets' threads share
    them about evenly, so a model near the bound may still stop NEST)."""
    sizes = {f"static_synapse_{r}": int(arrays[f"{r}_pre"].size) for r in _SIGN}
    for rule in spec.get("rules", []):
        model = rule_synapse_model(spec, rule)
        sizes[model] = sizes.get(model, 0) + int(rule[5])
    for model, size in sizes.items():
        if size > threads * MAX_CONNECTIONS_PER_MODEL:
            raise ValueError(
                f"synapse model {model} would carry {size} connections, more than NEST "
                f"holds with {threads} thread(s) ({MAX_CONNECTIONS_PER_MODEL} per thread "
                "and synapse model); use more threads"
            )


def rule_synapse_model(spec: dict[str, Any], rule: list[Any]) -> str:
    """Name of the ``static_synapse`` copy that carries one rule of ``spec["rules"]``:
    one per presynaptic population (``"static_synapse_from_L23E"``; a source range that
    is no population of ``spec["populations"]`` is named by its first neuron)."""
    pre0 = int(rule[1])
    labels = [label for label, lo, _size in spec.get("populations", []) if int(lo) == pre0]
    return f"static_synapse_from_{labels[0] if labels else pre0}"


def _connect_rule(nest: Any, neurons: Any, rule: list[Any], dt: float, model: str) -> None:
    """Draw one rule of ``spec["rules"]`` (neurotwin.bench.flat) with NEST's own
    connector, as NEST's microcircuit example does: ``fixed_total_number`` with multapses
    and autapses, normal weights redrawn past 0 (sign by receptor), normal delays redrawn
    below dt / 2."""
    receptor, pre0, n_pre, post0, n_post, total, weight, w_rel, delay, d_rel = rule
    sign = _SIGN[receptor]
    mean = sign * 1000.0 * weight
    bounds = {"min": 0.0, "max": np.inf} if sign > 0 else {"min": -np.inf, "max": 0.0}
    nest.Connect(
        neurons[int(pre0):int(pre0) + int(n_pre)],
        neurons[int(post0):int(post0) + int(n_post)],
        conn_spec={"rule": "fixed_total_number", "N": int(total), "allow_autapses": True,
                   "allow_multapses": True},
        syn_spec={
            "synapse_model": model,
            "weight": nest.math.redraw(nest.random.normal(mean=mean, std=abs(mean) * w_rel),
                                       **bounds),
            "delay": nest.math.redraw(nest.random.normal(mean=delay, std=delay * d_rel),
                                      min=0.5 * dt, max=np.inf),
        },
    )


def run_nest(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    duration: float,
    threads: int = 1,
) -> dict[str, Any]:
    """Build and run the network in NEST.

    Parameters
    ----------
    spec, arrays
        The flat network (:class:`neurotwin.bench.flat.FlatNetwork`).
    duration
        Simulated time, ms.
    threads
        ``local_num_threads`` (OpenMP threads) of the kernel.

    Returns
    -------
    dict with ``build_time_s`` (creating, connecting and ``nest.Prepare``),
    ``simulate_time_s`` (``nest.Run``, wall clock), ``simulate_cpu_s`` (the CPU time of
    ``nest.Run`` summed over the process's threads, s), ``spikes`` (label -> count),
    ``version``.
    """
    nest = _import_nest()
    start = time.perf_counter()
    neurons, recorder = build_network(spec, arrays, threads)
    nest.Prepare()
    build = time.perf_counter() - start
    start, start_cpu = time.perf_counter(), time.process_time()
    nest.Run(float(duration))
    simulate = time.perf_counter() - start
    simulate_cpu = time.process_time() - start_cpu
    nest.Cleanup()
    senders = np.asarray(recorder.get("events")["senders"]) - neurons[0].global_id
    spikes = {
        label: int(np.count_nonzero((senders >= lo) & (senders < lo + size)))
        for label, lo, size in spec["populations"]
    }
    return {
        "version": str(nest.__version__),
        "build_time_s": build,
        "simulate_time_s": simulate,
        "simulate_cpu_s": simulate_cpu,
        "spikes": spikes,
    }
