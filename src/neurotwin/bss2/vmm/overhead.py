r"""Runtime-overhead model of one inference (a batch through a schedule), as a breakdown.

The hxtorch paper's point: the analog multiply takes microseconds, the time around it
(host, link, FPGA) dominates unless batches are large. For a
:class:`~neurotwin.bss2.vmm.partition.Schedule` of ``R`` runs, a batch of ``B`` vectors
and, per run ``r``, its blocks of ``rows_b x cols_b``::

    host_preparation = R * host_program_s + host_s_per_value * (B * sum_b rows_b
                                                                + sum_b 2 rows_b cols_b)
    transfers        = (sum_b 2 rows_b cols_b * synapse_bytes
                        + B * sum_b num_sends_b rows_b * event_bytes) / link_bytes_per_s
    fpga             = R * fpga_s_per_run
    chip_execution   = B * t_vector(schedule)          (partition.py: events, reset, CADC)
    readout          = B * sum_b cols_b * (output_bytes / link_bytes_per_s + host_s_per_value)

(2 rows per signed weight: every block writes its excitatory and inhibitory rows.)
Energy is the chip's: ``specs.CHIP_POWER_W * chip_execution``. Every number of
:class:`OverheadModel` is a labelled assumption unless a source is given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from neurotwin.bss2 import specs
from neurotwin.bss2.vmm.partition import Schedule, Sends
from neurotwin.errors import check_int, check_positive

__all__ = ["OverheadBreakdown", "OverheadModel", "inference_overhead"]


@dataclass(frozen=True)
class OverheadModel:
    """Costs around the chip (all assumptions of the twin unless a source is named).

    Parameters
    ----------
    host_program_s
        Building one run's playback program on the host, s (assumption: 1 ms).
    host_s_per_value
        Host conversion of one input, weight or output value, s (assumption: 5 ns).
    link_bytes_per_s
        Host-FPGA link, bytes/s (assumption: Gigabit Ethernet, 125 MB/s).
    event_bytes
        Bytes per input event on the link (assumption: one 32-bit word).
    synapse_bytes
        Bytes per synapse written: 6-bit weight + 6-bit address (haldls SynapseQuad),
        1.5 bytes.
    output_bytes
        Bytes per CADC read returned (8 bit, haldls CADCSampleQuad).
    fpga_s_per_run
        FPGA start, synchronisation and completion of one run, s (assumption: 50 µs).
    """

    host_program_s: float = 1e-3
    host_s_per_value: float = 5e-9
    link_bytes_per_s: float = 125e6
    event_bytes: float = 4.0
    synapse_bytes: float = 1.5
    output_bytes: float = 1.0
    fpga_s_per_run: float = 50e-6

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive(f.name, getattr(self, f.name), allow_zero=True)


@dataclass(frozen=True)
class OverheadBreakdown:
    """Seconds of one inference by component (module docstring), and the chip's energy."""

    host_preparation: float
    transfers: float
    fpga: float
    chip_execution: float
    readout: float
    batch: int
    energy_j: float

    @property
    def total(self) -> float:
        """Sum of the components, s."""
        return self.host_preparation + self.transfers + self.fpga + self.chip_execution \
            + self.readout

    def to_dict(self) -> dict[str, float]:
        """Components, total, per-vector total (s) and energy (J) by name."""
        return {**asdict(self), "total": self.total, "per_vector": self.total / self.batch}

    def table(self) -> str:
        """The breakdown as text, with each component's share."""
        parts = ("host_preparation", "transfers", "fpga", "chip_execution", "readout")
        lines = [f"{p:<17} {getattr(self, p) * 1e3:10.4f} ms  "
                 f"{100 * getattr(self, p) / self.total:5.1f} %" for p in parts]
        lines.append(f"{'total':<17} {self.total * 1e3:10.4f} ms  (batch {self.batch}, "
                     f"{self.total / self.batch * 1e6:.2f} µs per vector, chip energy "
                     f"{self.energy_j * 1e6:.3f} µJ)")
        return "\n".join(lines)


def inference_overhead(schedule: Schedule, batch: int = 1, num_sends: Sends = 1,
                       wait_between_events: int = specs.VMM_WAIT_BETWEEN_EVENTS,
                       model: OverheadModel | None = None) -> OverheadBreakdown:
    """Time of one inference of ``batch`` vectors through ``schedule`` (module docstring).

    Parameters
    ----------
    schedule
        Where the blocks run (:func:`~neurotwin.bss2.vmm.partition.partition`).
    batch
        Vectors per inference.
    num_sends
        Sends per vector: one number, or one per matrix name of the schedule.
    wait_between_events
        FPGA cycles between events, as for :func:`~neurotwin.bss2.vmm.matmul`.
    model
        The cost constants (default :class:`OverheadModel`).
    """
    check_int("batch", batch, 1)
    m = model or OverheadModel()
    rows = sum(b.rows[1] - b.rows[0] for b in schedule.blocks)
    events = sum((b.rows[1] - b.rows[0]) * schedule.sends(b, num_sends) for b in schedule.blocks)
    cols = sum(b.columns[1] - b.columns[0] for b in schedule.blocks)
    synapses = sum(2 * (b.rows[1] - b.rows[0]) * (b.columns[1] - b.columns[0])
                   for b in schedule.blocks)
    chip = batch * schedule.hardware_time_us(num_sends, wait_between_events) * 1e-6
    return OverheadBreakdown(
        host_preparation=schedule.runs * m.host_program_s
        + m.host_s_per_value * (batch * rows + synapses),
        transfers=(synapses * m.synapse_bytes + batch * events * m.event_bytes)
        / m.link_bytes_per_s,
        fpga=schedule.runs * m.fpga_s_per_run,
        chip_execution=chip,
        readout=batch * cols * (m.output_bytes / m.link_bytes_per_s + m.host_s_per_value),
        batch=batch,
        energy_j=specs.CHIP_POWER_W * chip,
    )
