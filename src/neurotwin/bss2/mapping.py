r"""Mapping a :class:`~neurotwin.network.Network` onto one HICANN-X chip.

The result is a :class:`Mapping`: a full :class:`~neurotwin.bss2.ChipConfig` (CapMem codes,
synapse weights, address labels, row modes) plus what execution needs to feed and read
the chip (where each population sits, which synapse drivers each source reaches, the
model <-> hardware scales) and the tables a run steps on this chip
(:attr:`Mapping.tables`, :mod:`~neurotwin.bss2.tables`: resolved here, so that ``run``
only runs). It is inspectable (:meth:`Mapping.usage`, ``tables``), saveable
(:meth:`Mapping.save` / :meth:`Mapping.load`, JSON; the tables are rebuilt on load) and
drawable (:func:`neurotwin.bss2.draw.draw_mapping`). Populations onto circuits live in
:mod:`~neurotwin.bss2.neuron_mapping`, synapses onto the arrays in
:mod:`~neurotwin.bss2.synapse_mapping`.

Placement. Populations take consecutive neuron circuits 0..511 in the order they were
added (circuit ``i`` sits in hemisphere ``i // 256``, column ``i % 256``). A neuron is a
*logical neuron* of k neighbouring circuits of one neuron row (k = 1 unless it needs more
synapse slots, see below; :func:`~neurotwin.bss2.neuron.merge_compartments` gives the
merged membrane); a neuron that would straddle the end of a row starts the next row.
Presynaptic units are the neurons (in order) and then every spike source.

Synapses. In each hemisphere a greedy packer walks the presynaptic units in order and,
per receptor, puts each unit's synapses into open rows of that receptor's mode where one
of the target neuron's columns is still free, opening new rows (0, 1, 2, ...) as needed.
Row ``r`` belongs to synapse driver ``r // 2``; a driver passes every event it receives
to both its rows, and a synapse responds when the event's 6-bit address equals its
label. A unit therefore has one address (the low 6 bits of its 16-bit spike label), fixed
when it is first placed, and may share a driver with up to 63 other units of distinct
addresses. A signed projection (``receptor=None``) puts its positive weights in
excitatory rows and its negative ones in inhibitory rows. One column of one row holds one
synapse, so a neuron of k circuits holds at most 256 k synapses; by default every
population gets ``k = ceil(largest fan-in / 256)`` circuits per neuron (the fan-in
counting every synapse, both receptors), or ``circuits_per_neuron`` if given. More than
256 rows in a hemisphere is ``CapacityError("synapse rows")``, more than 512 circuits
``CapacityError("neuron circuits")``.

Scales (per population; model units ms, mV, nA, nF; hardware µs, mV, nA, pF)::

    time        t_hw [µs] = t_model [ms]                     (ACCELERATION = 1000)
    voltage     V_hw = V_0 + s (v - v_low),  v_low = min(v_rest, v_reset)
                V_0 = potential of CapMem code c_0 (CADC read 70, calix' reset target),
                s = G u / (v_thresh - v_low): the window [v_low, v_thresh] spans G CapMem
                codes (G <= 132, i.e. up to calix' threshold target of 125 LSB; G is chosen
                so that v_rest and v_reset fall on whole codes where possible)
    current     I_hw = k I_model,  k = s C_hw / cm      (so dV_hw/dt_hw = s dv/dt)
    weight      q = w / lsb,  lsb = g_syn / k  [model nA per LSB],
                g_syn = 0.3 nA * gm / 500 the synaptic current per LSB at bias code gm
    (C_hw is the merged capacitance of the neuron's k circuits; for AdEx the window's top
    is v_spike, the comparator's threshold, and v_thresh is V_T, the ``v_exp`` cell)
    AdEx        delta_T_hw = s delta_T,  a_hw = a C_hw / cm,  b_hw = k b,
                tau_w [µs] = tau_w [ms]; codes by the nominal design (chip.py), rounded
    offset      i_mem_offset code = round(k (i_offset + DC(t)) / 0.002 nA), anchor circuit
                only; the code is rewritten where an injected DCSource starts or stops
                (:func:`offset_schedule`, at the engine's step boundaries)

Without a calibration the CapMem codes invert the chip's nominal design (exact on an
ideal chip when the parameters fall on codes: tau = 3000 µs / code); with a
:class:`~neurotwin.bss2.Calibration`, every circuit starts from its calibrated codes and
moves them to the model's values (potentials by whole codes, time constants and the
synaptic bias in proportion). The weight LSB is ``weight_scale`` (nA per LSB) if given,
otherwise the calibration's strength (``i_synin_gm`` target), otherwise the largest
weight onto the population maps to 63. A weight above 63 LSB raises ConfigError; it is
never clamped. A tau_mem or tau_syn outside what the chip can be calibrated to raises
ConfigError with the reachable range
(:func:`~neurotwin.bss2.neuron_mapping.check_time_constants`). Without a chip the
mapping runs an ideal one, and says so (:attr:`Mapping.ideal_chip`, :meth:`Mapping.summary`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.calibration import Calibration
from neurotwin.bss2.chip import Chip, Deviations
from neurotwin.bss2.config import SWITCHES, ChipConfig, NeuronConfig
from neurotwin.bss2.neuron_mapping import (
    PopulationMap,
    compartments,
    largest_fan_in,
    place_neurons,
    population_settings,
)
from neurotwin.bss2.readout import Readout, check_readout
from neurotwin.bss2.synapse_mapping import place_synapses
from neurotwin.bss2.tables import EmulationTables, emulation_tables
from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.lif import LIF
from neurotwin.engines.plan import SourcePlan, dc_events, source_plan
from neurotwin.errors import CapacityError, ConfigError, DataError, MappingError
from neurotwin.network import Network, SpikeSourcePoisson

__all__ = ["Mapping", "map_network", "offset_schedule"]

FORMAT = "neurotwin.bss2.mapping"
VERSION = 3


@dataclass(frozen=True, eq=False)
class Mapping:
    """A network mapped onto one chip: the ``bss2`` backend's artefact.

    Presynaptic units are indexed as circuits ``0 .. n_neurons - 1`` (the placed neurons)
    followed by the network's spike sources in order.
    """

    network: Network
    chip: Chip
    config: ChipConfig
    populations: dict[str, PopulationMap]
    n_neurons: int
    """Mapped (logical) neurons; neuron i's circuits are
    ``circuits[member_ptr[i]:member_ptr[i + 1]]``."""
    address: np.ndarray
    """6-bit address of every presynaptic unit, -1 where it has no synapse, (n_pre,)."""
    routes: np.ndarray
    """(R, 3) int: (presynaptic unit, hemisphere, driver) for every driver a unit reaches."""
    delay_steps: np.ndarray
    """(2, 256, 256) delay in time steps of the synapse's event path (0 where unused).
    Not a HICANN-X field: FPGA playback times external events; on-chip synapses have the
    chip's fixed delay of one step (any other is a MappingError when the tables are
    built)."""
    calibration_serial: int | None = None
    placements: tuple[np.ndarray, ...] = ()
    """Per projection (in ``network.projections`` order) the (hemisphere, row, column) of
    each synapse, (S, 3) int, synapses in ``Projection.synapses()`` order."""
    readout: Readout = field(default_factory=Readout)
    """The chip readouts a run records (:class:`~neurotwin.bss2.readout.Readout`); not
    saved with the mapping."""
    sources: SourcePlan = field(init=False, repr=False)
    """The spike sources on the time grid (playback; Poisson streams shared with ``ideal``)."""
    source_slices: dict[str, tuple[int, int]] = field(init=False, repr=False)
    """Source label -> (first, end) source index (sources in network order)."""
    circuits: np.ndarray = field(init=False, repr=False)
    """Circuits in use, neuron by neuron (anchor first), (n_circuits,)."""
    member_ptr: np.ndarray = field(init=False, repr=False)
    """(n_neurons + 1,) offsets of each neuron's circuits in ``circuits``."""
    tables: EmulationTables = field(init=False, repr=False)
    """What a run steps on this chip (:mod:`~neurotwin.bss2.tables`), resolved here so
    that ``run`` only runs."""

    def __post_init__(self) -> None:
        sources, source_slices = source_plan(self.network, self.network.dt)
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "source_slices", source_slices)
        pmaps = list(self.populations.values())
        circuits = np.concatenate([p.circuits for p in pmaps] + [np.zeros(0, np.int64)])
        sizes = np.concatenate([np.full(p.size, p.circuits_per_neuron) for p in pmaps]
                               + [np.zeros(0, np.int64)])
        object.__setattr__(self, "circuits", circuits.astype(np.int64))
        object.__setattr__(self, "member_ptr",
                           np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
        object.__setattr__(self, "tables", emulation_tables(
            self.network, self.chip, self.config, self.populations, self.circuits,
            self.member_ptr, self.routes, self.address, self.delay_steps,
            offset_schedule(self), self.dt))

    @property
    def n_circuits(self) -> int:
        """Neuron circuits in use."""
        return int(self.circuits.size)

    @property
    def dt(self) -> float:
        """Time step, ms of model time = µs of hardware time."""
        return self.network.dt

    def rows_used(self) -> np.ndarray:
        """Row mode != disabled, (2, 256) bool."""
        return np.asarray(self.config.row_modes) != 0

    def usage(self) -> dict[str, tuple[float, float]]:
        """Resource -> (used, available) on the chip."""
        rows = self.rows_used()
        drivers = rows.reshape(specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS, 2).any(axis=2)
        labels = len({(int(h), int(d), int(self.address[s])) for s, h, d in self.routes})
        synapses = int(np.count_nonzero(np.asarray(self.config.weights)))
        return {
            "neurons": (float(self.n_neurons), float(specs.N_NEURONS)),
            "neuron circuits": (float(self.n_circuits), float(specs.N_NEURONS)),
            "synapse rows": (float(rows.sum()), float(specs.N_HEMISPHERES * specs.SYNRAM_ROWS)),
            "synapse drivers": (float(drivers.sum()),
                                float(specs.N_HEMISPHERES * specs.N_SYNAPSE_DRIVERS)),
            "labels": (float(labels), float(specs.N_HEMISPHERES * specs.N_SYNAPSE_DRIVERS
                                             * (specs.ADDRESS_MAX + 1))),
            "synapses": (float(synapses), float(specs.N_SYNAPSES)),
            "input bandwidth": (poisson_input_rate(self.network, self.address, self.n_neurons),
                                specs.INPUT_EVENT_RATE_MAX_HZ / specs.ACCELERATION),
        }

    @property
    def chip_serial(self) -> int:
        """Serial number of the chip mapped onto."""
        return self.chip.serial

    @property
    def ideal_chip(self) -> bool:
        """True where the chip has no fixed-pattern deviations (the default without
        ``chip=``): results then show no device mismatch at all."""
        return self.chip.is_ideal

    def chip_line(self) -> str:
        """One line naming the chip: serial, ideal or with deviations, calibration."""
        if self.ideal_chip:
            return (f"chip serial {self.chip_serial}: ideal chip (no fixed-pattern "
                    f"deviations): pass chip=Chip(serial) for a realistic one")
        calibrated = ("uncalibrated" if self.calibration_serial is None
                      else f"calibration of serial {self.calibration_serial}")
        return f"chip serial {self.chip_serial}: fixed-pattern deviations, {calibrated}"

    def summary(self) -> str:
        """The chip (:meth:`chip_line`), per-resource usage and per-population scales as
        a plain-text table."""
        lines = [self.chip_line(), f"{'resource':<16}{'used':>10}{'available':>12}"]
        for name, (used, avail) in self.usage().items():
            lines.append(f"{name:<16}{used:>10g}{avail:>12g}")
        lines.append(f"{'population':<16}{'circuits':>12}{'per nrn':>8}{'mV_hw/mV':>10}"
                     f"{'nA/LSB':>10}")
        for p in self.populations.values():
            span = f"{int(p.circuits.min())}-{int(p.circuits.max())}" if p.size else "-"
            lines.append(f"{p.label:<16}{span:>12}{p.circuits_per_neuron:>8}"
                         f"{p.voltage_scale:>10.3f}{p.weight_lsb_na:>10.4g}")
        return "\n".join(lines)

    def save(self, path: str | Path) -> None:
        """Write the mapping (not the network) as JSON; reload with :meth:`load`."""
        neurons = self.config.neurons
        data = {
            "format": FORMAT,
            "version": VERSION,
            "serial": self.chip.serial,
            "deviations": self.chip.deviations.to_dict(),
            "calibration_serial": self.calibration_serial,
            "fingerprint": _fingerprint(self.network),
            "n_neurons": self.n_neurons,
            "populations": {k: vars(v) for k, v in self.populations.items()},
            "capmem": neurons.capmem.tolist(),
            "membrane_capacitance": neurons.membrane_capacitance.tolist(),
            "refractory_counter": neurons.refractory_counter.tolist(),
            **{name: getattr(neurons, name).tolist() for name in SWITCHES},
            "weights": np.asarray(self.config.weights).tolist(),
            "addresses": np.asarray(self.config.addresses).tolist(),
            "row_modes": np.asarray(self.config.row_modes).tolist(),
            "cadc_offset": np.asarray(self.config.cadc_offset).tolist(),
            "driver_offset": np.asarray(self.config.driver_offset).tolist(),
            "address": self.address.tolist(),
            "routes": self.routes.tolist(),
            "delay_steps": self.delay_steps.tolist(),
            "placements": [p.tolist() for p in self.placements],
        }
        Path(path).write_text(json.dumps(data))

    @classmethod
    def load(cls, path: str | Path, network: Network) -> Mapping:
        """Read a mapping saved by :meth:`save` and attach it to ``network``.

        Raises
        ------
        DataError
            If the file is not a mapping, is corrupt, or was made for a network with other
            nodes (labels, kinds or sizes).
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read mapping {str(path)!r}: {err}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{str(path)!r} is not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise DataError(f"{str(path)!r} has version {data.get('version')!r}, "
                            f"this neurotwin reads version {VERSION}")
        if data.get("fingerprint") != _fingerprint(network):
            raise DataError(f"{str(path)!r} maps another network (nodes differ)")
        try:
            neurons = NeuronConfig(
                circuits=np.arange(specs.N_NEURONS),
                capmem=np.asarray(data["capmem"]),
                membrane_capacitance=np.asarray(data["membrane_capacitance"]),
                refractory_counter=np.asarray(data["refractory_counter"]),
                **{name: np.asarray(data[name], dtype=bool) for name in SWITCHES},
            )
            config = ChipConfig(neurons=neurons, weights=np.asarray(data["weights"]),
                                addresses=np.asarray(data["addresses"]),
                                row_modes=np.asarray(data["row_modes"]),
                                cadc_offset=np.asarray(data["cadc_offset"]),
                                driver_offset=np.asarray(data["driver_offset"]))
            return cls(
                network=network,
                chip=Chip(int(data["serial"]), Deviations(**data["deviations"])),
                config=config,
                populations={k: PopulationMap(**v) for k, v in data["populations"].items()},
                n_neurons=int(data["n_neurons"]),
                address=np.asarray(data["address"], dtype=np.int64),
                routes=np.asarray(data["routes"], dtype=np.int64).reshape(-1, 3),
                delay_steps=np.asarray(data["delay_steps"], dtype=np.int64),
                calibration_serial=data["calibration_serial"],
                placements=tuple(np.asarray(p, dtype=np.int64).reshape(-1, 3)
                                 for p in data.get("placements", [])),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"corrupt mapping {str(path)!r}: {err}") from None


def _fingerprint(network: Network) -> list[list[Any]]:
    return [[label, type(node).__name__, int(node.size)] for label, node in network.nodes.items()]


def poisson_input_rate(network: Network, address: np.ndarray, n_neurons: int) -> float:
    """Mean input event rate of the Poisson sources that have synapses, Hz of model time."""
    total = 0.0
    offset = n_neurons
    for src in network.sources:
        if isinstance(src, SpikeSourcePoisson):
            routed = address[offset:offset + src.size] >= 0
            total += float(np.sum(np.asarray(src.rate)[routed]))
        offset += src.size
    return total


def offset_schedule(mapping: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where injected currents rewrite the ``i_mem_offset`` code of a neuron's anchor.

    The step-boundary schedule of each neuron's total injected current that the
    ``ideal`` engine uses (:func:`~neurotwin.engines.plan.dc_events`), as codes of
    ``i_offset + DC`` on the neuron's scale.

    Returns
    -------
    steps, neurons, codes
        (E,) int arrays, sorted by step: from step ``steps[e]`` on (step 0: before the
        run starts) neuron ``neurons[e]``'s anchor has code ``codes[e]``.

    Raises
    ------
    ConfigError
        A total current outside the offset cell's range, naming the population.
    """
    slices = {label: (p.first_neuron, p.first_neuron + p.size)
              for label, p in mapping.populations.items()}
    steps, neurons, values = dc_events(mapping.network, slices, mapping.n_neurons)
    codes = np.empty(neurons.size, np.int64)
    for pop in mapping.network.populations:
        label = str(pop.label)
        lo, hi = slices[label]
        sel = (neurons >= lo) & (neurons < hi)
        if not sel.any():
            continue
        total = pop.model.i_offset + values[sel]
        try:
            codes[sel] = specs.offset_current_code(total * mapping.populations[label].current_scale)
        except ConfigError as err:
            raise ConfigError(f"injected current into population {label!r} (i_offset plus "
                              f"DCSource amplitudes): {err}") from None
    return steps.astype(np.int64), neurons, codes


def _weight_scales(network: Network,
                   weight_scale: float | dict[str, float] | None) -> dict[str, float]:
    """The weight LSB (model nA) by population label where given; ConfigError for a
    scale that is not a positive number or names no population."""
    labels = [str(p.label) for p in network.populations]
    if weight_scale is None:
        return {}
    given = weight_scale if isinstance(weight_scale, dict) \
        else dict.fromkeys(labels, weight_scale)
    unknown = set(given) - set(labels)
    if unknown:
        raise ConfigError(f"weight_scale names unknown populations {sorted(unknown)}; "
                          f"populations: {', '.join(labels)}")
    for label, scale in given.items():
        if isinstance(scale, bool) or not isinstance(scale, int | float) \
                or not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"weight_scale must be a positive number of nA per LSB, "
                              f"got {scale!r}" + (f" for {label!r}" if isinstance(
                                  weight_scale, dict) else ""))
    return {label: float(scale) for label, scale in given.items()}


def map_network(
    network: Network,
    chip: Chip | None = None,
    calibration: Calibration | None = None,
    weight_scale: float | dict[str, float] | None = None,
    circuits_per_neuron: int | dict[str, int] | None = None,
    readout: Readout | None = None,
) -> Mapping:
    """Map ``network`` onto ``chip``.

    Parameters
    ----------
    network
        LIF and AdEx populations, spike sources, projections, injected DC currents; not
        modified.
    chip
        The chip (default: an ideal chip, serial 0, without deviations; the mapping says so:
        :attr:`Mapping.ideal_chip`, :meth:`Mapping.summary`).
    calibration
        The chip's calibration; its circuits' codes are the starting point of every
        neuron's settings (default: invert the nominal design).
    weight_scale
        Model nA per 6-bit weight LSB, for all populations (float) or by label of the
        postsynaptic population (dict; others default). Default: from the calibration's
        synaptic strength, else the largest weight onto each population is 63 LSB.
    circuits_per_neuron
        Circuits joined into one logical neuron, for all populations (int) or by label
        (dict; others automatic). Default: ``ceil(largest fan-in / 256)`` per population.
    readout
        The chip readouts a run records (default: none); ConfigError naming an unknown
        population, neuron index or projection.

    Raises
    ------
    CapacityError
        More than 512 neuron circuits, more than 256 synapse rows (128 drivers) in a
        hemisphere, more than 2**16 presynaptic units (spike labels), or Poisson input
        above the link limit.
    ConfigError
        A parameter or injected current that is not expressible, or a weight above 63 LSB.
    MappingError
        A model other than LIF and AdEx, or an AdEx population of multi-circuit neurons.
    """
    chip = Chip(0, Deviations.ideal()) if chip is None else chip
    if not isinstance(chip, Chip):
        raise ConfigError(f"chip must be a bss2.Chip, got {type(chip).__name__}")
    if calibration is not None and calibration.serial != chip.serial:
        raise ConfigError(f"the calibration belongs to chip serial {calibration.serial}, "
                          f"not to chip serial {chip.serial}")
    scales = _weight_scales(network, weight_scale)
    readout = check_readout(Readout() if readout is None else readout, network)
    for pop in network.populations:
        if not isinstance(pop.model, LIF | AdEx):
            raise MappingError(
                f"population {pop.label!r} is {type(pop.model).__name__}, with "
                f"{pop.model.synapses}: the bss2 twin models the neuron circuit's synaptic "
                f"inputs as exponential currents (LIF, AdEx) and maps nothing else")
    n_neurons = sum(p.size for p in network.populations)
    n_pre = n_neurons + sum(s.size for s in network.sources)
    if n_pre > specs.SPIKE_LABEL_COUNT:
        raise CapacityError("spike labels", n_pre, specs.SPIKE_LABEL_COUNT,
                            "one 16-bit label per presynaptic unit")

    first: dict[str, int] = {}
    offset = 0
    for pop in network.populations:
        first[str(pop.label)] = offset
        offset += pop.size
    pre_first = dict(first)
    for src in network.sources:
        pre_first[str(src.label)] = offset
        offset += src.size

    k_of = compartments(network, first, n_neurons, circuits_per_neuron)
    placement: dict[str, np.ndarray] = {}
    end = 0
    for pop in network.populations:
        label = str(pop.label)
        anchors, end = place_neurons(end, pop.size, k_of[label])
        placement[label] = (anchors[:, None] + np.arange(k_of[label])[None, :]).ravel()
    if end > specs.N_NEURONS:
        fan_in = largest_fan_in(network, first, n_neurons)
        sizes = ", ".join(f"{label}: {k} (fan-in {fan_in[label]})"
                          for label, k in k_of.items())
        raise CapacityError("neuron circuits", end, specs.N_NEURONS,
                            f"{n_neurons} neurons; circuits per neuron {sizes}: a circuit "
                            f"sees the {specs.SYNRAM_ROWS} synapse rows of its hemisphere, "
                            f"so a fan-in above {specs.SYNRAM_ROWS} takes a neuron of "
                            f"several circuits")

    w_max = dict.fromkeys(first, 0.0)
    for proj in network.projections:
        syn = proj.synapses()
        if syn.weight.size:
            w_max[proj.post] = max(w_max[proj.post], float(np.max(np.abs(syn.weight))))

    neurons = (NeuronConfig.default() if calibration is None
               else calibration.apply().neurons)
    capmem = np.array(neurons.capmem, copy=True)
    refrac = np.array(neurons.refractory_counter, copy=True)
    switches = {name: np.zeros(specs.N_NEURONS, bool) for name in SWITCHES}
    pops: dict[str, PopulationMap] = {}
    for pop in network.populations:
        label = str(pop.label)
        circuits = placement[label]
        pmap, codes, counts = population_settings(pop, first[label], circuits, k_of[label],
                                                   w_max[label], calibration, scales.get(label))
        for cell, value in codes.items():
            capmem[specs.CAPMEM_CELLS.index(cell), circuits] = value
        refrac[circuits] = counts
        switches["enable_threshold"][pmap.anchors] = True
        if isinstance(pop.model, AdEx):
            switches["enable_exponential"][circuits] = True
            switches["enable_adaptation"][circuits] = pop.model.a != 0 or pop.model.b != 0
        pops[label] = pmap
    neurons = replace(neurons, capmem=capmem, refractory_counter=refrac, **switches)

    synapses = place_synapses(network, pops, first, pre_first, k_of, n_pre)
    # constructing the mapping resolves its tables (and checks the injected currents
    # against the offset cell's range)
    mapping = Mapping(
        network=network,
        chip=chip,
        config=ChipConfig(neurons=neurons, weights=synapses.weights,
                          addresses=synapses.addresses, row_modes=synapses.row_modes,
                          cadc_offset=None if calibration is None else calibration.cadc_offset,
                          driver_offset=(None if calibration is None
                                         else calibration.driver_offset)),
        populations=pops,
        n_neurons=n_neurons,
        address=synapses.address,
        routes=synapses.routes,
        delay_steps=synapses.delay_steps,
        calibration_serial=None if calibration is None else calibration.serial,
        placements=synapses.placements,
        readout=readout,
    )
    rate = poisson_input_rate(network, synapses.address, n_neurons)
    limit = specs.INPUT_EVENT_RATE_MAX_HZ / specs.ACCELERATION
    if rate > limit:
        raise CapacityError("input bandwidth", rate, limit,
                            "Poisson input events per second of model time")
    return mapping
