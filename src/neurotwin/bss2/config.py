"""What is written to a BrainScaleS-2 chip: neuron settings (CapMem codes and digital
fields) and the full-chip configuration (neurons, synapse arrays, CADC offsets).

These are plain, validated, frozen containers: the chip (:class:`~neurotwin.bss2.Chip`)
turns them into analog behaviour, calibration fills the neuron part, mapping (next) fills
the synapse arrays. Arrays are stored read-only; derive changed copies with
:meth:`NeuronConfig.with_cells` or :func:`dataclasses.replace` (which re-validates).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.errors import ConfigError

__all__ = ["ChipConfig", "NeuronConfig", "default_capmem_code", "nominal_potential_code"]


def nominal_potential_code(cadc_read: float) -> int:
    """CapMem code of a nominal voltage cell whose potential reads ``cadc_read`` on average.

    A floor converter with dithering noise reads ``x - 0.5`` on average for an input of
    ``x`` LSB, hence the half LSB.
    """
    volts = specs.CADC_ZERO_MV + (cadc_read + 0.5) * specs.CADC_LSB_MV
    return round(volts / specs.CAPMEM_LSB_MV)


_DEFAULT_CODES: dict[str, int] = {
    # potentials: nominal circuits meet the calix targets
    "v_leak": nominal_potential_code(specs.CALIX_TARGET_LEAK),
    "v_reset": nominal_potential_code(specs.CALIX_TARGET_RESET),
    "v_threshold": nominal_potential_code(specs.CALIX_TARGET_THRESHOLD),
    # time constants and synaptic strength: the nominal design codes
    "i_bias_leak": specs.LEAK_BIAS_NOMINAL_CODE,
    "i_bias_synin_exc_tau": specs.SYNIN_TAU_NOMINAL_CODE,
    "i_bias_synin_inh_tau": specs.SYNIN_TAU_NOMINAL_CODE,
    "i_bias_synin_exc_gm": specs.SYNIN_GM_NOMINAL_CODE,
    "i_bias_synin_inh_gm": specs.SYNIN_GM_NOMINAL_CODE,
    "i_bias_adapt_tau": specs.ADAPT_TAU_NOMINAL_CODE,
    # the reset conductance as strong as possible: the reset is a clamp
    "i_bias_reset": specs.CAPMEM_MAX,
}
"""Nominal default codes; cells not listed (unused by the LIF twin) default to 0."""


def default_capmem_code(cell: str) -> int:
    """Nominal default code of the per-neuron CapMem cell ``cell``."""
    if cell not in specs.CAPMEM_CELLS:
        raise ConfigError(f"unknown CapMem cell {cell!r}; known: {', '.join(specs.CAPMEM_CELLS)}")
    return _DEFAULT_CODES.get(cell, 0)


SWITCHES = ("enable_threshold", "enable_exponential", "enable_adaptation")
"""The boolean per-circuit fields of a NeuronConfig."""


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _per_circuit(name: str, value: Any, n: int, low: int, high: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise ConfigError(f"{name} must be a scalar or of shape ({n},), got shape {arr.shape}")
    return specs.check_integer_range(name, arr, low, high)


@dataclass(frozen=True, eq=False)
class NeuronConfig:
    """Settings of a set of neuron circuits: 24 CapMem cells and the digital fields.

    Parameters
    ----------
    circuits
        Indices of the configured circuits, 0..511 (row-major: circuit ``i`` sits in
        hemisphere ``i // 256``, column ``i % 256``), unique, shape (n,).
    capmem
        CapMem codes, shape (24, n), rows in the order of ``specs.CAPMEM_CELLS``; each
        0..1022.
    membrane_capacitance
        Membrane capacitor setting 0..63 (63 is ~2.2 pF), scalar or (n,).
    refractory_counter
        Refractory time in counts of the 10 MHz refractory clock, 0..255, scalar or (n,).
    enable_threshold
        Whether the spike comparator is on, scalar or (n,) bool.
    enable_exponential, enable_adaptation
        Whether the AdEx exponential term / the adaptation current is on, scalar or (n,)
        bool (haldls NeuronConfig ``enable_exponential``, ``enable_adaptation``).
    """

    circuits: np.ndarray
    capmem: np.ndarray
    membrane_capacitance: Any = specs.CALIX_TARGET_MEMBRANE_CAPACITANCE
    refractory_counter: Any = 0
    enable_threshold: Any = True
    enable_exponential: Any = False
    enable_adaptation: Any = False

    def __post_init__(self) -> None:
        circuits = _per_circuit("circuits", self.circuits, np.size(self.circuits),
                                0, specs.N_NEURONS - 1)
        if np.unique(circuits).size != circuits.size:
            raise ConfigError("circuits must be unique")
        n = circuits.size
        if n == 0:
            raise ConfigError("a NeuronConfig needs at least one circuit")
        capmem = np.asarray(self.capmem)
        if capmem.shape != (len(specs.CAPMEM_CELLS), n):
            raise ConfigError(f"capmem must have shape ({len(specs.CAPMEM_CELLS)}, {n}), "
                              f"got {capmem.shape}")
        capmem = np.stack([specs.check_capmem(name, row)
                           for name, row in zip(specs.CAPMEM_CELLS, capmem, strict=True)])
        cap = _per_circuit("membrane_capacitance", self.membrane_capacitance, n,
                           0, specs.MEMBRANE_CAPACITANCE_MAX)
        refrac = _per_circuit("refractory_counter", self.refractory_counter, n,
                              0, specs.REFRACTORY_COUNTER_MAX)
        for name, arr in (("circuits", circuits), ("capmem", capmem),
                          ("membrane_capacitance", cap), ("refractory_counter", refrac)):
            object.__setattr__(self, name, _frozen(arr))
        for name in SWITCHES:
            enable = np.asarray(getattr(self, name))
            if enable.ndim == 0:
                enable = np.full(n, enable)
            if enable.shape != (n,) or enable.dtype != bool:
                raise ConfigError(f"{name} must be a bool or a bool array of shape ({n},), "
                                  f"got {enable.dtype} of shape {enable.shape}")
            object.__setattr__(self, name, _frozen(enable))

    @classmethod
    def default(cls, circuits: Any = None, **fields: Any) -> NeuronConfig:
        """Nominal settings (see :func:`default_capmem_code`) for ``circuits`` (all if None).

        ``fields`` override the digital fields (``membrane_capacitance`` ...).
        """
        idx = np.arange(specs.N_NEURONS) if circuits is None else np.asarray(circuits)
        idx = np.atleast_1d(idx)
        codes = np.array([default_capmem_code(c) for c in specs.CAPMEM_CELLS], dtype=np.int64)
        return cls(circuits=idx, capmem=np.repeat(codes[:, None], idx.size, axis=1), **fields)

    @property
    def n(self) -> int:
        """Number of configured circuits."""
        return int(self.circuits.size)

    def cell(self, name: str) -> np.ndarray:
        """Codes of CapMem cell ``name``, shape (n,)."""
        return self.capmem[self._row(name)]

    def with_cells(self, **codes: Any) -> NeuronConfig:
        """A copy with the named CapMem cells set (scalars or (n,) arrays of codes)."""
        capmem = np.array(self.capmem, copy=True)
        for name, value in codes.items():
            arr = np.asarray(value)
            if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape != (self.n,)):
                raise ConfigError(f"codes for {name} must be a scalar or of shape ({self.n},), "
                                  f"got shape {arr.shape}")
            capmem[self._row(name)] = specs.check_capmem(name, arr)
        return replace(self, capmem=capmem)

    @staticmethod
    def _row(name: str) -> int:
        try:
            return specs.CAPMEM_CELLS.index(name)
        except ValueError:
            raise ConfigError(f"unknown CapMem cell {name!r}; known: "
                              f"{', '.join(specs.CAPMEM_CELLS)}") from None


def _synram_array(name: str, value: Any, high: int) -> np.ndarray:
    shape = (specs.N_HEMISPHERES, specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS)
    arr = np.zeros(shape, dtype=np.int64) if value is None else np.asarray(value)
    if arr.shape != shape:
        raise ConfigError(f"{name} must have shape {shape}, got {arr.shape}")
    flat = _per_circuit(name, arr.ravel(), arr.size, 0, high)
    return flat.reshape(shape).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class ChipConfig:
    """A full chip configuration: the artefact mapping produces and execution consumes.

    Parameters
    ----------
    neurons
        Settings of all 512 circuits (``neurons.circuits`` must be 0..511 in order).
    weights
        6-bit synaptic weights, shape (2, 256, 256): (hemisphere, row, column).
    addresses
        6-bit address labels a synapse responds to, shape (2, 256, 256).
    row_modes
        Index into ``specs.ROW_MODES`` per synapse row, shape (2, 256).
    cadc_offset
        Digital offset of every CADC channel, -128..127, shape (2, 2, 256):
        (hemisphere, branch causal/acausal, column).
    driver_offset
        STP offset code of every synapse driver, 0..15, shape (2, 128): (hemisphere,
        driver); None: ``specs.STP_OFFSET_REFERENCE`` (uncalibrated).
    """

    neurons: NeuronConfig = field(default_factory=NeuronConfig.default)
    weights: Any = None
    addresses: Any = None
    row_modes: Any = None
    cadc_offset: Any = None
    driver_offset: Any = None

    def __post_init__(self) -> None:
        if not np.array_equal(self.neurons.circuits, np.arange(specs.N_NEURONS)):
            raise ConfigError("ChipConfig.neurons must configure all 512 circuits in order")
        weights = _synram_array("weights", self.weights, specs.WEIGHT_MAX)
        addresses = _synram_array("addresses", self.addresses, specs.ADDRESS_MAX)
        modes_shape = (specs.N_HEMISPHERES, specs.SYNRAM_ROWS)
        modes = np.zeros(modes_shape, np.int64) if self.row_modes is None else self.row_modes
        modes = np.asarray(modes)
        if modes.shape != modes_shape:
            raise ConfigError(f"row_modes must have shape {modes_shape}, got {modes.shape}")
        modes = _per_circuit("row_modes", modes.ravel(), modes.size, 0,
                             len(specs.ROW_MODES) - 1).reshape(modes_shape)
        offset_shape = (specs.N_HEMISPHERES, len(specs.CADC_BRANCHES), specs.N_NEURON_COLUMNS)
        offset = np.zeros(offset_shape, np.int64) if self.cadc_offset is None else self.cadc_offset
        offset = np.asarray(offset)
        if offset.shape != offset_shape:
            raise ConfigError(f"cadc_offset must have shape {offset_shape}, got {offset.shape}")
        offset = _per_circuit("cadc_offset", offset.ravel(), offset.size, specs.CADC_OFFSET_MIN,
                              specs.CADC_OFFSET_MAX).reshape(offset_shape)
        driver_shape = (specs.N_HEMISPHERES, specs.N_SYNAPSE_DRIVERS)
        drivers = (np.full(driver_shape, specs.STP_OFFSET_REFERENCE, np.int64)
                   if self.driver_offset is None else np.asarray(self.driver_offset))
        if drivers.shape != driver_shape:
            raise ConfigError(f"driver_offset must have shape {driver_shape}, got "
                              f"{drivers.shape}")
        drivers = specs.check_integer_range("driver_offset", drivers, 0, specs.STP_OFFSET_MAX)
        for name, arr in (("weights", weights), ("addresses", addresses),
                          ("row_modes", modes), ("cadc_offset", offset),
                          ("driver_offset", drivers)):
            object.__setattr__(self, name, _frozen(arr))
