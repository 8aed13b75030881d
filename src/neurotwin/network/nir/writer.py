"""NIR export: a :class:`~neurotwin.network.Network` becomes a NIR graph (or file).

Populations become CubaLIF nodes, spike sources Input nodes, projections Linear nodes
(plus Delay nodes for delays beyond one step); what NIR has no place for (dt, node order,
spike times, initial state) goes into ``neurotwin_*`` metadata that :mod:`.reader` uses and
other tools ignore. The mapping is in ``docs/nir.md``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurotwin.dynamics.lif import LIF
from neurotwin.errors import ConfigError, check_positive
from neurotwin.network.network import Network
from neurotwin.network.nir.nodes import (
    META_DT,
    META_INITIAL_I,
    META_INITIAL_V,
    META_ORDER,
    META_SPIKE_IDS,
    META_SPIKE_TIMES,
    META_TIME_UNIT,
    UNREACHABLE_THRESHOLD_MV,
)
from neurotwin.network.nodes import Population, SpikeSourceArray, SpikeSourcePoisson
from neurotwin.network.projection import Projection

__all__ = ["to_nir", "write"]


def _free_name(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}~{k}", k + 1
    taken.add(candidate)
    return candidate


def _signed_dense(proj: Projection) -> np.ndarray:
    """Weights of ``proj`` as a dense signed (n_pre, n_post) matrix, nA (inh negative)."""
    syn = proj.synapses()
    w = np.zeros(proj.shape)
    w[syn.pre, syn.post] = -syn.weight if proj.receptor == "inh" else syn.weight
    return w


def _receptors_used(net: Network, pop: Population) -> set[str]:
    used: set[str] = set()
    for proj in net.projections:
        if proj.post != pop.label:
            continue
        if proj.receptor is not None:
            used.add(proj.receptor)
        else:
            w = proj.synapses().weight
            used |= {"exc"} if np.all(w >= 0) else {"inh"} if np.all(w <= 0) else {"exc", "inh"}
    init = pop.initial_values()
    used |= {r for r in ("exc", "inh") if np.any(init[f"i_{r}"] != 0)}
    return used


def _export_tau_syn(net: Network, pop: Population, model: LIF) -> float:
    used = _receptors_used(net, pop)
    if used == {"exc", "inh"} and model.tau_syn_exc != model.tau_syn_inh:
        raise ConfigError(
            f"population {pop.label!r} uses both receptors with tau_syn_exc = "
            f"{model.tau_syn_exc} ms != tau_syn_inh = {model.tau_syn_inh} ms; NIR's CubaLIF "
            "has one synaptic time constant"
        )
    return model.tau_syn_inh if used == {"inh"} else model.tau_syn_exc


def _constant_current(net: Network, pop: Population, model: LIF) -> np.ndarray:
    """i_offset plus every DC source into ``pop``, nA, shape (size,)."""
    total = np.full(pop.size, model.i_offset)
    for source, label in net.currents:
        if label != pop.label:
            continue
        if source.start != 0 or not math.isinf(source.stop):
            raise ConfigError(
                f"the DCSource into {label!r} runs in [{source.start}, {source.stop}) ms; NIR "
                "can only express currents that are on from 0 for ever (as a leak shift)"
            )
        total = total + source.amplitude
    return total


def _export_population(net: Network, pop: Population, time_unit: float) -> Any:
    model = pop.model
    if not isinstance(model, LIF):
        raise ConfigError(
            f"population {pop.label!r} is {type(model).__name__}; NIR export supports LIF only"
        )
    if model.tau_refrac > 0:
        raise ConfigError(
            f"population {pop.label!r} has tau_refrac = {model.tau_refrac} ms; NIR neurons "
            "have no refractory period (use tau_refrac=0)"
        )
    n = pop.size
    tau_syn = _export_tau_syn(net, pop, model) / time_unit
    r = model.tau_mem / model.cm
    v_leak = model.v_rest + _constant_current(net, pop, model) * r
    init = pop.initial_values()
    meta: dict[str, np.ndarray] = {}
    if np.any(init["v"] != v_leak):
        meta[META_INITIAL_V] = init["v"]
    i0 = init["i_exc"] - init["i_inh"]
    if np.any(i0 != 0):
        meta[META_INITIAL_I] = i0
    common = {
        "tau_syn": np.full(n, tau_syn),
        "tau_mem": np.full(n, model.tau_mem / time_unit),
        "r": np.full(n, r),
        "v_leak": v_leak,
        "w_in": np.full(n, tau_syn),  # w_in / tau_syn = 1: NIR weights are nA jumps of I
        "metadata": meta,
    }
    if model.v_thresh >= UNREACHABLE_THRESHOLD_MV:
        return nir.CubaLI(**common)
    return nir.CubaLIF(
        **common, v_threshold=np.full(n, model.v_thresh), v_reset=np.full(n, model.v_reset)
    )


def _export_delays(
    net: Network, proj: Projection, time_unit: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(per-pre, per-post) NIR delays of ``proj`` beyond neurotwin's one step, or None."""
    syn = proj.synapses()
    extra = (net.delay_steps(proj) - 1) * net.dt / time_unit
    n_pre, n_post = proj.shape
    if extra.size == 0 or np.all(extra == 0):
        return None, None
    if np.all(extra == extra[0]):
        return None, np.full(n_post, extra[0])
    for index, n, side in ((syn.post, n_post, "post"), (syn.pre, n_pre, "pre")):
        per = np.zeros(n)
        per[index] = extra
        if np.all(per[index] == extra):
            return (None, per) if side == "post" else (per, None)
    raise ConfigError(
        f"delays of {proj.pre}->{proj.post} depend on both the pre- and the postsynaptic "
        "neuron; NIR holds delays per signal element (a Delay node before or after the "
        "weights), so they must depend on one side only"
    )


def to_nir(net: Network, time_unit: float = 1.0) -> Any:
    """Export ``net`` as a NIR graph (``nir.NIRGraph``).

    Populations become CubaLIF nodes (CubaLI if they cannot spike), spike sources Input
    nodes, projections Linear nodes with weights ``(n_post, n_pre)`` equal to the signed
    neurotwin weights in nA (``w_in = tau_syn``, so a spike through weight W makes I jump
    by W), plus a Delay node for delays beyond one step; every population feeds an
    Output. ``i_offset`` and constant DC sources become a shift of ``v_leak``; the initial
    state, spike times and dt are kept in metadata (``neurotwin_*``), which other tools
    ignore.

    Parameters
    ----------
    net
        The network.
    time_unit
        Milliseconds per NIR time unit of the written time constants and delays.

    Raises
    ------
    ConfigError
        For what NIR cannot express: Poisson sources, AdEx, refractoriness, different
        exc/inh synaptic time constants on one population, timed DC sources, delays
        that depend on both ends of a synapse, dynamic synapses.
    """
    check_positive("time_unit", time_unit, "ms")
    for proj in net.projections:
        if proj.synapse is not None:
            raise ConfigError(
                f"projection {proj.pre}->{proj.post} has {type(proj.synapse).__name__} "
                "synapses; NIR's Linear nodes are static weights (export without them)")
    taken = set(net.nodes)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for label, node in net.nodes.items():
        if isinstance(node, SpikeSourcePoisson):
            raise ConfigError(
                f"{label!r} is a SpikeSourcePoisson; NIR has no random sources (draw the "
                "spikes and use a SpikeSourceArray)"
            )
        if isinstance(node, SpikeSourceArray):
            trains = [np.asarray(t) for t in node.spike_times]
            ids = np.concatenate([np.full(t.size, k) for k, t in enumerate(trains)])
            nodes[label] = nir.Input(
                input_type={"input": np.array([node.size])},
                metadata={
                    META_SPIKE_TIMES: np.concatenate(trains),
                    META_SPIKE_IDS: ids.astype(np.int64),
                },
            )
        else:
            nodes[label] = _export_population(net, node, time_unit)
            out = _free_name(f"{label}_output", taken)
            nodes[out] = nir.Output(output_type={"output": np.array([node.size])})
            edges.append((label, out))
    for proj in net.projections:
        name = _free_name(f"{proj.pre}->{proj.post}", taken)
        nodes[name] = nir.Linear(weight=_signed_dense(proj).T.copy())
        pre_delay, post_delay = _export_delays(net, proj, time_unit)
        chain = [proj.pre]
        if pre_delay is not None:
            chain.append(_free_name(f"{name}.delay", taken))
            nodes[chain[-1]] = nir.Delay(delay=pre_delay)
        chain.append(name)
        if post_delay is not None:
            chain.append(_free_name(f"{name}.delay", taken))
            nodes[chain[-1]] = nir.Delay(delay=post_delay)
        chain.append(proj.post)
        edges += list(itertools.pairwise(chain))
    return nir.NIRGraph(
        nodes=nodes,
        edges=edges,
        metadata={
            META_DT: float(net.dt),
            META_TIME_UNIT: float(time_unit),
            META_ORDER: np.array([name.encode() for name in nodes], dtype=bytes),
        },
        type_check=False,
    )


def write(net: Network, path: str | Path, time_unit: float = 1.0) -> None:
    """Write ``net`` to ``path`` as a NIR file (HDF5); see :func:`to_nir`.

    Raises :class:`ConfigError` for what NIR cannot express, or for a node label with
    "/" in it (HDF5 reads that as a group path).
    """
    bad = [label for label in net.nodes if "/" in label]
    if bad:
        raise ConfigError(f"node labels must not contain '/' for a NIR file, got {bad[0]!r}")
    nir.write(path, to_nir(net, time_unit))
