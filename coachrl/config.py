"""Run configs: YAML files in `configs/` loaded into frozen, validated dataclasses.

A run file composes a world file (and, in later issues, an agent file):

    world: world/default.yaml   # a section named by file, relative to this file or configs/
    seed: 0

Any key can be overridden from the command line with `--set section.key=value`
(the value is parsed as YAML). An unknown key, a wrong type or an
out-of-range value raises `ConfigError` naming the file, the key and what is
allowed. See `coachrl.schema` for the machinery.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from coachrl.schema import CONFIG_DIR, ConfigError, Section, load_config, param, to_dict
from coachrl.sim.config import HabitsConfig, WorldConfig

__all__ = ["CONFIG_DIR", "ConfigError", "DEFAULT_WORLD_FILE", "RunConfig", "WorldConfig",
           "default_world_config", "is_run_file", "load_habit_file", "load_run_config",
           "load_world", "load_world_config", "to_dict"]

DEFAULT_WORLD_FILE = CONFIG_DIR / "world" / "default.yaml"


@dataclasses.dataclass(frozen=True)
class RunConfig(Section):
    """A run: the world it simulates and the run's own settings.

    Attributes:
      world: the simulated athlete world (usually `world/default.yaml`).
      seed: the master random seed of the run.
      name: a label for logs and reports.
    """

    world: WorldConfig
    seed: int = param(0, lo=0)
    name: str = "coachrl"


def load_world_config(path: str | Path | None = None,
                      overrides: Sequence[str] = ()) -> WorldConfig:
    """Loads a world config (default `configs/world/default.yaml`)."""
    return load_config(WorldConfig, path or DEFAULT_WORLD_FILE, overrides)


_DEFAULT_WORLD: WorldConfig | None = None


def default_world_config() -> WorldConfig:
    """The default world (`configs/world/default.yaml`), read once."""
    global _DEFAULT_WORLD
    if _DEFAULT_WORLD is None:
        _DEFAULT_WORLD = load_world_config()
    return _DEFAULT_WORLD


def load_habit_file(path: str | os.PathLike[str]) -> HabitsConfig:
    """Loads a person's habit file (`configs/habits/*.yaml`); `ConfigError` names the file,
    the habit and the field. Read with `yaml.safe_load`: nothing in it is executed."""
    return load_config(HabitsConfig, path)


def load_run_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Loads a run file and its composed sections, then applies overrides."""
    return load_config(RunConfig, path, overrides)


def is_run_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a run file (a top-level `world:` key) rather than a world file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return False  # the loader reports it, naming the file
    return isinstance(data, dict) and "world" in data


def load_world(path: str | os.PathLike[str] | None = None,
               overrides: Sequence[str] = ()) -> tuple[WorldConfig, int | None]:
    """(world, run seed or None) from a world file or a run file; `overrides` are world keys.

    Lets every script take either kind of file with `--config` and world `--set` keys.
    """
    if path is not None and is_run_file(path):
        run = load_run_config(path, [f"world.{item}" for item in overrides])
        return run.world, run.seed
    return load_world_config(path, overrides), None
