"""The chip's readouts in a bss2 run: CADC membrane samples, the MADC trace, the
correlation sensors of a projection; expected codes written out from the converters'
transfer functions (docs/bss2.md, "Readouts")."""

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.bss2 import Chip, Deviations, Readout, specs
from neurotwin.bss2.mapping import Mapping, map_network

LIF = nt.LIF(tau_mem=20.0, tau_syn_exc=5.0, tau_syn_inh=5.0, v_rest=-65.0, v_reset=-65.0,
             v_thresh=-55.0, tau_refrac=1.0)
IDEAL = Chip(0, Deviations.ideal())
DURATION = 60.0


def paired_network() -> nt.Network:
    """One input neuron firing at 10, 30, 50 ms, strong enough to make both neurons of
    "pop" fire shortly after (pre before post); "silent" never fires into "quiet"."""
    net = nt.Network(dt=0.1)
    src = net.add(nt.SpikeSourceArray([[10.0, 30.0, 50.0]], label="in"))
    pop = net.add(nt.Population(2, LIF, label="pop"))
    silent = net.add(nt.SpikeSourceArray([[]], label="silent"))
    quiet = net.add(nt.Population(3, LIF, label="quiet"))
    net.connect(src, pop, np.array([[6.0, 6.0]]), receptor="exc", delays=0.5)
    net.connect(silent, quiet, np.array([[1.0, 2.0, 3.0]]), receptor="exc")
    net.record(pop, "v", "spikes")
    return net


def run(net: nt.Network, readout: Readout, trials: int = 1):
    return nt.simulate(net, DURATION, backend="bss2", chip=IDEAL, readout=readout,
                       trials=trials)


def test_cadc_codes_are_the_recorded_membrane_through_the_cadc_transfer():
    net = paired_network()
    res = run(net, Readout(cadc=("pop",)), trials=2)
    assert set(res.cadc) == {"pop"}
    steps = net.steps(DURATION)
    n_samples = int(np.floor(DURATION / specs.CADC_SAMPLE_PERIOD_US)) + 1
    assert res.cadc["pop"].shape == (2, n_samples, 2)
    assert res.cadc["pop"].dtype == np.int64
    np.testing.assert_allclose(res.cadc_times, np.arange(n_samples) * specs.CADC_SAMPLE_PERIOD_US)
    pmap = map_network(net, chip=IDEAL).populations["pop"]
    for trial in range(2):
        v_hw = pmap.to_hardware_mv(res.trace("pop", "v", trial).numpy())
        for sample in (0, 4, 18, 31):
            step = round(sample * specs.CADC_SAMPLE_PERIOD_US / net.dt)
            assert step < steps
            # ideal channel: gain 1, offset 0, no noise, digital offset 0
            expected = np.floor((v_hw[step] - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV)
            np.testing.assert_array_equal(res.cadc["pop"][trial, sample], expected)
    assert res.madc is None and res.correlation is None


def test_cadc_true_reads_every_population():
    res = run(paired_network(), Readout(cadc=True))
    assert {k: v.shape[2] for k, v in res.cadc.items()} == {"pop": 2, "quiet": 3}


def test_madc_trace_has_the_madc_rate_and_10_bit_samples_of_the_membrane():
    net = paired_network()
    res = run(net, Readout(madc=("pop", 1)))
    period = specs.MADC_SAMPLE_PERIOD_US
    n_samples = int(np.floor(DURATION / period + 1e-9)) + 1
    assert res.madc.shape == (1, n_samples) and res.madc_times.shape == (n_samples,)
    np.testing.assert_allclose(np.diff(res.madc_times), period)
    assert res.madc.dtype == np.int64
    assert 0 <= res.madc.min() and res.madc.max() <= specs.MADC_MAX
    assert res.madc.max() - res.madc.min() > 5  # the membrane moves
    pmap = map_network(net, chip=IDEAL).populations["pop"]
    v_hw = pmap.to_hardware_mv(res.trace("pop", "v").numpy()[:, 1])
    for sample in (0, 50, 1000, 1500):  # 0, 1.2, 24, 36 µs: on the step grid
        step = round(sample * period / net.dt)
        assert abs(sample * period - step * net.dt) < 1e-9
        assert res.madc[0, sample] == np.floor(v_hw[step] / specs.MADC_LSB_MV)
    # between steps the MADC sees the membrane linearly interpolated
    sample = 1001
    t = sample * period
    v = np.interp(t, np.arange(v_hw.size) * net.dt, v_hw)
    assert res.madc[0, sample] == np.floor(v / specs.MADC_LSB_MV)


def test_correlation_of_a_projection_without_spikes_stays_at_the_baseline():
    res = run(paired_network(), Readout(correlation=("silent", "quiet")))
    c = res.correlation
    assert c.causal.shape == (1, 3)
    np.testing.assert_array_equal(c.post, [0, 1, 2])
    np.testing.assert_array_equal(c.causal, c.causal_baseline)
    np.testing.assert_array_equal(c.acausal, c.acausal_baseline)
    expected = np.floor((specs.CORRELATION_BASELINE_MV - specs.CADC_ZERO_MV) / specs.CADC_LSB_MV)
    np.testing.assert_array_equal(c.causal_baseline, expected)
    assert c.time_us == pytest.approx(DURATION)


def test_correlation_of_pre_before_post_is_causal():
    res = run(paired_network(), Readout(correlation=("in", "pop")))
    post_times, _ = res.spikes("pop")
    assert post_times.size >= 4  # both neurons answer the input
    c = res.correlation
    causal = c.causal_baseline - c.causal  # the read falls as correlation accumulates
    acausal = c.acausal_baseline - c.acausal
    assert np.all(causal > 0) and np.all(causal > acausal)
    # nearest pairing, lag under 5 µs per post spike: between 1/e and 1 of eta each
    n_post = post_times.size / 2
    upper = n_post * specs.CORRELATION_ETA_MV / specs.CADC_LSB_MV + 1
    lower = n_post * specs.CORRELATION_ETA_MV * np.exp(-1) / specs.CADC_LSB_MV - 1
    assert np.all((causal >= lower) & (causal <= upper))


def test_readouts_do_not_change_the_run():
    net = paired_network()
    plain = nt.simulate(net, DURATION, backend="bss2", chip=IDEAL)
    read = run(net, Readout(cadc=True, madc=("quiet", 0), correlation=("in", "pop")))
    for a, b in zip(plain.spikes("pop"), read.spikes("pop"), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.trace("pop", "v").numpy(),
                                  read.trace("pop", "v").numpy())
    assert set(read.spike_records) == {"pop"}  # correlation needs no recording


def test_placements_locate_every_synapse(tmp_path):
    net = paired_network()
    m = map_network(net, chip=IDEAL)
    assert len(m.placements) == len(net.projections)
    for proj, placed in zip(net.projections, m.placements, strict=True):
        h, row, col = placed.T
        syn = proj.synapses()
        assert placed.shape == (syn.pre.size, 3)
        pmap = m.populations[proj.post]
        np.testing.assert_array_equal(h * specs.SYNRAM_COLUMNS + col, pmap.anchors[syn.post])
        assert np.all(np.asarray(m.config.weights)[h, row, col] > 0)
    m.save(tmp_path / "m.json")
    loaded = Mapping.load(tmp_path / "m.json", net)
    for a, b in zip(m.placements, loaded.placements, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("readout", "named"), [
    (Readout(cadc=("pop", "nope")), "'nope'"),
    (Readout(madc=("nope", 0)), "'nope'"),
    (Readout(madc=("pop", 2)), "index 2"),
    (Readout(madc=("pop", -1)), "index -1"),
    (Readout(correlation=("in", "quiet")), r"\('in', 'quiet'\)"),
])
def test_bad_readout_options_name_the_value(readout, named):
    with pytest.raises(nt.ConfigError, match=named):
        nt.simulate(paired_network(), DURATION, backend="bss2", readout=readout)


def test_malformed_readout_is_a_config_error():
    with pytest.raises(nt.ConfigError, match="madc"):
        Readout(madc=("pop",))  # type: ignore[arg-type]
    with pytest.raises(nt.ConfigError, match="readout must be"):
        nt.simulate(paired_network(), DURATION, backend="bss2", readout={"cadc": True})


def test_correlation_keeps_spike_records_to_the_recorded_neurons():
    def network() -> nt.Network:
        net = paired_network()
        net.record("pop", "spikes", neurons=[1])
        return net

    res = run(network(), Readout(correlation=("in", "pop")))
    plain = nt.simulate(network(), DURATION, backend="bss2", chip=IDEAL)
    times, ids = res.spikes("pop")
    assert times.size >= 2 and np.all(ids == 1)
    for a, b in zip(plain.spikes("pop"), (times, ids), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.all(res.correlation.causal < res.correlation.causal_baseline)  # the read falls
