"""Integer weight formats, delays in ticks and ring-buffer saturation, bit for bit."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.spinnaker2 import numerics
from neurotwin.spinnaker2.specs import RING_BUFFER_MAX

INT4 = numerics.WEIGHT_FORMATS["int4_delay"]
INT8 = numerics.WEIGHT_FORMATS["int8"]


def test_formats_match_py_spinnaker2_limits():
    assert (INT4.weight_max, INT4.delay_min, INT4.delay_max) == (15, 1, 8)
    assert (INT8.weight_max, INT8.delay_min, INT8.delay_max) == (127, 1, 1)
    with pytest.raises(nt.ConfigError, match="int4_delay, int8"):
        numerics.get_format("int3")


def test_quantise_rounds_half_up_and_keeps_exact_multiples():
    w = np.array([0.0, 0.5, 1.49, 1.5, 2.5, 15.0]) * 0.1
    np.testing.assert_array_equal(
        numerics.quantise_weights(w, 0.1, INT4, "a->b"), [0, 1, 1, 2, 3, 15]
    )
    exact = np.arange(16) * 2.0**-4
    q = numerics.quantise_weights(exact, 2.0**-4, INT4, "a->b", rounding="exact")
    np.testing.assert_array_equal(q, np.arange(16))


def test_weight_above_the_limit_is_an_error_naming_projection_weight_and_limit():
    with pytest.raises(nt.ConfigError, match=r"weight 0\.2 nA of in->pop .*int4_delay.*0\.15 nA"):
        numerics.quantise_weights(np.array([0.05, 0.2]), 0.01, INT4, "in->pop")
    with pytest.raises(nt.ConfigError, match="not a multiple"):
        numerics.quantise_weights(np.array([0.15]), 0.1, INT4, "in->pop", rounding="exact")
    with pytest.raises(nt.ConfigError, match="finite"):
        numerics.quantise_weights(np.array([np.nan]), 0.1, INT4, "in->pop")


def test_default_scale_maps_the_largest_weight_to_the_limit():
    assert numerics.weight_scale(1.5, INT4) == 0.1
    assert numerics.weight_scale(0.0, INT8) == 1.0


def test_delays_in_ticks_and_their_limits():
    np.testing.assert_array_equal(
        numerics.delay_ticks(np.array([0.3, 1.0, 1.5, 8.0]), 1.0, INT4, "a->b"), [1, 1, 2, 8]
    )
    with pytest.raises(nt.MappingError, match=r"a->b reach 9 ticks.*1\.\.8"):
        numerics.delay_ticks(np.array([9.0]), 1.0, INT4, "a->b")
    with pytest.raises(nt.MappingError, match="only 1 tick"):
        numerics.delay_ticks(np.array([2.0]), 1.0, INT8, "a->b")


def test_ring_buffer_saturates_at_32_bits():
    big = numerics.ring_current(np.int64(2**40), np.float32(1.0))
    assert big == np.float32(RING_BUFFER_MAX)
    assert numerics.ring_current(np.int64(7), np.float32(0.0625)) == np.float32(0.4375)


def test_lif_constants_are_float32_of_the_exact_propagators():
    c = numerics.lif_constants_f32(nt.LIF(tau_mem=10.0), 1.0)
    assert c.dtype == np.float32
    assert c[numerics.LIF_CONSTANT_ROWS.index("p_vv")] == np.float32(np.exp(-0.1))


def test_ring_storage_is_the_narrowest_type_no_slot_can_overflow():
    assert numerics.ring_dtype(0) is np.int16
    assert numerics.ring_dtype(2**15 - 1) is np.int16
    assert numerics.ring_dtype(2**15) is np.int32
    assert numerics.ring_dtype(RING_BUFFER_MAX) is np.int32
    # beyond the 32-bit accumulator: exact sums, saturated when read
    assert numerics.ring_dtype(RING_BUFFER_MAX + 1) is np.int64
