r"""Deployment check: a feed-forward LIF stack trained with the event engine, run on a
time-stepped backend, its predicted classes compared with the event engine's.

The class of a sample is the output neuron that fires first (:func:`predict`). The event
engine's spikes of every layer come from :func:`forward_layers`; :func:`deployment_check`
builds the same stack as a :class:`~neurotwin.network.Network` (one copy per sample, so
samples cannot interact), runs it on a registered backend and compares the classes sample
by sample. Used by the Yin-Yang experiment (:mod:`neurotwin.experiments.yinyang`).

A readout of non-spiking leaky integrators (``mnist-latency``: the class is the largest
membrane maximum V_max) is checked with ``vmax_threshold``: the last layer is built with
its threshold there, above every potential it is meant to reach, its membrane recorded
every step, and its V_max compared with the event engine's
(:func:`~neurotwin.eventprop.li_vmax`).
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from neurotwin.backends import simulate
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.dynamics.lif import LIF
from neurotwin.engines.event import lif_layer_forward
from neurotwin.errors import ConfigError, check_multiple_of, check_positive
from neurotwin.eventprop import li_vmax
from neurotwin.network import Network, Population, SpikeSourceArray
from neurotwin.spikes import SpikeBatch, Spikes, first_spike_times

__all__ = ["DeploymentCheck", "check_ticks", "deployment_check", "forward_layers", "layer_models",
           "predict"]


def check_ticks(ticks: Sequence[float], t_max: float) -> None:
    """Refuse a SpiNNaker2 tick (ms) that does not divide the code's window ``t_max`` (ms).

    Raises
    ------
    ConfigError
        Naming the tick and ``t_max``.
    """
    for tick in ticks:
        if not math.isclose(t_max / tick, round(t_max / tick), abs_tol=1e-9):
            raise ConfigError(f"s2 tick {tick} ms must divide t_max = {t_max} ms")


def predict(first: torch.Tensor | np.ndarray) -> np.ndarray:
    """Class of each sample: the output neuron that fires first (ties: lowest index);
    -1 where no output neuron fires. ``first`` (B, n) first spike times, ms."""
    t = np.asarray(first.detach().cpu() if isinstance(first, torch.Tensor) else first)
    cls = np.argmin(t, axis=1)
    return np.where(np.isfinite(t).any(axis=1), cls, -1)


def forward_layers(
    weights: Sequence[torch.Tensor | np.ndarray],
    params: EventLIF,
    batch: SpikeBatch,
    t_max: float,
    xtol: float,
    *,
    first_only: bool = True,
) -> list[Spikes]:
    """Event-engine spikes of every layer of a feed-forward stack (no autograd), on the
    device of the first weights; the last layer stops at its first spike (``first_only``)."""
    first = weights[0]
    spikes = batch.to_torch(first.device if isinstance(first, torch.Tensor) else "cpu")
    out: list[Spikes] = []
    for k, w in enumerate(weights):
        w_t = w.detach() if isinstance(w, torch.Tensor) else torch.as_tensor(w)
        last = k == len(weights) - 1
        spikes = lif_layer_forward(
            spikes.times, spikes.ids, w_t.to(torch.float64), params, t_max,
            max_spikes=1 if last and first_only else None, xtol=xtol,
        )
        out.append(spikes)
    return out


@dataclass(frozen=True)
class DeploymentCheck:
    """Agreement of a time-stepped run of a trained network with the event engine.

    Parameters
    ----------
    agreement
        Fraction of samples with the same predicted class (silent counts as class -1).
    n_samples
        Samples compared.
    event_classes, stepped_classes
        Predicted class per sample, int64 (n_samples,), -1 where no output fires.
    ties
        Samples where two or more output neurons fire first in the same time step (with a
        V_max readout: share the largest V_max).
    shift_ms
        Median of (stepped - event) first output spike times over neurons firing in both,
        ms: the layers' delays and the grid stamping (about ``(layers + 1) dt``); with a
        V_max readout the median of (stepped - event) V_max, mV.
    wall_time_s
        Time spent in the backend runs, s.
    """

    agreement: float
    n_samples: int
    event_classes: np.ndarray
    stepped_classes: np.ndarray
    ties: int
    shift_ms: float
    wall_time_s: float

    def summary(self) -> dict[str, Any]:
        """The JSON-able scalars."""
        return {
            "agreement": self.agreement,
            "n_samples": self.n_samples,
            "ties": self.ties,
            "shift_ms": self.shift_ms,
            "wall_time_s": self.wall_time_s,
        }


def _source_times(batch: SpikeBatch) -> list[np.ndarray]:
    """Spike times per source of every sample, sample-major: source ``c n + k`` is source k
    of sample c."""
    out: list[np.ndarray] = []
    for c in range(len(batch)):
        times, ids = batch.times[c], batch.ids[c]
        out.extend(times[ids == k] for k in range(batch.n_sources))
    return out


def layer_models(params: EventLIF, layers: int, vmax_threshold: float | None) -> list[LIF]:
    """The neuron model of every layer of a stack: ``params.to_lif()``, the last layer's
    threshold at ``vmax_threshold`` (mV above rest) for a V_max readout."""
    lif = params.to_lif()
    if vmax_threshold is None:
        return [lif] * layers
    check_positive("vmax_threshold", vmax_threshold, "mV")
    return [lif] * (layers - 1) + [replace(lif, v_thresh=lif.v_rest + vmax_threshold)]


def _event_scores(mats: list[np.ndarray], params: EventLIF, part: SpikeBatch, t_max: float,
                  xtol: float, vmax: bool) -> np.ndarray:
    """The event engine's first output spike times, ms, or minus its V_max, mV, (B, n_out)."""
    if not vmax:
        out = forward_layers(mats, params, part, t_max, xtol)[-1]
        return first_spike_times(out, mats[-1].shape[1]).numpy()
    hidden = (forward_layers(mats[:-1], params, part, t_max, xtol, first_only=False)[-1]
              if len(mats) > 1 else part.to_torch())
    return -li_vmax(hidden.times, hidden.ids, torch.as_tensor(mats[-1]), params,
                    t_max).numpy()


def deployment_check(
    weights: Sequence[torch.Tensor | np.ndarray],
    params: EventLIF,
    batch: SpikeBatch,
    t_max: float,
    *,
    dt: float = 0.01,
    chunk: int = 100,
    backend: str = "ideal",
    seed: int = 0,
    xtol: float = 1e-10,
    options: Mapping[str, Any] | None = None,
    vmax_threshold: float | None = None,
) -> DeploymentCheck:
    """Run a trained feed-forward LIF stack on a time-stepped backend; compare its predicted
    classes (first output spike) with the event engine's.

    The samples of a chunk run side by side in one simulation, as separate copies of the
    network: sample c has its own input sources, hidden and output neurons, and the weights
    are block-diagonal (``kron(I_chunk, W)``), so samples cannot interact and every neuron
    starts at rest, exactly as in the event engine. Every projection has ``receptor=None``
    (signed weights split into exc and inh, both with ``tau_syn``) and a delay of one step;
    the neuron is ``params.to_lif()``. The run lasts ``t_max`` plus one step per layer,
    the delays' shift of the event window.

    Parameters
    ----------
    weights
        Weight matrices (n_in, n_out) of the layers in order, nA.
    params
        Neuron parameters of every layer (``tau_refrac`` = 0 as in training).
    batch
        Input spikes of the samples.
    t_max
        End of the event-engine window, ms (a multiple of ``dt``).
    dt
        Time step of the backend, ms.
    chunk
        Samples per backend run.
    backend
        A registered backend name.
    seed
        Seed of the backend runs (deterministic networks do not use it).
    xtol
        Spike-time tolerance of the event-engine reference, ms.
    options
        Map options of the backend (e.g. ``{"tick_ms": 0.1}`` for ``spinnaker2``).
    vmax_threshold
        The last layer is a V_max readout with its threshold here, mV above rest (module
        docstring); None: its first spikes give the class.

    Returns
    -------
    DeploymentCheck
    """
    check_positive("dt", dt, "ms")
    if not weights:
        raise ConfigError("weights must hold at least one layer")
    chunk = operator.index(chunk)
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1, got {chunk}")
    steps = int(check_multiple_of("t_max", t_max, dt))
    mats = [np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w, np.float64)
            for w in weights]
    n_out = mats[-1].shape[1]
    vmax = vmax_threshold is not None
    # first spike times (ms), or with a V_max readout minus V_max (mV): the class is the
    # smallest either way
    event_first = np.empty((len(batch), n_out))
    stepped_first = np.full((len(batch), n_out), math.inf)
    ties = 0
    wall = 0.0
    models = layer_models(params, len(mats), vmax_threshold)
    duration = (steps + len(mats)) * dt
    for start in range(0, len(batch), chunk):
        part = batch.take(slice(start, min(start + chunk, len(batch))))
        c = len(part)
        event_first[start : start + c] = _event_scores(mats, params, part, t_max, xtol, vmax)
        net = Network(dt=dt)
        prev = net.add(SpikeSourceArray(_source_times(part), label="input"))
        for k, (w, model) in enumerate(zip(mats, models, strict=True)):
            pop = net.add(Population(c * w.shape[1], model, label=f"layer{k}"))
            block = sp.csr_array(sp.kron(sp.eye_array(c), sp.csr_array(w)))
            net.connect(prev, pop, block, receptor=None, delays=dt)
            prev = pop
        net.record(prev, "v" if vmax else "spikes")
        began = time.perf_counter()
        result = simulate(net, duration, backend=backend, seed=seed, **(options or {}))
        wall += time.perf_counter() - began
        if vmax:
            top = result.trace(prev, "v").numpy().max(axis=0)
            stepped_first[start : start + c] = -top.reshape(c, n_out)
        else:
            times, ids = result.spikes(prev)
            sample, neuron = ids // n_out + start, ids % n_out
            np.minimum.at(stepped_first, (sample, neuron), times)
        firsts = stepped_first[start : start + c]
        earliest = firsts.min(axis=1, keepdims=True)
        ties += int(np.sum(np.isfinite(earliest[:, 0]) & ((firsts == earliest).sum(axis=1) > 1)))
    both = np.isfinite(event_first) & np.isfinite(stepped_first)
    sign = -1.0 if vmax else 1.0
    shift = (float(np.median(sign * (stepped_first[both] - event_first[both]))) if both.any()
             else math.nan)
    event_cls, stepped_cls = predict(event_first), predict(stepped_first)
    return DeploymentCheck(
        agreement=float(np.mean(event_cls == stepped_cls)) if len(batch) else math.nan,
        n_samples=len(batch),
        event_classes=event_cls,
        stepped_classes=stepped_cls,
        ties=ties,
        shift_ms=shift,
        wall_time_s=wall,
    )
