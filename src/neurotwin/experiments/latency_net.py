"""What the latency-coded EventProp experiments share: the checks of their common config.

The Yin-Yang (:mod:`neurotwin.experiments.yinyang`) and latency-MNIST
(:mod:`neurotwin.experiments.mnist_latency`) experiments train the same kind of network (a
hidden and an output layer of :class:`~neurotwin.dynamics.event_lif.EventLIF` neurons on
latency-coded inputs) with the same training loop, so their configs share fields (the
neuron, the coding window, the weight initialisation, the learning-rate schedule, seeds
and device) with different defaults. :func:`check_latency_net` validates those fields
once; each config checks its own fields besides.
"""

from __future__ import annotations

from typing import Any

from neurotwin.errors import ConfigError, check_device, check_finite, check_int, check_positive
from neurotwin.train import SCHEDULES

__all__ = ["check_latency_net", "check_seeds"]


def check_seeds(seeds: Any) -> tuple[int, ...] | None:
    """``seeds`` as a tuple of distinct integers >= 0 (None stays None)."""
    if seeds is None:
        return None
    if not isinstance(seeds, list | tuple) or not seeds:
        raise ConfigError(f"seeds must be a non-empty list of integers >= 0 or null, got {seeds!r}")
    for s in seeds:
        check_int("each seed", s, 0)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {list(seeds)!r}")
    return tuple(int(s) for s in seeds)


def check_latency_net(config: Any) -> tuple[int, ...] | None:
    """Validate the fields that the latency-net configs share; return ``config.seeds`` as
    :func:`check_seeds` normalises it (the frozen config stores it itself).

    Parameters
    ----------
    config
        A config with the shared fields: ``validation_size``, ``n_hidden``, ``batch_size``,
        ``epochs``, ``eval_batch_size`` (integers); ``tau_mem``, ``tau_syn`` (ms),
        ``v_thresh`` (mV), ``cm`` (nF), ``t_early``, ``t_late``, ``t_max`` (ms),
        ``hidden_weight_mean``, ``hidden_weight_std``, ``output_weight_mean``,
        ``output_weight_std`` (nA), ``learning_rate``, ``lr_decay``, ``lr_schedule``,
        ``weight_bump`` (nA or None), ``xtol`` (ms), ``seeds`` and ``device``.

    Raises
    ------
    ConfigError
        The first field out of its range, named with its value.
    """
    check_int("validation_size", config.validation_size, 0)
    for name, low in (("n_hidden", 1), ("batch_size", 1), ("epochs", 0), ("eval_batch_size", 1)):
        check_int(name, getattr(config, name), low)
    if config.lr_schedule not in SCHEDULES:
        raise ConfigError(
            f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {config.lr_schedule!r}"
        )
    for name in ("tau_mem", "tau_syn", "v_thresh", "cm", "t_max", "learning_rate", "lr_decay",
                 "xtol"):  # fmt: skip
        check_positive(name, getattr(config, name))
    for name in ("t_early", "hidden_weight_std", "output_weight_std"):
        check_positive(name, getattr(config, name), allow_zero=True)
    check_finite("hidden_weight_mean", config.hidden_weight_mean)
    check_finite("output_weight_mean", config.output_weight_mean)
    if not config.t_late > config.t_early:
        raise ConfigError(f"t_late must be > t_early = {config.t_early} ms, got {config.t_late}")
    if config.lr_decay > 1.0:
        raise ConfigError(f"lr_decay must lie in (0, 1], got {config.lr_decay!r}")
    if config.weight_bump is not None:
        check_positive("weight_bump", config.weight_bump, "nA")
    check_device(config.device)
    return check_seeds(config.seeds)
