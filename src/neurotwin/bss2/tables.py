"""The emulation's tables: what ``map`` resolves once so that ``run`` only runs.

From a mapping's chip configuration and this chip's deviations: every mapped neuron's
step constants in hardware units (:class:`KernelConstants`), the synapses as seen from
the events (:class:`SynapseTable`: routes, labels and row modes resolved into per-event
current jumps), the offset currents where injected currents switch, and the initial
state. They are part of the :class:`~neurotwin.bss2.mapping.Mapping` (its ``tables``),
inspectable like the rest of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.config import ChipConfig, NeuronConfig
from neurotwin.bss2.neuron import merge_compartments
from neurotwin.bss2.neuron_mapping import PopulationMap
from neurotwin.dynamics.lif import LIF, lif_constants
from neurotwin.errors import MappingError
from neurotwin.network import Network

__all__ = [
    "CIRCUIT_ROWS",
    "NEURON_ROWS",
    "EmulationTables",
    "InitialState",
    "KernelConstants",
    "SynapseTable",
    "check_on_chip_delays",
    "emulation_tables",
    "kernel_constants",
    "synapse_table",
    "used_neurons",
]

NEURON_ROWS = ("v_rest", "v_reset", "v_thresh", "i_offset", "p_vv", "p_vi", "noise",
               "g_l_delta_t", "v_exp", "delta_t", "p_ww", "a_us", "b")
"""Rows of the kernel's per-neuron constants ``c``."""
CIRCUIT_ROWS = ("p_ve", "p_vn", "p_ee", "p_nn")
"""Rows of the kernel's per-circuit constants ``cs`` (synaptic inputs)."""


@dataclass(frozen=True, eq=False)
class SynapseTable:
    """The chip's synapses as seen from the events: CSR over presynaptic unit.

    One entry per synapse with a weight > 0 that an event of its unit reaches (its label
    equals the unit's address, its row is enabled); its current jump is
    ``weight * gain * driver_gain`` hardware nA, in this order.
    """

    indptr: np.ndarray
    """(n_pre + 1,) offsets."""
    target: np.ndarray
    """circuit + receptor * n_circuits (receptor 0 exc, 1 inh)."""
    current: np.ndarray
    """Current jump of one event, hardware nA."""
    delay_steps: np.ndarray
    """Delay in time steps (>= 1)."""
    weight: np.ndarray
    """6-bit weight of each entry, LSB (int64)."""
    gain: np.ndarray
    """Synaptic current per weight LSB of the target circuit's receptor, nA."""
    driver_gain: np.ndarray
    """Gain factor of the entry's synapse driver (fixed-pattern deviation)."""
    placement: np.ndarray
    """(S, 3) int: (hemisphere, row, column) of each entry on the chip."""

    def currents(self, weight: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Current jumps of the entries for ``weight`` (LSB, (S,)), hardware nA (into
        ``out`` when given: a float (S,) array)."""
        out = np.multiply(weight, self.gain, out=out)
        return np.multiply(out, self.driver_gain, out=out)


@dataclass(frozen=True, eq=False)
class KernelConstants:
    """Everything the kernel needs about the mapped neurons, in hardware units."""

    c: np.ndarray
    """(13, n) per logical neuron, rows :data:`NEURON_ROWS`."""
    cs: np.ndarray
    """(4, n_circuits) per circuit, rows :data:`CIRCUIT_ROWS`."""
    adex: np.ndarray
    """(n,) bool: step with adex_step's arithmetic."""
    refrac_steps: np.ndarray
    """(n,) int64."""
    gain_exc: np.ndarray
    gain_inh: np.ndarray
    """(n_circuits,) actual synaptic current per weight LSB, nA."""


@dataclass(frozen=True, eq=False)
class InitialState:
    """The state at t = 0 in hardware units (before the trials' copies)."""

    v: np.ndarray
    """(n,) membrane, hardware mV."""
    w: np.ndarray
    """(n,) adaptation current, hardware nA."""
    i_exc: np.ndarray
    i_inh: np.ndarray
    """(n_circuits,) synaptic currents, hardware nA (the anchor circuit holds the
    population's initial value)."""


@dataclass(frozen=True, eq=False)
class EmulationTables:
    """What ``run`` steps: the mapped network resolved on this chip for a step of ``dt``."""

    constants: KernelConstants
    synapses: SynapseTable
    offset_step: np.ndarray
    """(E,) steps at which a neuron's offset current changes (sorted; 0: from the start)."""
    offset_neuron: np.ndarray
    """(E,) the neuron whose offset current changes."""
    offset_current: np.ndarray
    """(E,) its new offset current, hardware nA (what its code gives on this chip)."""
    initial: InitialState


def used_neurons(config: ChipConfig, circuits: np.ndarray) -> NeuronConfig:
    """The settings of the circuits in use (``circuits``, in that order)."""
    full = config.neurons
    idx = circuits
    return NeuronConfig(
        circuits=idx, capmem=full.capmem[:, idx],
        membrane_capacitance=full.membrane_capacitance[idx],
        refractory_counter=full.refractory_counter[idx],
        enable_threshold=full.enable_threshold[idx],
        enable_exponential=full.enable_exponential[idx],
        enable_adaptation=full.enable_adaptation[idx],
    )


def synapse_table(config: ChipConfig, chip: Chip, circuits: np.ndarray, routes: np.ndarray,
                  address: np.ndarray, delay_steps: np.ndarray, gain_exc: np.ndarray,
                  gain_inh: np.ndarray, keep_zero: bool = False) -> SynapseTable:
    """Resolve routes, labels and row modes into per-event current jumps.

    Parameters
    ----------
    config, chip
        The mapped chip configuration and the chip (its driver gains).
    circuits
        Circuits in use, (n_circuits,) (the mapping's ``circuits``).
    routes, address, delay_steps
        The mapping's routes (R, 3), unit addresses (n_pre,) and synapse delays
        (2, 256, 256).
    gain_exc, gain_inh
        Actual synaptic current per weight LSB of every used circuit, nA, (n_circuits,)
        in the order of ``circuits``.
    keep_zero
        Keep the synapses of weight 0 (their events carry no current, but they reach the
        synapse: its correlation sensor sees them, and a program may raise the weight).
    """
    nc = circuits.size
    n_pre = address.size
    compact = np.full(specs.N_NEURONS, -1, np.int64)
    compact[circuits] = np.arange(nc)
    weights = np.asarray(config.weights, dtype=np.int64)
    labels = np.asarray(config.addresses)
    modes = np.asarray(config.row_modes)
    gains = np.stack([gain_exc, gain_inh])
    # every route's two rows, in the order of the routes, the enabled ones
    unit, h, d = (np.repeat(np.asarray(routes, np.int64)[:, k], 2) for k in range(3))
    row = 2 * d + np.tile([0, 1], len(routes))
    mode = modes[h, row]
    on = mode != specs.ROW_MODES.index("disabled")
    if not on.any():
        empty = np.zeros(0, np.int64)
        return SynapseTable(np.zeros(n_pre + 1, np.int64), empty, np.zeros(0), empty, empty,
                            np.zeros(0), np.zeros(0), np.zeros((0, 3), np.int64))
    unit, h, d, row, mode = unit[on], h[on], d[on], row[on], mode[on]
    # the synapses each (route, row) reaches: label = the unit's address, a circuit in
    # use, and a weight (or all when keep_zero); row by row, columns ascending
    columns = np.arange(specs.SYNRAM_COLUMNS)
    hit = (labels[h, row] == address[unit][:, None]) \
        & ((weights[h, row] > 0) | keep_zero) \
        & (compact[h[:, None] * specs.SYNRAM_COLUMNS + columns] >= 0)
    k, cols = np.nonzero(hit)
    h, row, d, pre = h[k], row[k], d[k], unit[k]
    circuit = compact[h * specs.SYNRAM_COLUMNS + cols]
    receptor = (mode[k] != specs.ROW_MODES.index("excitatory")).astype(np.int64)
    order = np.argsort(pre, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_pre))])
    weight = weights[h, row, cols][order]
    gain = gains[receptor, circuit][order].astype(np.float64)
    driver = chip.driver_gain(h, d, np.asarray(config.driver_offset)[h, d])[order]
    return SynapseTable(
        indptr=indptr.astype(np.int64), target=(circuit + receptor * nc)[order],
        current=weight * gain * driver, delay_steps=delay_steps[h, row, cols][order].astype(
            np.int64), weight=weight, gain=gain, driver_gain=driver,
        placement=np.stack([h, row, cols], axis=1)[order].astype(np.int64))


def kernel_constants(config: ChipConfig, chip: Chip, circuits: np.ndarray,
                     member_ptr: np.ndarray, dt: float) -> KernelConstants:
    """Step constants of the mapped neurons (neuron i on ``circuits[member_ptr[i]:
    member_ptr[i + 1]]``) on ``chip`` for a step of ``dt`` µs."""
    n = member_ptr.size - 1
    if not n:
        return KernelConstants(np.zeros((len(NEURON_ROWS), 0)), np.zeros((4, 0)),
                               np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0),
                               np.zeros(0))
    circuit = chip.circuit_parameters(used_neurons(config, circuits))
    params = merge_compartments(circuit, member_ptr)
    adex = (params.delta_t > 0) | (params.a != 0) | (params.b != 0)
    const = params.step_constants(dt)
    rows = {name: getattr(const, name).numpy() for name in NEURON_ROWS[:6]}
    rows["noise"] = params.noise_mv * np.sqrt(1.0 - rows["p_vv"] ** 2) / rows["p_vi"]
    for name in NEURON_ROWS[7:]:
        rows[name] = np.zeros(n)
    if adex.any():
        adex_c = params.adex_constants(dt)
        for name in NEURON_ROWS[7:]:
            rows[name] = np.where(adex, getattr(adex_c, name).numpy(), 0.0)
    neuron = np.repeat(np.arange(n), np.diff(member_ptr))
    # each member's synaptic current onto the merged membrane (tau_mem, C of the neuron)
    members = [lif_constants(LIF(tau_mem=float(params.tau_mem[i]), tau_syn_exc=float(te),
                                 tau_syn_inh=float(ti), cm=float(params.c_mem[i])), dt)
               for i, te, ti in zip(neuron, circuit.tau_syn_exc, circuit.tau_syn_inh,
                                    strict=True)]
    cs = np.array([[getattr(m, name) for name in CIRCUIT_ROWS] for m in members]).T
    return KernelConstants(np.stack([rows[name] for name in NEURON_ROWS]), cs, adex,
                           const.refrac_steps.numpy().astype(np.int64),
                           circuit.syn_gain_exc, circuit.syn_gain_inh)


def initial_state(network: Network, populations: dict[str, PopulationMap],
                  member_ptr: np.ndarray) -> InitialState:
    """The populations' initial values in hardware units (each neuron's synaptic
    currents on its anchor circuit)."""
    n = member_ptr.size - 1
    nc = int(member_ptr[-1]) if member_ptr.size else 0
    v0, w0 = np.zeros(n), np.zeros(n)
    ie0, ii0 = np.zeros(nc), np.zeros(nc)
    for pop in network.populations:
        pmap = populations[str(pop.label)]
        sl = pmap.neurons
        first_member = member_ptr[:-1][sl]
        init = pop.initial_values()
        v0[sl] = pmap.to_hardware_mv(init["v"])
        ie0[first_member] = init["i_exc"] * pmap.current_scale
        ii0[first_member] = init["i_inh"] * pmap.current_scale
        if "w" in init:
            w0[sl] = init["w"] * pmap.current_scale
    return InitialState(v0, w0, ie0, ii0)


def check_on_chip_delays(table: SynapseTable, populations: dict[str, PopulationMap],
                         dt: float) -> None:
    """Raise MappingError for a synapse between two neurons on the chip whose delay is
    not the chip's: one time step.

    On HICANN-X a neuron's spike reaches the synapse drivers of its hemisphere through
    the on-chip event router with a fixed latency (not modelled: the next step sees it);
    there is no delay to configure, and the real stack refuses one ("Setting the delay
    unequal 0 is not supported"). Events from off-chip sources are timed by the FPGA,
    so their delays stay free.
    """
    for label, pmap in populations.items():
        lo = table.indptr[pmap.first_neuron]
        hi = table.indptr[pmap.first_neuron + pmap.size]
        delays = table.delay_steps[lo:hi]
        if delays.size and np.any(delays != 1):
            worst = int(delays[delays != 1].max())
            raise MappingError(
                f"synapses from population {label!r} have a delay of {worst * dt:g} ms, but "
                f"on-chip synapses (neuron to neuron) have the chip's fixed delay of one "
                f"time step (dt = {dt:g} ms): the event router has no configurable delay "
                "(the real stack: 'Setting the delay unequal 0 is not supported'); leave "
                "the delays at their default")


def emulation_tables(network: Network, chip: Chip, config: ChipConfig,
                     populations: dict[str, PopulationMap], circuits: np.ndarray,
                     member_ptr: np.ndarray, routes: np.ndarray, address: np.ndarray,
                     delay_steps: np.ndarray, offsets: tuple[np.ndarray, np.ndarray, np.ndarray],
                     dt: float) -> EmulationTables:
    """All tables of a mapping (the arguments are its fields; ``offsets`` is its
    :func:`~neurotwin.bss2.mapping.offset_schedule`: steps, neurons, codes)."""
    kc = kernel_constants(config, chip, circuits, member_ptr, dt)
    table = synapse_table(config, chip, circuits, routes, address, delay_steps,
                          kc.gain_exc, kc.gain_inh)
    check_on_chip_delays(table, populations, dt)
    step, neuron, code = offsets
    anchors = circuits[member_ptr[:-1]]
    current = chip.offset_current(code, anchors[neuron]) if code.size else np.zeros(0)
    return EmulationTables(kc, table, step, neuron, current,
                           initial_state(network, populations, member_ptr))
