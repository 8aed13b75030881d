r"""Mapping a :class:`~neurotwin.network.Network` onto one HICANN-X chip.

The result is a :class:`Mapping`: a full :class:`~neurotwin.bss2.ChipConfig` (CapMem codes,
synapse weights, address labels, row modes) plus what execution needs to feed and read
the chip (where each population sits, which synapse drivers each source reaches, the
model <-> hardware scales). It is inspectable (:meth:`Mapping.usage`), saveable
(:meth:`Mapping.save` / :meth:`Mapping.load`, JSON) and drawable
(:func:`neurotwin.bss2.draw.draw_mapping`).

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
never clamped.
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
from neurotwin.bss2.config import SWITCHES, ChipConfig, NeuronConfig, nominal_potential_code
from neurotwin.bss2.readout import Readout
from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.lif import LIF
from neurotwin.engines.step import StepProgram, compile_network
from neurotwin.errors import CapacityError, ConfigError, DataError, MappingError
from neurotwin.network import Network, Population, SpikeSourcePoisson

__all__ = ["Mapping", "PopulationMap", "map_network", "offset_schedule", "place_neurons"]

FORMAT = "neurotwin.bss2.mapping"
VERSION = 2

WINDOW_LOW_READ = specs.CALIX_TARGET_RESET
"""CADC read at which v_low (the lower of v_rest and v_reset) sits."""
WINDOW_HIGH_READ = specs.CALIX_TARGET_THRESHOLD
"""CADC read of v_thresh at the widest voltage window."""
WINDOW_MIN_CODES = 20
"""Narrowest voltage window [v_low, v_thresh] in CapMem codes (~23 mV); below it the
membrane noise and code steps would dominate."""
GAIN_PER_CODE_NA = specs.SYN_GAIN_NOMINAL_NA / specs.SYNIN_GM_NOMINAL_CODE
"""Nominal synaptic current per weight LSB per i_bias_synin_gm code, nA."""
RECEPTORS = ("exc", "inh")
ROW_MODE = {"exc": specs.ROW_MODES.index("excitatory"), "inh": specs.ROW_MODES.index("inhibitory")}


@dataclass(frozen=True)
class PopulationMap:
    """Where one population sits and how its model quantities scale onto the chip."""

    label: str
    first_circuit: int
    size: int
    v_low_mv: float
    """Model potential (mV) placed at ``v_zero_hw_mv``: min(v_rest, v_reset)."""
    v_zero_hw_mv: float
    """Nominal hardware potential of ``v_low_mv``, mV."""
    voltage_scale: float
    """Hardware mV per model mV."""
    current_scale: float
    """Hardware nA per model nA (``voltage_scale * C_hw / cm``)."""
    weight_lsb_na: float
    """Model weight (nA) of one 6-bit weight LSB."""
    circuits_per_neuron: int = 1
    """Circuits joined into each of the population's logical neurons."""
    first_neuron: int = 0
    """Index of the population's first neuron among all mapped (logical) neurons."""

    @property
    def anchors(self) -> np.ndarray:
        """First circuit of each of the population's neurons, (size,)."""
        return place_neurons(self.first_circuit, self.size, self.circuits_per_neuron)[0]

    @property
    def circuits(self) -> np.ndarray:
        """All circuits of the population, neuron by neuron, (size * circuits_per_neuron,)."""
        k = self.circuits_per_neuron
        return (self.anchors[:, None] + np.arange(k)[None, :]).ravel()

    @property
    def neurons(self) -> slice:
        """The population's neurons among all mapped (logical) neurons."""
        return slice(self.first_neuron, self.first_neuron + self.size)

    def to_hardware_mv(self, v_model: Any) -> np.ndarray:
        """Model potential(s), mV, to nominal hardware potential(s), mV."""
        return self.v_zero_hw_mv + self.voltage_scale * (np.asarray(v_model) - self.v_low_mv)

    def to_model_mv(self, v_hw: Any) -> np.ndarray:
        """Hardware potential(s), mV, to model potential(s), mV (inverse of the above)."""
        return self.v_low_mv + (np.asarray(v_hw) - self.v_zero_hw_mv) / self.voltage_scale


def place_neurons(first: int, size: int, k: int) -> tuple[np.ndarray, int]:
    """Anchors of ``size`` neurons of ``k`` circuits from circuit ``first`` on, and the
    circuit after the last; a neuron never straddles the end of a neuron row."""
    anchors = np.empty(size, np.int64)
    pos = first
    row = specs.N_NEURON_COLUMNS
    for j in range(size):
        if pos % row + k > row:
            pos = (pos // row + 1) * row
        anchors[j] = pos
        pos += k
    return anchors, pos


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
    Not a HICANN-X field: FPGA playback times external events; for on-chip recurrence the
    twin honours the model's delay (the chip's fixed routing latency is not modelled)."""
    calibration_serial: int | None = None
    placements: tuple[np.ndarray, ...] = ()
    """Per projection (in ``network.projections`` order) the (hemisphere, row, column) of
    each synapse, (S, 3) int, synapses in ``Projection.synapses()`` order."""
    readout: Readout = field(default_factory=Readout)
    """The chip readouts a run records (:class:`~neurotwin.bss2.readout.Readout`); not
    saved with the mapping."""
    program: StepProgram = field(init=False, repr=False)
    """The network compiled for source playback (Poisson streams shared with ``ideal``)."""
    circuits: np.ndarray = field(init=False, repr=False)
    """Circuits in use, neuron by neuron (anchor first), (n_circuits,)."""
    member_ptr: np.ndarray = field(init=False, repr=False)
    """(n_neurons + 1,) offsets of each neuron's circuits in ``circuits``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "program", compile_network(self.network))
        pmaps = list(self.populations.values())
        circuits = np.concatenate([p.circuits for p in pmaps] + [np.zeros(0, np.int64)])
        sizes = np.concatenate([np.full(p.size, p.circuits_per_neuron) for p in pmaps]
                               + [np.zeros(0, np.int64)])
        object.__setattr__(self, "circuits", circuits.astype(np.int64))
        object.__setattr__(self, "member_ptr",
                           np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

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

    def summary(self) -> str:
        """Per-resource usage and per-population scales as a plain-text table."""
        lines = [f"{'resource':<16}{'used':>10}{'available':>12}"]
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
                                cadc_offset=np.asarray(data["cadc_offset"]))
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


# ---------------------------------------------------------------------------------------
# neuron parameters


def _code(what: str, value: float | np.ndarray, label: str) -> np.ndarray:
    """Round CapMem code(s) and check 1..1022 (0 would switch the bias off)."""
    codes = np.floor(np.asarray(value, dtype=np.float64) + 0.5)
    bad = (codes < 1) | (codes > specs.CAPMEM_MAX)
    if np.any(bad):
        worst = float(np.asarray(value, dtype=np.float64)[bad].ravel()[0])
        raise ConfigError(f"{what} of population {label!r} is not expressible: it needs "
                          f"CapMem code {worst:.1f}, outside [1, {specs.CAPMEM_MAX}]")
    return codes.astype(np.int64)


def _read_of(v_hw: float) -> float:
    """Mean CADC read of a potential (mV) on a calibrated channel."""
    return (v_hw - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV - 0.5


def _top(model: LIF | AdEx) -> float:
    """Highest potential of the voltage window: the comparator's threshold."""
    return model.v_spike if isinstance(model, AdEx) else model.v_thresh


def _window_codes(model: LIF | AdEx) -> int:
    """Widest window G (codes) <= the calix span whose v_rest, v_reset (and AdEx' V_T)
    fall on codes."""
    widest = round((WINDOW_HIGH_READ - WINDOW_LOW_READ) * specs.CADC_LSB_MV / specs.CAPMEM_LSB_MV)
    v_low = min(model.v_rest, model.v_reset)
    gap = _top(model) - v_low
    inner = [model.v_rest, model.v_reset] + ([model.v_thresh] if isinstance(model, AdEx) else [])

    def error(g: int) -> float:
        x = (np.array(inner) - v_low) / gap * g
        return float(np.sum(np.abs(x - np.round(x))))

    return min(range(widest, widest - 12, -1), key=lambda g: (round(error(g), 9), -g))


def _calibrated_positions(calibration: Calibration, circuits: np.ndarray, label: str
                          ) -> np.ndarray:
    """Positions in the calibration of ``circuits``."""
    cal = calibration.neurons
    where = {int(c): i for i, c in enumerate(cal.circuits)}
    missing = [int(c) for c in circuits if int(c) not in where]
    if missing:
        raise ConfigError(f"circuit {missing[0]} of population {label!r} is not in the "
                          f"calibration (it calibrates {cal.n} circuits)")
    return np.array([where[int(c)] for c in circuits], dtype=np.int64)


def _adex_codes(model: AdEx, s: float, k: float, c_hw: float, label: str
                ) -> dict[str, np.ndarray]:
    """Nominal codes of the AdEx cells (module docstring); ConfigError naming the
    parameter and its expressible range at this population's scales."""
    top = specs.CAPMEM_MAX
    tau_w_code = specs.TAU_W_NOMINAL_US * specs.ADAPT_TAU_NOMINAL_CODE
    table = (  # parameter, value, cell, model units per code, lowest code, unit
        ("delta_t", model.delta_t, "i_bias_exp", specs.DELTA_T_MV_PER_CODE / s, 1, "mV"),
        ("a", model.a, "i_bias_adapt_a", specs.ADAPT_A_NS_PER_CODE * model.cm / c_hw, 0, "nS"),
        ("b", model.b, "i_bias_adapt_b", specs.ADAPT_B_NA_PER_CODE / k, 0, "nA"),
    )
    codes: dict[str, np.ndarray] = {}
    for name, value, cell, per_code, low, unit in table:
        code = math.floor(value / per_code + 0.5)
        if not low <= code <= top:
            raise ConfigError(
                f"{name} {value} {unit} of population {label!r} is not expressible: it "
                f"needs {cell} code {value / per_code:.1f}; the range at this population's "
                f"scales is [{low * per_code:.4g}, {top * per_code:.4g}] {unit}")
        codes[cell] = np.array(code)
    tau_code = tau_w_code / model.tau_w
    if not (1 <= math.floor(tau_code + 0.5) <= top and model.tau_w <= specs.TAU_W_MAX_US):
        raise ConfigError(
            f"tau_w {model.tau_w} ms of population {label!r} is not expressible: it needs "
            f"i_bias_adapt_tau code {tau_code:.1f}; the range is "
            f"[{tau_w_code / top:.4g}, {specs.TAU_W_MAX_US:.4g}] ms")
    codes["i_bias_adapt_tau"] = np.array(math.floor(tau_code + 0.5))
    return codes


def _population_settings(
    pop: Population, first_neuron: int, circuits: np.ndarray, k_circuits: int, w_max: float,
    calibration: Calibration | None, weight_scale: float | None,
) -> tuple[PopulationMap, dict[str, np.ndarray], np.ndarray]:
    """Scales, CapMem codes by cell (each (n_circuits,)) and refractory counts of one
    population placed on ``circuits`` (neuron by neuron, anchor first)."""
    model = pop.model
    assert isinstance(model, LIF | AdEx)
    label = str(pop.label)
    n = circuits.size
    anchor = np.arange(n) % k_circuits == 0
    u = specs.CAPMEM_LSB_MV
    cap = (specs.CALIX_TARGET_MEMBRANE_CAPACITANCE if calibration is None
           else calibration.targets.membrane_capacitance)
    c_circuit = specs.MEMBRANE_CAPACITANCE_MAX_PF * (cap + 1) / (specs.MEMBRANE_CAPACITANCE_MAX + 1)
    c_hw = k_circuits * c_circuit  # the merged membrane of the logical neuron
    v_low = min(model.v_rest, model.v_reset)
    gap = _top(model) - v_low
    low_code = nominal_potential_code(WINDOW_LOW_READ)
    g = _window_codes(model)

    def scales(g: int) -> tuple[float, float]:
        s = g * u / gap
        return s, s * c_hw / model.cm

    s, k = scales(g)
    if calibration is not None:
        gm_reference = float(calibration.targets.i_synin_gm)
        pick = _calibrated_positions(calibration, circuits, label)
        cal_gm = np.stack([calibration.neurons.cell(f"i_bias_synin_{r}_gm")[pick]
                           for r in RECEPTORS])
        spread = float(cal_gm.max()) / gm_reference  # the strongest circuit's code factor
    else:
        gm_reference, spread = float(specs.SYNIN_GM_NOMINAL_CODE), 1.0
    if weight_scale is not None:
        lsb: float | None = weight_scale
    elif calibration is not None:
        lsb = None  # the calibration's strength sets the LSB
    elif w_max > 0:
        lsb = w_max / specs.WEIGHT_MAX
    else:
        lsb = None
    if lsb is None:
        gm = gm_reference
    else:
        gm = lsb * k / GAIN_PER_CODE_NA
        if gm * spread > specs.CAPMEM_MAX:  # weights too strong for this window: narrow it
            g = math.floor(g * specs.CAPMEM_MAX / (gm * spread))
            if g < WINDOW_MIN_CODES:
                raise ConfigError(
                    f"weights onto population {label!r} are too strong for the chip: "
                    f"{lsb:.4g} nA per LSB needs a voltage window of {g} CapMem codes "
                    f"(at least {WINDOW_MIN_CODES})")
            s, k = scales(g)
            gm = lsb * k / GAIN_PER_CODE_NA
        if calibration is None:
            # auto scale: round up so that the largest weight stays within 63 LSB
            gm = float(math.ceil(gm - 1e-9)) if weight_scale is None else float(round(gm))
    lsb_real = GAIN_PER_CODE_NA * gm / k

    def v_code_offset(v: float) -> float:
        return (v - v_low) * g / gap

    v_zero = low_code * u
    potentials = {"v_leak": model.v_rest, "v_reset": model.v_reset,
                  "v_threshold": _top(model)}
    if isinstance(model, AdEx):
        potentials["v_exp"] = model.v_thresh
    for cell, v in potentials.items():
        read = _read_of(v_zero + s * (v - v_low))
        if not specs.CALIX_CADC_RELIABLE_LOW <= read <= specs.CALIX_CADC_RELIABLE_HIGH:
            raise ConfigError(
                f"{cell} ({v} mV) of population {label!r} maps to CADC read {read:.1f}, "
                f"outside the reliable range [{specs.CALIX_CADC_RELIABLE_LOW}, "
                f"{specs.CALIX_CADC_RELIABLE_HIGH}]")
    for name, tau, limit in (("tau_mem", model.tau_mem, specs.TAU_MEM_MAX_US),
                             ("tau_syn_exc", model.tau_syn_exc, specs.TAU_SYN_MAX_US),
                             ("tau_syn_inh", model.tau_syn_inh, specs.TAU_SYN_MAX_US)):
        if tau > limit:
            raise ConfigError(f"{name} {tau} ms of population {label!r} is not expressible: "
                              f"at most {limit} µs on the chip")
    try:
        offset_code = int(specs.offset_current_code(model.i_offset * k))
    except ConfigError as err:
        raise ConfigError(f"i_offset {model.i_offset} nA of population {label!r}: "
                          f"{err}") from None

    codes: dict[str, np.ndarray] = {}
    tau_nominal = specs.TAU_MEM_NOMINAL_US * specs.LEAK_BIAS_NOMINAL_CODE * (cap + 1) \
        / (specs.MEMBRANE_CAPACITANCE_MAX + 1)
    syn_nominal = specs.TAU_SYN_NOMINAL_US * specs.SYNIN_TAU_NOMINAL_CODE
    if calibration is None:
        for cell, v in potentials.items():
            codes[cell] = np.full(n, low_code + round(v_code_offset(v)))
        codes["i_bias_leak"] = np.full(n, tau_nominal / model.tau_mem)
        codes["i_bias_synin_exc_tau"] = np.full(n, syn_nominal / model.tau_syn_exc)
        codes["i_bias_synin_inh_tau"] = np.full(n, syn_nominal / model.tau_syn_inh)
        for r in RECEPTORS:
            codes[f"i_bias_synin_{r}_gm"] = np.full(n, gm)
    else:
        cal = calibration.neurons
        t = calibration.targets
        reads = {"v_leak": t.leak, "v_reset": t.reset, "v_threshold": t.threshold}
        for cell, v in potentials.items():
            if cell not in reads:  # v_exp: not calibrated, nominal code
                codes[cell] = np.full(n, low_code + round(v_code_offset(v)))
                continue
            v_cal = specs.CADC_ZERO_MV + (reads[cell] + 0.5) * specs.CADC_LSB_MV
            shift = np.round((v_zero + s * (v - v_low) - v_cal) / u)
            codes[cell] = cal.cell(cell)[pick] + shift
        codes["i_bias_leak"] = cal.cell("i_bias_leak")[pick] * t.tau_mem_us / model.tau_mem
        codes["i_bias_synin_exc_tau"] = cal.cell("i_bias_synin_exc_tau")[pick] \
            * t.tau_syn_exc_us / model.tau_syn_exc
        codes["i_bias_synin_inh_tau"] = cal.cell("i_bias_synin_inh_tau")[pick] \
            * t.tau_syn_inh_us / model.tau_syn_inh
        for r in RECEPTORS:
            cell = f"i_bias_synin_{r}_gm"
            codes[cell] = cal.cell(cell)[pick] * gm / gm_reference
    checked = {cell: _code(cell, value, label) for cell, value in codes.items()}
    if isinstance(model, AdEx):
        checked.update({cell: np.full(n, code)
                        for cell, code in _adex_codes(model, s, k, c_hw, label).items()})
    checked["i_mem_offset"] = np.where(anchor, offset_code, 0)
    try:
        refractory = specs.refractory_counter(model.tau_refrac)
    except ConfigError as err:
        raise ConfigError(f"tau_refrac of population {label!r}: {err}") from None
    pmap = PopulationMap(label=label, first_circuit=int(circuits[0]) if n else 0,
                         size=pop.size, v_low_mv=float(v_low),
                         v_zero_hw_mv=float(v_zero), voltage_scale=float(s),
                         current_scale=float(k), weight_lsb_na=float(lsb_real),
                         circuits_per_neuron=k_circuits, first_neuron=first_neuron)
    return pmap, checked, np.full(n, int(refractory))


# ---------------------------------------------------------------------------------------
# synapse arrays


@dataclass
class _Hemisphere:
    """Packing state of one synapse array (rows may grow past 256 to count the need)."""

    free: np.ndarray = field(default_factory=lambda: np.ones((0, specs.SYNRAM_COLUMNS), bool))
    mode: list[int] = field(default_factory=list)
    owner: dict[tuple[int, int], int] = field(default_factory=dict)
    """(driver, address) -> presynaptic unit."""

    def open_row(self, mode: int) -> int:
        self.free = np.vstack([self.free, np.ones((1, specs.SYNRAM_COLUMNS), bool)])
        self.mode.append(mode)
        return len(self.mode) - 1


def _pack(hemi: _Hemisphere, unit: int, mode: int, targets: np.ndarray, owner: np.ndarray,
          address: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Place ``unit``'s synapses onto the neurons ``targets`` (one entry per synapse,
    repeats allowed) in rows of ``mode``, each into a free column of its neuron.

    ``owner`` gives the neuron of every column of the hemisphere (-1: none); a neuron's
    columns are contiguous and owners rise with the column. Returns (row, entry
    positions, columns) triples; sets ``address[unit]`` on first placement.
    """
    remaining = np.ones(targets.size, bool)
    placed: list[tuple[int, np.ndarray, np.ndarray]] = []
    stride = specs.SYNRAM_COLUMNS + 1

    def accepts(row: int) -> bool:
        driver = row // 2
        a = int(address[unit])
        if a < 0:
            used = {addr for (d, addr) in hemi.owner if d == driver}
            free = [x for x in range(specs.ADDRESS_MAX + 1) if x not in used]
            if not free:
                return False
            a = free[0]
            address[unit] = a
        holder = hemi.owner.get((driver, a), unit)
        if holder != unit:
            return False
        hemi.owner[(driver, a)] = unit
        return True

    def matches(row: int) -> tuple[np.ndarray, np.ndarray]:
        """Entries that find a free column of their neuron in ``row``, and the columns."""
        entries = np.nonzero(remaining)[0]
        order = entries[np.argsort(targets[entries], kind="stable")]
        t = targets[order]
        rank = np.arange(t.size) - np.searchsorted(t, t)  # k-th synapse onto its neuron
        cols = np.nonzero(hemi.free[row] & (owner >= 0))[0]
        o = owner[cols]
        col_rank = np.arange(o.size) - np.searchsorted(o, o)  # k-th free column of it
        col_keys = o * stride + col_rank
        keys = t * stride + rank
        if not col_keys.size:
            return order[:0], cols
        pos = np.minimum(np.searchsorted(col_keys, keys), col_keys.size - 1)
        hit = col_keys[pos] == keys
        return order[hit], cols[pos[hit]]

    def take(row: int) -> bool:
        entries, cols = matches(row)
        if not entries.size or not accepts(row):
            return False
        hemi.free[row, cols] = False
        remaining[entries] = False
        placed.append((row, entries, cols))
        return True

    modes = np.asarray(hemi.mode)
    if modes.size:
        wanted = np.isin(owner, targets)
        candidates = np.nonzero((modes == mode) & (hemi.free & wanted).any(axis=1))[0]
        for row in candidates:
            take(int(row))
            if not remaining.any():
                return placed
    while remaining.any():
        take(hemi.open_row(mode))
    return placed


def _compartments(network: Network, first: dict[str, int], n_neurons: int,
                  circuits_per_neuron: int | dict[str, int] | None) -> dict[str, int]:
    """Circuits per neuron of every population: given, or enough synapse slots (256 per
    circuit) for its largest fan-in."""
    labels = [str(p.label) for p in network.populations]
    if isinstance(circuits_per_neuron, dict):
        unknown = set(circuits_per_neuron) - set(labels)
        if unknown:
            raise ConfigError(f"circuits_per_neuron names unknown populations "
                              f"{sorted(unknown)}; populations: {', '.join(labels)}")
    fan_in = np.zeros(n_neurons, np.int64)
    for proj in network.projections:
        post = proj.synapses().post + first[proj.post]
        fan_in += np.bincount(post, minlength=n_neurons)
    out: dict[str, int] = {}
    for pop in network.populations:
        label = str(pop.label)
        given = circuits_per_neuron.get(label) if isinstance(circuits_per_neuron, dict) \
            else circuits_per_neuron
        if given is None:
            most = int(fan_in[first[label]:first[label] + pop.size].max(initial=0))
            k = max(1, math.ceil(most / specs.SYNRAM_ROWS))
        else:
            k = int(specs.check_integer_range(f"circuits_per_neuron of {label!r}", given, 1,
                                              specs.CIRCUITS_PER_NEURON_MAX))
        if k > specs.CIRCUITS_PER_NEURON_MAX:
            raise CapacityError("circuits per neuron", k, specs.CIRCUITS_PER_NEURON_MAX,
                                f"population {label!r}: one neuron row")
        if k > 1 and isinstance(pop.model, AdEx):
            raise MappingError(f"AdEx population {label!r} needs {k} circuits per neuron; "
                               f"the bss2 mapping places AdEx neurons on one circuit only")
        out[label] = k
    return out


def offset_schedule(mapping: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where injected currents rewrite the ``i_mem_offset`` code of a neuron's anchor.

    The ``ideal`` engine's step-boundary schedule of each neuron's total injected current
    (``StepProgram.dc_step``), as codes of ``i_offset + DC`` on the neuron's scale.

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
    prog = mapping.program
    neurons = np.empty(prog.dc_neuron.size, np.int64)
    codes = np.empty(prog.dc_neuron.size, np.int64)
    for pop in mapping.network.populations:
        label = str(pop.label)
        pmap = mapping.populations[label]
        lo, hi = prog.pop_slices[label]
        sel = (prog.dc_neuron >= lo) & (prog.dc_neuron < hi)
        if not sel.any():
            continue
        neurons[sel] = prog.dc_neuron[sel] - lo + pmap.first_neuron
        total = pop.model.i_offset + prog.dc_value[sel]
        try:
            codes[sel] = specs.offset_current_code(total * pmap.current_scale)
        except ConfigError as err:
            raise ConfigError(f"injected current into population {label!r} (i_offset plus "
                              f"DCSource amplitudes): {err}") from None
    return prog.dc_step.astype(np.int64), neurons, codes


def map_network(
    network: Network,
    chip: Chip | None = None,
    calibration: Calibration | None = None,
    weight_scale: float | None = None,
    circuits_per_neuron: int | dict[str, int] | None = None,
) -> Mapping:
    """Map ``network`` onto ``chip``.

    Parameters
    ----------
    network
        LIF and AdEx populations, spike sources, projections, injected DC currents; not
        modified.
    chip
        The chip (default: an ideal chip, serial 0).
    calibration
        The chip's calibration; its circuits' codes are the starting point of every
        neuron's settings (default: invert the nominal design).
    weight_scale
        Model nA per 6-bit weight LSB (default: from the calibration's synaptic strength,
        else the largest weight onto each population is 63 LSB).
    circuits_per_neuron
        Circuits joined into one logical neuron, for all populations (int) or by label
        (dict; others automatic). Default: ``ceil(largest fan-in / 256)`` per population.

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
    if weight_scale is not None and not (math.isfinite(weight_scale) and weight_scale > 0):
        raise ConfigError(f"weight_scale must be a positive number of nA per LSB, "
                          f"got {weight_scale!r}")
    for pop in network.populations:
        if not isinstance(pop.model, LIF | AdEx):
            raise MappingError(f"the bss2 mapping places LIF and AdEx populations only; "
                               f"{pop.label!r} is {type(pop.model).__name__}")
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

    k_of = _compartments(network, first, n_neurons, circuits_per_neuron)
    placement: dict[str, np.ndarray] = {}
    end = 0
    for pop in network.populations:
        label = str(pop.label)
        anchors, end = place_neurons(end, pop.size, k_of[label])
        placement[label] = (anchors[:, None] + np.arange(k_of[label])[None, :]).ravel()
    if end > specs.N_NEURONS:
        sizes = ", ".join(f"{label}: {k}" for label, k in k_of.items())
        raise CapacityError("neuron circuits", end, specs.N_NEURONS,
                            f"{n_neurons} neurons; circuits per neuron {sizes}")

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
        pmap, codes, counts = _population_settings(pop, first[label], circuits, k_of[label],
                                                   w_max[label], calibration, weight_scale)
        for cell, value in codes.items():
            capmem[specs.CAPMEM_CELLS.index(cell), circuits] = value
        refrac[circuits] = counts
        switches["enable_threshold"][pmap.anchors] = True
        if isinstance(pop.model, AdEx):
            switches["enable_exponential"][circuits] = True
            switches["enable_adaptation"][circuits] = pop.model.a != 0 or pop.model.b != 0
        pops[label] = pmap
    neurons = replace(neurons, capmem=capmem, refractory_counter=refrac, **switches)

    # synapses: (unit, neuron, mode, q, delay), packed per hemisphere and (unit, mode)
    entries: list[tuple[np.ndarray, ...]] = []
    for proj in network.projections:
        syn = proj.synapses()
        lsb = pops[proj.post].weight_lsb_na
        magnitude = np.abs(syn.weight)
        if magnitude.size and float(magnitude.max()) / lsb >= specs.WEIGHT_MAX + 0.5:
            raise ConfigError(
                f"weights of projection {proj.pre}->{proj.post} overflow the 6-bit synapse: "
                f"the largest, {float(magnitude.max()):.6g} nA, is "
                f"{float(magnitude.max()) / lsb:.1f} LSB at {lsb:.6g} nA per LSB "
                f"(at most {specs.WEIGHT_MAX}); pass a larger weight_scale")
        q = specs.quantize_weight(magnitude / lsb).astype(np.int64)
        if proj.receptor is None:
            mode = np.where(syn.weight < 0, ROW_MODE["inh"], ROW_MODE["exc"])
        else:
            mode = np.full(syn.pre.shape, ROW_MODE[proj.receptor])
        entries.append((syn.pre + pre_first[proj.pre], syn.post + first[proj.post], mode, q,
                        network.delay_steps(proj)))
    anchor_of = np.concatenate([pops[str(p.label)].anchors for p in network.populations]
                               + [np.zeros(0, np.int64)])
    size_of = np.concatenate([np.full(p.size, k_of[str(p.label)])
                              for p in network.populations] + [np.zeros(0, np.int64)])
    shape = (specs.N_HEMISPHERES, specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS)
    weights = np.zeros(shape, np.int64)
    addresses = np.zeros(shape, np.int64)
    delays = np.zeros(shape, np.int64)
    row_modes = np.zeros((specs.N_HEMISPHERES, specs.SYNRAM_ROWS), np.int64)
    address = np.full(n_pre, -1, np.int64)
    routes: set[tuple[int, int, int]] = set()
    slots = np.full((sum(e[0].size for e in entries), 3), -1, np.int64)
    if entries:
        unit, post, mode, q, dsteps = (np.concatenate(x) for x in zip(*entries, strict=True))
        hemisphere = anchor_of[post] // specs.SYNRAM_COLUMNS
        order = np.lexsort((post, mode, unit, hemisphere))
        for h in range(specs.N_HEMISPHERES):
            owner = np.full(specs.SYNRAM_COLUMNS, -1, np.int64)
            here = np.nonzero(anchor_of // specs.SYNRAM_COLUMNS == h)[0]
            for i in here:
                col = anchor_of[i] % specs.SYNRAM_COLUMNS
                owner[col:col + size_of[i]] = i
            hemi = _Hemisphere()
            sel = order[hemisphere[order] == h]
            if not sel.size:
                continue
            keys = np.stack([unit[sel], mode[sel]], axis=1)
            bounds = np.nonzero(np.any(np.diff(keys, axis=0) != 0, axis=1))[0] + 1
            for group in np.split(sel, bounds):
                u_, m_ = int(unit[group[0]]), int(mode[group[0]])
                for row, at, cols in _pack(hemi, u_, m_, post[group], owner, address):
                    idx = group[at]
                    if row < specs.SYNRAM_ROWS:
                        weights[h, row, cols] = q[idx]
                        addresses[h, row, cols] = address[u_]
                        delays[h, row, cols] = dsteps[idx]
                    slots[idx] = np.stack([np.full(cols.size, h), np.full(cols.size, row),
                                           cols], axis=1)
                    routes.add((u_, h, row // 2))
            if len(hemi.mode) > specs.SYNRAM_ROWS:
                raise CapacityError(
                    "synapse rows", len(hemi.mode), specs.SYNRAM_ROWS,
                    f"hemisphere {h}; {math.ceil(len(hemi.mode) / 2)} synapse drivers needed, "
                    f"{specs.N_SYNAPSE_DRIVERS} available")
            row_modes[h, :len(hemi.mode)] = hemi.mode
    mapping = Mapping(
        network=network,
        chip=chip,
        config=ChipConfig(neurons=neurons, weights=weights, addresses=addresses,
                          row_modes=row_modes,
                          cadc_offset=None if calibration is None else calibration.cadc_offset),
        populations=pops,
        n_neurons=n_neurons,
        address=address,
        routes=np.array(sorted(routes), dtype=np.int64).reshape(-1, 3),
        delay_steps=delays,
        calibration_serial=None if calibration is None else calibration.serial,
        placements=tuple(np.split(slots, np.cumsum([e[0].size for e in entries])[:-1]))
        if entries else (),
    )
    offset_schedule(mapping)  # injected currents within the offset cell's range
    rate = poisson_input_rate(network, address, n_neurons)
    limit = specs.INPUT_EVENT_RATE_MAX_HZ / specs.ACCELERATION
    if rate > limit:
        raise CapacityError("input bandwidth", rate, limit,
                            "Poisson input events per second of model time")
    return mapping
