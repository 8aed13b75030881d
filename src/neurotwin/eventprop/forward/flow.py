"""Flow between events: the event engine's closed-form free evolution, reused as is.

EventProp's forward flow is :func:`neurotwin.engines.event.flow`; this file exists so that
``adjoint/flow.py`` has its mirror (the adjoint flow is the same map with the two time
constants swapped, run in reversed time).
"""

from neurotwin.engines.event import flow as flow

__all__ = ["flow"]
