"""Shared BSS-2 fixtures: a calibration is computed once per (chip serial, circuits) in a
test session (one takes ~10 s), and the calibrated chip most tests share."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

from neurotwin.bss2 import Chip, calibrate
from neurotwin.bss2.calibration import Calibration

CALIBRATED_SERIAL = 2024
CALIBRATED_CIRCUITS = np.union1d(np.arange(24), np.arange(3, 512, 37))
"""Circuits 0..23 (where the mapping tests place their 24 neurons) and 14 circuits spread
over all four quadrants (for the calibration's own checks)."""


class Calibrated(NamedTuple):
    chip: Chip
    calibration: Calibration


@pytest.fixture(scope="session")
def calibration_of() -> Callable[[int, np.ndarray], Calibrated]:
    """``calibration_of(serial, circuits)``: ``Chip(serial)`` and its calibration of
    ``circuits`` (seed 1), computed on first use and shared by the whole session.

    Tests must not modify what they get (it is shared)."""
    cache: dict[tuple[int, tuple[int, ...]], Calibrated] = {}

    def get(serial: int, circuits: np.ndarray) -> Calibrated:
        key = (serial, tuple(int(c) for c in np.asarray(circuits)))
        if key not in cache:
            chip = Chip(serial)
            cache[key] = Calibrated(chip, calibrate(chip, circuits=np.array(key[1]), seed=1))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def calibrated(calibration_of) -> Calibrated:
    """The calibrated chip the BSS-2 tests share: serial 2024, ``CALIBRATED_CIRCUITS``."""
    return calibration_of(CALIBRATED_SERIAL, CALIBRATED_CIRCUITS)
