"""The EGRU vs GRU experiment on a tiny config (seconds): the twin equals the int8 reference,
the EGRU sends fewer codes than the GRU, and training resumes from its checkpoints."""

import json

import pytest

from neurotwin.errors import ConfigError
from neurotwin.experiments import EXPERIMENTS, run_experiment
from neurotwin.experiments.s2_egru import S2EgruConfig

TINY = {"epochs": 1, "hidden": 12, "train_limit": 256, "test_limit": 24,
        "max_cycles_per_step": 1_500}


def test_registered_on_the_mac_array():
    assert EXPERIMENTS.get("s2-egru").runs_on == "spinnaker2 (MAC array)"


def test_tiny_run_and_resume(tmp_path):
    run_experiment("s2-egru", TINY, seed=0, out_dir=tmp_path)
    m = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert (tmp_path / "activity.png").stat().st_size > 1000
    for kind in ("egru", "gru"):
        model = m["models"][kind]
        assert model["twin_equals_reference"]
        assert model["pes"] >= 2 and sum(model["units_per_pe"]) == 12
        fast, slow = model["per_sequence"]["300"], model["per_sequence"]["150"]
        assert slow["latency_us"] > fast["latency_us"]
        assert slow["energy_pe_j"] < fast["energy_pe_j"]
    assert m["models"]["egru"]["activity"]["twin"] < 1.0 == m["models"]["gru"]["activity"]["twin"]
    assert m["ratios"]["300"]["macs_recurrent"] < 1.0
    resumed = run_experiment("s2-egru", {**TINY, "epochs": 2, "resume": True}, seed=0,
                             out_dir=tmp_path)["metrics"]
    for kind in ("egru", "gru"):
        training = resumed["models"][kind]["training"]
        assert training["resumed_from_epoch"] == 1 and len(training["history"]) == 2


def test_config_is_checked():
    with pytest.raises(ConfigError, match="DVFS"):
        S2EgruConfig(clocks_mhz=(200.0,))
    with pytest.raises(ConfigError, match="hidden"):
        S2EgruConfig(hidden=0)
    with pytest.raises(ConfigError, match="activity_regularisation"):
        S2EgruConfig(activity_regularisation=-1.0)
