"""Deploying a hybrid DNN/SNN program: the int8 DNN stage on its PEs, the spiking stage
on other PEs, one set of router tables between them.

1. The front end (:class:`~neurotwin.spinnaker2.dnn.QuantisedModel`) is placed by
   :func:`~neurotwin.spinnaker2.dnn.deploy` (its stages take the first working PEs).
2. The PEs of its **last stage become senders**: each is a spike-source node
   (``"dnn0"``, ``"dnn1"``, ...) of the features it computes, one slice each, placed on
   that very PE. The readout's LIF population (``"snn"``) takes working PEs the DNN does
   not use (on ``snn_chip`` if given).
3. The mapper (:func:`~neurotwin.spinnaker2.map_network` with this placement) allocates
   the routing keys (:mod:`~neurotwin.spinnaker2.keys`: one key per feature), builds the
   multicast trees and router tables (:mod:`~neurotwin.spinnaker2.routing`) and
   compresses them; :func:`~neurotwin.spinnaker2.program.compile_program` follows every
   key through those tables (:mod:`~neurotwin.spinnaker2.router`), so the packets from
   the DNN PEs reach the SNN PEs only where the tables send them.

The spiking stage is compiled once (int8 synapse words, the readout's LSB as the exact
weight scale); per inference only the senders' spike trains change
(:func:`~neurotwin.spinnaker2.hybrid.run.run_hybrid`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurotwin.errors import CapacityError, ConfigError, MappingError, check_positive
from neurotwin.network import Network, Population, SpikeSourceArray
from neurotwin.spinnaker2.dnn.layers import MacLayer, QuantisedModel, Relu
from neurotwin.spinnaker2.dnn.partition import DnnProgram, deploy
from neurotwin.spinnaker2.hybrid.coding import RateCode
from neurotwin.spinnaker2.hybrid.readout import SpikingReadout
from neurotwin.spinnaker2.machine import Machine, check_clock
from neurotwin.spinnaker2.mapping import map_network
from neurotwin.spinnaker2.partition import Partition
from neurotwin.spinnaker2.program import S2Program, compile_program

__all__ = ["MAX_FEATURES_PER_SENDER", "SENDER_PREFIX", "SETTLE_TICKS", "SNN_LABEL",
           "HybridProgram", "deploy_hybrid"]

SENDER_PREFIX = "dnn"
"""Label prefix of the spike-source node of each sending DNN PE."""
SNN_LABEL = "snn"
"""Label of the readout's LIF population."""
SETTLE_TICKS = 3
"""Ticks run after the code's last: a packet of tick t reaches the synaptic current in
tick t + 1 and the membrane in t + 2; the membrane is read at the start of the last."""
MAX_FEATURES_PER_SENDER = 1 << 16
"""Most features (routing keys) one DNN PE may send: the mapper's largest
``sources_per_pe`` (:func:`~neurotwin.spinnaker2.map_network`)."""


@dataclass(frozen=True, eq=False)
class HybridProgram:
    """A DNN front end and a spiking readout placed on one machine as one program.

    Parameters
    ----------
    dnn
        The placed int8 front end.
    readout
        The spiking back end.
    code
        How the front end's outputs become spikes.
    snn
        The compiled spiking stage (senders and LIF population), routed through the
        placement's tables (``snn.placement``).
    senders
        (start, stop) features of each sending PE (the last DNN stage's slices: their
        output channels times the features per channel).
    """

    dnn: DnnProgram
    readout: SpikingReadout
    code: RateCode
    snn: S2Program
    senders: tuple[tuple[int, int], ...]

    @property
    def tick_ms(self) -> float:
        """Tick of the spiking stage, ms."""
        return self.snn.tick_ms

    @property
    def run_ticks(self) -> int:
        """Ticks per inference: the code's ticks and ``SETTLE_TICKS``."""
        return self.code.ticks + SETTLE_TICKS

    @property
    def zero_point(self) -> int:
        """Zero point of the front end's output codes."""
        return self.dnn.model.output_zero_point


def check_front_end(qmodel: QuantisedModel) -> None:
    """ConfigError unless the front end gives a flat feature vector that ends in a ReLU
    (rate codes carry non-negative activations)."""
    if len(qmodel.out_shape) != 1:
        raise ConfigError(f"hybrid: the DNN stage's output must be a flat feature vector "
                          f"(end it with Flatten or Linear), got shape {qmodel.out_shape}")
    macs = [i for i, layer in enumerate(qmodel.layers) if isinstance(layer, MacLayer)]
    last = qmodel.layers[macs[-1]]
    assert isinstance(last, MacLayer)
    if not (last.relu or any(isinstance(x, Relu) for x in qmodel.layers[macs[-1] + 1:])):
        raise ConfigError(f"hybrid: the DNN stage must end in a ReLU ({last.name} has none): "
                          "its outputs become rate codes, which carry non-negative values")


def _placer(dnn: DnnProgram, snn_chip: int | None
            ) -> Callable[[Machine, Partition], tuple[np.ndarray, np.ndarray]]:
    """Senders on the last DNN stage's PEs, the LIF slices on PEs the DNN leaves free."""
    senders = dnn.stages[-1].slices
    used = {(sl.chip, sl.pe) for stage in dnn.stages for sl in stage.slices}

    def place(machine: Machine, part: Partition) -> tuple[np.ndarray, np.ndarray]:
        n_send = len(senders)
        if not np.array_equal(part.slice_offsets[:n_send + 1], np.arange(n_send + 1)):
            widths = np.diff(part.slice_offsets[:n_send + 1]).tolist()
            raise MappingError(f"hybrid: each sending DNN PE must be one source slice; the "
                               f"mapper cut the senders into {widths} slices")
        free = [(int(c), int(p)) for c, p in zip(*np.nonzero(machine.pe_alive), strict=True)
                if (int(c), int(p)) not in used and (snn_chip is None or c == snn_chip)]
        n_lif = part.n_slices - n_send
        if n_lif > len(free):
            where = "the machine" if snn_chip is None else f"chip {snn_chip}"
            raise CapacityError("PEs", n_lif, len(free),
                                f"SNN stage {SNN_LABEL!r}: {n_lif} PE(s) needed, {where} has "
                                f"{len(free)} working PE(s) the DNN stage leaves free")
        chips = [sl.chip for sl in senders] + [c for c, _ in free[:n_lif]]
        pes = [sl.pe for sl in senders] + [p for _, p in free[:n_lif]]
        return np.array(chips, np.int64), np.array(pes, np.int64)

    return place


def _network(readout: SpikingReadout, senders: tuple[tuple[int, int], ...], per_tick: int,
             tick_ms: float) -> Network:
    """Senders (a template train of ``per_tick`` spikes in tick 0: it sets the ring
    buffer's width; each inference brings its own) projecting onto the LIF population."""
    net = Network(dt=tick_ms)
    pop = Population(readout.n_out, readout.neuron, label=SNN_LABEL)
    nodes = [net.add(SpikeSourceArray([[tick_ms] * per_tick] * (hi - lo),
                                      label=f"{SENDER_PREFIX}{k}"))
             for k, (lo, hi) in enumerate(senders)]
    net.add(pop)
    for node, (lo, hi) in zip(nodes, senders, strict=True):
        net.connect(node, pop, readout.weight[:, lo:hi].T * readout.lsb_na, receptor=None,
                    delays=tick_ms)
    net.record(pop, "spikes", "v")
    return net


def deploy_hybrid(qmodel: QuantisedModel, readout: SpikingReadout,
                  machine: Machine | None = None, *, code: RateCode | None = None,
                  tick_ms: float = 0.1, clock_mhz: float | None = None,
                  max_cycles_per_pe: int | None = None, snn_chip: int | None = None,
                  neurons_per_pe: int = 250) -> HybridProgram:
    """Place the front end, the senders and the readout, build the tables, compile.

    Parameters
    ----------
    qmodel
        The int8 front end (:func:`~neurotwin.spinnaker2.dnn.quantise`); its output is a
        flat feature vector after a ReLU.
    readout
        The spiking back end; ``readout.n_features`` must equal the front end's outputs.
    machine
        Default a single-chip machine.
    code
        Rate code of the features (default :class:`.RateCode`'s).
    tick_ms
        Tick of the spiking stage, ms (the budget is ``clock x tick`` cycles per PE).
    clock_mhz
        DVFS level (150 or 300 MHz), default the machine's.
    max_cycles_per_pe
        Passed to :func:`~neurotwin.spinnaker2.dnn.deploy`.
    snn_chip
        Chip index for the LIF population (None: the first PEs the DNN leaves free).
    neurons_per_pe
        Most LIF neurons per PE.

    Raises
    ------
    ConfigError
        A front end without a flat ReLU output, a readout of another width, a bad tick.
    CapacityError
        A sending PE with more than ``MAX_FEATURES_PER_SENDER`` features ("routing keys
        per sending PE"), no PE left for the SNN stage ("PEs"), and whatever the DNN
        deployment or the mapper refuse (PE memory, keys, router entries).
    """
    check_front_end(qmodel)
    features = qmodel.out_shape[0]
    if readout.n_features != features:
        raise ConfigError(f"hybrid: the readout reads {readout.n_features} features, the DNN "
                          f"stage gives {features}")
    check_positive("tick_ms", tick_ms, "ms")
    code = RateCode() if code is None else code
    machine = Machine(board_chips=1) if machine is None else machine
    clock = check_clock(machine.clock_mhz if clock_mhz is None else clock_mhz)
    if snn_chip is not None and not 0 <= snn_chip < machine.n_chips:
        raise ConfigError(f"snn_chip must lie in [0, {machine.n_chips - 1}], got {snn_chip!r}")
    dnn = deploy(qmodel, machine, max_cycles_per_pe=max_cycles_per_pe, clock_mhz=clock)
    last = dnn.stages[-1]
    # a PE computes whole channels; after pooling and Flatten (channel-major) each channel
    # is a run of features
    per_channel = last.out_bytes // last.layer.n_outputs
    senders = tuple((lo * per_channel, hi * per_channel) for lo, hi in
                    (sl.outputs for sl in last.slices))
    for sl, (lo, hi) in zip(last.slices, senders, strict=True):
        if hi - lo > MAX_FEATURES_PER_SENDER:
            raise CapacityError("routing keys per sending PE", hi - lo, MAX_FEATURES_PER_SENDER,
                                f"DNN stage {last.layer.name} on PE {sl.pe} of chip "
                                f"{machine.xy(sl.chip)} sends features {lo}..{hi - 1}")
    net = _network(readout, senders, code.max_per_tick(qmodel.output_zero_point), tick_ms)
    widest = max(hi - lo for lo, hi in senders)
    placement = map_network(net, machine, neurons_per_pe=neurons_per_pe,
                            sources_per_pe=widest, tick_ms=tick_ms,
                            place=_placer(dnn, snn_chip))
    snn = compile_program(net, placement, tick_ms, clock, weight_format="int8",
                          weight_scale=readout.lsb_na, rounding="exact")
    return HybridProgram(dnn, readout, code, snn, senders)
