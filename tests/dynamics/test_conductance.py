"""The conductance models' parameters, checks and step constants (against quadrature)."""

import math

import pytest
from scipy.integrate import quad

from neurotwin.dynamics import (
    AdEx,
    CondAlphaAdEx,
    CondAlphaLIF,
    CondExpAdEx,
    CondExpLIF,
    cond_constants,
)
from neurotwin.errors import ConfigError


@pytest.mark.parametrize("model", [CondExpLIF(), CondAlphaLIF(), CondExpAdEx(), CondAlphaAdEx()])
@pytest.mark.parametrize("dt", [0.01, 0.1, 3.0])
def test_step_averages_are_the_integrals(model, dt):
    """Average over [0, dt] of g e^(-s/tau) and of dg s e^(-s/tau), per unit g and dg."""
    c = cond_constants(model, dt)
    tau = model.tau_syn_exc
    avg_g = quad(lambda s: math.exp(-s / tau), 0, dt, epsrel=1e-13)[0] / dt
    avg_dg = quad(lambda s: s * math.exp(-s / tau), 0, dt, epsrel=1e-13)[0] / dt
    assert c.avg_e == pytest.approx(avg_g, rel=1e-12)
    assert c.avg_de == (pytest.approx(avg_dg, rel=1e-12) if model.alpha else 0.0)
    assert c.jump_exc == (pytest.approx(math.e / tau) if model.alpha else 1.0)
    assert c.g_l == pytest.approx(model.cm / model.tau_mem)


def test_adex_detects_spikes_at_v_spike_and_keeps_adex_defaults():
    c = cond_constants(CondExpAdEx(v_spike=-30.0), 0.1)
    assert c.v_thresh == -30.0
    assert CondExpAdEx().membrane() == AdEx()  # PyNN's EIF defaults are AdEx'


@pytest.mark.parametrize(("cls", "bad"), [
    (CondExpLIF, {"e_rev_exc": math.nan}), (CondAlphaLIF, {"tau_syn_inh": 0.0}),
    (CondExpAdEx, {"v_spike": -60.0}), (CondAlphaAdEx, {"e_rev_inh": math.inf}),
    (CondExpLIF, {"v_reset": -40.0}),
])
def test_bad_parameters_are_refused(cls, bad):
    with pytest.raises(ConfigError):
        cls(**bad)


def test_state_variables_follow_the_synapse_shape():
    assert CondExpLIF().initial_state() == {"v": -65.0, "g_exc": 0.0, "g_inh": 0.0}
    assert set(CondAlphaAdEx().initial_state()) == {"v", "g_exc", "g_inh", "w", "dg_exc",
                                                     "dg_inh"}
