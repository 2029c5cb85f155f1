"""MPO in the jitted trainer: rollouts, an in-memory replay and many updates per call.

Each iteration of a chunk steps the batch of athletes `rollout_length` days
with the current policy, turns the PREVIOUS rollout into n-step transitions
(the current one supplies their look-ahead, n <= rollout_length), inserts them
into the replay, and, once the replay holds `min_replay_size` items, applies
`samples_per_insert x inserted / batch_size` MPO updates on uniform samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from coachrl.agents.mpo import losses
from coachrl.agents.mpo.acting import make_actor_step
from coachrl.agents.mpo.learning import Transition, add_observations, make_update
from coachrl.training import replay as replay_lib
from coachrl.training.common import (
    AgentSetup,
    RunnerState,
    aggregate,
    init_envs,
    mpo_learner,
    season_metrics,
    world_rollout,
)
from coachrl.training.config import TrainConfig

_KEPT = ("features", "action_mask", "action", "reward", "discount", "done")  # for the next call


def updates_per_iteration(config: TrainConfig) -> int:
    """MPO updates per rollout: samples_per_insert x inserted / batch_size (at least 1)."""
    inserted = config.trainer.num_envs * config.trainer.rollout_length
    return max(1, round(config.mpo.samples_per_insert * inserted / config.mpo.batch_size))


def transitions(previous: dict, current: dict, last_observation: dict, gamma: float,
                n: int) -> Transition:
    """n-step transitions of the previous rollout's T days, flattened to [T * B].

    A season that ends within n days is bootstrapped at its last day (it ends by
    time: `losses.n_step_returns`), a true terminal (discount 0) is not.
    """
    t_max = previous["reward"].shape[0]
    features = jnp.concatenate([previous["features"], current["features"],
                                last_observation["features"][None]])  # [2T + 1, B, F]
    masks = jnp.concatenate([previous["action_mask"], current["action_mask"],
                             last_observation["action_mask"][None]])  # [2T + 1, B, M]

    def steps(name):  # [T + n - 1, B]: the previous rollout and n - 1 days of look-ahead
        return jnp.concatenate([previous[name], current[name]])[:t_max + n - 1]

    out = losses.n_step_returns(steps("reward"), steps("discount"), steps("done"), gamma,
                                n)  # [T, B] each
    index = jnp.arange(t_max)[:, None] + out.bootstrap_offset  # [T, B], into [2T + 1]
    items = Transition(previous["features"], previous["action_mask"], previous["action"],
                       out.returns, out.bootstrap_discount,
                       jnp.take_along_axis(features, index[..., None], axis=0),
                       jnp.take_along_axis(masks, index[..., None], axis=0))
    return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), items)


def mpo_setup(config: TrainConfig) -> AgentSetup:
    mpo, trainer = config.mpo, config.trainer  # TrainConfig checks n_step <= rollout_length
    learner = mpo_learner(config)
    world = learner.world
    update = make_update(learner.networks, mpo, learner.optimizer)
    act = make_actor_step(learner.networks, mpo)
    rollout = world_rollout(
        world, lambda training, obs, key: (act(training.policy_params, training.obs_stats, obs,
                                               key), {}),
        trainer.rollout_length)
    num_updates = updates_per_iteration(config)

    def init_runner(training, key) -> RunnerState:
        k_envs, k_run = jax.random.split(key)
        env_state, observation, episode_return = init_envs(config, world, k_envs)
        carry, first = jax.jit(rollout)((env_state, observation, episode_return, k_run),
                                        training)
        example = jax.tree_util.tree_map(lambda x: x[0], transitions(
            first, first, carry[1], mpo.discount, mpo.n_step))
        replay = replay_lib.init_replay(example, mpo.replay_capacity)
        training = add_observations(training, first["features"])
        kept = {k: first[k] for k in _KEPT}
        return RunnerState(training, *carry, extra=(replay, kept))

    def learn(training, replay):
        def one(training, _):
            key, k_sample = jax.random.split(training.key)
            batch = replay_lib.sample(replay, k_sample, mpo.batch_size)
            return update(training._replace(key=key), batch)

        return jax.lax.scan(one, training, None, length=num_updates)

    def iteration(runner: RunnerState, _):
        replay, previous = runner.extra
        carry = (runner.env_state, runner.observation, runner.episode_return, runner.key)
        carry, traj = rollout(carry, runner.training)
        replay = replay_lib.add_batch(replay, transitions(previous, traj, carry[1], mpo.discount,
                                                          mpo.n_step))
        training = add_observations(runner.training, traj["features"])
        _, shapes = jax.eval_shape(learn, training, replay)  # metrics: [num_updates] each
        skipped = {k: jnp.full(s.shape[1:], jnp.nan, s.dtype) for k, s in shapes.items()}
        training, metrics = jax.lax.cond(replay.size >= mpo.min_replay_size,
                                         lambda t: _mean_metrics(learn(t, replay)),
                                         lambda t: (t, skipped), training)
        metrics.update(season_metrics(traj))
        metrics["replay_size"] = replay.size.astype(jnp.float32)
        kept = {k: traj[k] for k in _KEPT}
        return RunnerState(training, *carry, extra=(replay, kept)), metrics

    def chunk(runner: RunnerState):
        runner, metrics = jax.lax.scan(iteration, runner, None, length=trainer.updates_per_call)
        return runner, aggregate(metrics)

    steps = trainer.num_envs * trainer.rollout_length
    return AgentSetup(
        init_training=learner.init_training, init_runner=init_runner, chunk=jax.jit(chunk),
        policy=learner.policy, steps_per_call=steps * trainer.updates_per_call,
        runner_env_steps=steps)


def _mean_metrics(result):
    training, metrics = result
    return training, jax.tree_util.tree_map(lambda m: jnp.mean(m, axis=0), metrics)


__all__ = ["mpo_setup", "transitions", "updates_per_iteration"]
