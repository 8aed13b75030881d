r"""The chip's readouts of a run: what a BrainScaleS-2 user records next to the spikes.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotwin.bss2 import adc, specs
from neurotwin.bss2.correlation import cadc_correlation, sensor_traces
from neurotwin.bss2.neuron import Emulation
from neurotwin.engines.result import Result
from neurotwin.errors import ConfigError
from neurotwin.network import Network, Population

if TYPE_CHECKING:
    from neurotwin.bss2.mapping import Mapping

__all__ = ["Bss2Result", "CorrelationReadout", "Readout", "check_readout"]

CADC_STREAM, MADC_STREAM, CORRELATION_STREAM = 2, 3, 4
"""Last entry of the read-noise seeds ``(seed, trial, stream)``."""


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

    Codes are 8-bit CADC reads (LSB, 0..255) of ``CORRELATION_BASELINE_MV + S``: the
    stored value above the baseline is ``code - baseline code`` LSB (one LSB ~2.8 mV).
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


def membrane_requests(mapping: Mapping) -> np.ndarray:
    """Logical neurons whose hardware membrane the readouts need at every step: the CADC
    populations' neurons in label order, then the MADC neuron, (m,) int64."""
    readout = mapping.readout
    parts = [np.arange(mapping.populations[label].size) + mapping.populations[label].first_neuron
             for label in readout.cadc_labels(mapping.network)]
    if readout.madc is not None:
        label, index = readout.madc
        parts.append(np.array([mapping.populations[label].first_neuron + int(index)]))
    return np.concatenate([*parts, np.zeros(0, np.int64)]).astype(np.int64)


def _emulation(v_hw: np.ndarray, dt: float) -> Emulation:
    """A recorded membrane (steps + 1, n), mV, as an Emulation for the adc functions."""
    steps = v_hw.shape[0] - 1
    return Emulation(dt=dt, spikes=np.broadcast_to(False, (steps, v_hw.shape[1])), v=v_hw,
                     i_exc=None, i_inh=None, w=None)


def cadc_readout(mapping: Mapping, v_hw: np.ndarray, seed: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """CADC membrane reads of the readout's populations.

    Parameters
    ----------
    v_hw
        Hardware membranes of :func:`membrane_requests`, mV, (trials, steps + 1, m).

    Returns
    -------
    reads, times
        Label -> int64 (trials, samples, size); sample times, µs, (samples,).
    """
    reads: dict[str, list[np.ndarray]] = {}
    dt = mapping.dt
    times = np.zeros(0)
    for b in range(v_hw.shape[0]):
        rng = np.random.default_rng([seed, b, CADC_STREAM])
        col = 0
        for label in mapping.readout.cadc_labels(mapping.network):
            pmap = mapping.populations[label]
            emu = _emulation(v_hw[b, :, col:col + pmap.size], dt)
            col += pmap.size
            reads.setdefault(label, []).append(adc.cadc_membrane(
                mapping.chip, emu, pmap.anchors, rng, mapping.config.cadc_offset))
        duration = (v_hw.shape[1] - 1) * dt
        times = adc.cadc_sample_steps(duration, dt) * dt
    return {label: np.stack(r) for label, r in reads.items()}, times


def madc_readout(mapping: Mapping, v_hw: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MADC trace of the readout's neuron from its hardware membrane ``v_hw`` (mV,
    (trials, steps + 1)), linearly interpolated onto the MADC grid.

    Returns
    -------
    samples, times
        int64 (trials, samples); sample times, µs, (samples,).
    """
    dt = mapping.dt
    period = specs.MADC_SAMPLE_PERIOD_US
    step_times = np.arange(v_hw.shape[1]) * dt
    grid = np.arange(0.0, step_times[-1] + 1e-12, period)
    samples, times = [], np.zeros(0)
    for b in range(v_hw.shape[0]):
        rng = np.random.default_rng([seed, b, MADC_STREAM])
        fine = np.interp(grid, step_times, v_hw[b])[:, None]
        times, read = adc.madc_trace(mapping.chip, _emulation(fine, period), 0, rng)
        samples.append(read)
    return np.stack(samples), times


def _unit_times(steps: np.ndarray, ids: np.ndarray, first: int, size: int, dt: float
                ) -> list[np.ndarray]:
    """Start times ``k * dt`` (µs) of the steps in which units [first, first + size)
    spiked, sorted, one array per unit."""
    sel = (ids >= first) & (ids < first + size)
    local, k = ids[sel] - first, steps[sel]
    order = np.lexsort((k, local))
    bounds = np.searchsorted(local[order], np.arange(size + 1))
    return [k[order][bounds[u]:bounds[u + 1]] * dt for u in range(size)]


def _padded(trains: list[np.ndarray], which: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Spike trains ``trains[which[s]] + shift[s]`` (µs) as an ``+inf``-padded (S, K)
    matrix (K >= 1, so that a synapse without spikes has a column of padding)."""
    width = max([1] + [trains[u].size for u in np.unique(which)])
    out = np.full((which.size, width), np.inf)
    for s, u in enumerate(which):
        out[s, :trains[u].size] = trains[u] + shift[s]
    return out


def correlation_readout(mapping: Mapping, duration_us: float, neuron_spikes: list[Any],
                        source_spikes: list[Any], seed: int) -> CorrelationReadout:
    """Correlation sensor reads of the readout's projection.

    Parameters
    ----------
    duration_us
        Length of the run, µs (hardware).
    neuron_spikes, source_spikes
        Per trial, (steps, ids) of every spike of the mapped neurons (global neuron
        index) / of the spike sources (global source index); a spike in step k (-1:
        before the run) ends at ``(k + 1) * dt``.
    """
    assert mapping.readout.correlation is not None
    net = mapping.network
    p = projection_index(net, *mapping.readout.correlation)
    proj = net.projections[p]
    syn = proj.synapses()
    placement = mapping.placements[p] if p < len(mapping.placements) else None
    if placement is None or placement.shape[0] != syn.pre.size:
        raise ConfigError("this mapping holds no synapse placement (a mapping saved by an "
                          "older neurotwin); map the network again to read correlations")
    dt = mapping.dt
    delay = mapping.delay_steps[placement[:, 0], placement[:, 1], placement[:, 2]]
    post_pmap = mapping.populations[proj.post]
    pre_from_neurons = proj.pre in mapping.populations
    if pre_from_neurons:
        pre_pmap = mapping.populations[proj.pre]
        pre_first, pre_end = pre_pmap.first_neuron, pre_pmap.first_neuron + pre_pmap.size
    else:
        pre_first, pre_end = mapping.program.source_slices[proj.pre]
    n_syn = syn.pre.size
    reads = np.zeros((4, len(neuron_spikes), n_syn), np.int64)
    for b, (n_steps, n_ids) in enumerate(neuron_spikes):
        rng = np.random.default_rng([seed, b, CORRELATION_STREAM])
        pre_steps, pre_ids = (n_steps, n_ids) if pre_from_neurons else source_spikes[b]
        pre_trains = _unit_times(pre_steps, pre_ids, pre_first, pre_end - pre_first, dt)
        post_trains = _unit_times(n_steps, n_ids, post_pmap.first_neuron, post_pmap.size, dt)
        pre = _padded(pre_trains, syn.pre, (1 + delay) * dt)
        post = _padded(post_trains, syn.post, np.full(n_syn, dt))
        for h in np.unique(placement[:, 0]):
            sel = placement[:, 0] == h
            rows, cols = placement[sel, 1], placement[sel, 2]
            traces = sensor_traces(mapping.chip, int(h), rows, cols, pre[sel], post[sel],
                                   [0.0, duration_us])
            causal, acausal = cadc_correlation(mapping.chip, traces, int(h), cols, rng,
                                               mapping.config.cadc_offset)
            reads[:, b, sel] = [causal[:, 1], acausal[:, 1], causal[:, 0], acausal[:, 0]]
    return CorrelationReadout(pre=syn.pre, post=syn.post, placement=placement,
                              time_us=float(duration_us), causal=reads[0], acausal=reads[1],
                              causal_baseline=reads[2], acausal_baseline=reads[3])

