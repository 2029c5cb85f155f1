"""PPO in the jitted trainer: a rollout of T days and one PPO update per iteration.

Each iteration of a chunk steps the batch of athletes `rollout_length` days
with the current policy (recording log-probabilities and values), bootstraps
from the value of the observation after the last day, and applies the pure
PPO update (GAE, epochs of minibatch steps) to the rollout.

The chunk is `jax.pmap`ped over `ppo_devices(config)` local devices (Hessel et al.
2021's Anakin): each holds num_envs / devices athletes and a replica of the
TrainingState; the update averages gradients and metrics over the devices, so the
replicas stay equal and `training_of(runner)` reads device 0's. On a 2-core CPU two
host devices (`coachrl.devices`) keep both cores busy, which one XLA CPU device does
not (its small operations run on one thread).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from coachrl.agents.networks import head_mask
from coachrl.agents.ppo.acting import make_actor_step, value_of
from coachrl.agents.ppo.learning import Batch, make_update
from coachrl.schema import ConfigError
from coachrl.sim.world import AthleteWorld
from coachrl.training.common import (
    SUMMED_METRICS,
    AgentSetup,
    RunnerState,
    aggregate,
    init_envs,
    ppo_learner,
    ppo_total_updates,
    season_metrics,
    world_rollout,
)
from coachrl.training.config import TrainConfig

DEVICE_AXIS = "devices"  # the pmap axis the update averages over


def ppo_devices(config: TrainConfig) -> int:
    """Local devices the PPO trainer uses: `trainer.devices`, or (0) the most of the local
    devices that split the athletes and the minibatches evenly."""
    t, available = config.trainer, jax.local_device_count()
    if t.devices > available:
        raise ConfigError(f"trainer.devices: {t.devices}, but JAX has {available} local "
                          "device(s) (on CPU, coachrl.devices.request_host_devices before JAX "
                          "starts, or XLA_FLAGS=--xla_force_host_platform_device_count=N)")
    if t.devices:
        return t.devices
    return max(n for n in range(1, available + 1) if t.num_envs % n == 0
               and (t.steps_per_update // n) % config.ppo.num_minibatches == 0)


def make_components(config: TrainConfig):
    """(world, networks, optimizer, update, act, total_updates) of a PPO run; the update
    averages over DEVICE_AXIS, so it runs under `make_train_chunk`'s pmap."""
    learner = ppo_learner(config)
    return (learner.world, learner.networks, learner.optimizer, *_update_and_act(learner, config),
            ppo_total_updates(config))


def _update_and_act(learner, config: TrainConfig):
    """The pmapped update (averaging over DEVICE_AXIS) and the actor of a PPO learner."""
    return (make_update(learner.networks, config.ppo, learner.optimizer, DEVICE_AXIS),
            make_actor_step(learner.networks, config.ppo))


def make_train_chunk(config: TrainConfig, world: AthleteWorld, networks, update, act):
    """PPO: pmap(runner -> (runner, metrics)), `updates_per_call` x (rollout of T days +
    update), over a runner of `init_device_runner`; the metrics come back once (device 0)."""
    trainer = config.trainer

    def act_with_value(training, observation, key):
        out = act(training.params, training.obs_stats, observation, key)
        return out.action, {"log_prob": out.log_prob, "value": out.value}

    rollout = world_rollout(world, act_with_value, trainer.rollout_length)

    def one_update(runner: RunnerState, _):
        carry = (runner.env_state, runner.observation, runner.episode_return, runner.key)
        carry, traj = rollout(carry, runner.training)
        env_state, observation, episode_return, key = carry
        training = runner.training
        bootstrap = value_of(networks, config.ppo, training.params, training.obs_stats,
                             observation["features"])
        mask = head_mask(traj["action_mask"], networks.nvec)  # [T, B, H, N]
        batch = Batch(traj["features"], mask, traj["action"], traj["log_prob"],
                      traj["value"], traj["reward"], traj["done"], traj["discount"], bootstrap)
        training, metrics = update(training, batch)
        metrics.update(season_metrics(traj))
        return RunnerState(training, env_state, observation, episode_return, key), metrics

    def chunk(runner: RunnerState):
        runner, metrics = jax.lax.scan(one_update, runner, None, length=trainer.updates_per_call)
        metrics = aggregate(metrics)
        return runner, {k: jax.lax.psum(v, DEVICE_AXIS) if k in SUMMED_METRICS
                        else jax.lax.pmean(v, DEVICE_AXIS) for k, v in metrics.items()}

    pmapped = jax.pmap(chunk, axis_name=DEVICE_AXIS)

    def run(runner: RunnerState):
        runner, metrics = pmapped(runner)
        return runner, jax.tree_util.tree_map(lambda x: x[0], metrics)

    return run


def init_device_runner(config: TrainConfig, world: AthleteWorld, training, key: jax.Array,
                       devices: int) -> RunnerState:
    """A runner with a leading device axis: `training` on every device and
    num_envs / devices training athletes on day 0 on each."""
    k_envs, k_run = jax.random.split(key)
    per_device = config.trainer.num_envs // devices
    shards = [init_envs(config, world, k, per_device) for k in jax.random.split(k_envs, devices)]
    env_state, observation, episode_return = jax.tree_util.tree_map(
        lambda *xs: jnp.stack(xs), *shards)
    replicas = jax.tree_util.tree_map(lambda x: jnp.stack([x] * devices), training)
    return RunnerState(replicas, env_state, observation, episode_return,
                       jax.random.split(k_run, devices))


def training_of(runner: RunnerState):
    """The TrainingState of a device runner (every replica holds the same)."""
    return jax.tree_util.tree_map(lambda x: x[0], runner.training)


def ppo_setup(config: TrainConfig) -> AgentSetup:
    learner = ppo_learner(config)
    world, networks = learner.world, learner.networks
    update, act = _update_and_act(learner, config)
    devices, t = ppo_devices(config), config.trainer
    return AgentSetup(
        init_training=learner.init_training,
        init_runner=lambda training, key: init_device_runner(config, world, training, key,
                                                             devices),
        chunk=make_train_chunk(config, world, networks, update, act),
        policy=learner.policy,
        steps_per_call=t.steps_per_update * t.updates_per_call, runner_env_steps=0,
        training_of=training_of)


__all__ = ["DEVICE_AXIS", "init_device_runner", "make_components", "make_train_chunk",
           "ppo_devices", "ppo_setup", "training_of"]
