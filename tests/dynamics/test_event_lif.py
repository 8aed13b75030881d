"""The event-driven LIF neuron: parameter checks, the conversion to and from LIF, and the
record of floats that the compiled kernels take."""

import math

import pytest

import neurotwin as nt
from neurotwin.dynamics.event_lif import EventLIF, event_lif_constants, kernel_peak
from neurotwin.dynamics.lif import exp_kernel_factor
from neurotwin.errors import ConfigError

P = EventLIF(tau_mem=10.0, tau_syn=4.0, v_thresh=1.0, v_reset=-0.2, cm=2.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau_mem": 0.0}, "tau_mem"),
        ({"tau_syn": -1.0}, "tau_syn"),
        ({"tau_syn": math.nan}, "tau_syn"),
        ({"v_thresh": 0.0}, "v_thresh"),
        ({"v_reset": 2.0}, "v_reset"),
        ({"cm": 0.0}, "cm"),
        ({"tau_refrac": -0.1}, "tau_refrac"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        EventLIF(**kwargs)


def test_lif_round_trip_and_refusals():
    p = EventLIF(tau_mem=12.0, tau_syn=4.0, v_thresh=15.0, v_reset=-2.0, cm=0.3, tau_refrac=1.0)
    lif = p.to_lif(v_rest=-65.0)
    assert lif.v_thresh == -50.0 and lif.v_reset == -67.0 and lif.tau_syn_inh == 4.0
    assert EventLIF.from_lif(lif) == p
    with pytest.raises(ConfigError, match="tau_syn_exc"):
        EventLIF.from_lif(nt.LIF(tau_syn_exc=5.0, tau_syn_inh=6.0))
    with pytest.raises(ConfigError, match="i_offset"):
        EventLIF.from_lif(nt.LIF(i_offset=0.1))


def test_neuron_record_holds_the_derived_constants() -> None:
    c = event_lif_constants(P)
    assert (c.tau_mem, c.tau_syn, c.cm, c.v_thresh, c.v_reset, c.tau_refrac) == (
        10.0, 4.0, 2.0, 1.0, -0.2, 0.0
    )
    assert c.tau_long == 10.0
    assert c.rate == abs(1.0 / 10.0 - 1.0 / 4.0)
    assert c.k_peak == kernel_peak(P)
    assert all(isinstance(x, float) for x in c)


def test_kernel_peak_is_the_maximum_of_the_kernel():
    """At s* = ln(tau_mem / tau_syn) / (1/tau_syn - 1/tau_mem) = 10 ln 2.5 / 1.5 ms."""
    s_peak = 10.0 * math.log(2.5) / 1.5
    peak = kernel_peak(P)
    assert peak >= exp_kernel_factor(s_peak, 10.0, 4.0)
    for s in (0.5 * s_peak, 0.99 * s_peak, 1.01 * s_peak, 2.0 * s_peak):
        assert exp_kernel_factor(s, 10.0, 4.0) < peak
