"""Brian2 peers of the benchmark: runtime mode (cython target) and C++ standalone.

The Brian2 model mirrors :mod:`neurotwin.dynamics.lif` term by term::

    dv/dt     = (v_rest - v) / tau_mem + (i_exc - i_inh + i_offset) / c_m (unless refractory)
    di_exc/dt = -i_exc / tau_syn_exc
    di_inh/dt = -i_inh / tau_syn_inh
    threshold v >= v_thresh, reset v = v_reset, on_pre i_exc += w (or i_inh += w)

(``i_offset`` per neuron where the flat network has it; its Poisson background as one
``PoissonInput`` per entry.)

integrated with Brian2's ``exact`` (linear) method, the same propagators neurotwin and
NEST use. Two details make the step semantics identical to neurotwin's:

- Brian2 runs, per step: state update, threshold, synaptic propagation, reset. A spike
  found in step k with a delay of one step is added to the current after the update of
  step k+1, and first moves v in step k+2 -- as in neurotwin and NEST.
- Brian2 counts the spike's own step in the refractory period (v is held while
  ``timestep(t - lastspike) < timestep(refractory)``), neurotwin holds v for
  round(tau_refrac/dt) steps *after* it; so Brian2 gets ``refractory = (steps + 1) dt``.

Brian2 stamps a spike at the start of the step that crossed the threshold (neurotwin and
NEST at its end); the spike counts compared here do not depend on that.

This module imports numpy only at load time (Brian2 inside the runners) and nothing from
neurotwin: the benchmark runs it by file path in a process that never imports torch, so
the memory it measures is Brian2's. Inputs are the ``spec`` and ``arrays`` of
:class:`neurotwin.bench.flat.FlatNetwork`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["build_network", "run_cpp_standalone", "run_runtime"]

EQUATIONS = """
dv/dt = (v_rest - v) / tau_mem + (i_exc - i_inh + i_offset) / c_m : volt (unless refractory)
di_exc/dt = -i_exc / tau_syn_exc : amp
di_inh/dt = -i_inh / tau_syn_inh : amp
"""

_CURRENT = {"exc": "i_exc", "inh": "i_inh"}


def build_network(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """Brian2 objects for the flat network: a ``brian2.Network`` holding one NeuronGroup
    (``net["neurons"]``), one Synapses per receptor (``net["syn_exc"]``, ``net["syn_inh"]``)
    and a SpikeMonitor (``net["spikes"]``).

    Sets ``brian2.defaultclock.dt`` to ``spec["dt"]`` (ms). Where every synapse of a
    receptor has the same weight (delay), it is a constant of the pathway rather than a
    per-synapse variable, as in Brian2's own CUBA example.
    """
    import brian2 as b2

    m = spec["model"]
    dt_ms = float(spec["dt"])
    b2.defaultclock.dt = dt_ms * b2.ms
    namespace = {
        "tau_mem": m["tau_mem"] * b2.ms,
        "tau_syn_exc": m["tau_syn_exc"] * b2.ms,
        "tau_syn_inh": m["tau_syn_inh"] * b2.ms,
        "c_m": m["cm"] * b2.nF,
        "v_rest": m["v_rest"] * b2.mV,
        "v_reset": m["v_reset"] * b2.mV,
        "v_thresh": m["v_thresh"] * b2.mV,
        "i_offset": m["i_offset"] * b2.nA,
    }
    refrac_steps = round(m["tau_refrac"] / dt_ms)
    per_neuron_offset = "i_offset" in arrays
    if per_neuron_offset:  # populations that differ in their bias current
        del namespace["i_offset"]
    neurons = b2.NeuronGroup(
        int(spec["n_neurons"]),
        EQUATIONS + ("i_offset : amp (constant)" if per_neuron_offset else ""),
        threshold="v >= v_thresh",
        reset="v = v_reset",
        refractory=(refrac_steps + 1) * dt_ms * b2.ms,
        method="exact",
        namespace=namespace,
        name="neurons",
    )
    neurons.v = arrays["v0"] * b2.mV
    neurons.i_exc = arrays["i_exc0"] * b2.nA
    neurons.i_inh = arrays["i_inh0"] * b2.nA
    if per_neuron_offset:
        neurons.i_offset = arrays["i_offset"] * b2.nA
    objects: list[Any] = [neurons]
    for first, size, inputs, rate_hz, weight_na, _ in spec.get("background", []):
        # K independent trains per neuron, drawn as one binomial count per step; without
        # delay (a constant delay does not change the statistics of a stationary input)
        objects.append(b2.PoissonInput(neurons[int(first):int(first) + int(size)], "i_exc",
                                       int(inputs), float(rate_hz) * b2.Hz,
                                       weight=float(weight_na) * b2.nA))
    for receptor, current in _CURRENT.items():
        pre = arrays[f"{receptor}_pre"]
        if pre.size == 0:
            continue
        post = arrays[f"{receptor}_post"]
        weight = arrays[f"{receptor}_weight"]
        steps = arrays[f"{receptor}_delay_steps"]
        lo, hi = int(pre.min()), int(pre.max()) + 1
        uniform_w = bool(np.all(weight == weight[0]))
        uniform_d = bool(np.all(steps == steps[0]))
        syn = b2.Synapses(
            neurons[lo:hi],
            neurons,
            model="" if uniform_w else "w : amp (constant)",
            on_pre=f"{current} += w_const" if uniform_w else f"{current} += w",
            delay=float(steps[0]) * dt_ms * b2.ms if uniform_d else None,
            namespace={"w_const": float(weight[0]) * b2.nA} if uniform_w else {},
            name=f"syn_{receptor}",
        )
        syn.connect(i=pre - lo, j=post)
        if not uniform_w:
            syn.w = weight * b2.nA
        if not uniform_d:
            syn.delay = steps * dt_ms * b2.ms
        objects.append(syn)
    objects.append(b2.SpikeMonitor(neurons, name="spikes"))
    return b2.Network(*objects)


def _counts(spec: dict[str, Any], net: Any) -> dict[str, int]:
    """Spike count per population label from the SpikeMonitor."""
    count = np.asarray(net["spikes"].count[:])
    return {label: int(count[start : start + size].sum()) for label, start, size in
            spec["populations"]}


def run_runtime(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    duration: float,
    target: str = "cython",
) -> dict[str, Any]:
    """Build and run the network in Brian2's runtime mode.

    Parameters
    ----------
    spec, arrays
        The flat network (:class:`neurotwin.bench.flat.FlatNetwork`).
    duration
        Simulated time, ms.
    target
        Code generation target: "cython" (compiled, cached in ~/.cython) or "numpy".

    Returns
    -------
    dict with ``build_time_s`` (construction and code generation/compilation, done by a
    0 ms run), ``simulate_time_s``, ``spikes`` (label -> count), ``version``.
    """
    import brian2 as b2

    b2.prefs.codegen.target = target
    start = time.perf_counter()
    net = build_network(spec, arrays)
    net.run(0 * b2.ms)  # generates and compiles every code object
    build = time.perf_counter() - start
    start = time.perf_counter()
    net.run(duration * b2.ms)
    simulate = time.perf_counter() - start
    return {
        "version": b2.__version__,
        "build_time_s": build,
        "simulate_time_s": simulate,
        "spikes": _counts(spec, net),
    }


def run_cpp_standalone(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    duration: float,
    directory: str,
    threads: int = 1,
) -> dict[str, Any]:
    """Build, compile and run the network as a Brian2 C++ standalone project.

    Must run in a fresh process (Brian2's device is global).

    Parameters
    ----------
    spec, arrays
        The flat network (:class:`neurotwin.bench.flat.FlatNetwork`).
    duration
        Simulated time, ms.
    directory
        Project directory; object files left there from an earlier build of the same code
        are reused by make.
    threads
        OpenMP threads of the binary (1: Brian2's plain single-threaded code).

    Returns
    -------
    dict with ``build_time_s`` (Python construction, code generation and compilation),
    ``simulate_time_s`` (the network run loop, as timed by the binary itself: with one
    thread Brian2 times it with ``std::clock``, the process's CPU time, so it is also
    ``simulate_cpu_s``; with OpenMP by ``omp_get_wtime``, wall clock),
    ``binary_time_s`` and ``binary_peak_rss_mb`` (the whole binary: loading arrays, run,
    writing results), ``spikes`` (label -> count), ``version``.
    """
    import brian2 as b2

    project = Path(directory)
    project.mkdir(parents=True, exist_ok=True)
    usage_file = project / "binary_usage.json"
    b2.set_device("cpp_standalone", directory=str(project), build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
    b2.prefs.devices.cpp_standalone.run_cmd_unix = [
        sys.executable,
        str(Path(__file__).with_name("rusage_exec.py")),
        str(usage_file),
        "./main",
    ]
    start = time.perf_counter()
    net = build_network(spec, arrays)
    net.run(duration * b2.ms)
    b2.device.build(directory=str(project), compile=True, run=True, with_output=False)
    total = time.perf_counter() - start
    usage = json.loads(usage_file.read_text())
    # Brian2's binary writes "<run seconds> <completed fraction>" after its run loop
    run_time, _ = (project / "results" / "last_run_info.txt").read_text().split()
    spikes = _counts(spec, net)
    b2.device.reinit()
    b2.set_device("runtime")
    return {
        "version": b2.__version__,
        "build_time_s": total - usage["wall_time_s"],
        "simulate_time_s": float(run_time),
        "simulate_cpu_s": float(run_time) if threads <= 1 else None,
        "binary_time_s": usage["wall_time_s"],
        "binary_peak_rss_mb": usage["peak_rss_mb"],
        "spikes": spikes,
    }
