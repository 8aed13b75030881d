"""Plasticity programs on a timer: what runs the PPUs during an emulation.

A :class:`PlasticityProgram` is a Python function ``body(ppu, call)`` run on one
hemisphere's :class:`~neurotwin.bss2.ppu.processor.PPU` at the times of its
:class:`Timer` (start, period, count in hardware µs, as pynn-brainscales'
``PlasticityRule.Timer``). :class:`PPURuntime` turns programs into the run loop's
:class:`~neurotwin.bss2.run_loop.PeriodicProgram` s::

    runtime = PPURuntime(mapping, (PlasticityProgram(body, Timer(0.0, 10.0)),))
    result = Bss2Backend().run(mapping, T, programs=runtime.periodic())
    runtime.report()        # calls, cycles, overruns (count, worst)

Each call is charged its cycles; a call that takes longer than the period is an
*overrun*: counted with the worst excess (``on_overrun="report"``) or a ProgramError
(``"raise"``). The twin applies what a call writes at the step it is called (the chip
would apply it while the program runs, within its duration). A plastic run has one
trial: the weights are one copy for the whole run.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from neurotwin.bss2 import specs
from neurotwin.bss2.mapping import Mapping
from neurotwin.bss2.ppu.errors import ProgramError
from neurotwin.bss2.ppu.kernels import sync_entries
from neurotwin.bss2.ppu.memory import Memory
from neurotwin.bss2.ppu.processor import PPU
from neurotwin.bss2.ppu.sensors import Sensors
from neurotwin.bss2.run_loop import EmulationState, PeriodicProgram
from neurotwin.bss2.tables import SynapseTable, kernel_constants, synapse_table
from neurotwin.errors import ConfigError, check_int, check_multiple_of, check_positive

__all__ = ["PPURuntime", "PlasticityProgram", "ProgramReport", "Timer"]

_Pristine = tuple[SynapseTable, np.ndarray, np.ndarray, np.ndarray, Sensors]
_PRISTINE: dict[tuple[int, float, float, float], _Pristine] = {}
"""A mapping's synapse table of its own weights and labels (with its synapse -> entries
lookup) and its sensors before a run, by (id(mapping), sensor biases): resolved once per
mapping, as the mapping's own tables are when it is mapped; each runtime takes fresh
sensors from them (:meth:`Sensors.fresh`). Dropped with the mapping."""


@dataclass(frozen=True)
class Timer:
    """When a program runs: at ``start_us``, then every ``period_us`` (hardware µs),
    ``count`` times (None: until the run ends)."""

    start_us: float = 0.0
    period_us: float = 10.0
    count: int | None = None

    def __post_init__(self) -> None:
        check_positive("start_us", self.start_us, "µs", allow_zero=True)
        check_positive("period_us", self.period_us, "µs")
        if self.count is not None:
            check_int("count", self.count, low=0)


@dataclass(frozen=True)
class PlasticityProgram:
    """A program for one hemisphere's PPU.

    Parameters
    ----------
    body
        ``body(ppu, call)``: the program, ``call`` counting its invocations from 0.
    timer
        When it runs (hardware µs).
    hemisphere
        Which PPU runs it (0 or 1).
    setup
        Optional ``setup(memory)`` run once before the run: allocate the program's data
        (a CapacityError when it does not fit the 16 KiB).
    code_bytes
        Memory reserved for the program's instructions, bytes.
    on_overrun
        ``"report"`` (count overruns) or ``"raise"`` (ProgramError at the first one).
    """

    body: Callable[[PPU, int], None]
    timer: Timer = field(default_factory=Timer)
    hemisphere: int = 0
    setup: Callable[[Memory], None] | None = None
    code_bytes: int = 0
    on_overrun: Literal["report", "raise"] = "report"

    def __post_init__(self) -> None:
        check_int("hemisphere", self.hemisphere, low=0, high=specs.PPU_COUNT - 1)
        if self.on_overrun not in ("report", "raise"):
            raise ConfigError(f"on_overrun must be 'report' or 'raise', got "
                              f"{self.on_overrun!r}")


@dataclass
class ProgramReport:
    """What a program did in a run: calls, cycles (total and worst call), and its
    overruns of the period (count, worst excess in µs)."""

    calls: int = 0
    cycles: int = 0
    worst_cycles: int = 0
    overruns: int = 0
    worst_overrun_us: float = 0.0

    @property
    def busy_us(self) -> float:
        """Hardware time the program ran, µs."""
        return self.cycles / specs.PPU_CLOCK_MHZ


class PPURuntime:
    """The two PPUs of a mapped chip and the programs they run in one run.

    Parameters
    ----------
    mapping
        The mapped network (its synapse table, placements and chip).
    programs
        The programs (any number per hemisphere; due at the same step they run in order).
    sensor_eta_mv, sensor_tau_us, sensor_saturation_mv
        The correlation sensors' nominal amplitude, time constant and saturation (the
        sensor biases; defaults the twin's nominal sensor).
    seed
        Seed of the PPUs' random generators (PPU h starts from ``seed + h``).
    """

    def __init__(self, mapping: Mapping, programs: tuple[PlasticityProgram, ...],
                 sensor_eta_mv: float = specs.CORRELATION_ETA_MV,
                 sensor_tau_us: float = specs.CORRELATION_TAU_US,
                 sensor_saturation_mv: float = specs.CORRELATION_SATURATION_MV,
                 seed: int = 1) -> None:
        self.mapping = mapping
        self.programs = tuple(programs)
        config = mapping.config
        self.weights = np.asarray(config.weights, np.int64).copy()
        self.labels = np.asarray(config.addresses, np.int64).copy()
        self.capmem = np.asarray(config.neurons.capmem, np.int64).copy()
        self.constants = mapping.tables.constants
        n = mapping.n_neurons
        self._circuit_neuron = np.repeat(np.arange(n), np.diff(mapping.member_ptr))
        self._entry_flat: np.ndarray
        self._syn_entries: np.ndarray
        self._syn_ptr: np.ndarray
        key = (id(mapping), float(sensor_eta_mv), float(sensor_tau_us),
               float(sensor_saturation_mv))
        pristine = _PRISTINE.get(key)
        if pristine is None:
            self.table = self._resolve()
            # a sensor on every synapse of the rows the routes reach: labels may change
            # which entries exist, the sensors stay with the synapses
            hemi, d = mapping.routes[:, 1], mapping.routes[:, 2]
            rows = np.unique(np.concatenate([hemi * specs.SYNRAM_ROWS + 2 * d,
                                             hemi * specs.SYNRAM_ROWS + 2 * d + 1]))
            space = (rows[:, None] * specs.SYNRAM_COLUMNS
                     + np.arange(specs.SYNRAM_COLUMNS)[None]).ravel()
            sensors = Sensors(self.table, self._entry_neuron(), n, mapping.dt, mapping.chip,
                              sensor_eta_mv, sensor_tau_us, sensor_saturation_mv, space)
            _PRISTINE[key] = (self.table, self._entry_flat, self._syn_entries, self._syn_ptr,
                              sensors)
            weakref.finalize(mapping, _PRISTINE.pop, key, None)
        else:
            self.table, self._entry_flat, self._syn_entries, self._syn_ptr, sensors = pristine
        self.sensors = sensors.fresh()
        self.reports = [ProgramReport() for _ in self.programs]
        self._state: EmulationState | None = None
        self._step = 0
        self.ppus = []
        for h in range(specs.PPU_COUNT):
            memory = Memory(sum(p.code_bytes for p in self.programs if p.hemisphere == h))
            for p in self.programs:
                if p.hemisphere == h and p.setup is not None:
                    p.setup(memory)
            used = np.zeros(specs.SYNRAM_COLUMNS, bool)
            own = mapping.circuits // specs.SYNRAM_COLUMNS == h
            used[mapping.circuits[own] % specs.SYNRAM_COLUMNS] = True
            self.ppus.append(PPU(h, memory, self.weights[h], self.labels[h], self.sensors,
                                 lambda: self.sensors.counts, self._membranes, self._send,
                                 seed + h, self.capmem, used))

    def _resolve(self) -> SynapseTable:
        """The synapse table of the current weights and labels (synapses of weight 0
        included: they hear their events and may grow)."""
        m = self.mapping
        kc = self.constants
        config = replace(m.config, weights=self.weights, addresses=self.labels)
        table = synapse_table(config, m.chip, m.circuits, m.routes, m.address, m.delay_steps,
                              kc.gain_exc, kc.gain_inh, keep_zero=True)
        pl = table.placement
        self._entry_flat = (pl[:, 0] * specs.SYNRAM_ROWS + pl[:, 1]) * specs.SYNRAM_COLUMNS \
            + pl[:, 2]
        # synapse -> its entries (CSR over the flat synapse index), to follow weight writes
        self._syn_entries = np.argsort(self._entry_flat, kind="stable")
        self._syn_ptr = np.searchsorted(self._entry_flat[self._syn_entries],
                                        np.arange(self.weights.size + 1))
        return table

    def _entry_neuron(self) -> np.ndarray:
        nc = max(int(self.mapping.member_ptr[-1]) if self.mapping.member_ptr.size else 0, 1)
        return self._circuit_neuron[self.table.target % nc]

    def _membranes(self) -> np.ndarray:
        assert self._state is not None
        return self._state.v[0]

    def _attach(self, state: EmulationState) -> None:
        """Make the run step on this runtime's table (the first call; afterwards when the
        labels changed). Entries of weight 0 carry no current: the run so far is the same."""
        state.synapses = self.table
        state.constants = self.constants
        state.weight = self.weights.ravel()[self._entry_flat]
        state.current = self.table.currents(state.weight)

    def _flush(self) -> None:
        """Make the synapses carry what the programs wrote (labels -> the entries events
        reach; changed weights -> ``state.weight`` and ``state.current`` of their
        entries)."""
        state = self._state
        assert state is not None
        if any(ppu.wrote_capmem for ppu in self.ppus):
            self._recalibrate(state)
        if any(ppu.wrote_labels or ppu.wrote_capmem for ppu in self.ppus):
            self.table = self._resolve()
            self.sensors.retable(self.table, self._entry_neuron())
            self._attach(state)
        else:
            for ppu in self.ppus:
                for flat in ppu.changed:
                    sync_entries(flat, self._syn_ptr, self._syn_entries, self.weights.ravel(),
                                 state.weight, state.current, self.table.gain,
                                 self.table.driver_gain)
        for ppu in self.ppus:
            ppu.wrote_labels = ppu.wrote_capmem = False
            ppu.changed.clear()

    def _recalibrate(self, state: EmulationState) -> None:
        """The neurons' constants for the CapMem codes written (the mapping's own
        :func:`~neurotwin.bss2.tables.kernel_constants`); a changed offset current
        replaces the neuron's present one."""
        m = self.mapping
        neurons = replace(m.config.neurons, capmem=self.capmem)
        old = self.constants
        self.constants = kernel_constants(replace(m.config, neurons=neurons), m.chip,
                                          m.circuits, m.member_ptr, m.dt)
        moved = self.constants.c[3] != old.c[3]
        state.offset[:, moved] = self.constants.c[3][moved]

    def _send(self, units: np.ndarray) -> None:
        """Queue one event of each table row in ``units``, emitted at the end of the step
        before the current one (with the weights written so far)."""
        self._flush()
        state = self._state
        assert state is not None
        ptr = self.table.indptr
        lo, n = ptr[units], ptr[units + 1] - ptr[units]
        # entries lo_u .. lo_u + n_u - 1 of every unit u, concatenated
        entries = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        n_slots = state.pending.shape[0]
        slots = (self._step - 1 + self.table.delay_steps[entries]) % n_slots
        np.add.at(state.pending[:, 0, :], (slots, self.table.target[entries]),
                  state.current[entries])
        self.sensors.queue(units, np.full(units.size, self._step - 1))

    def _observe(self, j0: int, j1: int, raster: np.ndarray, src_ptr: np.ndarray,
                 src_ids: np.ndarray) -> None:
        self.sensors.advance(j0, j1, raster[0], src_ptr[0], src_ids)

    def _runner(self, index: int) -> Callable[[int, EmulationState], None]:
        program = self.programs[index]
        report = self.reports[index]
        ppu = self.ppus[program.hemisphere]
        period_us = program.timer.period_us

        def call(step: int, state: EmulationState) -> None:
            self._state, self._step = state, step
            if state.synapses is not self.table:
                self._attach(state)
            ppu.cycles = specs.PPU_CYCLES["call_overhead"]
            program.body(ppu, report.calls)
            self._flush()
            report.calls += 1
            report.cycles += ppu.cycles
            report.worst_cycles = max(report.worst_cycles, ppu.cycles)
            excess = ppu.cycles / specs.PPU_CLOCK_MHZ - period_us
            if excess > 0:
                if program.on_overrun == "raise":
                    raise ProgramError(
                        f"program call {report.calls - 1} took {ppu.cycles} cycles = "
                        f"{ppu.cycles / specs.PPU_CLOCK_MHZ:.3f} µs at "
                        f"{specs.PPU_CLOCK_MHZ:g} MHz, longer than its period of "
                        f"{period_us:g} µs")
                report.overruns += 1
                report.worst_overrun_us = max(report.worst_overrun_us, excess)

        return call

    def periodic(self) -> tuple[PeriodicProgram, ...]:
        """The run loop's programs (pass as ``Bss2Backend().run(..., programs=...)``)."""
        dt = self.mapping.dt
        out = []
        for index, program in enumerate(self.programs):
            t = program.timer
            start = int(check_multiple_of("timer start_us", t.start_us, dt, "µs"))
            period = int(check_multiple_of("timer period_us", t.period_us, dt, "µs"))
            out.append(PeriodicProgram(self._runner(index), start, period, t.count,
                                       observe=self._observe if index == 0 else None,
                                       keeps_currents=True, single_trial=True))
        return tuple(out)

    def column_neurons(self, hemisphere: int) -> np.ndarray:
        """(256,) the logical neuron of each column of ``hemisphere``'s synapse array
        (every circuit of a neuron; -1 where no mapped circuit sits)."""
        check_int("hemisphere", hemisphere, low=0, high=specs.PPU_COUNT - 1)
        out = np.full(specs.SYNRAM_COLUMNS, -1, np.int64)
        neuron = np.repeat(np.arange(self.mapping.n_neurons), np.diff(self.mapping.member_ptr))
        h, col = np.divmod(self.mapping.circuits, specs.N_NEURON_COLUMNS)
        out[col[h == hemisphere]] = neuron[h == hemisphere]
        return out

    def driver_labels(self, hemisphere: int, row: int) -> np.ndarray:
        """The addresses (6-bit labels, ascending) of the units whose events reach ``row``
        of ``hemisphere`` (the units its synapse driver carries): the labels a synapse of
        the row can take and hear something."""
        check_int("hemisphere", hemisphere, low=0, high=specs.PPU_COUNT - 1)
        check_int("row", row, low=0, high=specs.SYNRAM_ROWS - 1)
        unit, h, d = self.mapping.routes.T
        return np.unique(self.mapping.address[unit[(h == hemisphere) & (d == row // 2)]])

    def report(self) -> list[ProgramReport]:
        """One report per program, in order."""
        return self.reports
