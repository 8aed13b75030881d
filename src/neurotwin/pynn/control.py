"""``setup``, ``run``, ``reset``, ``end`` and the state queries of the neurotwin backend."""

from __future__ import annotations

from typing import Any

from pyNN import common, errors
from pyNN.common.control import DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from neurotwin.backends.base import get_backend
from neurotwin.errors import ConfigError
from neurotwin.pynn import simulator
from neurotwin.pynn.build import simulate_state

__all__ = ["end", "get_current_time", "get_max_delay", "get_min_delay", "get_time_step",
           "initialize", "num_processes", "rank", "reset", "run", "run_for", "run_until",
           "setup"]

BACKENDS = ("ideal", "bss2", "spinnaker2")
"""The neurotwin backends a PyNN script may choose."""

FOREIGN_OPTIONS = ("threads", "spike_precision", "verbosity", "t_flush", "rng_seeds",
                   "rng_seeds_seed", "use_cvode", "default_maxstep", "rtol", "atol",
                   "nrn_threads", "allow_offgrid_spikes", "recording_precision",
                   "build_on_the_fly", "rank", "num_processes", "debug", "quit_on_end")
"""``setup`` options of other PyNN backends (NEST, NEURON, Brian2) that a script written
for them passes: about threads, precision, logging or solvers, none of which changes
what neurotwin computes; accepted and ignored so that such scripts run unchanged."""


def setup(timestep: float = DEFAULT_TIMESTEP, min_delay: Any = DEFAULT_MIN_DELAY,
          backend: str = "ideal", seed: int = 0, **extra_params: Any) -> int:
    """Start a new network on a neurotwin backend.

    Parameters
    ----------
    timestep
        Time step in ms (on ``spinnaker2`` also the real-time tick).
    min_delay
        Smallest delay in ms, >= timestep; "auto": that of the projections (the default
        delay of a synapse is then the timestep).
    backend
        "ideal", "bss2" or "spinnaker2".
    seed
        Seed of every random draw of a run (Poisson sources, noise, the twins' noise).
    **extra_params
        ``max_delay`` (ms) and the backend's own map options (e.g. ``weight_scale`` on
        bss2, ``weight_format`` on spinnaker2), checked by the backend; ``rng_seed``
        (NEST's name) is the seed; other backends' options (:data:`FOREIGN_OPTIONS`)
        are ignored.
    """
    max_delay = extra_params.pop("max_delay", "auto")
    seed = int(extra_params.pop("rng_seed", seed))  # NEST's name for the seed
    if extra_params.get("spike_precision", "on_grid") != "on_grid":
        raise NotImplementedError("neurotwin's spikes lie on the time grid "
                                  "(spike_precision='on_grid' only)")
    for name in FOREIGN_OPTIONS:
        extra_params.pop(name, None)
    common.setup(timestep, min_delay, max_delay=max_delay, **extra_params)
    if backend not in BACKENDS:
        raise errors.InvalidParameterValueError(
            f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not timestep > 0:
        raise errors.InvalidParameterValueError(f"timestep must be > 0 ms, got {timestep!r}")
    if backend == "spinnaker2" and "tick_ms" in extra_params:
        raise ConfigError("on spinnaker2 the tick is the timestep: pass timestep=..., not "
                          "tick_ms")
    get_backend(backend).check_options(extra_params)
    state = simulator.state
    state.clear()
    state.dt = float(timestep)
    state.given_min_delay = None if min_delay == "auto" else float(min_delay)
    state.max_delay = max_delay
    state.backend = backend
    state.options = dict(extra_params)
    state.seed = int(seed)
    state.simulate = simulate_state
    return 0


def end(compatible_output: bool = True) -> None:
    """Write the data asked for with ``record(..., to_file=...)`` and forget the network."""
    state = simulator.state
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []


run, run_until = common.build_run(simulator)
run_for = run

_reset = common.build_reset(simulator)


def reset(annotations: dict[str, Any] | None = None) -> None:
    """Back to t = 0 with the current parameters; recorded data start a new segment."""
    _reset(annotations or {})
    for source in simulator.state.current_sources:
        source._reset()
    for population in simulator.state.populations:
        population._spike_history = population._spike_history[-1:]
        population._spike_history[0] = (0.0, population._spike_history[0][1])


initialize = common.initialize

(get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes,
 rank) = common.build_state_queries(simulator)
