"""Jumps at events: the event engine's input jump (i += w) and spike jump (v <- v_reset),
reused as is; mirrored by ``adjoint/jump.py``."""

from neurotwin.engines.event import input_jump as input_jump
from neurotwin.engines.event import spike_jump as spike_jump

__all__ = ["input_jump", "spike_jump"]
