"""What a VMM target is (the contract mock and twin implement) and how a call picks one.

hxtorch selects the mock with ``mock=True`` and holds its parameters in process-global
state (``set_mock_parameter``). Here the choice is an object passed along: ``mock=True``
(hxtorch's default parameters), ``mock=MockParameter(...)`` or ``target=Twin(...)`` per
call; :func:`neurotwin.bss2.vmm.nn.set_target` sets it for every layer of a model.
"""

from __future__ import annotations

from typing import Protocol

import torch

from neurotwin.bss2.vmm.mock import MockParameter
from neurotwin.errors import ConfigError

__all__ = ["VmmTarget", "resolve_target"]


class VmmTarget(Protocol):
    """A place where a VMM runs: the analog part of the multiplication.

    ``gain`` (CADC LSB per unit of x.W and send) scales the straight-through backward
    pass; ``membranes`` returns every row block's analog CADC input (shape
    (blocks, n, columns), LSB) for quantised float64 inputs (n, rows) and weights
    (rows, columns). The CADC numerics are applied after, the same for every target.
    """

    @property
    def gain(self) -> float:
        """Gain of the multiplication, LSB per unit of x.W and send."""
        ...

    def membranes(self, x: torch.Tensor, w: torch.Tensor, num_sends: int,
                  wait_between_events: int, generator: torch.Generator | None
                  ) -> torch.Tensor:
        """Analog CADC inputs of every row block, LSB."""
        ...


def resolve_target(mock: bool | MockParameter, target: VmmTarget | None) -> VmmTarget:
    """The target a call runs on: ``target`` if given, else the mock ``mock`` names.

    Raises
    ------
    ConfigError
        When both or neither are given (there is no chip to fall back on).
    """
    if target is not None:
        if mock is not False:
            raise ConfigError("give either mock or target, not both")
        return target
    if mock is True:
        return MockParameter()
    if isinstance(mock, MockParameter):
        return mock
    if mock is False:
        raise ConfigError("no VMM target: pass mock=True, mock=MockParameter(...) or "
                          "target=Twin(...) (neurotwin has no physical chip to run on)")
    raise ConfigError(f"mock must be a bool or a MockParameter, got {mock!r}")
