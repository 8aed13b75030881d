"""neurotwin's one unit system.

Every quantity in the package is a plain float (or array) in these base units; names
and docstrings say which. The set is closed: mV / ms = nA / nF, and nA / mV = µS.

=============  ======  ============================================
quantity       unit    constant for conversion into the base unit
=============  ======  ============================================
time (model)   ms      ``MS = 1``, ``S = 1000``, ``US = 1e-3``
voltage        mV      ``MV = 1``, ``V = 1000``
current        nA      ``NA = 1``, ``PA = 1e-3``
capacitance    nF      ``NF = 1``, ``PF = 1e-3``
conductance    µS      ``US_COND = 1``, ``NS = 1e-3``
rate           Hz      ``HZ = 1`` (events per second of model time)
energy         J       ``J = 1``, ``PJ = 1e-12``, ``UJ = 1e-6``
=============  ======  ============================================

Hardware time on BrainScaleS-2 is model time divided by the acceleration factor and is
reported in µs of wall-clock hardware time: :func:`hardware_time_us`.
"""

from __future__ import annotations

MS = 1.0
S = 1000.0
US = 1e-3

MV = 1.0
V = 1000.0

NA = 1.0
PA = 1e-3

NF = 1.0
PF = 1e-3

US_COND = 1.0
NS = 1e-3

HZ = 1.0

J = 1.0
UJ = 1e-6
PJ = 1e-12


def rate_to_probability(rate_hz: float, dt_ms: float) -> float:
    """Probability of an event in one step of ``dt_ms`` at ``rate_hz``: rate * dt."""
    return rate_hz * dt_ms / S


def hardware_time_us(model_time_ms: float, acceleration: float) -> float:
    """Wall-clock hardware time in µs of ``model_time_ms`` run ``acceleration`` times faster."""
    return model_time_ms / acceleration * S
