"""The :class:`Placement`: a network mapped onto a SpiNNaker2 machine (the mapper's artefact).

It holds everything a runtime needs to know about where things are and how packets
travel: slices of every node and the PE each runs on, routing keys, router tables, and
the synaptic traffic between slices. It does not hold the network (weights, neuron
parameters); :meth:`Placement.check_network` verifies that a network is the one that was
mapped. Saved as one ``.npz`` file (arrays plus a JSON header), reloadable without the
network. What is shown of it lives beside it, as functions of a placement:
:func:`~neurotwin.spinnaker2.report.report_text`, :func:`~neurotwin.spinnaker2.report.utilisation`,
:func:`~neurotwin.spinnaker2.report.resources` and
:func:`~neurotwin.spinnaker2.draw.draw_placement`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from neurotwin.errors import ConfigError, DataError, MappingError
from neurotwin.network import Network
from neurotwin.spinnaker2.machine import Machine
from neurotwin.spinnaker2.partition import Partition, slice_of
from neurotwin.spinnaker2.router import follow
from neurotwin.spinnaker2.routing import Tables

__all__ = ["FORMAT", "Placement"]

FORMAT = "neurotwin.spinnaker2.Placement/2"
"""Identifier and version written into every saved placement."""

_ARRAYS = (
    "sizes",
    "slice_offsets",
    "slice_node",
    "slice_lo",
    "slice_hi",
    "slice_chip",
    "slice_pe",
    "slice_key",
    "slice_mask",
    "slice_bytes",
    "slice_dram_bytes",
    "slice_synapses",
    "slice_rows",
    "pair_src",
    "pair_tgt",
    "pair_synapses",
    "entries_before",
    "link_load",
)


@dataclass(frozen=True, eq=False)
class Placement(Partition):
    """A :class:`~neurotwin.spinnaker2.partition.Partition` placed on a machine: the
    slices, pairs and memory of the partition, plus PEs, keys, router tables, link loads.

    Slices are numbered globally, node by node in network order; slice ``s`` holds
    neurons ``slice_lo[s]:slice_hi[s]`` of node ``labels[slice_node[s]]`` and runs on PE
    ``slice_pe[s]`` of chip ``slice_chip[s]``; neuron ``i`` of it sends key
    ``slice_key[s] + (i - slice_lo[s])``.
    """

    machine: Machine
    options: dict[str, Any]
    """Mapping options used (neurons_per_pe, sources_per_pe, compress, dt in ms)."""
    slice_chip: np.ndarray
    slice_pe: np.ndarray
    slice_key: np.ndarray
    """(n_slices,) uint32 base key."""
    slice_mask: np.ndarray
    """(n_slices,) uint32 mask matching every key of the slice."""
    tables: Tables
    """Router tables as loaded into the chips (compressed unless options say otherwise)."""
    entries_before: np.ndarray
    """(n_chips,) router entries before compression."""
    link_load: np.ndarray
    """(n_chips, 6) load of each outgoing link, in ``link_load_unit``."""
    link_load_unit: str
    """"packets/s" (rates given) or "synapses" (each slice weighted by its synapses)."""
    map_time_s: float
    """Wall-clock time the mapping took, s."""

    def __repr__(self) -> str:
        return (
            f"Placement({len(self.labels)} nodes, {self.n_slices} PEs on "
            f"{len(np.unique(self.slice_chip))} chips, {int(self.tables.sizes.sum())} router "
            f"entries; {self.machine!r})"
        )

    # ---- queries ---------------------------------------------------------------------
    def node_index(self, label: str) -> int:
        """Index of the node ``label``; ConfigError listing the labels if unknown."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise ConfigError(
                f"no node {label!r} in this placement; nodes: {', '.join(self.labels)}"
            ) from None

    def slices_of(self, label: str) -> range:
        """Global slice indices of node ``label``."""
        i = self.node_index(label)
        return range(int(self.slice_offsets[i]), int(self.slice_offsets[i + 1]))

    def slice_of(self, label: str, neuron: Any) -> np.ndarray:
        """Global slice of each neuron index (within node ``label``)."""
        i = self.node_index(label)
        idx = np.asarray(neuron, dtype=np.int64)
        size = int(self.sizes[i])
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise ConfigError(f"neuron indices of {label!r} must lie in [0, {size - 1}]")
        n = int(self.slice_offsets[i + 1] - self.slice_offsets[i])
        return slice_of(idx, size, n) + self.slice_offsets[i]

    def key_of(self, label: str, neuron: Any) -> np.ndarray:
        """Routing key (uint32) of each neuron index of node ``label``."""
        s = self.slice_of(label, neuron)
        offset = np.asarray(neuron, dtype=np.int64) - self.slice_lo[s]
        return (self.slice_key[s].astype(np.int64) + offset).astype(np.uint32)

    def destinations(self, key: int, source_chip: int | None = None) -> np.ndarray:
        """(n, 2) (chip, PE) pairs the router tables deliver ``key`` to.

        ``source_chip`` defaults to the chip of the slice that owns ``key``.
        """
        if source_chip is None:
            owner = np.flatnonzero((np.uint32(key) & self.slice_mask) == self.slice_key)
            if owner.size == 0:
                raise ConfigError(f"key {int(key):#010x} belongs to no slice of this placement")
            source_chip = int(self.slice_chip[owner[0]])
        return follow(self.machine, self.tables, int(key), source_chip)

    def targets(self, slice_index: int) -> np.ndarray:
        """(n, 2) (chip, PE) pairs that hold synapses from slice ``slice_index``, sorted."""
        tgt = self.pair_tgt[self.pair_src == slice_index]
        pairs = np.stack([self.slice_chip[tgt], self.slice_pe[tgt]], axis=1)
        return np.unique(pairs, axis=0).reshape(-1, 2)

    def check_network(self, network: Network) -> None:
        """MappingError unless ``network`` has the nodes (labels, sizes) this placement maps."""
        labels = tuple(str(n.label) for n in network.nodes.values())
        sizes = [n.size for n in network.nodes.values()]
        if labels != self.labels or sizes != [int(s) for s in self.sizes]:
            raise MappingError(
                "the placement was made for another network: nodes "
                f"{dict(zip(self.labels, self.sizes.tolist(), strict=True))}, "
                f"got {dict(zip(labels, sizes, strict=True))}"
            )
        if network.dt != self.options.get("dt"):
            raise MappingError(
                f"the placement was made for dt = {self.options.get('dt')} ms, got {network.dt}"
            )

    # ---- (de)serialisation -----------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the placement to ``path`` (.npz: arrays plus a JSON header)."""
        header = {
            "format": FORMAT,
            "machine": self.machine.to_dict(),
            "options": self.options,
            "labels": list(self.labels),
            "kinds": list(self.kinds),
            "link_load_unit": self.link_load_unit,
            "map_time_s": self.map_time_s,
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update(
            {
                "table_offsets": self.tables.offsets,
                "table_key": self.tables.key,
                "table_mask": self.tables.mask,
                "table_route": self.tables.route,
            }
        )
        with open(path, "wb") as fh:
            np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Placement:
        """Read a placement written by :meth:`save`; DataError if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {name: data[name] for name in data.files if name != "header"}
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"{os.fspath(path)!r} is not a saved Placement: {err}") from None
        if header.get("format") != FORMAT:
            raise DataError(
                f"{os.fspath(path)!r} holds format {header.get('format')!r}, expected {FORMAT!r}"
            )
        missing = [n for n in (*_ARRAYS, "table_offsets", "table_key") if n not in arrays]
        if missing:
            raise DataError(f"{os.fspath(path)!r} lacks arrays {', '.join(missing)}")
        tables = Tables(
            offsets=arrays.pop("table_offsets"),
            key=arrays.pop("table_key"),
            mask=arrays.pop("table_mask"),
            route=arrays.pop("table_route"),
        )
        names = {f.name for f in fields(cls)}
        return cls(
            machine=Machine.from_dict(header["machine"]),
            options=dict(header["options"]),
            labels=tuple(header["labels"]),
            kinds=tuple(header["kinds"]),
            tables=tables,
            link_load_unit=str(header["link_load_unit"]),
            map_time_s=float(header["map_time_s"]),
            **{k: v for k, v in arrays.items() if k in names},
        )
