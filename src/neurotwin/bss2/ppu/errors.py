"""The error a plasticity program raises when it breaks a limit of the processor."""

from __future__ import annotations

from neurotwin.errors import NeurotwinError

__all__ = ["ProgramError"]


class ProgramError(NeurotwinError):
    """A PPU program broke a limit of the processor: a read or write outside its memory,
    a weight outside 0..63 written without saturation, a period shorter than its cycles.
    The message names the value and the limit."""
