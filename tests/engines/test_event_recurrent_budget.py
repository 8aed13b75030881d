"""The runaway guard of recurrent event layers: a layer whose recurrent excitation runs away
stops within seconds with a CapacityError naming its size, the count and the time, on both
kernel paths; a normal layer is bitwise unaffected; the padded output is checked against
the machine's memory before it is allocated."""

import time

import numpy as np
import pytest
import torch

from neurotwin import errors
from neurotwin.dynamics.event_lif import EventLIF
from neurotwin.engines.event_recurrent import recurrent_lif_forward
from neurotwin.engines.event_recurrent_budget import NO_CAP, spike_cap
from neurotwin.errors import CapacityError, ConfigError
from neurotwin.eventprop import RecurrentLIFLayer
from neurotwin.eventprop.forward.recurrent import recurrent_lif_record
from neurotwin.spikes import Spikes

torch.set_num_threads(1)

P = EventLIF(tau_mem=20.0, tau_syn=5.0, v_thresh=1.0)
N = 50


def inputs(batch: int = 4) -> Spikes:
    """Five sources, one spike each in [0, 30) ms, per sample."""
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0.0, 30.0, (batch, 5)), axis=1)
    ids = np.argsort(rng.uniform(size=(batch, 5)), axis=1)
    return Spikes(torch.tensor(times), torch.tensor(ids))


def runaway_layer(dtype: torch.dtype = torch.float64, **kw) -> RecurrentLIFLayer:
    """docs/eventprop.md's old example: its spike count grows ~3.5x every 4 ms (measured:
    3369 spikes in sample 0 by 20 ms, 77811 by 30 ms)."""
    return RecurrentLIFLayer(5, N, P, t_max=60.0, rec_delay=1.0, dtype=dtype, **kw)


def test_runaway_stops_within_seconds_with_a_clear_error():
    began = time.perf_counter()
    with pytest.raises(CapacityError) as caught:
        runaway_layer()(inputs())
    assert time.perf_counter() - began < 10.0  # numba compiles on a cold cache
    message = str(caught.value)
    assert f"recurrent layer of {N} neurons" in message
    assert f"exceeded {1000 * N} spikes" in message
    assert "spike_budget 1000 per neuron" in message and "raise spike_budget" in message
    assert "t = " in message and "t_max = 60 ms" in message
    assert caught.value.available == 1000 * N


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_runaway_stops_on_the_torch_path(dtype):
    """float32 takes the torch kernels (a Python round per event): a small budget."""
    layer = runaway_layer(dtype, spike_budget=4)
    with pytest.raises(CapacityError, match=f"exceeded {4 * N} spikes"):
        if dtype == torch.float64:
            from neurotwin.engines.event_kernels import TORCH

            TORCH.recurrent(inputs().times, inputs().ids, layer.w_in.detach(),
                            layer.w_rec.detach(), P, 60.0, None, 1e-10, 1.0, 4)  # fmt: skip
        else:
            layer(Spikes(inputs().times.float(), inputs().ids))


def test_the_time_of_the_error_is_where_the_count_was_passed():
    """Sample 0 of the runaway passes 3369 spikes by 20 ms and 13588 by 25 ms (t_max runs
    above): a budget of 100 per neuron (5000) is passed between them."""
    layer = runaway_layer(spike_budget=100)
    with pytest.raises(CapacityError) as caught:
        layer(inputs())
    t = float(str(caught.value).split("at t = ")[1].split(" ms")[0])
    assert 20.0 < t < 25.0
    assert "sample 0 exceeded 5000 spikes" in str(caught.value)


def test_no_budget_lets_a_short_runaway_finish():
    out = recurrent_lif_forward(inputs().times, inputs().ids, runaway_layer().w_in.detach(),
                                runaway_layer().w_rec.detach(), P, 20.0, rec_delay=1.0,
                                spike_budget=None)  # fmt: skip
    assert int((out.ids[0] >= 0).sum()) == 3369


def run_layer(rec_delay: float, budget: int | None) -> tuple[torch.Tensor, ...]:
    """Spikes, currents at the spikes and gradients of a layer with the weights of the
    docs' example (62-150 spikes per sample, up to 42 per neuron)."""
    layer = RecurrentLIFLayer(5, N, P, t_max=60.0, weight_std=0.3, rec_weight_std=0.05,
                              rec_delay=rec_delay, seed=0, spike_budget=budget)  # fmt: skip
    spikes = inputs()
    times = spikes.times.clone().requires_grad_()
    out = layer(Spikes(times, spikes.ids))
    out.times[torch.isfinite(out.times)].sum().backward()
    record = recurrent_lif_record(spikes.times, spikes.ids, layer.w_in, layer.w_rec, P, 60.0,
                                  rec_delay=rec_delay, spike_budget=budget)  # fmt: skip
    return (out.times.detach(), out.ids, record.current_at_spike, times.grad, layer.w_in.grad,
            layer.w_rec.grad)  # fmt: skip


@pytest.mark.parametrize("rec_delay", [0.0, 1.0])
def test_a_normal_layer_is_bitwise_unaffected(rec_delay):
    """The same spikes, currents and gradients with the default budget, with the smallest
    budget above the busiest sample's count, and with none."""
    default = run_layer(rec_delay, 1000)
    busiest = int((default[1] >= 0).sum(dim=1).max())
    tight = -(-busiest // N)  # spikes per neuron, rounded up
    assert busiest > N  # the tight budget is a real limit, not 1
    for other in (run_layer(rec_delay, tight), run_layer(rec_delay, None)):
        for a, b in zip(default, other, strict=True):
            assert torch.equal(a, b)
    if busiest < tight * N:  # the next lower budget stops it
        with pytest.raises(CapacityError):
            run_layer(rec_delay, (busiest - 1) // N)


def test_the_budget_is_checked():
    for bad in (0, -3, 1.5, True, "10"):
        with pytest.raises(ConfigError, match="spike_budget"):
            RecurrentLIFLayer(5, N, P, t_max=60.0, spike_budget=bad)


def test_max_spikes_within_the_budget_needs_no_cap():
    assert spike_cap(N, 1000, 3) == NO_CAP
    assert spike_cap(N, None, None) == NO_CAP
    assert spike_cap(N, 1000, 5000) == 1000 * N
    assert spike_cap(N, 20, None) == 20 * N


def test_the_padded_output_is_checked_against_memory(monkeypatch):
    monkeypatch.setattr(errors, "machine_memory", lambda: 1000)
    layer = RecurrentLIFLayer(5, N, P, t_max=60.0, weight_std=0.3, rec_weight_std=0.05)
    with pytest.raises(CapacityError, match="spikes of a recurrent layer, 4 samples x"):
        layer(inputs())
