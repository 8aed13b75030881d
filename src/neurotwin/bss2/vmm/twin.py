r"""The twin target: a VMM on virtual HICANN-X chips with their deviations.

A block placed on (chip, hemisphere) (see :mod:`neurotwin.bss2.vmm.partition`) with
signed rows ``r`` and columns ``j`` computes, in CADC LSB::

    G+_rj = a * c[h, exc, j] * d[h, r] * s[h, 2r, j]    (positive part: excitatory row 2r)
    G-_rj = a * c[h, inh, j] * d[h, r] * s[h, 2r+1, j]  (negative part: inhibitory row 2r+1)
    u_j   = num_sends * gain * sum_r x_r (max(W_rj, 0) G+_rj - max(-W_rj, 0) G-_rj)
    m_j   = u_j / sqrt(1 + (u_j / (S * wait))^2)  (synaptic input saturation)
    read  = k[h, j] * m_j + o[h, j] + noise       then the CADC numerics (numerics.py)

with ``a`` the chip's overall gain factor, ``c`` per column and receptor, ``d`` per
synapse driver (the driver of signed row ``r`` sends to both its rows), ``s`` per
synapse (all log-normal, spreads in :class:`VmmDeviations`), ``k``, ``o`` the gain and
offset of the column's causal CADC channel (the :class:`~neurotwin.bss2.Chip`'s own fixed
pattern), ``S`` the saturation level per FPGA cycle of ``wait_between_events`` and white
noise of std ``noise_lsb`` per read (drawn at run time from the caller's generator).

The VMM-specific patterns are drawn from streams seeded by (serial, name), the
convention of :class:`~neurotwin.bss2.Chip`: a serial always gives the same chip.
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.vmm.partition import column_slices, row_slices, slot_location
from neurotwin.errors import ConfigError, check_int, check_positive

__all__ = ["Twin", "VmmDeviations"]


@dataclass(frozen=True)
class VmmDeviations:
    """Magnitudes of a chip's deviations in VMM mode (after calibration).

    Parameters
    ----------
    gain
        Design gain of the multiplication, CADC LSB per unit of x.W and send (hxtorch's
        default 0.002).
    chip_gain_spread
        Log-std of a chip's overall gain around ``gain`` (twin assumption: 5 %).
    column_gain_spread
        Log-std of each column's gain per receptor left after calibration (twin
        assumption: 5 %; uncalibrated spiking-mode columns spread 10 %, ``Deviations``).
    synapse_gain_spread
        Log-std of each synapse's gain (twin assumption: 5 %).
    noise_lsb
        Std of the temporal noise of every read, CADC LSB (hxtorch's default noise_std,
        2 LSB, measured on chips).
    saturation_lsb_per_cycle
        Membrane level at which the synaptic input saturates, LSB per FPGA cycle of
        ``wait_between_events`` (``specs.VMM_SATURATION_LSB_PER_CYCLE``; inf: never).
    driver_gain_spread
        Log-std of each synapse driver's (signed row's) gain after calibration: measured,
        ``specs.VMM_DRIVER_MISMATCH_LSB / specs.VMM_DRIVER_AMPLITUDE_LSB`` (6.7 %, calix's
        hagen-mode hardware test).
    """

    gain: float = specs.VMM_GAIN
    chip_gain_spread: float = 0.05
    column_gain_spread: float = 0.05
    synapse_gain_spread: float = 0.05
    noise_lsb: float = specs.VMM_NOISE_STD
    saturation_lsb_per_cycle: float = specs.VMM_SATURATION_LSB_PER_CYCLE
    driver_gain_spread: float = specs.VMM_DRIVER_MISMATCH_LSB / specs.VMM_DRIVER_AMPLITUDE_LSB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "saturation_lsb_per_cycle" and value == math.inf:
                continue
            check_positive(f.name, value, allow_zero=f.name != "gain")

    @classmethod
    def ideal(cls, gain: float = specs.VMM_GAIN) -> VmmDeviations:
        """No deviations, no noise, no saturation: the mock without noise."""
        return cls(gain, 0.0, 0.0, 0.0, 0.0, math.inf, 0.0)


def _normal(serial: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws of the stream (serial, name), as ``Chip`` draws its own."""
    return np.random.default_rng([serial, zlib.crc32(name.encode())]).standard_normal(shape)


@dataclass(frozen=True, eq=False)
class _Pattern:
    """The realised VMM deviations of one chip (factors are 1 when ideal)."""

    chip_gain: float
    column_gain: torch.Tensor
    """(2, 2, 256): hemisphere, receptor (exc, inh), column."""
    driver_gain: torch.Tensor
    """(2, 128): hemisphere, synapse driver (signed row)."""
    synapse_gain: torch.Tensor
    """(2, 256, 256): hemisphere, physical row, column."""
    cadc_gain: torch.Tensor
    """(2, 256): hemisphere, column (causal channel)."""
    cadc_offset: torch.Tensor
    """(2, 256): hemisphere, column, LSB."""


def _realise(chip: Chip, d: VmmDeviations) -> _Pattern:
    h, rows, cols = specs.N_HEMISPHERES, specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS
    fp = chip.fixed_pattern
    chip_gain = np.exp(d.chip_gain_spread * _normal(chip.serial, "vmm_chip_gain", (1,)))
    return _Pattern(
        chip_gain=float(chip_gain[0]),
        column_gain=torch.from_numpy(np.exp(d.column_gain_spread * _normal(
            chip.serial, "vmm_column_gain", (h, 2, cols)))),
        driver_gain=torch.from_numpy(np.exp(d.driver_gain_spread * _normal(
            chip.serial, "vmm_driver_gain", (h, rows // 2)))),
        synapse_gain=torch.from_numpy(np.exp(d.synapse_gain_spread * _normal(
            chip.serial, "vmm_synapse_gain", (h, rows, cols)))),
        cadc_gain=torch.from_numpy(np.array(fp.cadc_gain[:, 0, :])),
        cadc_offset=torch.from_numpy(np.array(fp.cadc_offset_lsb[:, 0, :])),
    )


@dataclass(frozen=True, eq=False)
class Twin:
    """VMM target on virtual chips (module docstring).

    Parameters
    ----------
    chips
        The chips, in slot order (one :class:`~neurotwin.bss2.Chip` or several).
    deviations
        VMM-mode magnitudes. The CADC channels' offsets and gains are the chips' own.
    first_slot
        Slot of a matrix's first block (:mod:`~neurotwin.bss2.vmm.partition`); ``nn``
        layers get disjoint slots from :func:`neurotwin.bss2.vmm.nn.set_target`.
    """

    chips: tuple[Chip, ...]
    deviations: VmmDeviations = field(default_factory=VmmDeviations)
    first_slot: int = 0
    _patterns: tuple[_Pattern, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        chips = (self.chips,) if isinstance(self.chips, Chip) else tuple(self.chips)
        if not chips or not all(isinstance(c, Chip) for c in chips):
            raise ConfigError(f"chips must be one Chip or a non-empty sequence of Chips, "
                              f"got {self.chips!r}")
        if not isinstance(self.deviations, VmmDeviations):
            raise ConfigError(f"deviations must be VmmDeviations, got "
                              f"{type(self.deviations).__name__}")
        check_int("first_slot", self.first_slot, 0)
        object.__setattr__(self, "chips", chips)
        object.__setattr__(self, "_patterns", tuple(_realise(c, self.deviations) for c in chips))

    @classmethod
    def from_serials(cls, serials: Sequence[int] | int,
                     deviations: VmmDeviations | None = None) -> Twin:
        """A twin of chips with serials ``serials`` (default spiking-mode deviations)."""
        s = [serials] if isinstance(serials, int) else list(serials)
        return cls(tuple(Chip(seed=k) for k in s), deviations or VmmDeviations())

    @property
    def gain(self) -> float:
        """Design gain: the straight-through backward pass scales by it."""
        return self.deviations.gain

    def at(self, slot: int) -> Twin:
        """The same chips, with the next matrix starting at slot ``slot``."""
        check_int("slot", slot, 0)
        moved = copy.copy(self)
        object.__setattr__(moved, "first_slot", slot)
        return moved

    def membranes(self, x: torch.Tensor, w: torch.Tensor, num_sends: int,
                  wait_between_events: int, generator: torch.Generator | None
                  ) -> torch.Tensor:
        """Analog CADC inputs of every row block (module docstring).

        Parameters
        ----------
        x
            Quantised inputs, float64, shape (n, rows).
        w
            Quantised weights, float64, shape (rows, columns).
        num_sends, wait_between_events
            Sends of each vector; wait between events, FPGA cycles.
        generator
            Source of the temporal noise (None: torch's default generator).

        Returns
        -------
        torch.Tensor
            Shape (row blocks, n, columns), CADC LSB.
        """
        d = self.deviations
        rows = row_slices(w.shape[0])
        out = torch.empty((len(rows), x.shape[0], w.shape[1]), dtype=torch.float64)
        slot = self.first_slot
        for cs in column_slices(w.shape[1]):
            ncol = cs.stop - cs.start
            for i, rs in enumerate(rows):
                _, chip, h = slot_location(slot, len(self.chips))
                slot += 1
                p = self._patterns[chip]
                nrow = rs.stop - rs.start
                wb = w[rs, cs]
                driver = p.driver_gain[h, :nrow, None]
                g_exc = p.column_gain[h, 0, :ncol] * driver * p.synapse_gain[h, 0:2 * nrow:2, :ncol]
                g_inh = p.column_gain[h, 1, :ncol] * driver * p.synapse_gain[h, 1:2 * nrow:2, :ncol]
                w_eff = p.chip_gain * (wb.clamp(min=0) * g_exc - (-wb).clamp(min=0) * g_inh)
                u = (num_sends * d.gain) * (x[:, rs] @ w_eff)
                level = d.saturation_lsb_per_cycle * wait_between_events
                m = u / torch.sqrt(1.0 + (u / level) ** 2) if math.isfinite(level) else u
                out[i, :, cs] = p.cadc_gain[h, :ncol] * m + p.cadc_offset[h, :ncol]
        if d.noise_lsb > 0:
            out += d.noise_lsb * torch.randn(out.shape, generator=generator, dtype=out.dtype)
        return out
