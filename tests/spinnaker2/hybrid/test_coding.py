"""The rate code: spike counts by hand, regular trains, refusal of negative activations."""

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.spinnaker2.hybrid import RateCode


def test_counts_are_floor_of_ticks_times_rate():
    code = RateCode(ticks=10, full_rate_code=4)
    codes = np.array([[3, 4, 5, 7, 11, 255]], np.uint8)  # zero point 3
    spikes = code.spikes(codes, zero_point=3)
    # c = 0, 1, 2, 4, 8, 252: floor(10 c / 4)
    np.testing.assert_array_equal(spikes.sum(axis=2)[0], [0, 2, 5, 10, 20, 630])
    np.testing.assert_array_equal(spikes[0, 3], np.ones(10))  # c = L: once every tick
    np.testing.assert_array_equal(spikes[0, 4], np.full(10, 2))
    np.testing.assert_array_equal(spikes[0, 1], [0, 0, 0, 1, 0, 0, 0, 1, 0, 0])  # c/L = 1/4
    assert spikes.max() == code.max_per_tick(3) == 63  # ceil(252 / 4)


def test_bad_codes_are_refused():
    code = RateCode()
    with pytest.raises(ConfigError, match="below the zero point 5"):
        code.spikes(np.array([[4, 9]], np.uint8), zero_point=5)
    with pytest.raises(ConfigError, match="uint8"):
        code.spikes(np.array([[4, 9]], np.int64), zero_point=0)
    with pytest.raises(ConfigError, match="ticks"):
        RateCode(ticks=0)
    with pytest.raises(ConfigError, match="full_rate_code"):
        RateCode(full_rate_code=256)
