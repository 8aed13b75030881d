"""Weight sharing of convolutional layers: the dense weight matrix against
torch.nn.functional.conv2d (an independent implementation), its gradient, and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from neurotwin.engines.event_conv import conv_dense_weights, conv_output_shape, conv_weight_index
from neurotwin.errors import ConfigError

F64 = torch.float64

GEOMETRIES = [
    # in_shape, kernel_shape, stride, padding
    ((1, 5, 5), (2, 1, 3, 3), 1, 0),
    ((2, 6, 5), (3, 2, 3, 2), 2, 1),
    ((3, 4, 7), (2, 3, 2, 3), (1, 2), (0, 1)),
    ((1, 3, 3), (1, 1, 5, 5), 1, 1),  # kernel larger than the input, not the padded input
    ((2, 4, 4), (4, 2, 1, 1), 3, 0),
]


def _one_hot_images(in_shape):
    n_in = math.prod(in_shape)
    return torch.eye(n_in, dtype=F64).reshape(n_in, *in_shape)


@pytest.mark.parametrize(("in_shape", "kernel_shape", "stride", "padding"), GEOMETRIES)
def test_dense_rows_are_conv2d_of_one_hot_images(in_shape, kernel_shape, stride, padding):
    gen = torch.Generator().manual_seed(0)
    kernel = torch.randn(kernel_shape, generator=gen, dtype=F64)
    index, mask = conv_weight_index(in_shape, kernel_shape, stride, padding)
    dense = conv_dense_weights(kernel, index, mask)
    ref = F.conv2d(_one_hot_images(in_shape), kernel, stride=stride, padding=padding)
    assert tuple(ref.shape[1:]) == conv_output_shape(in_shape, kernel_shape, stride, padding)
    assert dense.shape == (math.prod(in_shape), math.prod(ref.shape[1:]))
    torch.testing.assert_close(dense, ref.reshape(ref.shape[0], -1), rtol=0, atol=0)
    # every kernel entry is used somewhere, and only connected pairs carry weight
    assert mask.sum() == (ref != 0).sum()


def test_kernel_gradient_is_conv2d_weight_gradient():
    """d/dkernel of sum(G * dense) through the gather equals conv2d's own weight gradient."""
    in_shape, kernel_shape, stride, padding = (2, 5, 4), (3, 2, 3, 2), (2, 1), 1
    gen = torch.Generator().manual_seed(1)
    kernel = torch.randn(kernel_shape, generator=gen, dtype=F64)
    index, mask = conv_weight_index(in_shape, kernel_shape, stride, padding)
    g = torch.randn(index.shape, generator=gen, dtype=F64)
    k1 = kernel.clone().requires_grad_()
    (g * conv_dense_weights(k1, index, mask)).sum().backward()
    k2 = kernel.clone().requires_grad_()
    ref = F.conv2d(_one_hot_images(in_shape), k2, stride=stride, padding=padding)
    (g * ref.reshape(ref.shape[0], -1)).sum().backward()
    assert k1.grad is not None and k2.grad is not None
    torch.testing.assert_close(k1.grad, k2.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((1, 5, 5), (2, 1, 3, 3), 0, 0), "stride must be an integer >= 1"),
        (((1, 5, 5), (2, 1, 3, 3), (1, -2), 0), "stride"),
        (((1, 5, 5), (2, 1, 3, 3), 1.5, 0), "stride"),
        (((1, 5, 5), (2, 1, 3, 3), 1, -1), "padding must be an integer >= 0"),
        (((1, 5, 5), (2, 1, 7, 3), 1, 0), r"kernel height 7 exceeds the padded input height 5"),
        (((1, 5, 4), (2, 1, 3, 7), 1, 1), r"kernel width 7 exceeds .* = 6"),
        (((2, 5, 5), (2, 1, 3, 3), 1, 0), "input channels"),
        (((5, 5), (2, 1, 3, 3), 1, 0), "in_shape"),
        (((1, 0, 5), (2, 1, 3, 3), 1, 0), "in_shape"),
        (((1, 5, 5), (2, 1, 3), 1, 0), "kernel_shape"),
    ],
)
def test_bad_geometry_names_the_limit(args, match):
    with pytest.raises(ConfigError, match=match):
        conv_weight_index(*args)


def test_bad_index_raises():
    index, mask = conv_weight_index((1, 4, 4), (2, 1, 3, 3), 1, 0)
    with pytest.raises(ConfigError, match="entries"):
        conv_dense_weights(torch.zeros(1, 1, 3, 3, dtype=F64), index, mask)
    with pytest.raises(ConfigError, match="shape"):
        conv_dense_weights(torch.zeros(2, 1, 3, 3, dtype=F64), index, mask[:, :2])
