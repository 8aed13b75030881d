"""Conformance of every VMM target, the twin's deviations, and the mock measured on it."""

import math
import zlib

import numpy as np
import pytest
import torch

from neurotwin.bss2 import Chip, Deviations, vmm


def ideal_twin(gain=0.002):
    return vmm.Twin(Chip(seed=0, deviations=Deviations.ideal()), vmm.VmmDeviations.ideal(gain))


TARGETS = {
    "mock": lambda: vmm.MockParameter(),
    "twin": lambda: vmm.Twin(Chip(seed=5)),
    "ideal twin": ideal_twin,
}


@pytest.mark.parametrize("name", TARGETS)
def test_every_target_returns_int8_of_torch_shapes(name):
    target = TARGETS[name]()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 32, (6, 600), generator=g).float()
    w = torch.randint(-63, 64, (600, 300), generator=g).float()
    out = vmm.matmul(x, w, num_sends=2, target=target, generator=g)
    assert out.shape == (6, 300)
    assert torch.equal(out, out.round())
    assert out.min() >= -128 and out.max() <= 127
    small = vmm.matmul(x[:, :10], torch.full((10, 2), 1.0), target=target, generator=g)
    assert small.abs().max() <= 10  # gain ~0.002: about zero plus noise


def test_ideal_twin_is_the_noise_free_mock():
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 32, (4, 400), generator=g)
    w = torch.randint(-63, 64, (400, 300), generator=g)
    mock = vmm.matmul(x, w, target=vmm.MockParameter(gain=0.003, noise_std=0.0))
    assert torch.equal(vmm.matmul(x, w, target=ideal_twin(0.003)), mock)


def test_twin_is_fixed_by_its_serial():
    x = torch.full((3, 100), 20.0)
    w = torch.full((100, 256), 30.0)
    quiet = vmm.VmmDeviations(noise_lsb=0.0)

    def run(serial):
        return vmm.matmul(x, w, target=vmm.Twin(Chip(seed=serial), quiet))

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))
    columns = run(1)[0]
    assert columns.std() > 1.0  # per-column gains and CADC offsets differ


def test_slots_place_blocks_on_other_synapses():
    twin = vmm.Twin(Chip(seed=1), vmm.VmmDeviations(noise_lsb=0.0))
    x, w = torch.full((1, 100), 20.0), torch.full((100, 50), 30.0)
    assert not torch.equal(vmm.matmul(x, w, target=twin), vmm.matmul(x, w, target=twin.at(1)))
    two = vmm.Twin((Chip(seed=1), Chip(seed=2)), vmm.VmmDeviations(noise_lsb=0.0))
    assert torch.equal(vmm.matmul(x, w, target=two), vmm.matmul(x, w, target=twin))


def test_short_waits_saturate_the_synaptic_input():
    d = vmm.VmmDeviations.ideal()
    twin = vmm.Twin(Chip(seed=0, deviations=Deviations.ideal()),
                    vmm.VmmDeviations(d.gain, 0, 0, 0, 0, 80.0, 0))
    x, w = torch.full((1, 128), 31.0), torch.full((128, 1), 63.0)
    ideal = math.floor(0.002 * 31 * 63 * 128)  # 499 LSB: clamped to 127 anyway
    long_wait = vmm.matmul(x / 4, w / 4, wait_between_events=50, target=twin).item()
    short_wait = vmm.matmul(x / 4, w / 4, wait_between_events=1, target=twin).item()
    assert ideal > 127
    u = 0.002 * 8 * 16 * 128
    assert long_wait == math.floor(u / math.sqrt(1 + (u / 4000) ** 2))
    assert short_wait == math.floor(u / math.sqrt(1 + (u / 80) ** 2)) < long_wait


def test_measure_mock_parameter_recovers_gain_and_noise():
    twin = vmm.Twin(Chip(seed=0, deviations=Deviations.ideal()),
                    vmm.VmmDeviations(0.002, 0, 0, 0, 2.0, math.inf, 0))
    measured = vmm.measure_mock_parameter(twin, seed=1)
    # floor truncation lowers reads by ~0.5 LSB per block at an output near 64 LSB
    assert measured.gain == pytest.approx(0.002, rel=0.03)
    # two blocks of noise 2 LSB each plus truncation (uniform, 1/sqrt(12) per block)
    assert measured.noise_std == pytest.approx(math.sqrt(2 * (4 + 1 / 12)), rel=0.25)
    chip = vmm.Twin(Chip(seed=4))
    assert vmm.measure_mock_parameter(chip, seed=1).gain != measured.gain


def test_driver_gain_scales_both_rows_of_a_signed_input():
    spread = vmm.VmmDeviations().driver_gain_spread
    assert spread == pytest.approx(2.0 / 30.0)  # calix's hagen-mode test: 2 LSB of 30
    twin = vmm.Twin(Chip(seed=3, deviations=Deviations.ideal()),
                    vmm.VmmDeviations(0.002, 0, 0, 0, 0.0, math.inf, spread))
    x = 31.0 * torch.eye(128)                    # one signed row (one driver) at a time
    w = torch.tensor([[63.0, -63.0]]).repeat(128, 1)
    out = vmm.matmul(x, w, num_sends=20, target=twin).numpy()
    # independent: the driver factors of hemisphere 0 from the (serial, name) stream
    z = np.random.default_rng([3, zlib.crc32(b"vmm_driver_gain")]).standard_normal((2, 128))
    u = 20 * 0.002 * 31 * 63 * np.exp(spread * z[0])
    np.testing.assert_array_equal(out[:, 0], np.floor(u))
    np.testing.assert_array_equal(out[:, 1], np.floor(-u))
    assert np.std(np.log(out[:, 0] / 78.12)) == pytest.approx(spread, rel=0.25)
