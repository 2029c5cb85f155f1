"""Training run configs: the world, the agent and the trainer, composed by a run file.

    configs/ppo.yaml:
      world: world/default.yaml
      agent: ppo
      ppo: agent/ppo.yaml
      trainer: {num_envs: 512, ...}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from coachrl.agents.mpo.config import MPOConfig
from coachrl.agents.ppo.config import PPOConfig
from coachrl.schema import Section, load_config, param, require
from coachrl.sim.config import WorldConfig


@dataclasses.dataclass(frozen=True)
class AnakinConfig(Section):
    """The jitted single-machine trainer (Hessel et al. 2021, "Podracer architectures").

    Attributes:
      num_envs: athletes stepped in parallel (the batch of every rollout).
      rollout_length: days per athlete in each rollout (T); PPO updates once per rollout,
        MPO inserts the rollout into its replay and updates samples_per_insert-many times.
      total_env_steps: athlete-days to train for.
      max_minutes: wall-clock budget; training stops at whichever comes first (0: none).
      updates_per_call: updates fused into one jitted call between logs.
      eval_every_steps: held-out evaluation period in athlete-days (0: only at the end).
      eval_athletes: held-out athletes per evaluation.
      eval_days: season length of the evaluation.
      checkpoint_every_steps: checkpoint period in athlete-days (0: only at the end).
      keep_checkpoints: how many checkpoints to keep.
      devices: PPO: local devices the athletes are split over (`jax.pmap`, gradients and
        observation statistics averaged over them; num_envs must divide by it); 0: as many
        as divide num_envs, up to every local device (one per CPU core from `coachrl train`,
        `coachrl.devices`). MPO uses one device.
    """

    num_envs: int = param(512, lo=1)
    rollout_length: int = param(32, lo=1)
    total_env_steps: int = param(20_000_000, lo=1)
    max_minutes: float = param(0.0, lo=0.0)
    updates_per_call: int = param(10, lo=1)
    eval_every_steps: int = param(5_000_000, lo=0)
    eval_athletes: int = param(100, lo=1)
    eval_days: int = param(180, lo=7, hi=730)
    checkpoint_every_steps: int = param(5_000_000, lo=0)
    keep_checkpoints: int = param(3, lo=1)
    devices: int = param(0, lo=0)

    def __post_init__(self):
        super().__post_init__()
        require(self.devices == 0 or self.num_envs % self.devices == 0,
                f"trainer.num_envs: {self.num_envs} must be a multiple of trainer.devices "
                f"({self.devices})")

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_length


@dataclasses.dataclass(frozen=True)
class DistributedConfig(Section):
    """The distributed trainer (Acme's actor / replay / learner pattern on Ray and Reverb).

    Attributes:
      num_actors: actor processes stepping athletes (`--num_actors` overrides it).
      envs_per_actor: athletes (or dm_env instances) each actor steps at once.
      variable_update_period: actor steps between requests for the learner's parameters
        (answered in the background: the actor never waits for them).
      queue_items: PPO: sequences the queue table holds before actors wait (the policy lag).
      batch_items: PPO: sequences per learner update (each of rollout_length + 1 steps
        and envs_per_actor athletes).
      mpo_athletes_per_item: MPO: athletes in one replay item. 1 (the default) is Acme's
        layout: each athlete's n-step transition is its own item, so a batch is
        mpo.batch_size independent transitions; more athletes an item write and sample
        faster (Reverb's cost is per item) but a batch then holds batch_size / this many
        independent (actor, day) points. Must divide envs_per_actor.
      samples_per_insert_tolerance: MPO: how far the observed samples-per-insert ratio may
        drift from mpo.samples_per_insert, as a fraction of it (Reverb's error buffer).
      log_every_s: seconds between log rows and status lines.
      checkpoint_every_s: seconds between learner checkpoints.
      eval_every_s: seconds between held-out evaluations (0: only at the end).
      single_threaded_actors: run each actor's XLA computations on one thread (Eigen's
        thread pool off), so actors do not fight over the cores.
      learner_resource, actor_resource, replay_resource: on a cluster, the Ray custom
        resource (a node label: `ray start --resources '{"learner": 1}'`) that places the
        learner (with the evaluator and the counter), each actor, and the replay server;
        each asks a small share of it, so the label places and the CPUs count. None: any
        node.
      learner_gpus: GPUs the learner asks for (a GPU node takes it; CPU nodes act).
    """

    num_actors: int = param(2, lo=1)
    envs_per_actor: int = param(64, lo=1)
    variable_update_period: int = param(64, lo=1)
    queue_items: int = param(4, lo=1)
    batch_items: int = param(2, lo=1)
    mpo_athletes_per_item: int = param(1, lo=1)
    samples_per_insert_tolerance: float = param(0.2, lo=0.01)
    log_every_s: float = param(10.0, lo=0.1)
    checkpoint_every_s: float = param(120.0, lo=1.0)
    eval_every_s: float = param(0.0, lo=0.0)
    single_threaded_actors: bool = True
    learner_resource: str | None = None
    actor_resource: str | None = None
    replay_resource: str | None = None
    learner_gpus: float = param(0.0, lo=0.0)


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """A training run.

    Attributes:
      world: the simulated athlete world trained on (its reward weights included).
      agent: which learner ("ppo" or "mpo").
      ppo: PPO's hyper-parameters (used when agent is "ppo").
      mpo: MPO's hyper-parameters (used when agent is "mpo").
      trainer: the trainer's settings (the distributed trainer uses its step budget,
        rollout_length, eval and checkpoint keys too).
      distributed: the distributed trainer's settings.
      seed: master seed of the run.
      name: a label for logs and reports.
    """

    world: WorldConfig
    agent: Literal["ppo", "mpo"] = "ppo"
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
    mpo: MPOConfig = dataclasses.field(default_factory=MPOConfig)
    trainer: AnakinConfig = dataclasses.field(default_factory=AnakinConfig)
    distributed: DistributedConfig = dataclasses.field(default_factory=DistributedConfig)
    seed: int = param(0, lo=0)
    name: str = "coach"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.world.safety.coach_rules,
                "world.safety.coach_rules: false is for the virtual trials' supervised "
                "protocols only; a coach trains and advises under every safety rule")
        t = self.trainer
        require(self.agent != "mpo" or self.mpo.n_step <= t.rollout_length,
                f"mpo.n_step: {self.mpo.n_step} must be <= trainer.rollout_length "
                f"({t.rollout_length})")
        d = self.distributed
        require(self.agent != "mpo" or d.envs_per_actor % d.mpo_athletes_per_item == 0,
                f"distributed.mpo_athletes_per_item: {d.mpo_athletes_per_item} must divide "
                f"distributed.envs_per_actor ({d.envs_per_actor})")
        per_device = t.steps_per_update // max(t.devices, 1)
        require(self.agent != "ppo" or per_device % self.ppo.num_minibatches == 0,
                f"ppo.num_minibatches: {self.ppo.num_minibatches} must divide "
                f"trainer.num_envs x trainer.rollout_length ({t.steps_per_update})"
                + (f" / trainer.devices ({t.devices})" if t.devices > 1 else ""))


def load_train_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Loads a training run file (e.g. configs/ppo.yaml) with `--set` overrides."""
    return load_config(TrainConfig, path, overrides)


__all__ = ["AnakinConfig", "DistributedConfig", "TrainConfig", "load_train_config"]
