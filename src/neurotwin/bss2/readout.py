r"""The chip's readouts of a run: what a BrainScaleS-2 user asks to record next to the
spikes (:class:`Readout`) and what a run returns (:class:`Bss2Result`); the reads
themselves are computed from the run's membranes and spikes in
:mod:`~neurotwin.bss2.readings`.

``nt.simulate(net, T, backend="bss2", readout=Readout(...))`` (or ``map(...,
readout=...)``) asks the run for

* **CADC** membrane samples of whole populations: every ``specs.CADC_SAMPLE_PERIOD_US``
  from t = 0 on, each logical neuron read on the causal channel of its anchor circuit
  (:func:`~neurotwin.bss2.adc.cadc_membrane`; the CADC samples all channels at once, so
  any population can be read);
* the **MADC** trace of one neuron: the kernel records that neuron's hardware membrane
  at every step of the run (state at ``k * dt``, plus the final state at ``steps * dt``);
  the MADC sees it linearly interpolated onto its own sample grid
  (``specs.MADC_SAMPLE_PERIOD_US``, 24 ns) and digitises it
  (:func:`~neurotwin.bss2.adc.madc_trace`). Features shorter than ``dt`` (a spike's
  upswing and reset) appear as one linear ramp of length ``dt``;
* the **correlation sensors** of every synapse of one projection, read through the
  CADC right after the reset at t = 0 (the baseline) and at the end of the run
  (:func:`~neurotwin.bss2.correlation.sensor_traces`,
  :func:`~neurotwin.bss2.correlation.cadc_correlation`). The sensor sees a presynaptic
  event when it reaches the synapse (the unit's spike at the end of step k arrives at
  ``(k + 1 + delay_steps) * dt`` µs; an input event played before the run at
  ``delay_steps * dt``) and a postsynaptic spike at the end of its step, ``(k + 1) * dt``
  (the analog times, not the FPGA timestamps).

All codes go through the converters' numerics (``specs.cadc_read``/``madc_read``: clamp
with a :class:`~neurotwin.bss2.specs.SaturationWarning`), with the mapping's CADC
digital offsets (a calibration's ``cadc_offset``). Read noise of trial b comes from the
streams ``(seed, b, 2)`` (CADC membrane), ``(seed, b, 3)`` (MADC) and ``(seed, b, 4)``
(correlation), so asking for one readout does not change another's codes.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError
from neurotwin.network import Network, Population

__all__ = ["Bss2Result", "CorrelationReadout", "Readout", "check_readout"]

@dataclass(frozen=True)
class Readout:
    """Which of the chip's readouts a ``bss2`` run records (``map`` option ``readout``).

    Parameters
    ----------
    cadc
        CADC membrane samples: True for every population, or a tuple of population
        labels; False for none.
    madc
        ``(population label, neuron index)`` of the one neuron the MADC records, or None.
    correlation
        ``(pre label, post label)`` of the projection whose synapses' correlation sensors
        are read, or None. The pair must name exactly one projection.
    """

    cadc: bool | tuple[str, ...] = False
    madc: tuple[str, int] | None = None
    correlation: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cadc, bool):
            if isinstance(self.cadc, str) or not all(isinstance(x, str) for x in self.cadc):
                raise ConfigError(f"Readout.cadc must be a bool or a tuple of population "
                                  f"labels, got {self.cadc!r}")
            object.__setattr__(self, "cadc", tuple(self.cadc))
        if self.madc is not None and not (
                len(self.madc) == 2 and isinstance(self.madc[0], str)
                and isinstance(self.madc[1], int | np.integer)
                and not isinstance(self.madc[1], bool)):
            raise ConfigError(f"Readout.madc must be (population label, neuron index), "
                              f"got {self.madc!r}")
        if self.correlation is not None and not (
                len(self.correlation) == 2
                and all(isinstance(x, str) for x in self.correlation)):
            raise ConfigError(f"Readout.correlation must be (pre label, post label), "
                              f"got {self.correlation!r}")

    def cadc_labels(self, network: Network) -> tuple[str, ...]:
        """Labels of the populations whose membranes the CADC reads."""
        if self.cadc is True:
            return tuple(str(p.label) for p in network.populations)
        return self.cadc if isinstance(self.cadc, tuple) else ()


@dataclass(frozen=True, eq=False)
class CorrelationReadout:
    """Correlation sensor reads of the S synapses of one projection, each trial.

    Codes are 8-bit CADC reads (LSB, 0..255) of ``CORRELATION_BASELINE_MV - S``
    (:func:`~neurotwin.bss2.specs.correlation_voltage`: the read falls as correlation
    accumulates, as on the chip): the stored correlation is ``baseline code - code``
    LSB (one LSB ~2.8 mV, about two pairs at zero lag).
    """

    pre: np.ndarray
    """Presynaptic index within the pre node, (S,), in ``Projection.synapses()`` order."""
    post: np.ndarray
    """Postsynaptic neuron index within the post population, (S,)."""
    placement: np.ndarray
    """(S, 3) int: (hemisphere, row, column) of each synapse on the chip."""
    time_us: float
    """Hardware time of the final read, µs (the end of the run)."""
    causal: np.ndarray
    """Causal reads at ``time_us``, int64 LSB, (trials, S)."""
    acausal: np.ndarray
    """Acausal reads at ``time_us``, int64 LSB, (trials, S)."""
    causal_baseline: np.ndarray
    """Causal reads right after the reset at t = 0, int64 LSB, (trials, S)."""
    acausal_baseline: np.ndarray
    """Acausal reads right after the reset at t = 0, int64 LSB, (trials, S)."""


@dataclass(frozen=True, eq=False)
class Bss2Result(Result):
    """A ``bss2`` run's :class:`~neurotwin.engines.result.Result` plus the chip's
    readouts asked for with :class:`Readout` (empty / None where not asked for).

    Readout times are hardware µs from the start of the run (numerically equal to model
    ms); codes are the converters' integer outputs in LSB.
    """

    cadc: MappingABC[str, np.ndarray] = field(default_factory=dict)
    """Population label -> CADC membrane reads, int64 0..255, (trials, samples, size)."""
    cadc_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Times of the CADC samples, µs, (samples,): ``k * CADC_SAMPLE_PERIOD_US``."""
    madc: np.ndarray | None = None
    """MADC samples of the chosen neuron's membrane, int64 0..1023, (trials, samples)."""
    madc_times: np.ndarray | None = None
    """Times of the MADC samples, µs, (samples,): ``k * MADC_SAMPLE_PERIOD_US``."""
    correlation: CorrelationReadout | None = None
    """Correlation sensor reads of the chosen projection."""


def _population(network: Network, label: str, what: str) -> Population:
    labels = [str(p.label) for p in network.populations]
    if label not in labels:
        raise ConfigError(f"readout {what} names {label!r}, which is not a population; "
                          f"populations: {', '.join(labels) or 'none'}")
    return network.populations[labels.index(label)]


def projection_index(network: Network, pre: str, post: str) -> int:
    """Index in ``network.projections`` of the one projection ``pre -> post``."""
    hits = [i for i, p in enumerate(network.projections) if (p.pre, p.post) == (pre, post)]
    if len(hits) != 1:
        known = ", ".join(f"{p.pre}->{p.post}" for p in network.projections) or "none"
        why = "is not a projection" if not hits else f"names {len(hits)} projections"
        raise ConfigError(f"readout correlation ({pre!r}, {post!r}) {why}; projections: "
                          f"{known}")
    return hits[0]


def check_readout(readout: Any, network: Network) -> Readout:
    """``readout`` validated against ``network``; ConfigError naming the bad value."""
    if not isinstance(readout, Readout):
        raise ConfigError(f"readout must be a bss2.Readout, got {type(readout).__name__}")
    for label in readout.cadc_labels(network):
        _population(network, label, "cadc")
    if readout.madc is not None:
        label, index = readout.madc
        pop = _population(network, label, "madc")
        if not 0 <= int(index) < pop.size:
            raise ConfigError(f"readout madc index {index} is out of range for population "
                              f"{label!r} of {pop.size} neurons: [0, {pop.size - 1}]")
    if readout.correlation is not None:
        projection_index(network, *readout.correlation)
    return readout
