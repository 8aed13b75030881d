r"""Mapping a :class:`~neurotwin.network.Network` onto one HICANN-X chip.

The result is a :class:`Mapping`: a full :class:`~neurotwin.bss2.ChipConfig` (CapMem codes,
synapse weights, address labels, row modes) plus what execution needs to feed and read
the chip (where each population sits, which synapse drivers each source reaches, the
model <-> hardware scales). It is inspectable (:meth:`Mapping.usage`), saveable
(:meth:`Mapping.save` / :meth:`Mapping.load`, JSON) and drawable
(:func:`neurotwin.bss2.draw.draw_mapping`).

Placement. Populations take consecutive neuron circuits 0..511 in the order they were
added (circuit ``i`` sits in hemisphere ``i // 256``, column ``i % 256``); one circuit per
neuron. Presynaptic units are the neurons (by circuit) and then every spike source.

Synapses. In each hemisphere a greedy packer walks the presynaptic units in order and,
per receptor, puts each unit's synapses into open rows of that receptor's mode where the
columns are still free, opening new rows (0, 1, 2, ...) as needed. Row ``r`` belongs to
synapse driver ``r // 2``; a driver passes every event it receives to both its rows, and
a synapse responds when the event's 6-bit address equals its label. A unit therefore
has one address (the low 6 bits of its 16-bit spike label), fixed when it is first
placed, and may share a driver with up to 63 other units of distinct addresses. A signed
projection (``receptor=None``) puts its positive weights in excitatory rows and its
negative ones in inhibitory rows. One column of one row holds one synapse, so a neuron
with more than 256 inputs in a hemisphere does not fit (``CapacityError("synapse rows")``).

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
from neurotwin.dynamics.lif import LIF
from neurotwin.engines.step import StepProgram, compile_network
from neurotwin.errors import CapacityError, ConfigError, DataError, MappingError
from neurotwin.network import Network, Population, SpikeSourcePoisson

__all__ = ["Mapping", "PopulationMap", "map_network"]

FORMAT = "neurotwin.bss2.mapping"
VERSION = 1

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

    @property
    def circuits(self) -> np.ndarray:
        """Circuit indices of the population's neurons, (size,)."""
        return np.arange(self.first_circuit, self.first_circuit + self.size)

    def to_hardware_mv(self, v_model: Any) -> np.ndarray:
        """Model potential(s), mV, to nominal hardware potential(s), mV."""
        return self.v_zero_hw_mv + self.voltage_scale * (np.asarray(v_model) - self.v_low_mv)

    def to_model_mv(self, v_hw: Any) -> np.ndarray:
        """Hardware potential(s), mV, to model potential(s), mV (inverse of the above)."""
        return self.v_low_mv + (np.asarray(v_hw) - self.v_zero_hw_mv) / self.voltage_scale


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
    """Circuits in use (0 .. n_neurons - 1)."""
    address: np.ndarray
    """6-bit address of every presynaptic unit, -1 where it has no synapse, (n_pre,)."""
    routes: np.ndarray
    """(R, 3) int: (presynaptic unit, hemisphere, driver) for every driver a unit reaches."""
    delay_steps: np.ndarray
    """(2, 256, 256) delay in time steps of the synapse's event path (0 where unused).
    Not a HICANN-X field: FPGA playback times external events; for on-chip recurrence the
    twin honours the model's delay (the chip's fixed routing latency is not modelled)."""
    calibration_serial: int | None = None
    program: StepProgram = field(init=False, repr=False)
    """The network compiled for source playback (Poisson streams shared with ``ideal``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "program", compile_network(self.network))

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
        lines.append(f"{'population':<16}{'circuits':>12}{'mV_hw/mV':>10}{'nA/LSB':>10}")
        for p in self.populations.values():
            span = f"{p.first_circuit}-{p.first_circuit + p.size - 1}"
            lines.append(f"{p.label:<16}{span:>12}{p.voltage_scale:>10.3f}"
                         f"{p.weight_lsb_na:>10.4g}")
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


def _window_codes(lif: LIF) -> int:
    """Widest window G (codes) <= the calix span whose v_rest and v_reset fall on codes."""
    widest = round((WINDOW_HIGH_READ - WINDOW_LOW_READ) * specs.CADC_LSB_MV / specs.CAPMEM_LSB_MV)
    v_low = min(lif.v_rest, lif.v_reset)
    gap = lif.v_thresh - v_low

    def error(g: int) -> float:
        x = np.array([lif.v_rest - v_low, lif.v_reset - v_low]) / gap * g
        return float(np.sum(np.abs(x - np.round(x))))

    return min(range(widest, widest - 12, -1), key=lambda g: (round(error(g), 9), -g))


def _calibrated_positions(calibration: Calibration, first: int, n: int, label: str
                          ) -> np.ndarray:
    """Positions in the calibration of circuits first .. first + n - 1."""
    cal = calibration.neurons
    where = {int(c): i for i, c in enumerate(cal.circuits)}
    missing = [c for c in range(first, first + n) if c not in where]
    if missing:
        raise ConfigError(f"circuit {missing[0]} of population {label!r} is not in the "
                          f"calibration (it calibrates {cal.n} circuits)")
    return np.array([where[c] for c in range(first, first + n)])


def _population_settings(
    pop: Population, first: int, w_max: float, calibration: Calibration | None,
    weight_scale: float | None,
) -> tuple[PopulationMap, dict[str, np.ndarray], np.ndarray]:
    """Scales, CapMem codes by cell (each (n,)) and refractory counts of one population."""
    lif = pop.model
    assert isinstance(lif, LIF)
    label = str(pop.label)
    n = pop.size
    u = specs.CAPMEM_LSB_MV
    cap = (specs.CALIX_TARGET_MEMBRANE_CAPACITANCE if calibration is None
           else calibration.targets.membrane_capacitance)
    c_hw = specs.MEMBRANE_CAPACITANCE_MAX_PF * (cap + 1) / (specs.MEMBRANE_CAPACITANCE_MAX + 1)
    v_low = min(lif.v_rest, lif.v_reset)
    gap = lif.v_thresh - v_low
    low_code = nominal_potential_code(WINDOW_LOW_READ)
    g = _window_codes(lif)

    def scales(g: int) -> tuple[float, float]:
        s = g * u / gap
        return s, s * c_hw / lif.cm

    s, k = scales(g)
    if calibration is not None:
        gm_reference = float(calibration.targets.i_synin_gm)
        pick = _calibrated_positions(calibration, first, n, label)
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
    potentials = {"v_leak": lif.v_rest, "v_reset": lif.v_reset, "v_threshold": lif.v_thresh}
    for cell, v in potentials.items():
        read = _read_of(v_zero + s * (v - v_low))
        if not specs.CALIX_CADC_RELIABLE_LOW <= read <= specs.CALIX_CADC_RELIABLE_HIGH:
            raise ConfigError(
                f"{cell} ({v} mV) of population {label!r} maps to CADC read {read:.1f}, "
                f"outside the reliable range [{specs.CALIX_CADC_RELIABLE_LOW}, "
                f"{specs.CALIX_CADC_RELIABLE_HIGH}]")
    for name, tau, limit in (("tau_mem", lif.tau_mem, specs.TAU_MEM_MAX_US),
                             ("tau_syn_exc", lif.tau_syn_exc, specs.TAU_SYN_MAX_US),
                             ("tau_syn_inh", lif.tau_syn_inh, specs.TAU_SYN_MAX_US)):
        if tau > limit:
            raise ConfigError(f"{name} {tau} ms of population {label!r} is not expressible: "
                              f"at most {limit} µs on the chip")
    i_offset_code = lif.i_offset * k / specs.MEM_OFFSET_NA_PER_CODE
    if lif.i_offset < 0:
        raise ConfigError(f"i_offset of population {label!r} must be >= 0 nA on the chip "
                          f"(the offset current only depolarises), got {lif.i_offset}")

    codes: dict[str, np.ndarray] = {}
    tau_nominal = specs.TAU_MEM_NOMINAL_US * specs.LEAK_BIAS_NOMINAL_CODE * (cap + 1) \
        / (specs.MEMBRANE_CAPACITANCE_MAX + 1)
    syn_nominal = specs.TAU_SYN_NOMINAL_US * specs.SYNIN_TAU_NOMINAL_CODE
    if calibration is None:
        for cell, v in potentials.items():
            codes[cell] = np.full(n, low_code + round(v_code_offset(v)))
        codes["i_bias_leak"] = np.full(n, tau_nominal / lif.tau_mem)
        codes["i_bias_synin_exc_tau"] = np.full(n, syn_nominal / lif.tau_syn_exc)
        codes["i_bias_synin_inh_tau"] = np.full(n, syn_nominal / lif.tau_syn_inh)
        for r in RECEPTORS:
            codes[f"i_bias_synin_{r}_gm"] = np.full(n, gm)
    else:
        cal = calibration.neurons
        t = calibration.targets
        reads = {"v_leak": t.leak, "v_reset": t.reset, "v_threshold": t.threshold}
        for cell, v in potentials.items():
            v_cal = specs.CADC_ZERO_MV + (reads[cell] + 0.5) * specs.CADC_LSB_MV
            shift = np.round((v_zero + s * (v - v_low) - v_cal) / u)
            codes[cell] = cal.cell(cell)[pick] + shift
        codes["i_bias_leak"] = cal.cell("i_bias_leak")[pick] * t.tau_mem_us / lif.tau_mem
        codes["i_bias_synin_exc_tau"] = cal.cell("i_bias_synin_exc_tau")[pick] \
            * t.tau_syn_exc_us / lif.tau_syn_exc
        codes["i_bias_synin_inh_tau"] = cal.cell("i_bias_synin_inh_tau")[pick] \
            * t.tau_syn_inh_us / lif.tau_syn_inh
        for r in RECEPTORS:
            cell = f"i_bias_synin_{r}_gm"
            codes[cell] = cal.cell(cell)[pick] * gm / gm_reference
    checked = {cell: _code(cell, value, label) for cell, value in codes.items()}
    checked["i_mem_offset"] = np.full(n, int(np.floor(i_offset_code + 0.5)))
    if checked["i_mem_offset"][0] > specs.CAPMEM_MAX:
        raise ConfigError(f"i_offset {lif.i_offset} nA of population {label!r} needs offset "
                          f"code {i_offset_code:.0f} > {specs.CAPMEM_MAX}")
    try:
        refractory = specs.refractory_counter(lif.tau_refrac)
    except ConfigError as err:
        raise ConfigError(f"tau_refrac of population {label!r}: {err}") from None
    pmap = PopulationMap(label=label, first_circuit=first, size=n, v_low_mv=float(v_low),
                         v_zero_hw_mv=float(v_zero), voltage_scale=float(s),
                         current_scale=float(k), weight_lsb_na=float(lsb_real))
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


def _pack(hemi: _Hemisphere, unit: int, mode: int, columns: np.ndarray, address: np.ndarray
          ) -> list[tuple[int, np.ndarray]]:
    """Place ``unit``'s synapses onto ``columns`` (unique) in rows of ``mode``.

    Returns (row, columns placed there) pairs; sets ``address[unit]`` on first placement.
    """
    remaining = np.zeros(specs.SYNRAM_COLUMNS, bool)
    remaining[columns] = True
    placed: list[tuple[int, np.ndarray]] = []

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
        owner = hemi.owner.get((driver, a), unit)
        if owner != unit:
            return False
        hemi.owner[(driver, a)] = unit
        return True

    modes = np.asarray(hemi.mode)
    if modes.size:
        candidates = np.nonzero((modes == mode) & (hemi.free & remaining).any(axis=1))[0]
        for row in candidates:
            take = hemi.free[row] & remaining
            if not take.any() or not accepts(int(row)):
                continue
            hemi.free[row] &= ~take
            remaining &= ~take
            placed.append((int(row), np.nonzero(take)[0]))
            if not remaining.any():
                return placed
    while remaining.any():
        row = hemi.open_row(mode)
        if not accepts(row):
            continue
        hemi.free[row] &= ~remaining
        placed.append((row, np.nonzero(remaining)[0]))
        remaining[:] = False
    return placed


def map_network(
    network: Network,
    chip: Chip | None = None,
    calibration: Calibration | None = None,
    weight_scale: float | None = None,
) -> Mapping:
    """Map ``network`` onto ``chip``.

    Parameters
    ----------
    network
        LIF populations, spike sources and projections; not modified.
    chip
        The chip (default: an ideal chip, serial 0).
    calibration
        The chip's calibration; its circuits' codes are the starting point of every
        neuron's settings (default: invert the nominal design).
    weight_scale
        Model nA per 6-bit weight LSB (default: from the calibration's synaptic strength,
        else the largest weight onto each population is 63 LSB).

    Raises
    ------
    CapacityError
        More than 512 neurons, more than 256 synapse rows (128 drivers) in a hemisphere,
        more than 2**16 presynaptic units (spike labels), or Poisson input above the link
        limit.
    ConfigError
        A parameter that is not expressible, or a weight above 63 LSB.
    MappingError
        AdEx populations or injected currents (not supported by this mapping).
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
    if network.currents:
        raise MappingError("the bss2 mapping does not support injected currents (DCSource)")
    for pop in network.populations:
        if not isinstance(pop.model, LIF):
            raise MappingError(f"the bss2 mapping places LIF populations only; "
                               f"{pop.label!r} is {type(pop.model).__name__}")
    n_neurons = sum(p.size for p in network.populations)
    if n_neurons > specs.N_NEURONS:
        raise CapacityError("neurons", n_neurons, specs.N_NEURONS,
                            "one circuit per neuron")
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

    w_max = dict.fromkeys(first, 0.0)
    for proj in network.projections:
        syn = proj.synapses()
        if syn.weight.size:
            w_max[proj.post] = max(w_max[proj.post], float(np.max(np.abs(syn.weight))))

    neurons = (NeuronConfig.default() if calibration is None
               else calibration.apply().neurons)
    capmem = np.array(neurons.capmem, copy=True)
    refrac = np.array(neurons.refractory_counter, copy=True)
    enable = np.zeros(specs.N_NEURONS, bool)
    pops: dict[str, PopulationMap] = {}
    for pop in network.populations:
        label = str(pop.label)
        pmap, codes, counts = _population_settings(pop, first[label], w_max[label],
                                                   calibration, weight_scale)
        sl = slice(pmap.first_circuit, pmap.first_circuit + pmap.size)
        for cell, value in codes.items():
            capmem[specs.CAPMEM_CELLS.index(cell), sl] = value
        refrac[sl] = counts
        enable[sl] = True
        pops[label] = pmap
    neurons = replace(neurons, capmem=capmem, refractory_counter=refrac,
                      enable_threshold=enable)

    # synapses: (unit, circuit, mode, q, delay) grouped per hemisphere and unit
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
    shape = (specs.N_HEMISPHERES, specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS)
    weights = np.zeros(shape, np.int64)
    addresses = np.zeros(shape, np.int64)
    delays = np.zeros(shape, np.int64)
    row_modes = np.zeros((specs.N_HEMISPHERES, specs.SYNRAM_ROWS), np.int64)
    address = np.full(n_pre, -1, np.int64)
    routes: set[tuple[int, int, int]] = set()
    if entries:
        unit, circuit, mode, q, dsteps = (np.concatenate(x) for x in zip(*entries, strict=True))
        hemisphere = circuit // specs.SYNRAM_COLUMNS
        column = circuit % specs.SYNRAM_COLUMNS
        order = np.lexsort((column, mode, unit, hemisphere))
        for h in range(specs.N_HEMISPHERES):
            hemi = _Hemisphere()
            sel = order[hemisphere[order] == h]
            keys = np.stack([unit[sel], mode[sel]], axis=1)
            if not sel.size:
                continue
            bounds = np.nonzero(np.any(np.diff(keys, axis=0) != 0, axis=1))[0] + 1
            for group in np.split(sel, bounds):
                todo = group
                while todo.size:  # duplicates (same unit, column, mode) go to further rows
                    cols = column[todo]
                    _, firsts = np.unique(cols, return_index=True)
                    batch = todo[firsts]
                    u_, m_ = int(unit[batch[0]]), int(mode[batch[0]])
                    for row, placed_cols in _pack(hemi, u_, m_, column[batch], address):
                        idx = batch[np.isin(column[batch], placed_cols)]
                        if row < specs.SYNRAM_ROWS:
                            weights[h, row, column[idx]] = q[idx]
                            addresses[h, row, column[idx]] = address[u_]
                            delays[h, row, column[idx]] = dsteps[idx]
                        routes.add((u_, h, row // 2))
                    todo = np.setdiff1d(todo, batch, assume_unique=True)
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
    )
    rate = poisson_input_rate(network, address, n_neurons)
    limit = specs.INPUT_EVENT_RATE_MAX_HZ / specs.ACCELERATION
    if rate > limit:
        raise CapacityError("input bandwidth", rate, limit,
                            "Poisson input events per second of model time")
    return mapping
