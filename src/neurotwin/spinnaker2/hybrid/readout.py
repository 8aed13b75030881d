"""The spiking back end of a hybrid program: a layer of LIF neurons with integer weights,
its conversion from a trained ``nn.Linear`` and its plain numpy reference.

A feature ``f`` that sends a spike in tick ``t`` adds the integer weight ``w[o, f]``
(LSB; its sign picks the receptor, magnitude at most ``INT8_WEIGHT_MAX``) to the ring
buffer of neuron ``o`` for tick ``t + 1`` (the int8 synapse word's one-tick delay); the
neuron reads it as ``float32(count) * float32(lsb_na)`` nA, and every LIF update is the
float32 step of :mod:`neurotwin.engines.neuron_update` (the twin's tick,
:mod:`neurotwin.spinnaker2.tick`). :func:`reference_lif` writes that step out in numpy,
for many samples at once, independent of the twin's compiled kernel.

Conversion (:func:`readout_from_linear`): a bias-free ``nn.Linear(F, n)`` of a float model
whose input is the rate-coded activation. With a membrane time constant far above the
run (an integrate-and-fire neuron) the membrane of ``o`` integrates
``lsb tau_syn / cm sum_f w[o, f] spikes_f``, proportional to the float layer's output for
the rate-coded input; the class is the neuron with most spikes (ties: the higher membrane
potential at the end, then the lower index). The threshold is set from calibration
samples so that the winning neuron's drive crosses it about ``target_spikes`` times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurotwin.dynamics.lif import LIF
from neurotwin.errors import ConfigError, check_int
from neurotwin.spinnaker2.numerics import lif_constants_f32
from neurotwin.spinnaker2.specs import INT8_WEIGHT_MAX, RING_BUFFER_MAX

__all__ = ["ReferenceRun", "SpikingReadout", "decide", "readout_from_linear", "reference_lif"]

DEFAULT_LSB_NA = 2.0**-6
"""nA per weight LSB: a power of two, so that every weight is exact in float32."""


@dataclass(frozen=True, eq=False)
class SpikingReadout:
    """A LIF layer fed by the DNN stage's features.

    Parameters
    ----------
    weight
        (n_out, F) integer weights, LSB, in [-INT8_WEIGHT_MAX, INT8_WEIGHT_MAX]
        (positive: excitatory receptor, negative: inhibitory).
    lsb_na
        nA per LSB (> 0).
    neuron
        The LIF parameters of every output neuron (mV, ms, nA, nF).
    """

    weight: np.ndarray
    lsb_na: float
    neuron: LIF = field(default_factory=LIF)

    def __post_init__(self) -> None:
        w = np.asarray(self.weight)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ConfigError(f"readout weight must be (n_out, F) with both >= 1, got {w.shape}")
        if not np.issubdtype(w.dtype, np.integer):
            raise ConfigError(f"readout weight must be integer LSB, got {w.dtype}")
        if np.abs(w).max() > INT8_WEIGHT_MAX:
            raise ConfigError(f"readout weight {int(np.abs(w).max())} LSB exceeds the int8 "
                              f"synapse word's {INT8_WEIGHT_MAX}")
        if not (np.isfinite(self.lsb_na) and self.lsb_na > 0):
            raise ConfigError(f"lsb_na must be positive and finite, got {self.lsb_na!r}")
        if not isinstance(self.neuron, LIF):
            raise ConfigError(f"neuron must be a LIF, got {type(self.neuron).__name__}")
        object.__setattr__(self, "weight", w.astype(np.int64))

    @property
    def n_out(self) -> int:
        """Output neurons."""
        return int(self.weight.shape[0])

    @property
    def n_features(self) -> int:
        """Features (DNN stage outputs) it reads."""
        return int(self.weight.shape[1])


def readout_from_linear(weight: np.ndarray, calibration_spikes: np.ndarray, *,
                        target_spikes: float = 8.0, tau_mem_ms: float = 1e4,
                        tau_syn_ms: float = 0.1, lsb_na: float = DEFAULT_LSB_NA
                        ) -> SpikingReadout:
    """A :class:`SpikingReadout` from a trained bias-free linear layer (module docstring).

    Parameters
    ----------
    weight
        (n_out, F) float weights of the ``nn.Linear`` (no bias).
    calibration_spikes
        (N, F) spikes per feature over the whole code (:meth:`.RateCode.spikes` summed
        over ticks) of calibration samples.
    target_spikes
        Spikes the winning neuron should send on a typical calibration sample (> 0).
    tau_mem_ms, tau_syn_ms
        Membrane and synaptic time constants, ms.
    lsb_na
        nA per weight LSB.

    Raises
    ------
    ConfigError
        NaN or infinite weights (naming the count), an all-zero layer, shapes that do
        not match, or no drive on any calibration sample.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ConfigError(f"readout weight must be (n_out, F), got shape {w.shape}")
    bad = int((~np.isfinite(w)).sum())
    if bad:
        raise ConfigError(f"readout (SNN stage): {bad} NaN or infinite weight(s) of {w.size}; "
                          "integer synapse weights need finite values")
    largest = float(np.abs(w).max())
    if largest == 0.0:
        raise ConfigError("readout (SNN stage): every weight is 0")
    if not target_spikes > 0:
        raise ConfigError(f"target_spikes must be > 0, got {target_spikes!r}")
    spikes = np.asarray(calibration_spikes, dtype=np.float64)
    if spikes.ndim != 2 or spikes.shape[1] != w.shape[1]:
        raise ConfigError(f"calibration_spikes must be (N, {w.shape[1]}), got {spikes.shape}")
    ints = np.rint(w / largest * INT8_WEIGHT_MAX).astype(np.int64)
    drive = spikes @ ints.T * (lsb_na * tau_syn_ms)  # mV at cm = 1 nF, without leak
    top = np.median(drive.max(axis=1))
    if not top > 0:
        raise ConfigError("readout (SNN stage): no calibration sample drives any neuron "
                          "above rest")
    neuron = LIF(tau_mem=tau_mem_ms, tau_syn_exc=tau_syn_ms, tau_syn_inh=tau_syn_ms, cm=1.0,
                 v_rest=0.0, v_reset=0.0, v_thresh=float(top / target_spikes), tau_refrac=0.0)
    return SpikingReadout(ints, lsb_na, neuron)


@dataclass(frozen=True, eq=False)
class ReferenceRun:
    """Spikes of the readout per sample, from :func:`reference_lif`.

    Parameters
    ----------
    spikes
        Per sample, (tick, neuron) int64 arrays sorted by tick then neuron.
    counts
        (N, n_out) spikes per neuron.
    v_last
        (N, n_out) float32 membrane at the start of the last tick, mV.
    """

    spikes: tuple[tuple[np.ndarray, np.ndarray], ...]
    counts: np.ndarray
    v_last: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        """(N,) class of each sample (:func:`decide`)."""
        return decide(self.counts, self.v_last)


def decide(counts: np.ndarray, v_last: np.ndarray) -> np.ndarray:
    """(N,) the neuron with most spikes; ties: higher final membrane, then lower index."""
    counts = np.asarray(counts)
    lower_first = -np.arange(counts.shape[1])
    out = np.empty(counts.shape[0], np.int64)
    for n in range(counts.shape[0]):  # lexsort: the last key is the primary one
        out[n] = np.lexsort((lower_first, v_last[n], counts[n]))[-1]
    return out


def reference_lif(readout: SpikingReadout, spikes: np.ndarray, tick_ms: float,
                  run_ticks: int) -> ReferenceRun:
    """The readout's LIF layer in plain numpy (float32, module docstring), all samples at
    once.

    Parameters
    ----------
    readout
        The layer.
    spikes
        (N, F, ticks) spikes each feature sends in each tick (:meth:`.RateCode.spikes`).
    tick_ms
        Tick, ms.
    run_ticks
        Ticks to run (>= ticks).
    """
    check_int("run_ticks", run_ticks, spikes.shape[2])
    c = lif_constants_f32(readout.neuron, tick_ms)
    v_rest, v_reset, v_thresh, i_offset, p_vv, p_vi, p_ve, p_vn, p_ee, p_nn = c
    n_refrac = round(readout.neuron.tau_refrac / tick_ms)
    n, n_out = spikes.shape[0], readout.n_out
    w = readout.weight
    exc_w, inh_w = np.maximum(w, 0).T, np.maximum(-w, 0).T  # (F, n_out)
    scale = np.float32(readout.lsb_na)
    v = np.full((n, n_out), np.float32(readout.neuron.v_rest), np.float32)
    ie = np.zeros((n, n_out), np.float32)
    ii = np.zeros((n, n_out), np.float32)
    rf = np.zeros((n, n_out), np.int64)
    fired = np.zeros((run_ticks, n, n_out), bool)
    v_last = v
    for j in range(run_ticks):
        v_last = v.copy()
        if 1 <= j <= spikes.shape[2]:  # packets of tick j - 1 arrive in slot j
            sent = spikes[:, :, j - 1].astype(np.int64)
            count_e, count_i = sent @ exc_w, sent @ inh_w
        else:
            count_e = count_i = np.zeros((n, n_out), np.int64)
        v_free = v_rest + (v - v_rest) * p_vv + i_offset * p_vi
        v_free = v_free + ie * p_ve - ii * p_vn
        ie = ie * p_ee + np.minimum(count_e, RING_BUFFER_MAX).astype(np.float32) * scale
        ii = ii * p_nn + np.minimum(count_i, RING_BUFFER_MAX).astype(np.float32) * scale
        free = rf <= 0
        v = np.where(free, v_free, v)
        rf = np.where(free, rf, rf - 1)
        spike = v >= v_thresh
        v = np.where(spike, v_reset, v).astype(np.float32)
        rf = np.where(spike, n_refrac, rf)
        fired[j] = spike
    per_sample = []
    for s in range(n):
        tick, neuron = np.nonzero(fired[:, s, :])
        per_sample.append((tick.astype(np.int64), neuron.astype(np.int64)))
    return ReferenceRun(tuple(per_sample), fired.sum(axis=0), v_last)
