"""Experiment registry and config loading: defaults, type checks, clear errors."""

import json
from dataclasses import dataclass

import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.experiments import (
    EXPERIMENTS,
    config_from_dict,
    load_config,
    register_experiment,
    run_experiment,
)
from neurotwin.experiments.cuba import CubaConfig


@dataclass(frozen=True)
class ToyConfig:
    count: int = 3
    scale: float = 1.0
    name: str = "toy"
    limit: int | None = None
    flag: bool = False


def test_defaults_and_overrides():
    config = config_from_dict(ToyConfig, {"count": 7, "limit": None, "flag": True})
    assert config == ToyConfig(count=7, flag=True)


def test_int_is_accepted_for_float_and_converted():
    config = config_from_dict(ToyConfig, {"scale": 2})
    assert config.scale == 2.0
    assert isinstance(config.scale, float)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": 2.5}, "config key 'count' must be int, got 2.5"),
        ({"count": True}, "config key 'count' must be int, got True"),
        ({"scale": "big"}, "config key 'scale' must be float, got 'big'"),
        ({"flag": 1}, "config key 'flag' must be bool, got 1"),
        ({"limit": "x"}, "config key 'limit' must be int or null, got 'x'"),
    ],
)
def test_wrong_types_are_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(ToyConfig, data)


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        config_from_dict(ToyConfig, {"cuont": 1, "count": 2})
    assert str(info.value) == (
        "unknown config key 'cuont' for ToyConfig; valid keys: count, scale, name, limit, flag"
    )


def test_config_must_be_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        config_from_dict(ToyConfig, [1, 2])  # type: ignore[arg-type]


def test_load_config_reads_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"n_neurons": 100, "duration": 50}))
    assert load_config(CubaConfig, path) == CubaConfig(n_neurons=100, duration=50.0)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(DataError, match="cannot read config file"):
        load_config(CubaConfig, tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"n_neurons": ')
    with pytest.raises(DataError, match="not valid JSON"):
        load_config(CubaConfig, broken)


def test_config_validation_of_the_experiment_applies():
    with pytest.raises(ConfigError, match="multiple of the time step"):
        config_from_dict(CubaConfig, {"duration": 100.05})


def test_registry_holds_cuba_and_rejects_duplicates():
    assert "cuba" in EXPERIMENTS.names()
    assert EXPERIMENTS.get("cuba").config_type is CubaConfig
    with pytest.raises(ConfigError, match="registered twice"):
        register_experiment("cuba", CubaConfig)(lambda *args: {})


def test_config_type_must_be_a_dataclass():
    with pytest.raises(ConfigError, match="must be a dataclass"):
        register_experiment("not-a-dataclass", dict)


def test_run_experiment_rejects_bad_arguments_before_running(tmp_path):
    with pytest.raises(ConfigError, match="unknown experiment 'nope'"):
        run_experiment("nope", out_dir=tmp_path)
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        run_experiment("cuba", seed=-1, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="must be a CubaConfig or a mapping"):
        run_experiment("cuba", config=ToyConfig(), out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
