"""neurotwin.errors: the hierarchy and the boundary checks, whose messages name the
parameter, the offending value and the limit."""

import math

import numpy as np
import pytest

from neurotwin.errors import (
    CapacityError,
    ConfigError,
    DataError,
    MappingError,
    NeurotwinError,
    check_finite,
    check_in_range,
    check_int,
    check_multiple_of,
    check_positive,
    unknown_name,
)


def test_hierarchy():
    for cls in (ConfigError, CapacityError, MappingError, DataError):
        assert issubclass(cls, NeurotwinError)
    # bad values are also ValueErrors, so generic callers can catch them as such
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)
    assert not issubclass(CapacityError, ValueError)


def test_capacity_error_says_what_ran_out():
    err = CapacityError("neurons", 600, 512, "population 'exc'")
    assert (err.resource, err.needed, err.available) == ("neurons", 600, 512)
    assert str(err) == "not enough neurons: needed 600, available 512 (population 'exc')"
    assert str(CapacityError("synapse rows", 300, 256)) == (
        "not enough synapse rows: needed 300, available 256"
    )


@pytest.mark.parametrize("value", [1.0, -3, 0.0, np.arange(4.0), [[1.0, 2.0]], np.float32(2)])
def test_check_finite_accepts(value):
    check_finite("x", value)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (math.nan, r"^x must be finite, got nan in nan$"),
        (math.inf, r"^x must be finite, got inf in inf$"),
        (np.array([1.0, -np.inf, np.nan]),
         r"^x must be finite, got -inf in array of shape \(3,\)$"),
        ([[0.0], [np.nan]], r"^x must be finite, got nan in array of shape \(2, 1\)$"),
    ],
)
def test_check_finite_rejects(value, match):
    with pytest.raises(ConfigError, match=match):
        check_finite("x", value)


def test_check_positive():
    check_positive("tau", 1e-12, "ms")
    check_positive("tau", np.array([0.5, 2.0]), "ms")
    check_positive("rate", 0.0, "Hz", allow_zero=True)
    with pytest.raises(ConfigError, match=r"^tau must be > 0 ms, got 0\.0$"):
        check_positive("tau", 0.0, "ms")
    with pytest.raises(ConfigError, match=r"^tau must be > 0 ms, got -2\.0$"):
        check_positive("tau", np.array([1.0, -2.0, -3.0]), "ms")
    with pytest.raises(ConfigError, match=r"^rate must be >= 0 Hz, got -1\.0$"):
        check_positive("rate", -1.0, "Hz", allow_zero=True)
    with pytest.raises(ConfigError, match=r"^n must be > 0, got -1\.0$"):
        check_positive("n", -1)
    with pytest.raises(ConfigError, match=r"^tau must be finite, got nan"):
        check_positive("tau", math.nan, "ms")


def test_check_in_range_is_inclusive():
    check_in_range("p", [0.0, 0.5, 1.0], 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"^p must lie in \[0\.0, 1\.0\], got 1\.5$"):
        check_in_range("p", 1.5, 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"^v must lie in \[-80, 0\] mV, got -90\.0$"):
        check_in_range("v", np.array([-10.0, -90.0]), -80, 0, "mV")
    with pytest.raises(ConfigError, match=r"^p must be finite"):
        check_in_range("p", math.nan, 0.0, 1.0)


def test_check_multiple_of_returns_steps():
    steps = check_multiple_of("delays", np.array([0.1, 0.3, 0.7, 1.0, 250.0]), 0.1)
    assert steps.dtype == np.int64
    np.testing.assert_array_equal(steps, [1, 3, 7, 10, 2500])  # decimal round-off absorbed
    assert int(check_multiple_of("duration", 1000.0, 0.1)) == 10000
    assert int(check_multiple_of("delay", 0.0, 0.1)) == 0


@pytest.mark.parametrize(
    ("value", "step", "match"),
    [
        (0.15, 0.1, r"^delays must be a multiple of the time step dt = 0\.1 ms, got 0\.15 ms$"),
        ([0.2, 0.25], 0.1, r"got 0\.25 ms$"),
        (1.00001, 0.5, r"dt = 0\.5 ms, got 1\.00001 ms"),
        (math.nan, 0.1, r"^delays must be finite, got nan"),
    ],
)
def test_check_multiple_of_rejects(value, step, match):
    with pytest.raises(ConfigError, match=match):
        check_multiple_of("delays", value, step)


def test_unknown_name_lists_known_sorted():
    err = unknown_name("backend", "bss3", ["spinnaker2", "ideal", "bss2"])
    assert isinstance(err, ConfigError)
    assert str(err) == "unknown backend 'bss3'; known: bss2, ideal, spinnaker2"
    assert str(unknown_name("experiment", "x", [])) == (
        "unknown experiment 'x'; known: (none registered)"
    )


@pytest.mark.parametrize("value", ["20", b"20", True, np.bool_(False), [1.0, "x"], None, {}])
def test_numeric_checks_refuse_strings_bools_and_objects(value):
    with pytest.raises(ConfigError, match="must be a number"):
        check_positive("tau_mem", value, "ms")


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_takes_integers(value):
    out = check_int("n", value, 1, 10)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize(
    ("value", "match"),
    [(3.0, r"must be an integer in \[1, 10\], got 3.0 \(float\)"),
     (True, r"must be an integer in \[1, 10\], got True \(bool\)"), ("3", "integer"),
     (0, r"in \[1, 10\], got 0"), (11, r"in \[1, 10\], got 11")],
)
def test_check_int_refuses(value, match):
    with pytest.raises(ConfigError, match=match):
        check_int("n", value, 1, 10)


def test_check_int_one_sided_bounds():
    with pytest.raises(ConfigError, match=r"n must be an integer >= 1 \(neurons\), got 0"):
        check_int("n", 0, low=1, unit="neurons")
    with pytest.raises(ConfigError, match="n must be an integer >= 0, got -1"):
        check_int("n", -1, low=0)
    with pytest.raises(ConfigError, match="n must be an integer >= 5, got 4"):
        check_int("n", 4, low=5)
    with pytest.raises(ConfigError, match="<= 5"):
        check_int("n", 6, high=5)
    assert check_int("n", -(10**12)) == -(10**12)


def test_check_multiple_of_refuses_a_ratio_past_float_range():
    """4 ms over the smallest normal float as a step overflows to inf: the same clear
    error as any span beyond 2**53 steps, not a floating-point warning."""
    with pytest.raises(ConfigError, match="at most 2\\*\\*53 time steps"):
        check_multiple_of("duration", 4.0, 2.2250738585072014e-308)
