"""VMM operations: the block-wise numerics written out independently, errors, gradients."""

import math

import pytest
import torch

from neurotwin.bss2 import vmm
from neurotwin.errors import ConfigError


def blockwise(x, w, num_sends, gain):
    """floor(num_sends * gain * x.W) clamped to [-128, 127] per block of 128 rows, the
    blocks summed and clamped again: in plain Python integers and floats."""
    n, rows = len(x), len(w)
    cols = len(w[0])
    out = [[0] * cols for _ in range(n)]
    for i in range(n):
        for j in range(cols):
            total = 0
            for start in range(0, rows, 128):
                dot = sum(x[i][r] * w[r][j] for r in range(start, min(start + 128, rows)))
                total += min(127, max(-128, math.floor(num_sends * gain * dot)))
            out[i][j] = min(127, max(-128, total))
    return out


@pytest.mark.parametrize("gain", [0.002, 0.0137, 1.0])
def test_matmul_equals_blockwise_formula_at_range_edges(gain):
    g = torch.Generator().manual_seed(1)
    rows = 300  # three blocks, the last partial
    x = torch.randint(0, 32, (5, rows), generator=g)
    w = torch.randint(-63, 64, (rows, 7), generator=g)
    x[0], x[1], x[2] = 31, 0, 31
    w[:, 0], w[:, 1], w[:, 2] = 63, -63, 0
    x[3, :128] = 31
    w[:128, 3], w[128:, 3] = 63, -1
    out = vmm.matmul(x, w, num_sends=1, mock=vmm.MockParameter(gain=gain, noise_std=0.0))
    expected = blockwise(x.tolist(), w.tolist(), 1, gain)
    assert out.tolist() == expected
    assert out.dtype == torch.get_default_dtype()


def test_num_sends_multiplies_the_gain():
    x = torch.full((1, 10), 31)
    w = torch.full((10, 1), 20)
    out = vmm.matmul(x, w, num_sends=3, mock=vmm.MockParameter(gain=0.002, noise_std=0.0))
    assert out.item() == math.floor(3 * 0.002 * 6200)


def test_shapes_follow_torch_matmul():
    mock = vmm.MockParameter(noise_std=0.0)
    x, w = torch.ones(2, 3, 10), torch.ones(10, 4)
    assert vmm.matmul(x, w, mock=mock).shape == (2, 3, 4)
    assert vmm.matmul(torch.ones(10), w, mock=mock).shape == (4,)
    assert vmm.matmul(x, torch.ones(10), mock=mock).shape == (2, 3)


def test_inputs_and_weights_are_rounded_on_the_way_in():
    mock = vmm.MockParameter(gain=1.0, noise_std=0.0)
    out = vmm.matmul(torch.tensor([[1.4, 2.6]]), torch.tensor([[1.0], [-1.4]]), mock=mock)
    assert out.item() == 1 * 1 + 3 * -1


@pytest.mark.parametrize(("x", "w", "match"), [
    (32.0, 1.0, "VMM input"), (-0.6, 1.0, "VMM input"), (1.0, 63.6, "VMM weight"),
    (1.0, -64.0, "VMM weight"), (float("nan"), 1.0, "finite"), (1.0, float("inf"), "finite"),
])
def test_values_outside_the_ranges_raise(x, w, match):
    with pytest.raises(ConfigError, match=match):
        vmm.matmul(torch.tensor([[x]]), torch.tensor([[w]]), mock=True)


def test_bad_calls_raise():
    x, w = torch.ones(1, 3), torch.ones(3, 2)
    with pytest.raises(ConfigError, match="no VMM target"):
        vmm.matmul(x, w)
    with pytest.raises(ConfigError, match="rows"):
        vmm.matmul(torch.ones(1, 4), w, mock=True)
    with pytest.raises(ConfigError, match="num_sends"):
        vmm.matmul(x, w, num_sends=0, mock=True)
    with pytest.raises(ConfigError, match="gain"):
        vmm.MockParameter(gain=0.0)


def test_noise_is_reproducible_with_a_generator():
    x, w = torch.full((4, 200), 10.0), torch.full((200, 3), 5.0)

    def run(seed):
        return vmm.matmul(x, w, mock=True, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_backward_is_straight_through_scaled_by_gain_and_sends():
    x = torch.rand(3, 5, dtype=torch.float64, requires_grad=True) * 20
    x.retain_grad()
    w = (torch.rand(5, 2, dtype=torch.float64) * 40 - 20).requires_grad_()
    out = vmm.matmul(x, w, num_sends=2, mock=vmm.MockParameter(gain=0.01, noise_std=1.0))
    grad = torch.rand(3, 2, dtype=torch.float64)
    out.backward(grad)
    assert torch.allclose(x.grad, 0.02 * grad @ w.detach().t())
    assert torch.allclose(w.grad, 0.02 * x.detach().t() @ grad)


def test_conv_equals_the_windowed_matmul():
    mock = vmm.MockParameter(gain=0.05, noise_std=0.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 32, (2, 3, 20), generator=g).double()
    w = torch.randint(-63, 64, (4, 3, 5), generator=g).double()
    out = vmm.conv1d(x, w, stride=2, mock=mock)
    windows = x.unfold(2, 5, 2).permute(0, 2, 1, 3).reshape(2, 8, 15)
    expected = torch.floor(0.05 * (windows @ w.reshape(4, 15).t())).clamp(-128, 127)
    assert torch.equal(out, expected.transpose(1, 2))
    img = torch.randint(0, 32, (1, 1, 12, 12), generator=g).double()
    k = torch.randint(-10, 11, (2, 1, 4, 4), generator=g).double()
    out2 = vmm.conv2d(img, k, stride=(4, 4), mock=mock)
    ref = torch.floor(0.05 * torch.nn.functional.conv2d(img, k, stride=4)).clamp(-128, 127)
    assert torch.equal(out2, ref)


@pytest.mark.parametrize(("length", "stride", "expansions"), [(30, 1, 4), (31, 2, 3), (9, 3, 5)])
def test_expanded_conv1d_equals_conv1d(length, stride, expansions):
    mock = vmm.MockParameter(gain=0.03, noise_std=0.0)
    g = torch.Generator().manual_seed(length)
    x = torch.randint(0, 32, (2, 2, length), generator=g).double()
    w = torch.randint(-63, 64, (3, 2, 3), generator=g).double()
    b = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    plain = vmm.conv1d(x, w, b, stride=stride, mock=mock)
    expanded = vmm.expanded_conv1d(x, w, b, stride=stride, num_expansions=expansions, mock=mock)
    assert torch.equal(plain, expanded)


def test_digital_operations():
    x = torch.tensor([-200.0, -1.5, 0.7, 3.9, 100.2, 300.0], requires_grad=True)
    assert vmm.relu(x).tolist() == [0, 0, 0, 3, 100, 127]
    y = vmm.converting_relu(x, shift=2)
    assert y.tolist() == [0, 0, 0, 0, 25, 31]
    y.sum().backward()
    assert x.grad.tolist() == [0, 0, 0.25, 0.25, 0.25, 0.25]
    s = vmm.add(torch.tensor([[100.0, -100.0]]), torch.tensor([50.7, -50.0]))
    assert s.tolist() == [[127, -128]]
    assert vmm.argmax(torch.tensor([[1.0, 300.0, 200.0]]), dim=1).tolist() == [1]
    with pytest.raises(ConfigError, match="finite"):
        vmm.relu(torch.tensor([float("nan")]))
    with pytest.raises(ConfigError, match="alpha"):
        vmm.add(x, x, alpha=2.0)
