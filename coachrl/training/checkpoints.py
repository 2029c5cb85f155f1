"""Training checkpoints and trained coaches: glue between `coachrl.checkpoint` and the learners.

A checkpoint holds the learner's whole `TrainingState` (parameters, optimiser
states, running observation statistics, key, step count) and, in its metadata,
the full run config, the step counters, the feature names and the action
sizes. `load_coach` rebuilds the networks from that config and refuses a
checkpoint whose features or actions differ from what this code computes.

`load_coach` is the daily coach's path (`coachrl today`, the web app): it reads only the
policy's arrays and rebuilds the policy with `jax.numpy` (`policy_logits`), so it imports
neither the learners (optax, rlax and, through rlax, TensorFlow) nor haiku, and compiles
nothing until the policy is called. The trainers' template and restore functions import
the learner when called.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from coachrl.agents import distributions as dist
from coachrl.agents.normalization import RunningStats, normalize
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
from coachrl.sim.safety import padded_heads
from coachrl.training.config import TrainConfig

if TYPE_CHECKING:
    from coachrl.training.common import Learner

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
    from coachrl.training.common import make_learner  # the learners: optax, rlax

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


# The policy network's arrays in a checkpoint: the haiku module names of
# `coachrl.agents.networks` (an MLP "policy_torso" of tanh layers, then "policy_head"),
# under the agent's TrainingState field.
POLICY_FIELD = {"ppo": "params", "mpo": "policy_params"}
TORSO, HEAD = "policy_torso/~/linear_{}", "policy_head"


class PolicyParams(NamedTuple):
    torso: tuple[tuple[jax.Array, jax.Array], ...]  # (w [in, out], b [out]) per hidden layer
    head: tuple[jax.Array, jax.Array]  # w [hidden, sum(nvec)], b [sum(nvec)]
    obs_stats: RunningStats | None  # None: the agent does not normalise its observations


def policy_logits(params: PolicyParams, features: jax.Array,
                  nvec: tuple[int, ...]) -> jax.Array:
    """features f32[..., F] -> logits f32[..., H, max(nvec)] (padding 0, to be masked).

    The forward pass of the agents' policy network (`coachrl.agents.networks`: the
    observation normalised as the agent's `observe` does, tanh layers, a linear head, the
    flat logits split per head) in plain `jax.numpy`. tests/test_training.py checks that it
    chooses what the learner's own policy chooses, for PPO and MPO."""
    x = features if params.obs_stats is None else normalize(features, params.obs_stats)
    for w, b in params.torso:
        x = jnp.tanh(x @ w + b)
    w, b = params.head
    return padded_heads(x @ w + b, nvec, fill=0.0)


def policy_params(arrays: Mapping[str, np.ndarray], config: TrainConfig,
                  where: str) -> PolicyParams:
    """The policy's arrays from a checkpoint's leaves ({leaf path: array}), checked against
    the network `config` describes (layer sizes, features, actions)."""
    field = POLICY_FIELD[config.agent]
    agent = config.mpo if config.agent == "mpo" else config.ppo

    def leaf(path: str) -> np.ndarray:
        if path not in arrays:
            raise CheckpointError(f"{where}: no leaf {path} (the {config.agent} policy "
                                  "network's arrays)")
        return arrays[path]

    def linear(module: str, inputs: int, outputs: int) -> tuple[jax.Array, jax.Array]:
        w, b = (leaf(f".{field}['{module}']['{name}']") for name in ("w", "b"))
        if w.shape != (inputs, outputs) or b.shape != (outputs,):
            raise CheckpointError(f"{where}: {field} {module} is {list(w.shape)} + "
                                  f"{list(b.shape)}, but its config says {[inputs, outputs]}")
        return jnp.asarray(w), jnp.asarray(b)

    sizes = [len(feature_names(config.world)), *agent.hidden_sizes]
    torso = tuple(linear(TORSO.format(i), sizes[i], sizes[i + 1])
                  for i in range(len(sizes) - 1))
    extra = TORSO.format(len(sizes) - 1)
    if any(p.startswith(f".{field}['{extra}']") for p in arrays):
        raise CheckpointError(f"{where}: its policy has more layers than its config's "
                              f"hidden_sizes {list(agent.hidden_sizes)}")
    head = linear(HEAD, sizes[-1], sum(config.world.nvec))
    stats = None
    if agent.normalize_observations:
        stats = RunningStats(*(jnp.asarray(leaf(f".obs_stats.{name}"))
                               for name in RunningStats._fields))
    return PolicyParams(torso, head, stats)


def masked_policy(params: PolicyParams, nvec: tuple[int, ...], greedy: bool,
                  name: str) -> Policy:
    """A memoryless `Policy` of fixed parameters: the most likely allowed choice of every
    head (`greedy`), or a sample; the observation's safety mask always applies (as
    `coachrl.agents.acting.masked_policy`)."""

    def step(state, observation, key):
        logits = policy_logits(params, observation["features"], nvec)
        mask = padded_heads(observation["action_mask"], nvec, fill=False)
        action = dist.mode(logits, mask) if greedy else dist.sample(key, logits, mask)
        return action.astype(jnp.int32), state

    digest = hashlib.sha256(repr((name, nvec, greedy)).encode())
    for leaf in jax.tree_util.tree_leaves(params):
        leaf = np.asarray(leaf)
        digest.update(repr((leaf.shape, leaf.dtype.str)).encode() + leaf.tobytes())
    return Policy(name, lambda key: (), step, digest.hexdigest())


class Coach(NamedTuple):
    policy: Policy  # the greedy policy, named after the agent ("ppo", "mpo")
    config: TrainConfig
    params: PolicyParams  # the policy network's arrays
    metadata: dict[str, Any]
    path: Path  # the checkpoint read


def load_coach(path: str | os.PathLike[str], greedy: bool = True) -> Coach:
    """A trained coach from a checkpoint (a workdir, its checkpoints/ or one checkpoint).

    Reads the policy network's arrays only (the optimiser states stay on disk) and
    compiles nothing: the policy is jitted where it is used. Raises `CheckpointError`
    (no checkpoint, a corrupt or mismatched one)."""
    resolved = latest_checkpoint(path)
    if resolved is None:
        raise CheckpointError(f"no checkpoint in {path}")
    metadata = read_metadata(resolved)
    try:
        config = from_dict(TrainConfig, metadata.get("config") or {}, f"{resolved}/meta.json")
    except ConfigError as error:
        raise CheckpointError(f"{resolved}: its config is not valid here: {error}") from None
    check_compatible(metadata, config, str(resolved))
    arrays, metadata = load_checkpoint(resolved)
    params = policy_params(arrays, config, str(resolved))
    nvec = tuple(int(n) for n in config.world.nvec)
    return Coach(masked_policy(params, nvec, greedy, config.agent), config, params, metadata,
                 resolved)


__all__ = ["Coach", "KIND", "PolicyParams", "check_compatible", "load_coach", "policy_logits",
           "policy_params", "restore_training", "save_training", "training_template"]
