"""Bad input to EventProp layers and losses raises ConfigError at the boundary."""

from __future__ import annotations

import math

import pytest
import torch

from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.errors import ConfigError
from neurotwin.eventprop import LIFLayer, LILayer, li_vmax, lif_layer, losses
from neurotwin.spikes import Spikes

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
W = torch.full((2, 3), 0.5, dtype=torch.float64)
IDS = torch.tensor([[0, 1]])


@pytest.mark.parametrize(
    ("times", "ids"),
    [
        (torch.tensor([[1.0, math.nan]], dtype=torch.float64), IDS),
        (torch.tensor([[-1.0, 2.0]], dtype=torch.float64), IDS),
        (torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), IDS),
        (torch.tensor([[2.0, 1.0]], dtype=torch.float64), IDS),
        (torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[0, 5]])),
    ],
    ids=["nan", "negative", "shape", "unsorted", "id-range"],
)
def test_bad_spikes_raise(times: torch.Tensor, ids: torch.Tensor) -> None:
    with pytest.raises(ConfigError):
        lif_layer(times.requires_grad_(), ids, W, P, 20.0)
    with pytest.raises(ConfigError):
        li_vmax(times, ids, W, P, 20.0)
    with pytest.raises(ConfigError):
        LIFLayer(2, 3, P, 20.0)(Spikes(times, ids))


def test_bad_parameters_raise() -> None:
    times = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    with pytest.raises(ConfigError):
        lif_layer(times, IDS, W, EventLIF(tau_refrac=1.0), 20.0)
    with pytest.raises(ConfigError):
        LIFLayer(2, 3, EventLIF(tau_refrac=1.0), 20.0)
    with pytest.raises(ConfigError):
        LIFLayer(0, 3, P, 20.0)
    with pytest.raises(ConfigError):
        LILayer(2, 3, P, -1.0)
    with pytest.raises(ConfigError):
        lif_layer(times, IDS, W, P, 0.0)
    with pytest.raises(ConfigError):
        lif_layer(times, IDS, W, "lif", 20.0)  # type: ignore[arg-type]


def test_bad_loss_input_raises() -> None:
    t = torch.tensor([[1.0, 2.0, math.inf]], dtype=torch.float64)
    with pytest.raises(ConfigError):
        losses.ttfs_cross_entropy(t, torch.tensor([3]), t_silent=20.0)
    with pytest.raises(ConfigError):
        losses.ttfs_cross_entropy(t, torch.tensor([0, 1]), t_silent=20.0)
    with pytest.raises(ConfigError):
        losses.ttfs_cross_entropy(t * math.nan, torch.tensor([0]), t_silent=20.0)
    with pytest.raises(ConfigError):
        losses.spike_time_mse(t, torch.zeros(1, 2), t_silent=20.0)
    with pytest.raises(ConfigError):
        losses.vmax_cross_entropy(t, torch.tensor([0]), v_scale=0.0)
