"""bss2-pong's excitability measurement and the learned weights' correlation with it."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from neurotwin.bss2.chip import Chip, Deviations
from neurotwin.bss2.mapping import map_network
from neurotwin.errors import ConfigError
from neurotwin.experiments.bss2_pong import (
    Bss2PongConfig,
    background_std,
    build_network,
    diagonal_correlations,
    measure_excitability,
    owned_rows,
    pang_noise_std,
    pang_noise_weight,
    placement,
    pooled_owned_correlation,
    weight_lsb_na,
)

WINDOWS = 96
"""Three windows per ball row."""


def _chip_with_gains(gains: dict[int, float]) -> Chip:
    """An ideal chip whose circuits ``c`` have their excitatory synaptic input strength
    multiplied by ``gains[c]`` (one fixed-pattern deviation made larger)."""
    chip = Chip(1, Deviations.ideal())
    gain = np.array(chip.fixed_pattern.syn_gain_column)
    for circuit, factor in gains.items():
        gain[0, circuit] *= factor
    gain.setflags(write=False)
    pattern = dataclasses.replace(chip.fixed_pattern, syn_gain_column=gain)
    object.__setattr__(chip, "fixed_pattern", pattern)
    return chip


def _mapped(chip: Chip):
    config = Bss2PongConfig()
    net, _ = build_network(config, seed=0)
    return map_network(net, chip=chip, weight_scale=weight_lsb_na(config))


def test_a_circuit_with_stronger_or_weaker_input_is_more_or_less_excitable():
    mapping = _mapped(Chip(1, Deviations.ideal()))
    circuits = mapping.circuits[mapping.member_ptr[placement(mapping).neurons]]
    strong, weak = int(circuits[5]), int(circuits[20])
    deviant = _mapped(_chip_with_gains({strong: 1.25, weak: 0.8}))
    ideal = measure_excitability(mapping, 14, WINDOWS, seed=3)
    measured = measure_excitability(deviant, 14, WINDOWS, seed=3)
    assert measured.counts.shape == (WINDOWS, 32)
    others = np.delete(np.arange(32), [5, 20])
    # the ideal chip's neurons differ only by their background noise
    assert ideal.spread < 0.5 and np.all(ideal.mean > 1.0)
    margin = 4 * measured.sem.max()
    assert measured.mean[5] > measured.mean[others].max() + margin
    assert measured.mean[20] < measured.mean[others].min() - margin
    assert measured.mean[5] > ideal.mean[5] + margin
    assert measured.mean[20] < ideal.mean[20] - margin
    # the other neurons see the same chip and the same noise draws
    np.testing.assert_allclose(measured.mean[others], ideal.mean[others],
                               atol=margin)


def test_more_input_weight_gives_more_spikes():
    mapping = _mapped(Chip(1, Deviations.ideal()))
    low = measure_excitability(mapping, 8, 32, seed=0)
    high = measure_excitability(mapping, 20, 32, seed=0)
    assert np.all(high.mean >= low.mean) and high.mean.mean() > low.mean.mean() + 1.0


def test_excitability_standard_error_is_the_numpy_one():
    mapping = _mapped(Chip(1, Deviations.ideal()))
    e = measure_excitability(mapping, 14, 32, seed=0)
    for k in (0, 17):
        counts = e.counts[:, k]
        mean = sum(counts) / len(counts)
        var = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1)
        assert e.mean[k] == pytest.approx(mean)
        assert e.sem[k] == pytest.approx(np.sqrt(var / len(counts)))
    assert e.spread == pytest.approx(np.std(e.mean, ddof=1))


def test_bad_excitability_arguments_are_refused():
    mapping = _mapped(Chip(1, Deviations.ideal()))
    with pytest.raises(ConfigError, match="weight_lsb"):
        measure_excitability(mapping, 64, 32, seed=0)
    with pytest.raises(ConfigError, match="windows"):
        measure_excitability(mapping, 14, 1, seed=0)
    with pytest.raises(ConfigError, match="multiple of 32"):
        Bss2PongConfig(excitability_windows=40)


def test_diagonal_correlations_against_scipy():
    rng = np.random.default_rng(0)
    excitability = rng.uniform(1, 6, 32)
    diagonal = np.clip(np.rint(40 - 5 * excitability + rng.normal(0, 3, 32)), 0, 63)
    diagonal[:4] = 63
    weights = np.full((32, 32), 20.0)
    np.fill_diagonal(weights, diagonal)
    out = diagonal_correlations(weights, excitability)
    free = diagonal < 63
    owned = diagonal >= 20
    assert 4 < owned.sum() < 32 and out["owned_row_count"] == owned.sum()
    assert out["pearson_diagonal_vs_excitability_owned"] == pytest.approx(
        stats.pearsonr(diagonal[owned], excitability[owned])[0])
    assert out["spearman_diagonal_vs_excitability_owned"] == pytest.approx(
        stats.spearmanr(diagonal[owned], excitability[owned])[0])
    assert out["diagonal_saturated_count"] == 4
    assert out["pearson_diagonal_vs_excitability"] == pytest.approx(
        stats.pearsonr(diagonal, excitability)[0])
    assert out["spearman_diagonal_vs_excitability"] == pytest.approx(
        stats.spearmanr(diagonal, excitability)[0])
    assert out["pearson_diagonal_vs_excitability_unsaturated"] == pytest.approx(
        stats.pearsonr(diagonal[free], excitability[free])[0])
    assert out["spearman_diagonal_vs_excitability_unsaturated"] == pytest.approx(
        stats.spearmanr(diagonal[free], excitability[free])[0])
    assert out["pearson_diagonal_vs_excitability_unsaturated"] < -0.5
    flat = diagonal_correlations(np.full((32, 32), 63.0), excitability)
    assert flat["pearson_diagonal_vs_excitability"] is None
    assert flat["pearson_diagonal_vs_excitability_unsaturated"] is None
    assert flat["owned_row_count"] == 32  # ties own their row


def test_a_row_is_owned_where_its_own_neuron_has_the_largest_weight():
    weights = np.array([[5, 9, 0], [3, 7, 7], [1, 2, 0]])
    np.testing.assert_array_equal(owned_rows(weights), [False, True, False])


def test_balanced_noise_adds_an_equal_inhibitory_source_and_maps():
    config = Bss2PongConfig(noise_balanced=True, noise_weight=0.33)
    net, _ = build_network(config, seed=0)
    by_label = {p.pre: p for p in net.projections}
    exc, inh = by_label["noise"], by_label["noise_inh"]
    assert exc.receptor == "exc" and inh.receptor == "inh"
    np.testing.assert_array_equal(exc.weights, inh.weights)
    assert np.count_nonzero(inh.weights) == 32
    for source in net.sources:
        if source.label.startswith("noise"):
            np.testing.assert_array_equal(source.rate, config.noise_rate_hz)
    plain, _ = build_network(Bss2PongConfig(noise_weight=0.33, noise_balanced=False), seed=0)
    assert "noise_inh" not in {p.pre for p in plain.projections}
    mapping = map_network(net, chip=Chip(1, Deviations.ideal()),
                          weight_scale=weight_lsb_na(config))
    assert len(placement(mapping).rows) == 32


def test_pang_noise_weight_matches_the_background_to_model_sw_pong():
    config = Bss2PongConfig(noise_rate_hz=300.0)
    weight = pang_noise_weight(config)
    matched = dataclasses.replace(config, noise_weight=weight, noise_balanced=True)
    assert background_std(matched) == pytest.approx(pang_noise_std(), rel=1e-12)
    # shot noise grows with the square root of the rate and linearly with the weight
    assert background_std(dataclasses.replace(matched, noise_rate_hz=1200.0)) \
        == pytest.approx(2 * pang_noise_std(), rel=1e-12)
    assert background_std(dataclasses.replace(matched, noise_balanced=False)) \
        == pytest.approx(pang_noise_std() / np.sqrt(2), rel=1e-12)
    with pytest.raises(ConfigError, match="noise_rate_hz"):
        pang_noise_weight(Bss2PongConfig(noise_rate_hz=0.0))
    assert background_std(Bss2PongConfig(noise_rate_hz=0.0)) == 0.0


def test_the_default_background_is_model_sw_pongs_and_the_old_one_a_fifth_of_it():
    default = Bss2PongConfig()
    assert default.noise_balanced and default.noise_weight is None
    assert background_std(default) == pytest.approx(pang_noise_std(), rel=1e-12)
    old = Bss2PongConfig(noise_weight=0.1, noise_balanced=False)
    assert 0.2 < background_std(old) / pang_noise_std() < 0.25
    with pytest.raises(ConfigError, match="noise_weight"):
        Bss2PongConfig(noise_weight=-0.1)


def test_the_pooled_owned_correlation_standardises_each_serial_then_pools():
    rng = np.random.default_rng(3)
    per_serial, d_ref, e_ref = {}, [], []
    for serial, level in ((1, 2.0), (2, 5.0), (3, 3.0)):
        excitability = level + rng.normal(0, 0.2, 32)
        weights = rng.integers(0, 20, (32, 32)).astype(float)
        diagonal = np.clip(np.rint(40 - 40 * (excitability - level)), 21, 60)
        np.fill_diagonal(weights, diagonal)
        weights[:6, 6] = 63  # rows 0-5 owned by neuron 6 (and row 6 by itself)
        if serial == 3:  # neuron 0 owns every row: one owned row, the serial is left out
            weights[:, :] = 0
            weights[:, 0] = 9
            assert owned_rows(weights).sum() == 1
        else:
            owned = owned_rows(weights)
            assert owned.sum() == 26
            d, e = np.diag(weights)[owned], excitability[owned]
            d_ref.append((d - d.mean()) / d.std())
            e_ref.append((e - e.mean()) / e.std())
        per_serial[str(serial)] = {"learned_weights": weights.tolist(),
                                   "excitability_spikes": excitability.tolist()}
    out = pooled_owned_correlation(per_serial)
    assert out["serials"] == 2 and out["neurons"] == 52
    r, p = stats.pearsonr(np.concatenate(d_ref), np.concatenate(e_ref))
    assert out["r"] == pytest.approx(r) and out["p"] == pytest.approx(p)
    assert out["r"] < -0.5  # compensation, though the serials' levels differ by 2.5x
    assert pooled_owned_correlation({})["r"] is None
