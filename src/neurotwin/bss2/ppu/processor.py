"""One plasticity processor as a program sees it: vector unit, memory, cycle counter,
random numbers, and row-wise access to its hemisphere's synapses and neurons.

Every operation charges its cycles (:data:`~neurotwin.bss2.specs.PPU_CYCLES`) to the
current invocation, so a call has a duration in hardware time (``cycles / 250 MHz``).
Synapse access is by row, as the vector unit's bus gives it: a 256-synapse row is two
half rows of 128 lanes (``half`` 0: columns 0..127, 1: 128..255).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.ppu import kernels, vector
from neurotwin.bss2.ppu.errors import ProgramError
from neurotwin.bss2.ppu.memory import Memory
from neurotwin.bss2.ppu.sensors import Sensors
from neurotwin.errors import check_int

__all__ = ["PPU"]

_BASELINE_CODE = int(specs.cadc_read(
    (specs.correlation_voltage(0.0) - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV))
"""The CADC read of an empty correlation store (the reset level; a constant of the
chip's sensor and CADC)."""


def _shape(rows: Any, half: int | None) -> tuple[int, ...]:
    """The shape of the lanes of ``rows`` (as :meth:`PPU.read_weights`)."""
    width = specs.SYNRAM_COLUMNS if half is None else specs.PPU_LANES_8
    return (width,) if isinstance(rows, (int, np.integer)) else (len(np.atleast_1d(rows)), width)


def _update_key(rows: Any, q_causal: int, q_acausal: int | None) -> tuple[Any, ...] | None:
    """The key under which :meth:`PPU.correlation_update` keeps its checked arguments: a
    tuple of rows (a program's, the same every call) with the factors; None otherwise."""
    if not isinstance(rows, tuple):
        return None
    key = (rows, q_causal, q_acausal)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class PPU:
    """The processor of one hemisphere (built by
    :class:`~neurotwin.bss2.ppu.program.PPURuntime`; programs receive it).

    Attributes
    ----------
    hemisphere
        0 (top) or 1 (bottom).
    memory
        Its 16 KiB (:class:`~neurotwin.bss2.ppu.memory.Memory`).
    cycles
        Cycles charged by the current invocation.
    """

    def __init__(self, hemisphere: int, memory: Memory, weights: np.ndarray,
                 labels: np.ndarray, sensors: Sensors, counters: Callable[[], np.ndarray],
                 membranes: Callable[[], np.ndarray], send: Callable[[np.ndarray], None],
                 seed: int, capmem: np.ndarray, configured: np.ndarray) -> None:
        self.hemisphere = hemisphere
        self.memory = memory
        self.cycles = 0
        self.changed: list[np.ndarray] = []
        """Flat indices ``(hemisphere * 256 + row) * 256 + column`` of the weights the
        current invocation changed (the runtime updates those synapses' currents)."""
        self.wrote_labels = False
        """Whether it wrote labels (the runtime then re-resolves which unit reaches which
        synapse)."""
        self.wrote_capmem = False
        """Whether it wrote CapMem cells (the runtime then recomputes the neurons'
        constants)."""
        self._weights = weights  # (256, 256) of this hemisphere, written in place
        self._labels = labels
        self._sensors = sensors
        self._counters = counters
        self._membranes = membranes
        self._send = send
        self._capmem = capmem  # (24, 512) codes of all circuits, written in place
        self._configured = configured  # (256,) bool: the hemisphere's circuits in use
        # the synapse -> sensor lookup of this hemisphere: -1 where no sensor is in use
        self._sensor_at = np.full((specs.SYNRAM_ROWS, specs.SYNRAM_COLUMNS), -1, np.int64)
        own = sensors.placement[:, 0] == hemisphere
        rows, cols = sensors.placement[own, 1], sensors.placement[own, 2]
        self._sensor_at[rows, cols] = np.nonzero(own)[0]
        # this hemisphere's sensors (they are sorted by hemisphere, row, column)
        first = int(np.searchsorted(sensors.placement[:, 0], hemisphere))
        self._sensor_range = (first, first + int(own.sum()))
        self._scratch = np.empty((2, int(own.sum())), np.int64)  # correlation_update's
        # rows with a sensor on every synapse
        self._covered: np.ndarray = np.all(self._sensor_at >= 0, axis=1)
        self._rng = np.uint32(seed or 1)  # xorshift32 is stuck at 0
        # correlation_update's checked arguments (row mask, cycles) by (rows, factors)
        self._checked_update: dict[tuple[Any, ...], tuple[np.ndarray, int]] = {}

    # --- cost ---------------------------------------------------------------------------

    def charge(self, operation: str, times: int = 1) -> None:
        """Add ``times`` operations of a kind in :data:`specs.PPU_CYCLES` to this call."""
        self.cycles += specs.PPU_CYCLES[operation] * int(times)

    def _vec(self, op: Callable[..., np.ndarray], a: Any, *args: Any, bits: int) -> np.ndarray:
        self.charge("vector", vector.vector_ops(np.size(a), bits))
        return op(a, *args, bits=bits)

    # --- vector unit (semantics in neurotwin.bss2.ppu.vector) -----------------------------

    def add_fs(self, a: Any, b: Any, bits: int = 8) -> np.ndarray:
        """Saturating add (one vector op per 128 / 64 lanes)."""
        return self._vec(vector.add_fs, a, b, bits=bits)

    def sub_fs(self, a: Any, b: Any, bits: int = 8) -> np.ndarray:
        """Saturating subtract."""
        return self._vec(vector.sub_fs, a, b, bits=bits)

    def mul_fs(self, a: Any, b: Any, bits: int = 8) -> np.ndarray:
        """Fractional saturating multiply (truncating)."""
        return self._vec(vector.mul_fs, a, b, bits=bits)

    def shift(self, a: Any, n: int, bits: int = 8) -> np.ndarray:
        """Modulo left shift (n >= 0) or arithmetic right shift (n < 0)."""
        return self._vec(vector.shift, a, n, bits=bits)

    def select(self, compared: Any, a: Any, b: Any, cond: vector.Condition,
               bits: int = 8) -> np.ndarray:
        """``a`` where ``compared`` meets ``cond`` against 0, else ``b`` (compare + select)."""
        self.charge("vector", vector.vector_ops(np.size(compared), bits))
        return self._vec(vector.select, compared, a, b, cond, bits=bits)

    def splat(self, value: int, shape: int | tuple[int, ...], bits: int = 8) -> np.ndarray:
        """``value`` in lanes of ``shape``."""
        self.charge("vector", vector.vector_ops(int(np.prod(shape)), bits))
        return vector.splat(value, shape, bits)

    def load(self, buffer: Any, offset: int = 0, count: int | None = None) -> np.ndarray:
        """Lanes of a memory buffer (vector loads)."""
        out = self.memory.read(buffer, offset, count)
        self.charge("vector_load", vector.vector_ops(out.size, buffer.bits))
        return out

    def store(self, buffer: Any, values: np.ndarray, offset: int = 0) -> None:
        """Write lanes into a memory buffer (vector stores)."""
        self.memory.write(buffer, values, offset)
        self.charge("vector_load", vector.vector_ops(np.size(values), buffer.bits))

    # --- scalar core ---------------------------------------------------------------------

    def scalar(self, instructions: int = 1) -> None:
        """Charge ``instructions`` scalar instructions (a program's bookkeeping)."""
        self.charge("scalar", instructions)

    def random(self) -> int:
        """The next 32-bit number of the core's xorshift32 generator (13, 17, 5)."""
        self.charge("random")
        x = int(self._rng)
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = np.uint32(x)
        return x

    # --- synapses, sensors, neurons --------------------------------------------------------

    def _cells(self, rows: Any, half: int | None) -> tuple[Any, Any, int]:
        """Index of ``rows`` (one row: an int; several: a sequence) and the columns of
        ``half`` (None: the whole row), and the vector accesses that takes."""
        many = not isinstance(rows, (int, np.integer))
        r = specs.check_integer_range("row", np.atleast_1d(rows), 0, specs.SYNRAM_ROWS - 1)
        if half is None:
            cols = np.arange(specs.SYNRAM_COLUMNS)
        else:
            check_int("half", half, low=0, high=specs.PPU_SYNAPSE_ROW_VECTORS - 1)
            cols = np.arange(half * specs.PPU_LANES_8, (half + 1) * specs.PPU_LANES_8)
        accesses = r.size * cols.size // specs.PPU_LANES_8
        index: tuple[Any, ...]
        if half is None:  # whole rows: a row index, no column index to gather with
            index = (r,) if many else (int(r[0]),)
        else:
            index = np.ix_(r, cols) if many else (int(r[0]), cols)
        return index, r, accesses

    def read_weights(self, rows: Any, half: int | None = None) -> np.ndarray:
        """The 6-bit weights (0..63) of one row (an int: (128,) for a half, (256,) for
        ``half=None``) or of several rows (a sequence: (R, 128) or (R, 256)), int64;
        one access per 128 synapses."""
        index, _, accesses = self._cells(rows, half)
        self.charge("synapse_row_access", accesses)
        return self._weights[index].astype(np.int64)

    def write_weights(self, rows: Any, half: int | None, weights: Any,
                      saturate: bool = False) -> None:
        """Write weights of the shape :meth:`read_weights` gives; outside 0..63 is a
        ProgramError unless ``saturate`` (then clamped, as a program that saturates
        first would)."""
        index, r, accesses = self._cells(rows, half)
        w = np.asarray(weights, np.int64)
        shape = _shape(rows, half)
        if w.shape != shape:
            raise ProgramError(f"rows {r.tolist()} (half {half}) hold weights of shape "
                               f"{shape}, got shape {w.shape}")
        if saturate:
            w = np.clip(w, 0, specs.WEIGHT_MAX)
        elif w.min() < 0 or w.max() > specs.WEIGHT_MAX:
            bad = w[(w < 0) | (w > specs.WEIGHT_MAX)][0]
            raise ProgramError(f"weight {bad} written to rows {r.tolist()} outside the 6-bit "
                               f"range 0..{specs.WEIGHT_MAX} (saturate first)")
        self.charge("synapse_row_access", accesses)
        old = self._weights[index].copy()
        self._weights[index] = w
        self._note_changed(r, half, old != w)

    def _note_changed(self, rows: np.ndarray, half: int | None, changed: np.ndarray) -> None:
        """Record the flat indices of the synapses in ``changed`` (shaped as the lanes of
        ``rows``, ``half``)."""
        grid = changed.reshape(rows.size, -1)
        k, col = np.nonzero(grid)
        if half is not None:
            col = col + half * specs.PPU_LANES_8
        self.changed.append((self.hemisphere * specs.SYNRAM_ROWS + rows[k])
                            * specs.SYNRAM_COLUMNS + col)

    def correlation_update(self, rows: Any, q_causal: int, q_acausal: int | None = None
                           ) -> bool:
        """The shipped correlation rules' update of whole ``rows`` (a sequence),
        compiled: ``w = sat(w + r(q_causal c) - r(q_acausal a))`` (no acausal term when
        ``q_acausal`` is None), then the rows' sensors are reset
        (:mod:`~neurotwin.bss2.ppu.kernels`). Charges what the same program in vector
        ops charges (:func:`~neurotwin.bss2.ppu.rules.update_rows` with
        :func:`~neurotwin.bss2.ppu.rules.scale_round`) and writes the same weights, bit
        for bit. Returns False, having done nothing, when a sensor reads outside the
        CADC's range (the vector path clamps and warns as the CADC does).
        """
        key = _update_key(rows, q_causal, q_acausal)
        checked = self._checked_update.get(key) if key is not None else None
        if checked is None:
            r = specs.check_integer_range("row", np.atleast_1d(rows), 0,
                                          specs.SYNRAM_ROWS - 1)
            for q in (q_causal, q_acausal):
                if q is not None:
                    vector.splat(q, 1, 16)  # a factor must fit its 16-bit lane
            mask = np.zeros(specs.SYNRAM_ROWS, np.bool_)
            mask[r] = True  # a row listed twice gets the same weights twice: once is the same
            checked = (mask, kernels.correlation_update_cycles(r.size, q_acausal is not None))
            if key is not None:  # a program's rows: checked once per run
                self._checked_update[key] = checked
        mask, cycles = checked
        sensors = self._sensors
        ok, changed = kernels.correlation_update(
            self._weights, self.hemisphere, mask, sensors.synapse, sensors.record,
            sensors.touched, self._sensor_range, q_acausal is not None, int(q_causal),
            int(q_acausal or 0), _BASELINE_CODE, specs.CORRELATION_BASELINE_MV,
            specs.CADC_ZERO_MV, specs.CADC_LSB_MV, self._scratch)
        if not ok:
            return False
        self.cycles += cycles
        self.changed.append(changed)
        return True

    def read_labels(self, rows: Any, half: int | None = None) -> np.ndarray:
        """The 6-bit address labels (0..63), shaped as :meth:`read_weights`."""
        index, _, accesses = self._cells(rows, half)
        self.charge("synapse_row_access", accesses)
        return self._labels[index].astype(np.int64)

    def write_labels(self, rows: Any, half: int | None, labels: Any) -> None:
        """Write 6-bit address labels (0..63), shaped as :meth:`read_weights`: from the
        next event on, a synapse hears the unit of its row's driver whose address equals
        its label (none: it hears nothing). Outside 0..63 is a ProgramError."""
        index, r, accesses = self._cells(rows, half)
        lab = np.asarray(labels, np.int64)
        shape = _shape(rows, half)
        if lab.shape != shape:
            raise ProgramError(f"rows {r.tolist()} (half {half}) hold labels of shape "
                               f"{shape}, got shape {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() > specs.ADDRESS_MAX):
            bad = lab[(lab < 0) | (lab > specs.ADDRESS_MAX)][0]
            raise ProgramError(f"label {bad} written to rows {r.tolist()} outside the 6-bit "
                               f"range 0..{specs.ADDRESS_MAX}")
        self.charge("synapse_row_access", accesses)
        self._labels[index] = lab
        self.wrote_labels = True

    def _sensor_codes(self, rows: Any, half: int | None, stores: np.ndarray) -> np.ndarray:
        index, r, accesses = self._cells(rows, half)
        self.charge("cadc_row_read", accesses)
        idx = self._sensor_at[index]
        stored = stores[idx] if self._covered[r].all() else \
            np.where(idx >= 0, stores[np.maximum(idx, 0)], 0.0)
        # an empty store reads the reset level: convert only the others (most are empty)
        codes = np.full(stored.shape, self.baseline_code(), np.int64)
        busy = stored != 0.0
        volts = specs.correlation_voltage(stored[busy])
        codes[busy] = specs.cadc_read((volts - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV)
        return codes

    def read_causal(self, rows: Any, half: int | None = None) -> np.ndarray:
        """CADC reads (0..255) of the causal sensors, shaped as :meth:`read_weights`
        (nominal transfer: ``baseline_code`` for an empty store)."""
        return self._sensor_codes(rows, half, self._sensors.causal)

    def read_acausal(self, rows: Any, half: int | None = None) -> np.ndarray:
        """CADC reads (0..255) of the acausal sensors, shaped as :meth:`read_weights`."""
        return self._sensor_codes(rows, half, self._sensors.acausal)

    @staticmethod
    def baseline_code() -> int:
        """The CADC read of an empty correlation store (the reset level)."""
        return _BASELINE_CODE

    def reset_correlation(self, rows: Any, half: int | None = None) -> None:
        """Reset both sensors of the synapses of ``rows`` (as :meth:`read_weights`)."""
        index, r, accesses = self._cells(rows, half)
        self.charge("correlation_reset", accesses)
        idx = self._sensor_at[index]
        self._sensors.reset_correlation(idx.ravel() if self._covered[r].all() else idx[idx >= 0])

    def write_capmem(self, cell: str, columns: Any, codes: Any) -> None:
        """Write the CapMem cell ``cell`` (a name of ``specs.CAPMEM_CELLS``) of the
        neuron circuits in ``columns`` (0..255 of this hemisphere, circuits the mapping
        uses) to ``codes`` (0..1022, one per column or one for all); one ``capmem_write``
        each. The neurons step with the new value from this step on (the twin settles a
        cell at once; the chip's CapMem needs a few µs to settle)."""
        if cell not in specs.CAPMEM_CELLS:
            raise ProgramError(f"unknown CapMem cell {cell!r}; cells: "
                               f"{', '.join(specs.CAPMEM_CELLS)}")
        cols = np.atleast_1d(np.asarray(columns, np.int64))
        if cols.size and (cols.min() < 0 or cols.max() >= specs.SYNRAM_COLUMNS
                          or not self._configured[cols].all()):
            raise ProgramError(f"columns {cols.tolist()} must be circuits in use of "
                               f"hemisphere {self.hemisphere} (0..{specs.SYNRAM_COLUMNS - 1})")
        values = np.broadcast_to(np.asarray(codes, np.int64), cols.shape)
        if values.size and (values.min() < specs.CAPMEM_MIN or values.max() > specs.CAPMEM_MAX):
            bad = values[(values < specs.CAPMEM_MIN) | (values > specs.CAPMEM_MAX)][0]
            raise ProgramError(f"CapMem code {bad} for {cell} outside "
                               f"{specs.CAPMEM_MIN}..{specs.CAPMEM_MAX}")
        self.charge("capmem_write", cols.size)
        circuits = self.hemisphere * specs.SYNRAM_COLUMNS + cols
        self._capmem[specs.CAPMEM_CELLS.index(cell), circuits] = values
        self.wrote_capmem = True

    def read_spike_counts(self, neurons: Any) -> np.ndarray:
        """Spike counters (0..255) of logical ``neurons`` since their last reset."""
        idx = np.asarray(neurons, np.int64)
        self.charge("spike_counter_read", idx.size)
        return self._counters()[idx].copy()

    def reset_spike_counts(self, neurons: Any) -> None:
        """Reset the spike counters of logical ``neurons``."""
        idx = np.asarray(neurons, np.int64)
        self.charge("spike_counter_read", idx.size)
        self._sensors.reset_counts(idx)

    def read_membranes(self, neurons: Any) -> np.ndarray:
        """CADC reads (0..255) of the membranes of logical ``neurons`` (nominal transfer)."""
        idx = np.asarray(neurons, np.int64)
        self.charge("cadc_row_read", vector.vector_ops(idx.size, 8))
        v = self._membranes()[idx]
        return specs.cadc_read((v - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV).astype(np.int64)

    def send_events(self, units: Any) -> None:
        """Send one event of each presynaptic unit in ``units`` (rows of the synapse table:
        neurons first, then sources) into the synapse drivers, as from the end of the
        previous step; one scalar instruction each."""
        idx = np.atleast_1d(np.asarray(units, np.int64))
        self.charge("scalar", idx.size)
        self._send(idx)
