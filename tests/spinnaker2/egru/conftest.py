"""Small int8 EGRU/GRU models for the SpiNNaker2 EGRU tests."""

from collections.abc import Callable

import numpy as np
import pytest

from neurotwin.spinnaker2.egru import QuantisedRnn


def constant_firing_model(kind: str, n_hidden: int, firing: list[int], n_inputs: int = 3,
                          n_classes: int = 4, seed: int = 0) -> QuantisedRnn:
    """An int8 model whose event pattern is known without running it.

    The gate biases hold the update gate shut (``u = sigmoid(-40)``, 4e-18: the state is the
    candidate each step) and set the candidate to ``tanh(2) = 0.96`` for the units in
    ``firing`` and ``tanh(-2)`` for the others; with thresholds 0.5 the ``firing`` units
    send an event in every step (``0.96 > 0.5``; after the reset the state is back at the
    candidate next step) and the others never. The reset-gate and candidate bias rows of the
    recurrent product are 0, so the weights (random int8) change no gate whose value
    matters: the update gate's pre-activation stays below -40 + the largest weight sum
    times its small multiplier.
    """
    rng = np.random.default_rng(seed)
    h = n_hidden
    z = np.full(h, -2.0, np.float32)
    z[firing] = 2.0
    b_ih = np.concatenate([np.zeros(h), np.full(h, -40.0), z]).astype(np.float32)

    def weights(rows: int, cols: int) -> np.ndarray:
        return rng.integers(-127, 128, size=(rows, cols)).astype(np.int8)

    small = np.full(3 * h, 1e-6, np.float32)
    egru = kind == "egru"
    return QuantisedRnn(
        kind=kind, w_ih=weights(3 * h, n_inputs), w_hh=weights(3 * h, h),
        w_out=weights(n_classes, h), m_ih=small, m_hh=small.copy(),
        m_out=np.full(n_classes, 1e-3, np.float32), b_ih=b_ih,
        b_hh=np.zeros(3 * h, np.float32), b_out=np.zeros(n_classes, np.float32),
        theta=np.full(h, 0.5, np.float32), y_scale=1 / 255 if egru else 1 / 127,
        y_zero_point=0 if egru else 128)


@pytest.fixture
def firing_model() -> Callable[..., QuantisedRnn]:
    """:func:`constant_firing_model`."""
    return constant_firing_model
