r"""The VMM's integer numerics: what enters the synapse array and what the CADC returns.

A VMM on HICANN-X (hxtorch ``detail/mac.cpp``)::

    x_q = round(x)  in 0..31       (5-bit input pulse lengths)
    W_q = round(W)  in -63..63     (a signed weight: an excitatory and an inhibitory row)
    y_b = clamp(floor(m_b), -128, 127)          per block b of at most 128 rows,
                                                m_b the block's analog membrane (LSB)
    y   = clamp(sum_b y_b, -128, 127)           partial sums added digitally

``m_b`` comes from the target (mock: ``num_sends * gain * x_b.W_b + noise``; twin: the
same with the chip's deviations). Rounding is torch's (half to even), as hxtorch's mock
rounds; values outside the range after rounding are refused (hxtorch raises
``overflow_error`` there, the chip's types cannot hold them). The ``nn`` layers clamp
their weights into range first (:func:`neurotwin.bss2.vmm.nn.clamp_weight_`).
"""

from __future__ import annotations

import torch

from neurotwin.bss2 import specs
from neurotwin.errors import ConfigError

__all__ = ["quantise", "quantise_input", "quantise_weight", "read_blocks", "to_int8"]


def _check_finite(name: str, v: torch.Tensor) -> None:
    if not bool(torch.isfinite(v).all()):
        bad = v[~torch.isfinite(v)].ravel()[0].item()
        raise ConfigError(f"{name} must be finite, got {bad!r}")


def _floor_int8(v: torch.Tensor) -> torch.Tensor:
    return torch.floor(v).clamp_(specs.VMM_OUTPUT_MIN, specs.VMM_OUTPUT_MAX)


def quantise(name: str, values: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Round ``values`` to integers (float64) and check they lie in [low, high].

    Raises
    ------
    ConfigError
        For NaN or infinite values, or a rounded value outside [low, high]; the message
        names ``name``, the smallest and largest value and the limits.
    """
    v = values.detach().to(torch.float64)
    _check_finite(name, v)
    q = torch.round(v)
    if q.numel() and (q.min() < low or q.max() > high):
        raise ConfigError(
            f"{name} must lie in [{low}, {high}] after rounding, got "
            f"{q.min().item():g} (min), {q.max().item():g} (max)")
    return q


def quantise_input(x: torch.Tensor) -> torch.Tensor:
    """Inputs as the chip takes them: rounded, 0..31 (float64)."""
    return quantise("VMM input", x, specs.VMM_INPUT_MIN, specs.VMM_INPUT_MAX)


def quantise_weight(w: torch.Tensor) -> torch.Tensor:
    """Signed weights as the chip takes them: rounded, -63..63 (float64)."""
    return quantise("VMM weight", w, specs.VMM_WEIGHT_MIN, specs.VMM_WEIGHT_MAX)


def read_blocks(membranes: torch.Tensor) -> torch.Tensor:
    """The CADC reads of row blocks and their digital sum: the output numerics.

    Parameters
    ----------
    membranes
        Analog membrane of every row block in CADC LSB, shape (blocks, ..., columns).

    Returns
    -------
    torch.Tensor
        ``clamp(sum_b clamp(floor(m_b), -128, 127), -128, 127)``, shape (..., columns),
        float64 holding integers.
    """
    return _floor_int8(_floor_int8(membranes).sum(dim=0))


def to_int8(name: str, values: torch.Tensor) -> torch.Tensor:
    """Values as the SIMD processors hold them: ``clamp(floor(v), -128, 127)``, the
    input conversion of hxtorch's digital operations (relu, add, argmax).

    Raises
    ------
    ConfigError
        For NaN or infinite values.
    """
    v = values.detach()
    _check_finite(name, v)
    return _floor_int8(v if v.is_floating_point() else v.to(torch.float64))
