"""``neurotwin compare``: the coincidence factor, one network on three backends, a network
a backend cannot hold, bad input, and the command on a NIR file."""

import json
import math
import re

import numpy as np
import pytest

import neurotwin as nt
from neurotwin.cli import backend_options, main
from neurotwin.compare import (
    Comparison,
    coincidence_factor,
    compare,
    comparison_figure,
    population_coincidence,
)
from neurotwin.compare.agreement import coincidences
from neurotwin.errors import ConfigError
from neurotwin.network import nir as ntnir

BACKENDS = ("ideal", "bss2", "spinnaker2")


def recurrent_network(n: int = 20, record: bool = True) -> nt.Network:
    """Input spikes into a recurrent population; dt = 1 ms, SpiNNaker2's default tick."""
    rng = np.random.default_rng(3)
    net = nt.Network(dt=1.0)
    times = [sorted({float(t) for t in rng.integers(1, 40, 4)}) for _ in range(8)]
    inp = net.add(nt.SpikeSourceArray(times, label="input"))
    pop = net.add(nt.Population(n, nt.LIF(), label="hidden"))
    net.connect(inp, pop, weights=rng.uniform(0.2, 1.5, (8, n)), receptor="exc")
    net.connect(pop, pop, weights=rng.uniform(0.05, 0.3, (n, n)), receptor="exc", delays=1.0)
    if record:
        net.record(pop, "spikes")
    return net


# --- the coincidence factor -----------------------------------------------------------


def test_coincidence_factor_against_a_hand_computed_example():
    reference = np.array([10.0, 20.0, 30.0, 40.0])
    compared = np.array([11.0, 25.0, 40.5])
    # Coincidences within 2 ms: 10~11, 40~40.5, so N_coinc = 2. nu = 3 / 100 ms;
    # <N_coinc> = 2 nu Delta N_ref = 2 * 0.03 * 2 * 4 = 0.48; 1 - 2 nu Delta = 0.88;
    # Gamma = (2 - 0.48) / (0.5 * (4 + 3) * 0.88) = 1.52 / 3.08.
    assert coincidences(reference, compared, 2.0) == 2
    assert coincidence_factor(reference, compared, 2.0, 100.0) == pytest.approx(1.52 / 3.08,
                                                                                  rel=1e-12)


def test_coincidence_factor_limits():
    spikes = np.array([3.0, 17.0, 55.0])
    assert coincidence_factor(spikes, spikes.copy(), 2.0, 100.0) == 1.0
    assert coincidence_factor(np.zeros(0), np.zeros(0), 2.0, 100.0) == 1.0
    assert coincidence_factor(spikes, np.zeros(0), 2.0, 100.0) == 0.0
    # 2 nu Delta = 2 * (3 / 100) * 20 >= 1: no window can tell coincidence from chance.
    assert math.isnan(coincidence_factor(spikes, spikes + 30.0, 20.0, 100.0))
    with pytest.raises(ConfigError, match="window_ms"):
        coincidence_factor(spikes, spikes, 0.0, 100.0)


def test_one_compared_spike_pairs_with_one_reference_spike():
    assert coincidences(np.array([10.0, 11.0]), np.array([10.5]), 1.0) == 1
    # Earliest-first pairing finds both pairs where a greedy nearest match would find one.
    assert coincidences(np.array([10.0, 12.0]), np.array([11.0, 13.0]), 1.0) == 2


def test_population_coincidence_leaves_out_neurons_silent_in_both():
    ref = (np.array([5.0, 50.0]), np.array([0, 0]))
    cmp = (np.array([5.0, 50.0, 70.0]), np.array([0, 0, 2]))
    # neuron 0: identical (1), neuron 1: silent in both (left out), neuron 2: 0.
    assert population_coincidence(ref, cmp, 3, 2.0, 100.0) == pytest.approx(0.5)
    empty = (np.zeros(0), np.zeros(0, dtype=np.int64))
    assert population_coincidence(empty, empty, 3, 2.0, 100.0) == 1.0


# --- one network on several backends ----------------------------------------------------


@pytest.fixture(scope="module")
def three() -> Comparison:
    return compare(recurrent_network(), 50.0, BACKENDS, seed=1)


def test_three_backends_give_one_table(three):
    assert [run.backend for run in three.runs] == list(BACKENDS)
    assert three.populations == ("hidden",)
    assert all(run.cannot_run is None for run in three.runs)
    table = three.table()
    for name in BACKENDS:
        assert name in table
    assert "no model" in table  # the ideal backend has no energy model
    ideal, bss2, s2 = three.runs
    assert ideal.hardware_time_us is None and ideal.energy_j is None
    for run in (bss2, s2):
        assert run.hardware_time_us > 0 and run.energy_j > 0 and run.resources
        assert run.map_time_s >= 0 and run.run_time_s > 0
        (pop,) = run.populations
        assert pop.rate_hz > 0 and pop.rate_ratio > 0
        assert -1.0 <= pop.coincidence <= 1.0
    (ideal_pop,) = ideal.populations
    assert ideal_pop.coincidence == 1.0 and ideal_pop.rate_ratio == 1.0


def test_to_dict_is_json_and_the_figure_draws(three, tmp_path):
    data = json.loads(json.dumps(three.to_dict()))
    assert set(data["backends"]) == set(BACKENDS)
    assert data["backends"]["bss2"]["populations"]["hidden"]["coincidence"] <= 1.0
    assert data["backends"]["ideal"]["energy_j"] is None
    comparison_figure(three, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(ConfigError, match="not compared"):
        comparison_figure(three, population="input")


def test_ideal_against_ideal_agrees_exactly():
    net = recurrent_network()
    first, second = (nt.simulate(net, 50.0, seed=1) for _ in range(2))
    assert first.spikes("hidden")[0].size > 0
    assert population_coincidence(first.spikes("hidden"), second.spikes("hidden"), 20, 2.0,
                                  50.0) == 1.0
    (run,) = compare(net, 50.0, ("ideal",), seed=1).runs
    assert run.populations[0].coincidence == 1.0


def test_a_network_too_big_for_bss2_is_reported_not_raised(tmp_path):
    comparison = compare(recurrent_network(n=600), 20.0, ("ideal", "bss2"))
    ideal, bss2 = comparison.runs
    assert ideal.cannot_run is None and ideal.populations
    assert bss2.cannot_run is not None and "512" in bss2.cannot_run
    assert bss2.populations == () and bss2.result is None
    assert f"cannot run: {bss2.cannot_run}" in comparison.table()
    assert comparison.to_dict()["backends"]["bss2"]["cannot_run"] == bss2.cannot_run
    comparison_figure(comparison, tmp_path / "c.png")


def test_options_reach_the_backend_and_are_checked():
    net = recurrent_network()
    comparison = compare(net, 20.0, ("ideal", "spinnaker2"),
                         options={"spinnaker2": {"tick_ms": 1.0, "weight_format": "int8"}})
    assert comparison.runs[1].options == {"tick_ms": 1.0, "weight_format": "int8"}
    assert comparison.to_dict()["backends"]["spinnaker2"]["options"]["tick_ms"] == 1.0
    with pytest.raises(ConfigError, match="unknown option 'tick' for backend 'spinnaker2'"):
        compare(net, 20.0, ("ideal", "spinnaker2"), options={"spinnaker2": {"tick": 1.0}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backends": ("ideal", "bs2")}, "unknown backend 'bs2'; known: bss2, ideal, spinnaker2"),
        ({"backends": ("bss2",)}, "reference 'ideal' is not among"),
        ({"backends": ("ideal", "ideal")}, "more than once"),
        ({"backends": "ideal"}, "sequence of names"),
        ({"options": {"bss2": {}}}, "options given for 'bss2', not among"),
        ({"window_ms": -1.0}, "window_ms"),
        ({"seed": -1}, "seed"),
        ({"time_unit": 1000.0}, "only apply to a NIR file"),
    ],
)
def test_bad_input_is_a_config_error_before_any_run(kwargs, message):
    kwargs = {"backends": ("ideal",), **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        compare(recurrent_network(), 20.0, **kwargs)


def test_a_network_recording_nothing_compares_every_population_and_stays_unchanged():
    net = recurrent_network(record=False)
    comparison = compare(net, 20.0, ("ideal",))
    assert comparison.populations == ("hidden",)
    assert net.recordings == {}


# --- the command --------------------------------------------------------------------------


def test_command_on_a_nir_file_writes_json_and_png(tmp_path, capsys):
    path = tmp_path / "net.nir"
    ntnir.write(recurrent_network(), path)
    out = tmp_path / "out"
    assert main(["compare", str(path), "--duration", "50", "--backends", ",".join(BACKENDS),
                 "--out", str(out), "--seed", "1", "--option", "spinnaker2.tick_ms=1.0"]) == 0
    printed = capsys.readouterr().out
    for name in BACKENDS:
        assert name in printed
    data = json.loads((out / "compare.json").read_text())
    assert list(data["backends"]) == list(BACKENDS)
    assert data["backends"]["ideal"]["populations"]["hidden"]["coincidence"] == 1.0
    assert data["backends"]["spinnaker2"]["options"] == {"tick_ms": 1.0}
    assert (out / "compare.png").stat().st_size > 0


def test_command_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "net.nir"
    ntnir.write(recurrent_network(), path)
    assert main(["compare", str(path), "--duration", "20", "--backends", "ideal,nope",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'; known:" in err and "Traceback" not in err
    assert main(["compare", str(path), "--duration", "20", "--option", "bss2=1",
                 "--out", str(tmp_path / "out")]) == 2
    assert "BACKEND.KEY=VALUE" in capsys.readouterr().err


def test_backend_options_parse_json_values():
    assert backend_options(["spinnaker2.tick_ms=1.0", "bss2.weight_scale=30",
                            "spinnaker2.weight_format=int8"]) == {
        "spinnaker2": {"tick_ms": 1.0, "weight_format": "int8"}, "bss2": {"weight_scale": 30}}
    with pytest.raises(ConfigError, match=r"BACKEND\.KEY=VALUE"):
        backend_options(["tick_ms=1.0"])
