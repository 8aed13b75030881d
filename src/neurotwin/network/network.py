"""The :class:`Network`: what runs, independent of how (engines) or where (backends)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from neurotwin.errors import ConfigError, check_multiple_of, check_positive, check_scalar
from neurotwin.network.nodes import (
    DCSource,
    Node,
    Population,
    SpikeSourceArray,
    SpikeSourcePoisson,
)
from neurotwin.network.projection import Projection, Receptor
from neurotwin.network.synapse_types import SynapseType

__all__ = ["Network"]


@dataclass
class Network:
    """A spiking network: nodes, projections between them, injected currents, recordings.

    Nodes and projections are frozen, validated dataclasses; the network only collects
    them and checks that they fit together (labels exist, shapes match, delays lie on the
    time grid). Backends never mutate it.

    Parameters
    ----------
    dt
        Time step in ms used by time-stepped backends; delays must be multiples of it.

    Examples
    --------
    >>> import neurotwin as nt
    >>> net = nt.Network(dt=0.1)
    >>> inp = net.add(nt.SpikeSourceArray([[1.0, 5.0], [2.0]]))
    >>> pop = net.add(nt.Population(3, nt.LIF(), label="exc"))
    >>> _ = net.connect(inp, pop, weights=np.full((2, 3), 0.5), receptor="exc", delays=1.0)
    >>> net.record(pop, "spikes", "v")
    """

    dt: float = 0.1
    nodes: dict[str, Node] = field(default_factory=dict)
    projections: list[Projection] = field(default_factory=list)
    currents: list[tuple[DCSource, str]] = field(default_factory=list)
    recordings: dict[str, dict[str, np.ndarray | None]] = field(default_factory=dict)
    """label -> variable -> recorded neuron indices (None: all)."""

    def __post_init__(self) -> None:
        check_scalar("dt", self.dt, "ms")
        check_positive("dt", self.dt, "ms")

    def add(self, node: Node) -> Any:
        """Add a population or spike source; return it with its label set.

        A node without a label is added as a labelled copy ("pop0", "source0", ...):
        use the returned node (or its label) afterwards, not the object passed in.
        Raises :class:`ConfigError` if the label is already taken, or if this very node
        is already in the network.
        """
        if not isinstance(node, Population | SpikeSourceArray | SpikeSourcePoisson):
            raise ConfigError(
                "add() takes a Population, SpikeSourceArray or SpikeSourcePoisson, "
                f"got {type(node).__name__}"
            )
        label = node.label
        if label is not None and self.nodes.get(label) is node:
            raise ConfigError(f"{type(node).__name__} {label!r} is already in this network; "
                              "add() each node once")
        if label is None:
            prefix = "pop" if isinstance(node, Population) else "source"
            k = 0
            while f"{prefix}{k}" in self.nodes:
                k += 1
            label = f"{prefix}{k}"
            node = replace(node, label=label)
        if label in self.nodes:
            raise ConfigError(f"label {label!r} is already used in this network")
        self.nodes[label] = node
        return node

    def label_of(self, node: Node | str, role: str = "node") -> str:
        """The label of ``node`` in this network: a label names a node, a node object
        must be this network's own (by identity: a node of another network may carry the
        same label)."""
        if isinstance(node, str):
            label: str | None = node
        elif isinstance(node, Population | SpikeSourceArray | SpikeSourcePoisson):
            label = node.label
            if label is None:
                raise ConfigError(
                    f"{role}: this {type(node).__name__} has no label, so it is not a node "
                    "of this network; add() returns the labelled node to use "
                    "(node = net.add(node)), the object passed to add() stays unlabelled"
                )
            if label in self.nodes and self.nodes[label] is not node:
                raise ConfigError(
                    f"{role} {label!r} is not this network's node {label!r} but another "
                    "object with that label (a node of another network, or a copy); pass "
                    "the node this network's add() returned, or its label"
                )
        else:
            raise ConfigError(
                f"{role} must be a node of this network or its label, "
                f"got {type(node).__name__}"
            )
        if label not in self.nodes:
            raise ConfigError(
                f"{role} {label!r} is not in this network; add() it first "
                f"(known: {', '.join(self.nodes) or 'none'})"
            )
        return label

    def population(self, node: Node | str) -> Population:
        """The population with this label (or handle); ConfigError if it is a source."""
        label = self.label_of(node, "population")
        pop = self.nodes[label]
        if not isinstance(pop, Population):
            raise ConfigError(f"{label!r} is a spike source, not a population")
        return pop

    def connect(
        self,
        pre: Node | str,
        post: Node | str,
        weights: Any,
        receptor: Receptor = "exc",
        delays: Any = None,
        synapse: SynapseType | None = None,
    ) -> Projection:
        """Connect ``pre`` to the population ``post``; return the projection.

        Parameters
        ----------
        pre, post
            Nodes of this network (the objects its ``add`` returned) or their labels;
            ``post`` must be a population. A node of another network is refused even if
            its label names a node here.
        weights
            (n_pre, n_post) dense array, torch tensor or scipy sparse matrix, in nA; or a
            :class:`~neurotwin.network.rules.FixedTotalRule`, drawn when compiled.
        receptor
            "exc", "inh" (weights >= 0) or None (signed weights, split by sign).
        delays
            Scalar or per-synapse delays in ms, multiples of dt and >= dt;
            default one time step.
        synapse
            None (static) or a dynamic synapse type
            (:mod:`neurotwin.network.synapse_types`).
        """
        pre_label = self.label_of(pre, "pre")
        post_pop = self.population(post)
        proj = Projection(
            pre=pre_label,
            post=str(post_pop.label),
            weights=weights,
            receptor=receptor,
            delays=self.dt if delays is None else delays,
            synapse=synapse,
        )
        expected = (self.nodes[pre_label].size, post_pop.size)
        if proj.shape != expected:
            raise ConfigError(
                f"weights from {pre_label!r} to {post_pop.label!r} must have shape "
                f"{expected} (n_pre, n_post), got {proj.shape}"
            )
        self._check_delay_grid(proj)
        self.projections.append(proj)
        return proj

    def _check_delay_grid(self, proj: Projection) -> None:
        """:meth:`delay_steps`'s checks on the delays as stored (a scalar delay once, not
        per synapse: a billion-synapse projection is checked without copies; a rule
        rounds its delays to its own dt, which must be the network's: nothing is drawn)."""
        if proj.rule is not None:
            if proj.rule.dt != self.dt:
                raise ConfigError(f"the rule of {proj.pre}->{proj.post} draws delays on a grid "
                                  f"of {proj.rule.dt} ms; the network's dt is {self.dt} ms")
            return
        delay = proj.csr().delay
        steps = check_multiple_of(f"delays of {proj.pre}->{proj.post}", delay, self.dt)
        if steps.size and proj.n_synapses and steps.min() < 1:
            raise ConfigError(
                f"delays of {proj.pre}->{proj.post} must be >= dt = {self.dt} ms, "
                f"got {float(np.min(delay))!r} ms"
            )

    def delay_steps(self, proj: Projection) -> np.ndarray:
        """Per-synapse delays of ``proj`` in whole time steps (>= 1), aligned with
        ``proj.synapses()``; ConfigError if a delay is off the grid or below dt."""
        syn = proj.synapses()
        steps = check_multiple_of(f"delays of {proj.pre}->{proj.post}", syn.delay, self.dt)
        if steps.size and steps.min() < 1:
            raise ConfigError(
                f"delays of {proj.pre}->{proj.post} must be >= dt = {self.dt} ms, "
                f"got {float(syn.delay.min())!r} ms"
            )
        return steps

    def inject(self, post: Node | str, source: DCSource) -> None:
        """Inject the current ``source`` into every neuron of population ``post``."""
        pop = self.population(post)
        amp = np.asarray(source.amplitude)
        if amp.ndim == 1 and amp.shape[0] != pop.size:
            raise ConfigError(
                f"DCSource amplitude must be a scalar or of shape ({pop.size},) for "
                f"{pop.label!r}, got shape {amp.shape}"
            )
        self.currents.append((source, str(pop.label)))

    def record(self, node: Node | str, *variables: str, neurons: Any = None) -> None:
        """Record ``"spikes"`` and/or state variables (e.g. ``"v"``) of ``node``.

        Parameters
        ----------
        node
            Population or source (or its label).
        *variables
            "spikes" and/or names from the model's ``state_variables``.
        neurons
            Indices within the node to record (default: all). Traces then have one
            column per index, in this order; spike ids stay indices within the node.
            Recording again replaces the selection for the variables named.
        """
        label = self.label_of(node, "recorded node")
        target = self.nodes[label]
        allowed: tuple[str, ...] = ("spikes",)
        if isinstance(target, Population):
            allowed += target.model.state_variables
        for var in variables:
            if var not in allowed:
                raise ConfigError(
                    f"cannot record {var!r} of {label!r}; recordable: {', '.join(allowed)}"
                )
        selection = None
        if neurons is not None:
            try:
                selection = np.asarray(neurons)
            except (ValueError, TypeError):  # ragged nesting
                raise ConfigError(f"neurons must be a 1-D sequence of integer indices, got "
                                  f"{neurons!r}") from None
            if selection.ndim != 1 or not np.issubdtype(selection.dtype, np.integer):
                raise ConfigError(f"neurons must be a 1-D sequence of integer indices, got "
                                  f"{selection.dtype} array of shape {selection.shape}")
            if selection.size and (selection.min() < 0 or selection.max() >= target.size):
                raise ConfigError(
                    f"neurons to record must lie in [0, {target.size - 1}] for {label!r}, "
                    f"got {int(selection.min())}..{int(selection.max())}"
                )
            selection = selection.astype(np.int64)
        entry = self.recordings.setdefault(label, {})
        for var in variables:
            entry[var] = selection

    @property
    def populations(self) -> list[Population]:
        """The neuron populations, in insertion order."""
        return [n for n in self.nodes.values() if isinstance(n, Population)]

    @property
    def sources(self) -> list[SpikeSourceArray | SpikeSourcePoisson]:
        """The spike sources, in insertion order."""
        return [n for n in self.nodes.values() if not isinstance(n, Population)]

    def steps(self, duration: float) -> int:
        """Number of time steps in ``duration`` ms (must be a positive multiple of dt)."""
        check_scalar("duration", duration, "ms")
        check_positive("duration", duration, "ms")
        if math.isinf(duration):
            raise ConfigError("duration must be finite")
        steps = int(check_multiple_of("duration", duration, self.dt))
        if steps < 1:  # a multiple of dt to rounding, yet shorter than one step
            raise ConfigError(f"duration must be at least one time step dt = {self.dt} ms, "
                              f"got {duration!r} ms")
        return steps
