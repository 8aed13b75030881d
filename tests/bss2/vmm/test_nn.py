"""Layers: the same numbers as the operations, targets per model, hardware-in-the-loop."""

import pytest
import torch

from neurotwin.bss2 import Chip, vmm
from neurotwin.bss2.vmm import nn
from neurotwin.errors import CapacityError


def test_linear_is_matmul_plus_saturating_bias():
    torch.manual_seed(0)
    mock = vmm.MockParameter(noise_std=0.0)
    layer = nn.Linear(200, 5, num_sends=2, mock=mock)
    x = torch.randint(0, 32, (3, 200)).float()
    expected = vmm.add(vmm.matmul(x, layer.weight.t(), 2, mock=mock), layer.bias)
    assert torch.equal(layer(x), expected)
    assert layer.weight.abs().max() <= 63


def test_initialisation_picks_num_sends():
    layer = nn.Linear(128, 10)
    assert layer.num_sends == 6  # ceil(2 * sqrt(2) / 0.002 / sqrt(128) / 21)


def test_scaling_helpers():
    x = torch.tensor([1.0, 2.0, 4.0])
    assert nn.scale_input(x).tolist() == [7.75, 15.5, 31.0]
    assert nn.scale_weight(torch.tensor([-2.0, 1.0])).tolist() == [-63.0, 31.5]
    w = torch.tensor([-100.0, 5.0, 70.0])
    assert nn.clamp_weight_(w) is w and w.tolist() == [-63.0, 5.0, 63.0]


def model():
    return torch.nn.Sequential(
        nn.Conv1d(3, 8, 5, stride=2, num_sends=2), nn.ConvertingReLU(shift=1),
        torch.nn.Flatten(), nn.Linear(8 * 8, 4, num_sends=2))


def test_set_target_gives_layers_their_own_slots():
    torch.manual_seed(0)
    net = model()
    twin = vmm.Twin(Chip(seed=2))
    schedule = nn.set_target(net, twin)
    assert [m.target.first_slot for m in (net[0], net[3])] == [0, 1]
    assert "2 blocks, 1 run(s)" in schedule.table()
    out = net(torch.randint(0, 32, (2, 3, 20)).float())
    assert out.shape == (2, 4)
    with pytest.raises(CapacityError, match="synapse arrays"):
        nn.set_target(torch.nn.Sequential(nn.Linear(300, 4), nn.Linear(4, 4)), twin,
                      max_runs=1)


def test_hardware_in_the_loop_training_fits_a_teacher_on_the_twin():
    torch.manual_seed(1)
    twin = vmm.Twin(Chip(seed=3), vmm.VmmDeviations(noise_lsb=0.5))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 32, (64, 40)).float()
    teacher = torch.randint(-40, 41, (40, 4)).float()
    y = vmm.matmul(x, teacher, num_sends=2, target=twin, generator=gen)
    student = nn.Linear(40, 4, bias=False, num_sends=2)
    nn.set_target(student, twin, generator=gen)
    opt = torch.optim.Adam(student.parameters(), lr=2.0)

    def loss():
        return torch.nn.functional.mse_loss(student(x), y)

    before = loss().item()
    for _ in range(30):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert student.weight.grad is not None
    assert loss().item() < 0.2 * before
