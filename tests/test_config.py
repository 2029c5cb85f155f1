"""Config loading: validation errors name the file, the key and what is allowed."""

import dataclasses
from pathlib import Path

import pytest

from coachrl.config import (
    DEFAULT_WORLD_FILE,
    ConfigError,
    RunConfig,
    default_world_config,
    load_run_config,
    load_world_config,
    to_dict,
)
from coachrl.schema import from_dict
from coachrl.sim.config import WorldConfig


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_world_loads_and_every_key_has_a_comment():
    world = default_world_config()
    assert world.nvec == (6, 7, 5, 4, 4)
    # Goal levels: 8 h in bed, 10 min mobility, 10 min breathing (56 h, 70 min, 70 min a week).
    assert [h.goal_level for h in world.habits.items] == [2, 1, 2]
    assert world.actions.duration_index(60) == 3 and world.actions.duration_index(100) == 4
    for line in DEFAULT_WORLD_FILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- name:"):
            continue
        key, _, value = stripped.partition(":")
        if value.strip() and not value.strip().startswith("#"):
            assert "#" in value or key in {"weight", "name", "unit"}, f"no comment: {line}"


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "w.yaml", "base: world/default.yaml\nhabits:\n  alpah: 0.1\n")
    with pytest.raises(ConfigError, match=r"w.yaml: unknown key 'habits.alpah'; allowed keys: "
                                          r"alpha, items"):
        load_world_config(path)


def test_wrong_type_names_the_expected_type(tmp_path):
    path = write(tmp_path, "w.yaml", "base: world/default.yaml\nepisode:\n  min_days: ninety\n")
    with pytest.raises(ConfigError, match=r"w.yaml: key 'episode.min_days': expected int, "
                                          r"got 'ninety'"):
        load_world_config(path)


def test_out_of_range_names_the_allowed_range(tmp_path):
    path = write(tmp_path, "w.yaml", "base: world/default.yaml\nhabits:\n  alpha: 2.0\n")
    with pytest.raises(ConfigError, match=r"w.yaml: key 'habits.alpha: 2.0 is out of range; "
                                          r"allowed \[0.0001, 1\]"):
        load_world_config(path)


def test_cross_field_check(tmp_path):
    path = write(tmp_path, "w.yaml", "base: world/default.yaml\nepisode:\n  min_days: 200\n")
    with pytest.raises(ConfigError, match="max_days: 180 must be >= min_days"):
        load_world_config(path)


def test_missing_key(tmp_path):
    path = write(tmp_path, "w.yaml", "episode:\n  min_days: 10\n")
    with pytest.raises(ConfigError, match=r"missing key"):
        load_world_config(path)


def test_overrides_apply_and_are_checked():
    world = load_world_config(overrides=["habits.alpha=0.05", "actions.durations_min=[30, 60]",
                                         "habits.items.1.weekly_amount=140"])
    assert world.habits.alpha == 0.05 and world.nvec[1] == 2
    assert world.habits.items[1].weekly_amount == 140.0
    with pytest.raises(ConfigError, match=r"--set habits.alhpa=1: unknown key 'alhpa' in habits"):
        load_world_config(overrides=["habits.alhpa=1"])
    with pytest.raises(ConfigError, match=r"expected section.key=value"):
        load_world_config(overrides=["habits.alpha"])
    with pytest.raises(ConfigError, match=r"index 9 out of range"):
        load_world_config(overrides=["habits.items.9.weekly_amount=1"])


def test_run_file_composes_a_world_file_and_overrides_reach_inside(tmp_path):
    path = write(tmp_path, "run.yaml", "world: world/default.yaml\nseed: 3\nname: t\n")
    run = load_run_config(path, ["world.safety.acwr_danger=1.4"])
    assert isinstance(run, RunConfig) and run.seed == 3
    assert run.world.safety.acwr_danger == 1.4
    with pytest.raises(ConfigError, match=r"seed: -1 is out of range"):
        load_run_config(path, ["seed=-1"])


def test_errors_inside_a_composed_file_name_that_file(tmp_path):
    write(tmp_path, "bad_world.yaml", "base: world/default.yaml\nsafety:\n  acwr_danger: 9\n")
    path = write(tmp_path, "run.yaml", "world: bad_world.yaml\n")
    with pytest.raises(ConfigError, match=r"bad_world.yaml: key 'world.safety.acwr_danger"):
        load_run_config(path)


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_world_config(write(tmp_path, "x.yaml", "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_world_config(tmp_path / "nope.yaml")


def test_round_trip_through_a_plain_dict_and_frozen():
    world = default_world_config()
    assert from_dict(WorldConfig, to_dict(world)) == world
    with pytest.raises(dataclasses.FrozenInstanceError):
        world.habits.alpha = 0.5  # type: ignore[misc]
    assert hash(world) == hash(from_dict(WorldConfig, to_dict(world)))
