"""A neurotwin network as the flat arrays every peer simulator is built from.

Peers (Brian2, NEST) must run *exactly* the network neurotwin runs: the same neuron
parameters, the same synapses (pre, post, weight, delay) and the same initial state. This
module extracts those from a :class:`~neurotwin.network.Network` of LIF populations into
one global neuron index (populations concatenated in insertion order) and writes them to
an ``.npz`` file plus a JSON-able spec, which the peer runners read with numpy alone (so
their processes never import torch, and their memory is measured cleanly).

File layout (``arrays``; S_r synapses of receptor r in {"exc", "inh"})::

    v0, i_exc0, i_inh0      initial v (mV) and currents (nA), float64, shape (N,)
    {r}_pre, {r}_post       global neuron indices, int64, shape (S_r,)
    {r}_weight              weight magnitude, nA, float64, shape (S_r,)
    {r}_delay_steps         delay in time steps (>= 1), int64, shape (S_r,)
    i_offset                per-neuron bias current, nA, float64, shape (N,); only where
                            the populations' models differ in ``i_offset`` alone (then
                            the spec's model has ``i_offset`` 0)

Rules (``spec["rules"]``, only where given; the bench's ``peer_synapses="rules"``): per
entry (receptor, first pre, n_pre, first post, n_post, synapses, mean weight in nA,
relative weight spread, mean delay in ms, relative delay spread): synapses the peer
draws itself, NEST's ``fixed_total_number`` with multapses and autapses, normal weights
redrawn past 0 and normal delays redrawn below dt / 2 (NEST's microcircuit example),
for networks whose synapses as arrays would not fit the peers' memory; the peers then
run the same model with their own draws, not the same synapses.

Poisson background (``spec["background"]``, only where given): per entry (first neuron,
neurons, inputs per neuron K, rate per input in Hz, weight in nA, delay in steps): every
neuron of the range receives K independent Poisson trains through the excitatory
receptor, each peer with its own generator (NEST's ``poisson_generator``, Brian2's
``PoissonInput``), so runs agree in statistics, not spike by spike.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.dynamics import LIF
from neurotwin.errors import ConfigError
from neurotwin.network import Network

__all__ = ["RECEPTORS", "FlatNetwork", "FlatSynapses", "flatten"]

RECEPTORS = ("exc", "inh")


@dataclass(frozen=True)
class FlatSynapses:
    """All synapses onto one receptor type, in global neuron indices."""

    pre: np.ndarray
    """Presynaptic neuron, int64, shape (S,)."""
    post: np.ndarray
    """Postsynaptic neuron, int64, shape (S,)."""
    weight: np.ndarray
    """Weight magnitude (>= 0), nA, float64, shape (S,)."""
    delay_steps: np.ndarray
    """Delay in whole time steps (>= 1), int64, shape (S,)."""

    @property
    def size(self) -> int:
        """Number of synapses."""
        return int(self.pre.size)


@dataclass(frozen=True)
class FlatNetwork:
    """One LIF parameter set, N neurons, and their synapses by receptor.

    Parameters
    ----------
    dt
        Time step, ms.
    model
        The neuron parameters shared by every population.
    populations
        (label, first index, size) of each population in the global index.
    v0, i_exc0, i_inh0
        Initial membrane potential (mV) and synaptic currents (nA), shape (N,).
    synapses
        Receptor ("exc", "inh") -> its synapses.
    i_offset
        Per-neuron bias current, nA, shape (N,), or None (the model's own).
    background
        Poisson background entries (module docstring).
    rules
        Synapses the peers draw themselves (module docstring).
    """

    dt: float
    model: LIF
    populations: tuple[tuple[str, int, int], ...]
    v0: np.ndarray
    i_exc0: np.ndarray
    i_inh0: np.ndarray
    synapses: dict[str, FlatSynapses]
    i_offset: np.ndarray | None = None
    background: tuple[tuple[int, int, int, float, float, int], ...] = ()
    rules: tuple[tuple[Any, ...], ...] = ()

    @property
    def n_neurons(self) -> int:
        """Total number of neurons N."""
        return int(self.v0.size)

    @property
    def n_synapses(self) -> int:
        """Total number of synapses over both receptors (those of the rules included)."""
        return sum(s.size for s in self.synapses.values()) + sum(int(r[5]) for r in self.rules)

    def spec(self) -> dict[str, Any]:
        """Everything that is not an array, as plain JSON types."""
        return {
            "dt": self.dt,
            "model": self.model.to_dict(),
            "n_neurons": self.n_neurons,
            "populations": [list(p) for p in self.populations],
            "n_synapses": {r: s.size for r, s in self.synapses.items()},
            **({"background": [list(b) for b in self.background]} if self.background else {}),
            **({"rules": [list(r) for r in self.rules]} if self.rules else {}),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of the file layout in the module docstring."""
        out = {"v0": self.v0, "i_exc0": self.i_exc0, "i_inh0": self.i_inh0}
        if self.i_offset is not None:
            out["i_offset"] = self.i_offset
        for r, s in self.synapses.items():
            for field, value in asdict(s).items():
                out[f"{r}_{field}"] = value
        return out

    def fingerprint(self) -> str:
        """SHA-256 over spec and arrays: equal fingerprints mean the same network."""
        h = hashlib.sha256(json.dumps(self.spec(), sort_keys=True).encode())
        for name, arr in sorted(self.arrays().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write the arrays to ``path`` (an uncompressed ``.npz``)."""
        np.savez(Path(path), **self.arrays())  # type: ignore[arg-type]


def flatten(
    net: Network, background: tuple[tuple[int, int, int, float, float, int], ...] = ()
) -> FlatNetwork:
    """Extract ``net`` into global-index arrays for the peer simulators.

    Populations may differ in ``i_offset`` alone (then per neuron in ``i_offset``);
    ``background`` is passed on as the Poisson background (module docstring).

    Raises
    ------
    ConfigError
        If the network holds spike sources or injected currents, or populations that are
        not LIF with one shared parameter set (but for ``i_offset``; the peer builders
        support only that).
    """
    if net.sources or net.currents:
        raise ConfigError(
            "peer simulators are built only for networks of LIF populations; this one has "
            f"{len(net.sources)} spike source(s) and {len(net.currents)} injected current(s)"
        )
    pops = net.populations
    if not pops:
        raise ConfigError("the network has no population")
    model = pops[0].model
    offsets = None
    if isinstance(model, LIF) and any(isinstance(p.model, LIF) and p.model != model
                                      for p in pops):
        offsets = np.concatenate([np.full(p.size, getattr(p.model, "i_offset", 0.0))
                                  for p in pops])
        model = replace(model, i_offset=0.0)
    for pop in pops:
        if not isinstance(pop.model, LIF) or (
                pop.model if offsets is None else replace(pop.model, i_offset=0.0)) != model:
            raise ConfigError(
                "peer simulators need every population to be LIF with one parameter set; "
                f"{pop.label!r} has {pop.model!r}, {pops[0].label!r} has {model!r}"
            )
    assert isinstance(model, LIF)
    offset: dict[str, int] = {}
    layout = []
    start = 0
    for pop in pops:
        offset[str(pop.label)] = start
        layout.append((str(pop.label), start, pop.size))
        start += pop.size
    initial = [pop.initial_values() for pop in pops]
    parts: dict[str, list[tuple[np.ndarray, ...]]] = {r: [] for r in RECEPTORS}
    for proj in net.projections:
        syn = proj.synapses()
        steps = net.delay_steps(proj)
        pre = syn.pre + offset[proj.pre]
        post = syn.post + offset[proj.post]
        if proj.receptor is None:
            for r, sel in (("exc", syn.weight > 0), ("inh", syn.weight < 0)):
                parts[r].append((pre[sel], post[sel], np.abs(syn.weight[sel]), steps[sel]))
        else:
            parts[proj.receptor].append((pre, post, syn.weight, steps))
    synapses = {}
    for r in RECEPTORS:
        cols = list(zip(*parts[r], strict=True)) if parts[r] else [[np.zeros(0)]] * 4
        pre, post, weight, steps = (np.concatenate(c) for c in cols)
        synapses[r] = FlatSynapses(
            pre.astype(np.int64),
            post.astype(np.int64),
            weight.astype(np.float64),
            steps.astype(np.int64),
        )
    return FlatNetwork(
        dt=float(net.dt),
        model=model,
        populations=tuple(layout),
        v0=np.concatenate([v["v"] for v in initial]),
        i_exc0=np.concatenate([v["i_exc"] for v in initial]),
        i_inh0=np.concatenate([v["i_inh"] for v in initial]),
        synapses=synapses,
        i_offset=offsets,
        background=tuple(background),
    )
