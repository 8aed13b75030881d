"""Hardware numerics of the BSS-2 twin, bit for bit.

Golden values are worked out by hand from the converter definitions (floor, clamp, digital
offset) and the published numbers (calix' CADC range 70 -> 20, 550 -> 220 CapMem codes;
500 MHz / 12 cycles for the MADC), never taken from the code under test.
"""

import math

import numpy as np
import pytest

from neurotwin.bss2 import specs
from neurotwin.bss2.specs import SaturationWarning
from neurotwin.errors import ConfigError


def test_cadc_read_floors_and_saturates():
    x = [0.0, 0.999, 1.0, 17.5, 254.99, 255.0, 255.7]
    assert specs.cadc_read(x).tolist() == [0, 0, 1, 17, 254, 255, 255]


@pytest.mark.parametrize("x, expected", [(-0.5, 0), (-40.0, 0), (256.0, 255), (1e6, 255)])
def test_cadc_read_clamps_with_a_warning(x, expected):
    with pytest.warns(SaturationWarning, match="CADC"):
        assert specs.cadc_read([x]).tolist() == [expected]


def test_cadc_digital_offset_is_added_after_conversion_and_clamped():
    assert specs.cadc_read([100.2, 100.2, 10.9], [-3, 27, 0]).tolist() == [97, 127, 10]
    with pytest.warns(SaturationWarning):
        assert specs.cadc_read([250.7, 2.5], [10, -5]).tolist() == [255, 0]
    # the analog clamp comes first: 300 converts to 255, then -10 gives 245
    with pytest.warns(SaturationWarning):
        assert specs.cadc_read([300.0], [-10]).tolist() == [245]


def test_cadc_digital_offset_range():
    with pytest.raises(ConfigError, match="-128"):
        specs.cadc_read([1.0], [-129])
    with pytest.raises(ConfigError, match="127"):
        specs.cadc_read([1.0], [128])


def test_madc_read_floors_and_saturates():
    assert specs.madc_read([0.0, 0.5, 511.999, 1023.0, 1023.9]).tolist() == [0, 0, 511, 1023,
                                                                              1023]
    with pytest.warns(SaturationWarning, match="MADC"):
        assert specs.madc_read([-1e-9, 1024.0]).tolist() == [0, 1023]


def test_quantize_weight_rounds_half_up_and_clamps():
    w = [0.0, 0.49, 0.5, 1.5, 2.5, 62.5, 63.4]
    assert specs.quantize_weight(w).tolist() == [0, 0, 1, 2, 3, 63, 63]
    with pytest.warns(SaturationWarning, match="weights"):
        assert specs.quantize_weight([63.5, 100.0]).tolist() == [63, 63]
    with pytest.raises(ConfigError, match=">= 0"):
        specs.quantize_weight([-1.0])


@pytest.mark.parametrize("code, limit", [(1023, "1022"), (-1, "limit 0"), (5000, "1022")])
def test_capmem_range_names_the_limit(code, limit):
    with pytest.raises(ConfigError, match=limit) as info:
        specs.check_capmem("v_leak", [10, code])
    assert "v_leak" in str(info.value)


@pytest.mark.parametrize("bad", [2.5, np.nan, True])
def test_capmem_codes_must_be_integers(bad):
    with pytest.raises(ConfigError, match="integers"):
        specs.check_capmem("i_bias_leak", np.array([bad]))


def test_capmem_limits_pass():
    assert specs.check_capmem("v_leak", [0, 1022, 511.0]).tolist() == [0, 1022, 511]


def test_refractory_counter_rounds_at_10_mhz():
    assert specs.refractory_counter([2.0, 0.04, 0.05, 0.0, 25.5]).tolist() == [20, 0, 1, 0, 255]
    with pytest.raises(ConfigError, match=r"25\.5"):
        specs.refractory_counter([25.6])


def test_address_range():
    assert specs.check_address([0, 63]).tolist() == [0, 63]
    with pytest.raises(ConfigError, match="63"):
        specs.check_address([64])


def test_derived_constants_from_their_sources():
    capmem_lsb = 1200.0 / 1023
    cadc_lsb = (550 - 70) * capmem_lsb / (220 - 20)
    assert specs.CAPMEM_LSB_MV == pytest.approx(capmem_lsb, rel=1e-15)
    assert specs.CADC_LSB_MV == pytest.approx(cadc_lsb, rel=1e-15)
    assert specs.CADC_ZERO_MV == pytest.approx(70 * capmem_lsb - 20 * cadc_lsb, rel=1e-15)
    assert specs.MADC_SAMPLE_RATE_MHZ == pytest.approx(500.0 / 12)
    assert specs.MADC_SAMPLE_PERIOD_US == pytest.approx(0.024)
    assert specs.N_NEURONS == 512 and specs.N_SYNAPSES == 131072
    assert len(specs.CAPMEM_VOLTAGE_CELLS) == 8 and len(specs.CAPMEM_CURRENT_CELLS) == 16
    assert specs.WEIGHT_MAX == 63 and specs.ADDRESS_MAX == 63 and specs.CADC_MAX == 255
    assert specs.MADC_MAX == 1023 and specs.REFRACTORY_COUNTER_MAX == 255
    assert math.isclose(specs.ACCELERATION, 1000.0)


def test_offset_current_code_rounds_and_checks_the_cell_range():
    np.testing.assert_array_equal(specs.offset_current_code([0.0, 0.01, 0.0031]), [0, 5, 2])
    assert specs.offset_current_code(specs.CAPMEM_MAX * specs.MEM_OFFSET_NA_PER_CODE) \
        == specs.CAPMEM_MAX
    for bad in (-0.002, 2.1):
        with pytest.raises(ConfigError, match=r"outside \[0, 1022\]"):
            specs.offset_current_code(bad)
