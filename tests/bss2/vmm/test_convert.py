"""from_float: a float network on the VMM with a scale per layer (checked on reads computed
independently in numpy), and its errors."""

import numpy as np
import pytest
import torch

from neurotwin.bss2 import vmm
from neurotwin.bss2.vmm import nn as vnn
from neurotwin.errors import ConfigError, DataError

GAIN = 0.002
QUIET = vmm.MockParameter(gain=GAIN, noise_std=0.0)


def _nets(bias: bool = False) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(3)
    f = torch.nn.Sequential(torch.nn.Linear(40, 16, bias=bias), torch.nn.ReLU(),
                            torch.nn.Linear(16, 5, bias=False))
    v = torch.nn.Sequential(vnn.Linear(40, 16, bias=bias, mock=QUIET),
                            vnn.ConvertingReLU(shift=1),
                            vnn.Linear(16, 5, bias=False, mock=QUIET))
    vnn.set_target(v, QUIET)
    return f, v


def _inputs(n: int = 400) -> torch.Tensor:
    return torch.randint(0, 32, (n, 40), generator=torch.Generator().manual_seed(4)).float()


def _reads(x: np.ndarray, w: np.ndarray, sends: int) -> np.ndarray:
    """The noise-free mock written out: one block (<= 128 rows), floor, int8 clamp."""
    return np.clip(np.floor(sends * GAIN * (np.round(x) @ np.round(w).T)), -128, 127)


def test_each_layer_reads_its_top_at_the_quantile():
    f, v = _nets()
    x = _inputs()
    scales = vmm.from_float(f, v, x, quantile=0.9)
    assert [s.name for s in scales] == ["0", "2"]
    assert [s.top for s in scales] == [62.0, vmm.convert.OUTPUT_TOP]
    hidden = _reads(x.numpy(), v[0].weight.detach().numpy(), v[0].num_sends)
    assert np.quantile(hidden[hidden > 0], 0.9) == pytest.approx(62.0, abs=2.0)
    a = np.clip(np.floor(np.clip(hidden, 0, 127) / 2), 0, 31)
    out = _reads(a, v[2].weight.detach().numpy(), v[2].num_sends)
    assert np.quantile(np.abs(out), 0.9) == pytest.approx(96.0, abs=3.0)
    assert torch.equal(v(x), torch.as_tensor(out, dtype=torch.float32))


def test_weights_use_the_range_with_the_fewest_sends():
    f, v = _nets()
    for s, layer, fl in zip(vmm.from_float(f, v, _inputs()), (v[0], v[2]), (f[0], f[2]),
                            strict=True):
        top_weight = float(layer.weight.detach().abs().max())
        assert top_weight == pytest.approx(s.max_weight) and top_weight <= 63.0
        assert s.weight_scale == pytest.approx(top_weight / float(fl.weight.detach().abs().max()))
        if s.num_sends > 1:  # one send fewer would need weights beyond 63
            assert top_weight * s.num_sends / (s.num_sends - 1) > 63.0
    assert v[0].num_sends > 1 and v[2].num_sends > 1


def test_the_converted_network_decides_as_the_float_one():
    f, v = _nets()
    x = _inputs()
    vmm.from_float(f, v, x, quantile=0.95)
    with torch.no_grad():
        agree = float((f(x).argmax(1) == v(x).argmax(1)).float().mean())
    assert agree > 0.85


def test_an_input_transform_is_part_of_the_scale():
    """The float net sees pixels in [0, 1], the VMM net 31 / max times them."""
    f, _ = _nets()
    v = torch.nn.Sequential(vnn.Linear(40, 16, bias=False, mock=QUIET,
                                       input_transform=vnn.scale_input),
                            vnn.ConvertingReLU(shift=1),
                            vnn.Linear(16, 5, bias=False, mock=QUIET))
    vnn.set_target(v, QUIET)
    x = _inputs() / 31.0
    vmm.from_float(f, v, x, quantile=0.9)
    hidden = _reads(x.numpy() * 31.0, v[0].weight.detach().numpy(), v[0].num_sends)
    assert np.quantile(hidden[hidden > 0], 0.9) == pytest.approx(62.0, abs=2.0)


def test_errors_name_what_is_wrong():
    f, v = _nets()
    with pytest.raises(ConfigError, match="quantile"):
        vmm.from_float(f, v, _inputs(), quantile=0.0)
    with pytest.raises(ConfigError, match="pair up"):
        vmm.from_float(f[:1], v, _inputs())
    with pytest.raises(DataError, match="no positive output"):
        vmm.from_float(f, v, torch.zeros(10, 40))
    fb, vb = _nets(bias=True)
    with pytest.raises(ConfigError, match="bias"):
        vmm.from_float(fb, vb, _inputs())
    wide = torch.nn.Sequential(torch.nn.Linear(40, 8, bias=False), torch.nn.ReLU(),
                               torch.nn.Linear(8, 5, bias=False))
    with pytest.raises(ConfigError, match=r"\(8, 40\)"):
        vmm.from_float(wide, v, _inputs())
