"""The alpha-current LIF's propagators against numerical quadrature (scipy), and its checks."""

import math

import pytest
from scipy.integrate import quad

from neurotwin.dynamics import AlphaLIF, alpha_constants, alpha_kernel_factor
from neurotwin.dynamics.alpha import rise_moment
from neurotwin.errors import ConfigError


@pytest.mark.parametrize(("dt", "tau_mem", "tau_syn"), [
    (0.1, 20.0, 0.5), (0.1, 10.0, 10.0), (0.1, 10.0, 10.0 + 1e-9), (0.1, 0.5, 20.0),
    (1.0, 3.0, 2.0), (50.0, 2.0, 5.0), (0.01, 20.0, 19.0),
])
def test_kernel_factor_is_the_integral(dt, tau_mem, tau_syn):
    """integral_0^dt exp(-(dt-s)/tau_mem) s exp(-s/tau_syn) ds, by adaptive quadrature;
    equal and nearly equal time constants included (where the closed form cancels)."""
    want, _ = quad(lambda s: math.exp(-(dt - s) / tau_mem) * s * math.exp(-s / tau_syn),
                   0.0, dt, epsabs=0.0, epsrel=1e-13)
    assert alpha_kernel_factor(dt, tau_mem, tau_syn) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("late", [True, False])
def test_rise_moments_are_continuous_where_the_series_hands_over(late):
    below, above = rise_moment(0.1 - 1e-12, late), rise_moment(0.1, late)
    assert below == pytest.approx(above, rel=1e-11)
    assert rise_moment(0.0, late) == 0.5  # both integrals are 1/2 at x = 0


def test_constants_give_the_alpha_current_peak_at_tau():
    """Rise and decay propagators: a weight w gives i(k dt) = w (t/tau) e^(1 - t/tau)."""
    p = AlphaLIF(tau_syn_exc=2.0)
    dt = 0.1
    lif, rise = alpha_constants(p, dt)
    i, d = 0.0, 0.7 * rise.jump_exc
    for k in range(1, 60):
        i, d = i * lif.p_ee + d * rise.p_ede, d * lif.p_ee
        t = k * dt
        assert i == pytest.approx(0.7 * t / 2.0 * math.exp(1 - t / 2.0), rel=1e-12)


@pytest.mark.parametrize("bad", [{"tau_syn_exc": 0.0}, {"cm": -1.0}, {"v_reset": -40.0},
                                 {"i_offset": math.nan}])
def test_bad_parameters_are_refused_with_the_lif_checks(bad):
    with pytest.raises(ConfigError):
        AlphaLIF(**bad)
