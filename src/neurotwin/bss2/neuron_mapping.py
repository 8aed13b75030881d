"""Populations onto neuron circuits: where each neuron sits and its settings.

For every population: the circuits of its (logical) neurons (:func:`place_neurons`), how
many circuits each neuron joins (:func:`compartments`), and its model <-> hardware
scales with the CapMem codes and refractory counts that realise its parameters on the
chip (:func:`population_settings`; the scales are stated in :mod:`~neurotwin.bss2.mapping`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.calibration import Calibration
from neurotwin.bss2.config import nominal_potential_code
from neurotwin.dynamics.adex import AdEx
from neurotwin.dynamics.lif import LIF
from neurotwin.errors import CapacityError, ConfigError, MappingError
from neurotwin.network import Network, Population

__all__ = ["PopulationMap", "check_time_constants", "compartments", "largest_fan_in",
           "place_neurons", "population_settings", "time_constant_range"]

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


TIME_CONSTANTS = (("tau_mem", "i_bias_leak", "tau_mem_us"),
                  ("tau_syn_exc", "i_bias_synin_exc_tau", "tau_syn_exc_us"),
                  ("tau_syn_inh", "i_bias_synin_inh_tau", "tau_syn_inh_us"))
"""Model time constant, the CapMem bias cell that sets it, its calix target name."""


def time_constant_range(tau_ms: float, codes: np.ndarray, key: str) -> tuple[float, float]:
    """Range (ms of model time = µs on the chip) a time constant can be calibrated to on
    the circuits whose bias codes for ``tau_ms`` are ``codes``.

    Upper end: the slowest target calix calibrates (``specs.CALIX_FEASIBLE_RANGES``;
    slower ones sit on a few codes of a weak bias, where the code offsets dominate and
    the proportional move from the calibrated code is wrong by tens of percent). Lower
    end: the fastest every circuit reaches with code 1022 (the bias codes are inversely
    proportional to the time constant; the code that gives the calibrated tau is the
    twin's design, an assumption).
    """
    most = float(np.max(codes, initial=0.0))
    low = max(tau_ms * most / specs.CAPMEM_MAX, specs.CALIX_FEASIBLE_RANGES[key][0])
    return low, specs.CALIX_FEASIBLE_RANGES[key][1]


def check_time_constants(model: LIF | AdEx, codes: dict[str, np.ndarray], label: str
                         ) -> None:
    """ConfigError naming the parameter, population, value and reachable range for a
    tau_mem or tau_syn the chip cannot be calibrated to (calix refuses such targets
    with a ValueError, so the real stack fails too; a warning would let a run go on
    with time constants wrong by tens of percent)."""
    for name, cell, key in TIME_CONSTANTS:
        tau = float(getattr(model, name))
        need = np.asarray(codes[cell], dtype=np.float64)
        low, high = time_constant_range(tau, need, key)
        too_fast = bool(np.any(np.floor(need + 0.5) > specs.CAPMEM_MAX))
        if tau > high or too_fast:
            raise ConfigError(
                f"{name} {tau:g} ms of population {label!r} is outside the range the chip "
                f"can be calibrated to: [{low:.4g}, {high:.4g}] ms of model time (µs on "
                f"the chip; {cell} needs codes up to {float(need.max(initial=0.0)):.1f} "
                f"of 1..{specs.CAPMEM_MAX}, calix calibrates {name} up to {high:g} µs)")


def population_settings(
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
    check_time_constants(model, codes, label)
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


def largest_fan_in(network: Network, first: dict[str, int],
                   n_neurons: int) -> dict[str, int]:
    """Population label -> the most synapses onto one of its neurons (both receptors)."""
    fan_in = np.zeros(n_neurons, np.int64)
    for proj in network.projections:
        post = proj.synapses().post + first[proj.post]
        fan_in += np.bincount(post, minlength=n_neurons)
    return {str(p.label): int(fan_in[first[str(p.label)]:first[str(p.label)] + p.size]
                              .max(initial=0)) for p in network.populations}


def compartments(network: Network, first: dict[str, int], n_neurons: int,
                  circuits_per_neuron: int | dict[str, int] | None) -> dict[str, int]:
    """Circuits per neuron of every population: given, or enough synapse slots (256 per
    circuit) for its largest fan-in.

    Raises
    ------
    CapacityError
        A given number of circuits whose synapse slots (256 each) cannot hold the
        population's largest fan-in, or more circuits than a neuron row has.
    """
    labels = [str(p.label) for p in network.populations]
    if isinstance(circuits_per_neuron, dict):
        unknown = set(circuits_per_neuron) - set(labels)
        if unknown:
            raise ConfigError(f"circuits_per_neuron names unknown populations "
                              f"{sorted(unknown)}; populations: {', '.join(labels)}")
    fan_in = largest_fan_in(network, first, n_neurons)
    out: dict[str, int] = {}
    for pop in network.populations:
        label = str(pop.label)
        given = circuits_per_neuron.get(label) if isinstance(circuits_per_neuron, dict) \
            else circuits_per_neuron
        most = fan_in[label]
        if given is None:
            k = max(1, math.ceil(most / specs.SYNRAM_ROWS))
        else:
            k = int(specs.check_integer_range(f"circuits_per_neuron of {label!r}", given, 1,
                                              specs.CIRCUITS_PER_NEURON_MAX))
            if most > k * specs.SYNRAM_ROWS:
                raise CapacityError(
                    "synapses per neuron", most, k * specs.SYNRAM_ROWS,
                    f"population {label!r}: fan-in {most} onto a neuron of {k} "
                    f"circuit(s), each of which sees the {specs.SYNRAM_ROWS} synapse rows of "
                    f"its hemisphere; give it at least {math.ceil(most / specs.SYNRAM_ROWS)} "
                    f"circuits or a smaller fan-in")
        if k > specs.CIRCUITS_PER_NEURON_MAX:
            raise CapacityError("circuits per neuron", k, specs.CIRCUITS_PER_NEURON_MAX,
                                f"population {label!r}: one neuron row")
        if k > 1 and isinstance(pop.model, AdEx):
            raise MappingError(f"AdEx population {label!r} needs {k} circuits per neuron; "
                               f"the bss2 mapping places AdEx neurons on one circuit only")
        out[label] = k
    return out
