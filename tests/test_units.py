"""neurotwin.units: the constants against SI, the closure of the unit system, and the
two conversions."""

import math

import pytest

import neurotwin as nt
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


def test_unit_system_is_closed_in_the_dynamics():
    """The package relies on mV / ms = nA / nF and nF / µS = ms: dv/dt = i / cm takes no
    factor. A LIF neuron driven by a bias current settles at v_rest + i tau_mem / cm
    (mV = nA ms / nF, from the SI values of the base units) and reaches 63.2 % of that at
    t = tau_mem; a missing or extra factor of 1000 anywhere in the chain fails this."""
    i_na, tau_mem_ms, cm_nf, v_rest = 0.5, 10.0, 0.25, -65.0
    # SI: i tau / C in volts, then into mV through the table above
    v_inf_mv = (i_na * SI["nA"]) * (tau_mem_ms * SI["ms"]) / (cm_nf * SI["nF"]) / SI["mV"]
    assert v_inf_mv == pytest.approx(20.0, rel=1e-12)
    # a conductance: tau_mem = cm / g_leak, in ms from nF / µS
    g_leak_us = cm_nf / tau_mem_ms
    assert (cm_nf * SI["nF"]) / (g_leak_us * SI["uS"]) / SI["ms"] == pytest.approx(tau_mem_ms)

    net = nt.Network(dt=0.1)
    pop = net.add(nt.Population(1, nt.LIF(tau_mem=tau_mem_ms, cm=cm_nf, v_rest=v_rest,
                                          v_reset=v_rest, v_thresh=1e3, i_offset=i_na)))
    net.record(pop, "v")
    v = nt.simulate(net, duration=200.0, backend="ideal", seed=0).trace(pop, "v")[:, 0]
    assert float(v[-1]) == pytest.approx(v_rest + v_inf_mv, rel=1e-6)
    # the trace holds v at the start of each step: v(tau_mem) is sample 100
    assert float(v[100]) - v_rest == pytest.approx(v_inf_mv * (1 - math.exp(-1.0)), rel=1e-9)


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
