"""Recorded spikes and state variables of the last run, handed to pyNN.recording, which
builds the Neo blocks (``get_data``, ``write_data``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyNN import recording

from neurotwin.pynn import simulator

__all__ = ["Recorder"]


class Recorder(recording.Recorder):
    """The recordings of one population; the data come from ``state.outcome``."""

    _simulator = simulator

    def _record(self, variable: Any, new_ids: Any, sampling_interval: float | None = None
                ) -> None:
        if sampling_interval is not None:
            ratio = sampling_interval / self._simulator.state.dt
            if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
                raise ValueError(f"sampling_interval {sampling_interval} ms must be a multiple "
                                 f"of the time step {self._simulator.state.dt} ms")
            self.sampling_interval = sampling_interval
        if new_ids:
            self._simulator.state.changed(f"recording of {self.population.label!r}")

    def _since(self) -> float:
        """Start of the data still held (``get_data(clear=True)`` moves it), ms."""
        return float(self._recording_start_time.rescale("ms").magnitude)

    def _get_spiketimes(self, ids: Any, clear: bool = False) -> tuple[np.ndarray, np.ndarray]:
        outcome = self._simulator.state.outcome
        if outcome is None:
            return np.zeros(0, int), np.zeros(0)
        cells, times = outcome.spikes(self.population)
        since = self._since()
        # after get_data(clear=True) at t, a spike at t was handed out already
        after = times > since + 1e-9 if since > 0 else times >= 0
        keep = np.isin(cells, np.asarray(ids, int)) & after
        return cells[keep], times[keep]

    def _get_all_signals(self, variable: Any, ids: Any, clear: bool = False
                         ) -> tuple[np.ndarray, None]:
        state = self._simulator.state
        index = self.population.id_to_index(np.asarray(ids, int))
        if state.outcome is None:
            return np.zeros((0, len(ids))), None
        native = self.population.celltype.state_names[variable.name]
        if native is None:  # a conductance of a cell no synapse reaches: 0 throughout
            values = np.zeros((state.outcome.steps + 1, index.size))
        else:
            values = state.outcome.signal(self.population, native)[:, index]
        first = round(self._since() / state.dt)
        every = round(self.sampling_interval / state.dt)
        return values[first::every], None

    def _local_count(self, variable: Any, filter_ids: Any = None) -> dict[int, int]:
        ids = np.fromiter(self.filter_recorded(variable, filter_ids), dtype=int)
        cells, _ = self._get_spiketimes(ids)
        counts = dict.fromkeys(ids.tolist(), 0)
        found, n = np.unique(cells, return_counts=True)
        counts.update(zip(found.tolist(), n.tolist(), strict=True))
        return counts

    def _clear_simulator(self) -> None:
        """Nothing to clear: data before ``_recording_start_time`` are filtered out."""

    def _reset(self) -> None:
        self._simulator.state.changed(f"recording of {self.population.label!r}")
