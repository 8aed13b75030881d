r"""Per-synapse correlation sensors: causal and acausal traces, as pure functions over
spike trains.

Every synapse of HICANN-X measures the timing of its pre- and postsynaptic spikes with
two analog sensors whose stored voltages the CADC reads (Pehle 2022, sec. 2.3;
Friedmann et al. 2017). The twin's model of one synapse::

    causal   at every postsynaptic spike t_q:  S_c += eta_c * K_c(t_q)
             K_c(t_q) = exp(-(t_q - t_p) / tau_c),  t_p the last presynaptic spike < t_q
    acausal  at every presynaptic spike t_p:   S_a += eta_a * K_a(t_p)
             K_a(t_p) = exp(-(t_p - t_q) / tau_a),  t_q the last postsynaptic spike < t_p

The partner trace is a capacitor recharged to a fixed level by each spike, so only the
most recent partner counts (``pairing="nearest"``, the hardware); ``pairing="all"`` sums
over all earlier partners (the all-to-all STDP trace) for comparison. Spikes at the same
instant do not pair. The stored values saturate: ``S = min(sum, saturation)`` (the
increments are positive, so clamping the running sum equals clamping after every step).
A reset (the PPU's correlation reset) clears the stored values: a pairing at time t_e
contributes to the value at time t if ``r(t) <= t_e <= t``, ``r(t)`` being the last
reset at or before t. Stored values are mV of correlation; the CADC reads ``baseline - S``
(:func:`~neurotwin.bss2.specs.correlation_voltage`: the read falls from the baseline as
correlation accumulates, about 0.5 LSB per pair, as on the chip) on the synapse column's
causal / acausal channel.

Spike trains follow the house convention: times sorted ascending, ``+inf`` padding,
shape (K,) for one synapse or (S, K) for S synapses. The computation is vectorised over
synapses and uses O(S * K_trigger * max(K_partner, T)) memory.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.adc import cadc_sample
from neurotwin.bss2.chip import Chip
from neurotwin.errors import ConfigError, check_positive

__all__ = ["CorrelationTraces", "cadc_correlation", "correlation_traces", "sensor_traces"]

Pairing = Literal["nearest", "all"]


class CorrelationTraces(NamedTuple):
    """Stored sensor values (mV of correlation, read as ``baseline - S``) at the sample
    times."""

    causal: np.ndarray
    """Shape (T,) for one synapse or (S, T)."""
    acausal: np.ndarray
    """Shape (T,) for one synapse or (S, T)."""


def _spike_matrix(name: str, times: Any) -> np.ndarray:
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ConfigError(f"{name} must have shape (K,) or (S, K), got {arr.shape}")
    if np.any(np.isnan(arr)) or np.any(arr == -np.inf):
        raise ConfigError(f"{name} must hold finite spike times or +inf padding")
    if np.any(arr[:, 1:] < arr[:, :-1]):
        raise ConfigError(f"{name} must be sorted ascending along the last axis")
    return arr


def _per_synapse(name: str, value: Any, s: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(s, float(arr))
    if arr.shape != (s,):
        raise ConfigError(f"{name} must be a scalar or of shape ({s},), got {arr.shape}")
    return arr[:, None]


def _kernel(trigger: np.ndarray, partner: np.ndarray, tau: np.ndarray,
            pairing: Pairing) -> np.ndarray:
    """K at every trigger spike, (S, K_trigger); 0 for padding or without a partner."""
    finite = np.isfinite(trigger)[:, :, None] & np.isfinite(partner)[:, None, :]
    lag = np.where(finite, trigger[:, :, None] - np.where(np.isfinite(partner), partner, 0.0)
                   [:, None, :], np.inf)
    lag = np.where(lag > 0, lag, np.inf)
    if pairing == "nearest":
        return np.exp(-lag.min(axis=2) / tau)
    return np.exp(-lag / tau[:, :, None]).sum(axis=2)


def _accumulate(events: np.ndarray, increments: np.ndarray, sample_times: np.ndarray,
                reset_times: np.ndarray, saturation: float) -> np.ndarray:
    resets = np.concatenate([[-np.inf], np.sort(reset_times)])
    last_reset = resets[np.searchsorted(resets, sample_times, side="right") - 1]
    counted = (events[:, :, None] <= sample_times[None, None, :]) \
        & (events[:, :, None] >= last_reset[None, None, :])
    total = np.einsum("sk,skt->st", increments, counted.astype(np.float64))
    return np.minimum(total, saturation)


def correlation_traces(
    pre_times: Any,
    post_times: Any,
    sample_times: Any,
    tau_causal: Any = specs.CORRELATION_TAU_US,
    tau_acausal: Any = specs.CORRELATION_TAU_US,
    eta_causal: Any = specs.CORRELATION_ETA_MV,
    eta_acausal: Any = specs.CORRELATION_ETA_MV,
    saturation: float = specs.CORRELATION_SATURATION_MV,
    reset_times: Any = (),
    pairing: Pairing = "nearest",
) -> CorrelationTraces:
    """Causal and acausal sensor values of synapses at ``sample_times`` (model above).

    Parameters
    ----------
    pre_times, post_times
        Pre- and postsynaptic spike times, µs (hardware), (K,) or (S, K), sorted,
        ``+inf``-padded; both with the same S.
    sample_times
        Times at which to report the stored values, µs, (T,).
    tau_causal, tau_acausal
        Trace time constants, µs, scalars or (S,).
    eta_causal, eta_acausal
        Increment for a pair at zero lag, mV, scalars or (S,).
    saturation
        Largest stored value above the baseline, mV.
    reset_times
        Times of sensor resets, µs, (R,), applying to all synapses.
    pairing
        "nearest" (hardware) or "all".

    Returns
    -------
    CorrelationTraces
        Stored values in mV above the baseline, (T,) or (S, T).
    """
    if pairing not in ("nearest", "all"):
        raise ConfigError(f"pairing must be 'nearest' or 'all', got {pairing!r}")
    single = np.ndim(pre_times) == 1 and np.ndim(post_times) == 1
    pre = _spike_matrix("pre_times", pre_times)
    post = _spike_matrix("post_times", post_times)
    if pre.shape[0] != post.shape[0]:
        raise ConfigError(f"pre_times and post_times must hold the same number of synapses, "
                          f"got {pre.shape[0]} and {post.shape[0]}")
    s = pre.shape[0]
    t = np.atleast_1d(np.asarray(sample_times, dtype=np.float64))
    resets = np.atleast_1d(np.asarray(reset_times, dtype=np.float64))
    for name, value in (("sample_times", t), ("reset_times", resets)):
        if value.ndim != 1 or not np.all(np.isfinite(value)):
            raise ConfigError(f"{name} must be a 1-D array of finite times")
    check_positive("saturation", saturation, "mV", allow_zero=True)
    params = {}
    for name, value in (("tau_causal", tau_causal), ("tau_acausal", tau_acausal),
                        ("eta_causal", eta_causal), ("eta_acausal", eta_acausal)):
        check_positive(name, value, allow_zero=name.startswith("eta"))
        params[name] = _per_synapse(name, value, s)
    causal_inc = params["eta_causal"] * _kernel(post, pre, params["tau_causal"], pairing)
    acausal_inc = params["eta_acausal"] * _kernel(pre, post, params["tau_acausal"], pairing)
    causal = _accumulate(post, causal_inc, t, resets, saturation)
    acausal = _accumulate(pre, acausal_inc, t, resets, saturation)
    if single:
        return CorrelationTraces(causal[0], acausal[0])
    return CorrelationTraces(causal, acausal)


def sensor_traces(
    chip: Chip,
    hemisphere: int,
    rows: Any,
    columns: Any,
    pre_times: Any,
    post_times: Any,
    sample_times: Any,
    reset_times: Any = (),
) -> CorrelationTraces:
    """:func:`correlation_traces` of the chip's actual sensors of synapses
    (hemisphere, rows[s], columns[s]): nominal amplitude and time constant scaled by the
    chip's fixed pattern; spike trains of shape (S, K)."""
    eta, tau = chip.correlation_factors(hemisphere, rows, columns)
    return correlation_traces(
        pre_times, post_times, sample_times,
        tau_causal=specs.CORRELATION_TAU_US * tau[0],
        tau_acausal=specs.CORRELATION_TAU_US * tau[1],
        eta_causal=specs.CORRELATION_ETA_MV * eta[0],
        eta_acausal=specs.CORRELATION_ETA_MV * eta[1],
        reset_times=reset_times,
    )


def cadc_correlation(
    chip: Chip,
    traces: CorrelationTraces,
    hemisphere: int,
    columns: Any,
    rng: np.random.Generator,
    digital_offset: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CADC reads of stored sensor values (S, T) of synapses in ``columns`` (S,) of one
    hemisphere: (causal reads, acausal reads), int64 of shape (S, T)."""
    cols = specs.check_integer_range("column", columns, 0, specs.SYNRAM_COLUMNS - 1)
    h = np.full_like(cols, specs.check_integer_range("hemisphere", hemisphere, 0,
                                                     specs.N_HEMISPHERES - 1))
    reads = []
    for branch, stored in enumerate(traces):
        stored = np.atleast_2d(stored)
        if stored.shape[0] != cols.size:
            raise ConfigError(f"traces hold {stored.shape[0]} synapses but {cols.size} "
                              "columns were given")
        channels = (h, np.full_like(cols, branch), cols)
        volts = specs.correlation_voltage(stored)
        reads.append(cadc_sample(chip, volts.T, channels, rng, digital_offset).T)
    return reads[0], reads[1]
