"""neurotwin.units: the constants against SI, the closure of the unit system, and the
two conversions."""

import math

import pytest

from neurotwin import units as u

# each base unit of neurotwin in SI units
SI = {"ms": 1e-3, "mV": 1e-3, "nA": 1e-9, "nF": 1e-9, "uS": 1e-6, "Hz": 1.0, "J": 1.0}


@pytest.mark.parametrize(
    ("constant", "si_value", "base"),
    [
        (u.MS, 1e-3, "ms"), (u.S, 1.0, "ms"), (u.US, 1e-6, "ms"),
        (u.MV, 1e-3, "mV"), (u.V, 1.0, "mV"),
        (u.NA, 1e-9, "nA"), (u.PA, 1e-12, "nA"),
        (u.NF, 1e-9, "nF"), (u.PF, 1e-12, "nF"),
        (u.US_COND, 1e-6, "uS"), (u.NS, 1e-9, "uS"),
        (u.HZ, 1.0, "Hz"),
        (u.J, 1.0, "J"), (u.UJ, 1e-6, "J"), (u.PJ, 1e-12, "J"),
    ],
)
def test_constants_against_si(constant, si_value, base):
    """A constant is the quantity's size in the base unit: value * base = SI value."""
    assert constant * SI[base] == pytest.approx(si_value, rel=1e-12)


def test_unit_system_is_closed():
    # mV / ms = nA / nF: dv/dt = i / cm needs no factor
    assert SI["mV"] / SI["ms"] == pytest.approx(SI["nA"] / SI["nF"], rel=1e-12)
    # nA / mV = uS: a conductance times a voltage is a current
    assert SI["nA"] / SI["mV"] == pytest.approx(SI["uS"], rel=1e-12)
    # nF / uS = ms: a capacitance over a conductance is a time constant
    assert SI["nF"] / SI["uS"] == pytest.approx(SI["ms"], rel=1e-12)


@pytest.mark.parametrize(
    ("rate", "dt", "probability"),
    [(10.0, 0.1, 1e-3), (1000.0, 1.0, 1.0), (0.0, 0.1, 0.0), (250.0, 0.04, 0.01)],
)
def test_rate_to_probability(rate, dt, probability):
    assert u.rate_to_probability(rate, dt) == pytest.approx(probability, rel=1e-12)


def test_hardware_time_us():
    # BrainScaleS-2 runs 1000x faster: 10 ms of model time is 10 us on the chip
    assert u.hardware_time_us(10.0, 1000.0) == pytest.approx(10.0)
    assert u.hardware_time_us(1000.0, 1000.0) == pytest.approx(1000.0)
    assert u.hardware_time_us(1.0, 1.0) == pytest.approx(1000.0)  # real time: 1 ms = 1000 us
    assert math.isclose(u.hardware_time_us(3.0 * u.S, 1000.0), 3000.0)
