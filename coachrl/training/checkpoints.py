"""Training checkpoints and trained coaches: glue between `coachrl.checkpoint` and the learners.

A checkpoint holds the learner's whole `TrainingState` (parameters, optimiser
states, running observation statistics, key, step count) and, in its metadata,
the full run config, the step counters, the feature names and the action
sizes. `load_coach` rebuilds the networks from that config and refuses a
checkpoint whose features or actions differ from what this code computes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import jax

from coachrl.agents.policy import Policy
from coachrl.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from coachrl.schema import ConfigError, from_dict, to_dict
from coachrl.sim.features import feature_names
from coachrl.training.common import Learner, make_learner
from coachrl.training.config import TrainConfig

KIND = "coachrl-coach"


def save_training(workdir: str | os.PathLike[str], training: Any, config: TrainConfig,
                  counters: dict[str, Any]) -> Path:
    """Writes a checkpoint of `training` with the config and `counters` (env_steps, updates)."""
    metadata = {
        "kind": KIND, "agent": config.agent, "config": to_dict(config), "counters": counters,
        "feature_names": list(feature_names(config.world)), "nvec": list(config.world.nvec),
    }
    return save_checkpoint(workdir, int(counters["updates"]), jax.device_get(training), metadata,
                           keep=config.trainer.keep_checkpoints)


def check_compatible(metadata: dict[str, Any], config: TrainConfig, where: str) -> None:
    """Refuses a checkpoint whose features, actions or agent differ from `config`'s."""
    if metadata.get("kind") != KIND:
        raise CheckpointError(f"{where}: not a CoachRL coach checkpoint "
                              f"(kind {metadata.get('kind')!r})")
    expected = list(feature_names(config.world))
    found = metadata.get("feature_names")
    if found != expected:
        diff = sorted(set(expected) ^ set(found or []))
        raise CheckpointError(f"{where}: its features do not match this code's "
                              f"({len(found or [])} vs {len(expected)}; differing: "
                              f"{', '.join(diff) or 'the order'})")
    if metadata.get("nvec") != list(config.world.nvec):
        raise CheckpointError(f"{where}: its action heads {metadata.get('nvec')} differ from "
                              f"this world's {list(config.world.nvec)}")
    if metadata.get("agent") != config.agent:
        raise CheckpointError(f"{where}: agent {metadata.get('agent')!r}, expected "
                              f"{config.agent!r}")


def training_template(config: TrainConfig) -> tuple[Learner, Any]:
    """(the learner of `config`, a freshly initialised state): the checkpoint's template.

    Built from the learner alone (`common.make_learner`), so this module needs no
    trainer: the trainers import it to write checkpoints, never the other way."""
    learner = make_learner(config)
    return learner, learner.init_training(jax.random.PRNGKey(0))


def restore_training(workdir: str | os.PathLike[str], template: Any,
                     config: TrainConfig) -> tuple[Any, dict[str, Any]] | None:
    """The newest checkpoint in `workdir` as (state, counters), or None if there is none."""
    path = latest_checkpoint(workdir)
    if path is None:
        return None
    check_compatible(read_metadata(path), config, str(path))
    state, metadata = load_checkpoint(path, template)
    return jax.device_put(state), metadata["counters"]


class Coach(NamedTuple):
    policy: Policy  # the greedy policy, named after the agent ("ppo", "mpo")
    config: TrainConfig
    training: Any  # the learner's TrainingState
    metadata: dict[str, Any]
    path: Path


def load_coach(path: str | os.PathLike[str], greedy: bool = True) -> Coach:
    """A trained coach from a checkpoint (a workdir, its checkpoints/ or one checkpoint)."""
    resolved = latest_checkpoint(path)
    if resolved is None:
        raise CheckpointError(f"no checkpoint in {path}")
    metadata = read_metadata(resolved)
    try:
        config = from_dict(TrainConfig, metadata.get("config") or {}, f"{resolved}/meta.json")
    except ConfigError as error:
        raise CheckpointError(f"{resolved}: its config is not valid here: {error}") from None
    check_compatible(metadata, config, str(resolved))
    learner, template = training_template(config)
    training, metadata = load_checkpoint(resolved, template)
    training = jax.device_put(training)
    policy = learner.policy(training, greedy)
    return Coach(policy, config, training, metadata, resolved)


__all__ = ["Coach", "KIND", "check_compatible", "load_coach", "restore_training",
           "save_training", "training_template"]
