r"""A trained feed-forward LIF stack run sample after sample on the BrainScaleS-2 twin,
with the spike times of every layer: the forward pass of hardware-in-the-loop training.

One copy of the network is placed once (hidden and output neurons on the same circuits
for every sample, as on a chip), and the samples run one after another in one emulation:
sample c occupies the window ``[c T, (c + 1) T)``, ``T = t_max + (layers + 2) dt``, its
inputs are played at ``c T + dt + t``, and a program at every window start (the run
loop's :class:`~neurotwin.bss2.run_loop.PeriodicProgram`, the hook of the chip's
plasticity processors) resets every membrane to its leak potential and clears the
synaptic currents and the events in flight, as the experiment control resets the chip
between samples (Göltz et al. 2021). Each projection has the chip's one-step delay; a
spike of layer k is reported at ``t + (k + 2) dt`` after its window start (the input's
offset, the delays) and is moved back by that much.

Weights go onto the 6-bit synapses with one scale per postsynaptic population: the
largest weight magnitude onto the population is 63 LSB (:func:`weight_scales`), the
scale of hxtorch-style deployments (the full 6-bit range for every layer). A nonzero
weight below half an LSB has no synapse on the chip: it is left out of the network that
is mapped (counted in :attr:`TwinRun.vanished`), so what runs is exactly the
quantised network and the mapping has nothing to warn about.

With ``input_repetitions`` k > 1 every input spike is sent on k synapse rows (copy r of
input i is source ``r * n_in + i``, as hxtorch repeats its input channels) and each
first-layer weight is split over its k rows in whole LSBs (:func:`repeat_inputs`): the
layer's LSB is ``max |w| / (63 k)``, so its weights have 63 k levels per sign from 6-bit
synapses, and each input's synapse-driver errors average over k drivers.

A readout of non-spiking leaky integrators (the class is the largest membrane maximum
V_max, as ``mnist-latency``'s) is mapped with its threshold at ``vmax_threshold``,
above every potential it is meant to reach, and read through the CADC, which digitises
every membrane in parallel every ``specs.CADC_SAMPLE_PERIOD_US`` (continuous sampling):
V_max of a sample is the largest read in its window, in model mV through the
population's voltage scale (:attr:`TwinRun.vmax`).

``circuits_per_neuron`` joins circuits into logical neurons, for every layer (int) or by
layer label ``layer<k>`` (dict; the others take the mapping's default, enough circuits
for their fan-in): a neuron of k circuits has k times the capacitance and conductances
and independent noise currents, so its membrane's temporal noise falls by sqrt(k) and
its leak potential and time constant average over k circuits' deviations (the first
circuit's comparator spikes: :func:`~neurotwin.bss2.neuron.merge_compartments`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
import scipy.sparse as sp
import torch

from neurotwin.bss2 import specs
from neurotwin.bss2.backend import Bss2Backend
from neurotwin.bss2.calibration import Calibration, CalibrationTargets, calibrate
from neurotwin.bss2.chip import Chip
from neurotwin.bss2.mapping import Mapping
from neurotwin.bss2.readout import Readout
from neurotwin.bss2.run_loop import EmulationState, PeriodicProgram, start_state
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import (
    ConfigError,
    DataError,
    check_int,
    check_multiple_of,
    check_positive,
)
from neurotwin.experiments.deployment import layer_models
from neurotwin.network import Network, Population, SpikeSourceArray
from neurotwin.spikes import SpikeBatch, Spikes, collect_spikes

__all__ = ["CircuitsPerNeuron", "TwinRun", "bss2_layers", "check_chip_fields",
           "chip_calibration", "map_stack", "operating_targets", "repeat_inputs",
           "weight_scales"]

CircuitsPerNeuron: TypeAlias = int | dict[str, int] | None
"""Circuits per logical neuron: one number for every layer, a number per layer label
``layer<k>`` (the others automatic), or None (automatic: enough for each fan-in)."""


@dataclass(frozen=True)
class TwinRun:
    """Spikes of every layer of a stack run on the BrainScaleS-2 twin.

    Parameters
    ----------
    layers
        Spikes of each layer, (B, K) padded batches, ms after the sample's own start (the
        model's time frame), only those at or before ``t_max``; the last layer keeps each
        neuron's first spike only.
    lsb_na
        Weight LSB of each layer, model nA.
    vanished
        Nonzero weights of each layer below half an LSB (no synapse on the chip).
    wall_time_s
        Time spent mapping and emulating, s.
    vmax
        With a V_max readout: the largest CADC read of each readout neuron in each
        sample's window, model mV, (B, n_out); None otherwise.
    """

    layers: list[Spikes]
    lsb_na: list[float]
    vanished: list[int]
    wall_time_s: float
    vmax: np.ndarray | None = None


def weight_scales(weights: Sequence[np.ndarray]) -> list[float]:
    """Weight LSB of each layer, model nA: the largest magnitude onto the layer is 63 LSB
    (1 nA for a layer of zero weights)."""
    return [float(np.max(np.abs(w), initial=0.0)) / specs.WEIGHT_MAX or 1.0 for w in weights]


def _window_reset(state: EmulationState, fresh: EmulationState) -> None:
    state.v[:] = fresh.v
    state.i_exc[:] = 0.0
    state.i_inh[:] = 0.0
    state.refractory[:] = 0
    state.pending[:] = 0.0


def _layer_spikes(times: np.ndarray, ids: np.ndarray, window: float, shift: float,
                  t_max: float, n_samples: int, first_only: bool) -> Spikes:
    """Padded batch of one layer from the spikes of the whole run."""
    sample = np.floor(times / window).astype(np.int64)
    local = np.maximum(times - sample * window - shift, 0.0)
    keep = (local <= t_max) & (sample < n_samples)
    sample, local, ids = sample[keep], local[keep], ids[keep]
    if first_only:
        order = np.lexsort((local, ids, sample))
        sample, local, ids = sample[order], local[order], ids[order]
        new = np.ones(sample.size, bool)
        new[1:] = (sample[1:] != sample[:-1]) | (ids[1:] != ids[:-1])
        sample, local, ids = sample[new], local[new], ids[new]
    triple = (torch.as_tensor(sample), torch.as_tensor(ids.astype(np.int64)),
              torch.as_tensor(local))
    return collect_spikes([triple], n_samples, torch.float64, torch.device("cpu"))


def bss2_layers(
    weights: Sequence[torch.Tensor | np.ndarray],
    params: EventLIF,
    batch: SpikeBatch,
    t_max: float,
    chip: Chip,
    calibration: Calibration | None,
    *,
    dt: float = 0.01,
    seed: int = 0,
    circuits_per_neuron: CircuitsPerNeuron = None,
    vmax_threshold: float | None = None,
    input_repetitions: int = 1,
) -> TwinRun:
    """Run a feed-forward LIF stack on the BrainScaleS-2 twin, sample after sample, and
    return the spikes of every layer (module docstring).

    Parameters
    ----------
    weights
        Weight matrices (n_in, n_out) of the layers in order, nA.
    params
        Neuron parameters of every layer (the model's; the twin maps them).
    batch
        Input spikes of the samples, ms in [0, t_max].
    t_max
        Length of a sample's window in the model, ms (a multiple of ``dt``).
    chip, calibration
        The chip (its serial's fixed pattern) and its calibration (None: nominal codes).
    dt
        Emulation time step, ms of model time.
    seed
        Seed of the emulation's temporal noise.
    circuits_per_neuron
        Circuits of every logical neuron (int), or by layer label ``layer<k>`` (dict);
        None, or a layer left out: the mapping's, enough for its fan-in.
    vmax_threshold
        The last layer is a V_max readout (module docstring) with its threshold here,
        model mV above rest; None: it spikes and its first spikes are the readout.
    input_repetitions
        Synapse rows per input of the first layer (:func:`repeat_inputs`); 1: one row.

    Returns
    -------
    TwinRun
    """
    check_positive("dt", dt, "ms")
    steps = int(check_multiple_of("t_max", t_max, dt))
    mats = _matrices(weights)
    if mats[0].shape[0] != batch.n_sources:
        raise ConfigError(f"the first layer has {mats[0].shape[0]} inputs, the batch "
                          f"{batch.n_sources} sources")
    began = time.perf_counter()
    n = len(batch)
    window_steps = steps + len(mats) + 2
    window = window_steps * dt
    sample = np.repeat(np.arange(n), batch.times.shape[1])
    real = np.isfinite(batch.times.ravel())
    emit = (sample * window_steps + 1)[real] * dt + batch.times.ravel()[real]
    src = batch.ids.ravel()[real]
    trains = [np.sort(emit[src == k]) for k in range(batch.n_sources)]
    mapping, pops, lsb, vanished = map_stack(
        mats, params, trains, dt, chip, calibration, circuits_per_neuron=circuits_per_neuron,
        vmax_threshold=vmax_threshold, input_repetitions=input_repetitions)
    fresh = start_state(mapping.tables, 1)
    reset = PeriodicProgram(lambda _step, state: _window_reset(state, fresh),
                            start=window_steps, period=window_steps)
    result = Bss2Backend().run(mapping, n * window, seed=seed, programs=(reset,))
    layers = []
    for k, pop in enumerate(pops):
        times, ids = result.spikes(pop)
        layers.append(_layer_spikes(np.asarray(times), np.asarray(ids), window, (k + 2) * dt,
                                    t_max, n, first_only=k == len(mats) - 1))
    vmax = None
    if vmax_threshold is not None:
        vmax = _window_vmax(result.cadc[str(pops[-1].label)][0], result.cadc_times, window, n,
                            mapping, str(pops[-1].label))
    return TwinRun(layers, lsb, vanished, time.perf_counter() - began, vmax)


def _window_vmax(reads: np.ndarray, times: np.ndarray, window: float, n_samples: int,
                 mapping: Mapping, label: str) -> np.ndarray:
    """Largest CADC read of every neuron in every sample's window, model mV, (B, n)."""
    sample = np.floor(times / window).astype(np.int64)
    keep = sample < n_samples
    top = np.full((n_samples, reads.shape[1]), -1, np.int64)
    np.maximum.at(top, sample[keep], reads[keep])
    # a read counts whole LSBs above the channel's zero: the potential lies in the LSB
    v_hw = specs.CADC_ZERO_MV + (top + 0.5) * specs.CADC_LSB_MV
    return np.where(top >= 0, mapping.populations[label].to_model_mv(v_hw), np.nan)


def repeat_inputs(w: np.ndarray, repetitions: int) -> tuple[np.ndarray, float]:
    """A first layer's weights (n_in, n_out), nA, spread over ``repetitions`` synapse rows
    per input (module docstring): the rows (repetitions * n_in, n_out), copy r of input i
    at row ``r * n_in + i``, each a whole number of LSBs, and the LSB, nA.

    The largest magnitude is ``63 * repetitions`` LSB; each weight's rounded LSB count is
    split over its rows so that they differ by at most one LSB (the larger ones first).
    """
    check_int("input_repetitions", repetitions, low=1)
    lsb = weight_scales([w])[0] / repetitions
    count = np.rint(np.abs(w) / lsb).astype(np.int64)
    base, extra = np.divmod(count, repetitions)
    rows = [np.sign(w) * (base + (r < extra)) * lsb for r in range(repetitions)]
    return np.concatenate(rows, axis=0), lsb


def map_stack(mats: list[np.ndarray], params: EventLIF, trains: list[np.ndarray],
              dt: float, chip: Chip, calibration: Calibration | None, *,
              circuits_per_neuron: CircuitsPerNeuron = None,
              vmax_threshold: float | None = None, input_repetitions: int = 1
              ) -> tuple[Mapping, list[Population], list[float], list[int]]:
    """The stack as a network fed by ``trains`` (ms), mapped with one weight LSB per
    layer; its populations, the LSBs (model nA) and the weights too small for a synapse.
    With ``vmax_threshold`` (model mV) the last layer is a V_max readout read by the CADC;
    with ``input_repetitions`` > 1 every input drives that many synapse rows
    (:func:`repeat_inputs`)."""
    net = Network(dt=dt)
    lsb = weight_scales(mats)
    rows = list(mats)
    if input_repetitions != 1:
        rows[0], lsb[0] = repeat_inputs(mats[0], input_repetitions)
        trains = list(trains) * input_repetitions
    prev = net.add(SpikeSourceArray(trains, label="input"))
    vanished = [int(np.count_nonzero(w) - np.count_nonzero(np.abs(w) >= 0.5 * s))
                for w, s in zip(mats, lsb, strict=True)]
    pops = []
    for k, (w, model) in enumerate(zip(rows, layer_models(params, len(mats), vmax_threshold),
                                       strict=True)):
        pop = net.add(Population(w.shape[1], model, label=f"layer{k}"))
        kept = np.where(np.abs(w) >= 0.5 * lsb[k], w, 0.0)
        net.connect(prev, pop, sp.csr_array(kept), receptor=None, delays=dt)
        net.record(pop, "spikes")
        pops.append(pop)
        prev = pop
    cadc = (str(pops[-1].label),) if vmax_threshold is not None else False
    mapping = Bss2Backend().map(net, chip=chip, calibration=calibration,
                                weight_scale={f"layer{k}": s for k, s in enumerate(lsb)},
                                circuits_per_neuron=circuits_per_neuron,
                                readout=Readout(cadc=cadc))
    return mapping, pops, lsb, vanished


def operating_targets(weights: Sequence[torch.Tensor | np.ndarray], params: EventLIF,
                      chip: Chip, calibration: Calibration, *, dt: float = 0.01,
                      circuits_per_neuron: CircuitsPerNeuron = None,
                      input_repetitions: int = 1) -> CalibrationTargets:
    """Calibration targets at the stack's own operating point: the CADC reads at which
    the widest layer's resting potential, reset and threshold sit when the stack is
    mapped with ``calibration`` as it runs (its circuits per neuron and input
    repetitions: both set how much synaptic current a weight needs, and so how wide a
    voltage window the mapping can keep), and the model's time constants (1 ms model =
    1 µs chip).

    Calibrating there, as experiments choose calix' targets for their network, leaves
    the mapping no potential to shift away from where the chip was calibrated (each
    voltage cell's slope deviation would scale the shift) and no time constant to
    rescale through the bias codes' offsets.
    """
    mats = _matrices(weights)
    mapping, pops, _, _ = map_stack(mats, params, [np.empty(0)] * mats[0].shape[0], dt,
                                    chip, calibration, circuits_per_neuron=circuits_per_neuron,
                                    input_repetitions=input_repetitions)
    widest = max(pops, key=lambda p: p.size)
    pmap = mapping.populations[str(widest.label)]
    lif = params.to_lif()

    def read(v_model: float) -> float:
        v_hw = pmap.v_zero_hw_mv + pmap.voltage_scale * (v_model - pmap.v_low_mv)
        return round((v_hw - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV - 0.5, 1)

    return replace(calibration.targets, leak=read(lif.v_rest), reset=read(lif.v_reset),
                   threshold=read(lif.v_thresh), tau_mem_us=lif.tau_mem,
                   tau_syn_exc_us=lif.tau_syn_exc, tau_syn_inh_us=lif.tau_syn_inh)


def check_chip_fields(serials: Sequence[int], calibration_targets: str,
                      membrane_capacitance: int) -> tuple[int, ...]:
    """Check the chip fields a twin experiment's config shares (distinct serials >= 0,
    ``calibration_targets`` "network" or "calix", the membrane capacitor code within the
    chip's range); return the serials as a tuple of ints.

    Raises
    ------
    ConfigError
        Naming the field and what it may be.
    """
    for s in serials:
        check_int("serial", s, low=0)
    chosen = tuple(int(s) for s in serials)
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"serials must be distinct, got {list(chosen)}")
    if calibration_targets not in ("network", "calix"):
        raise ConfigError(f"calibration_targets must be 'network' or 'calix', got "
                          f"{calibration_targets!r}")
    check_int("membrane_capacitance", membrane_capacitance, low=0,
              high=specs.MEMBRANE_CAPACITANCE_MAX)
    return chosen


def chip_calibration(chip: Chip, weights: Sequence[torch.Tensor | np.ndarray],
                     params: EventLIF, folder: Path, *,
                     targets: Literal["network", "calix"] = "network",
                     membrane_capacitance: int = specs.CALIX_TARGET_MEMBRANE_CAPACITANCE,
                     calibration_dir: str | None = None, dt: float = 0.01,
                     circuits_per_neuron: CircuitsPerNeuron = None,
                     input_repetitions: int = 1) -> Calibration:
    """The calibration of ``chip`` for the stack: read from ``calibration_dir`` (file
    ``chip<serial>.json``), else calibrated here and kept in ``folder``: at calix'
    defaults with ``membrane_capacitance`` (``calibration.json``), then, for
    ``"network"`` targets, at the stack's own operating point as it runs
    (:func:`operating_targets` with ``circuits_per_neuron`` and ``input_repetitions``,
    ``calibration_network.json``); every circuit the stack's mapping uses is calibrated.

    Raises
    ------
    DataError
        ``calibration_dir`` holds no calibration of this serial.
    """
    if calibration_dir is not None:
        path = Path(calibration_dir) / f"chip{chip.serial}.json"
        if not path.exists():
            raise DataError(f"no calibration of chip serial {chip.serial}: {path} does not "
                            f"exist (calibrate it with bss2.calibrate(Chip({chip.serial})) "
                            f"and save it there, or leave calibration_dir null)")
        return Calibration.load(path, serial=chip.serial)
    mats = _matrices(weights)
    mapping, _, _, _ = map_stack(mats, params, [np.empty(0)] * mats[0].shape[0], dt, chip,
                                 None, circuits_per_neuron=circuits_per_neuron)
    circuits = np.arange(int(mapping.circuits.max()) + 1)
    calix = CalibrationTargets(membrane_capacitance=membrane_capacitance)
    cal = _cached(folder / "calibration.json", chip, calix, circuits)
    if targets == "calix":
        return cal
    network = operating_targets(mats, params, chip, cal, dt=dt,
                                circuits_per_neuron=circuits_per_neuron,
                                input_repetitions=input_repetitions)
    return _cached(folder / "calibration_network.json", chip, network, circuits)


def _cached(path: Path, chip: Chip, targets: CalibrationTargets,
            circuits: np.ndarray) -> Calibration:
    """The calibration kept at ``path`` if it is for ``targets``, else a new one (kept)."""
    if path.exists():
        kept = Calibration.load(path, serial=chip.serial)
        if kept.targets == targets and kept.neurons.n == circuits.size:
            return kept
    cal = calibrate(chip, targets, circuits=circuits)
    path.parent.mkdir(parents=True, exist_ok=True)
    cal.save(path)
    return cal


def _matrices(weights: Sequence[torch.Tensor | np.ndarray]) -> list[np.ndarray]:
    if not weights:
        raise ConfigError("weights must hold at least one layer")
    return [np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w, np.float64)
            for w in weights]
