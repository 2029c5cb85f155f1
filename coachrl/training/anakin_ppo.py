"""PPO in the jitted trainer: a rollout of T days and one PPO update per iteration.

Each iteration of a chunk steps the batch of athletes `rollout_length` days
with the current policy (recording log-probabilities and values), bootstraps
from the value of the observation after the last day, and applies the pure
PPO update (GAE, epochs of minibatch steps) to the rollout.
"""

from __future__ import annotations

import jax

from coachrl.agents.networks import head_mask
from coachrl.agents.ppo.acting import make_actor_step, value_of
from coachrl.agents.ppo.learning import Batch, make_update
from coachrl.sim.world import AthleteWorld
from coachrl.training.common import (
    AgentSetup,
    RunnerState,
    aggregate,
    init_runner,
    ppo_learner,
    ppo_total_updates,
    season_metrics,
    world_rollout,
)
from coachrl.training.config import TrainConfig


def make_components(config: TrainConfig):
    """(world, networks, optimizer, update, act, total_updates) of a PPO run."""
    learner = ppo_learner(config)
    update = make_update(learner.networks, config.ppo, learner.optimizer)
    act = make_actor_step(learner.networks, config.ppo)
    return (learner.world, learner.networks, learner.optimizer, update, act,
            ppo_total_updates(config))


def make_train_chunk(config: TrainConfig, world: AthleteWorld, networks, update, act):
    """PPO: jit(runner -> (runner, metrics)), `updates_per_call` x (rollout of T days + update)."""
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
        return runner, aggregate(metrics)

    return jax.jit(chunk)


def ppo_setup(config: TrainConfig) -> AgentSetup:
    learner = ppo_learner(config)
    update = make_update(learner.networks, config.ppo, learner.optimizer)
    act = make_actor_step(learner.networks, config.ppo)
    world, t = learner.world, config.trainer
    return AgentSetup(
        init_training=learner.init_training,
        init_runner=lambda training, key: init_runner(config, world, training, key),
        chunk=make_train_chunk(config, world, learner.networks, update, act),
        policy=learner.policy,
        steps_per_call=t.steps_per_update * t.updates_per_call, runner_env_steps=0)


__all__ = ["make_components", "make_train_chunk", "ppo_setup"]
