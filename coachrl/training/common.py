"""What the jitted trainers and the checkpoints share: containers, rollouts, metrics, learners.

    learner = make_learner(config)         # networks, optimiser, init, evaluation policy
    rollout = world_rollout(world, act, T)  # (carry, params) -> (carry, trajectory [T, B])

The per-learner halves of the jitted trainer (`anakin_ppo.py`, `anakin_mpo.py`)
build on these pieces, and `anakin.py` (`train`, `make_agent`) on those; the
checkpoints (`checkpoints.py`) rebuild a learner from a run's config with
`make_learner`, without any trainer. This module imports none of them, so the
import graph has no circle: common <- checkpoints; common <- anakin_ppo,
anakin_mpo <- anakin.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from coachrl.agents.mpo import acting as mpo_acting
from coachrl.agents.mpo import learning as mpo_learning
from coachrl.agents.networks import make_policy_critic_networks, make_policy_value_networks
from coachrl.agents.policy import Policy
from coachrl.agents.ppo import acting as ppo_acting
from coachrl.agents.ppo import learning as ppo_learning
from coachrl.sim.population import sample_athletes
from coachrl.sim.world import LAST, AthleteWorld, WorldState
from coachrl.training.config import TrainConfig

# Held-out outcomes logged at each evaluation (columns eval_<name>; NaN between evaluations).
EVAL_METRICS = ("gain_pct", "injury_days", "illness_days", "violations", "habit_alignment",
                "recovery_gt60_pct", "delta_ctl", "hours_per_week")


# ---------------------------------------------------------------- containers


class RunnerState(NamedTuple):
    training: Any  # the learner's TrainingState
    env_state: WorldState  # [B] athletes mid-season
    observation: dict[str, jnp.ndarray]  # [B] this morning's observations
    episode_return: jnp.ndarray  # f32[B], reward so far this season
    key: jax.Array
    extra: Any = ()  # what else a learner carries between calls (MPO: replay, last rollout)


class TrainResult(NamedTuple):
    training: Any
    env_steps: int
    updates: int
    seconds: float
    last_eval: dict[str, float]
    checkpoint: Path | None  # the last checkpoint written


class AgentSetup(NamedTuple):
    """What the generic training loop needs from a learner."""

    init_training: Callable[[jax.Array], Any]  # key -> TrainingState
    init_runner: Callable[[Any, jax.Array], RunnerState]  # (state, key) -> runner
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]  # jitted
    policy: Callable[..., Policy]  # (TrainingState, greedy=True) -> evaluation policy
    steps_per_call: int  # athlete-days stepped by one chunk
    runner_env_steps: int  # athlete-days stepped by init_runner (MPO fills its first rollout)
    training_of: Callable[[RunnerState], Any] = lambda runner: runner.training  # PPO: device 0's


# ---------------------------------------------------------------- learners


class Learner(NamedTuple):
    """A run's learner apart from any trainer: what the trainers build on and what a
    checkpoint is read back into (its template and its evaluation policy)."""

    world: AthleteWorld
    networks: Any  # PPO: Networks; MPO: PolicyCritic
    optimizer: Any  # PPO: an optax transformation; MPO: its Optimizers
    init_training: Callable[[jax.Array], Any]  # key -> the learner's TrainingState
    policy: Callable[..., Policy]  # (TrainingState, greedy=True) -> evaluation policy


def ppo_total_updates(config: TrainConfig) -> int:
    """PPO updates in the run (the length of the linear step-size schedule)."""
    return max(1, config.trainer.total_env_steps // config.trainer.steps_per_update)


def ppo_learner(config: TrainConfig) -> Learner:
    world = AthleteWorld(config.world)
    ppo = config.ppo
    networks = make_policy_value_networks(world.nvec, ppo.hidden_sizes)
    optimizer = ppo_learning.make_optimizer(ppo, ppo_total_updates(config))
    return Learner(
        world, networks, optimizer,
        init_training=lambda key: ppo_learning.init_training_state(key, networks, optimizer,
                                                                   world.num_features),
        policy=lambda training, greedy=True: ppo_acting.make_policy(
            networks, ppo, training.params, training.obs_stats, greedy))


def mpo_learner(config: TrainConfig) -> Learner:
    world = AthleteWorld(config.world)
    mpo = config.mpo
    networks = make_policy_critic_networks(world.nvec, mpo.hidden_sizes,
                                           mpo.critic_hidden_sizes)
    optimizers = mpo_learning.make_optimizers(mpo)
    return Learner(
        world, networks, optimizers,
        init_training=lambda key: mpo_learning.init_training_state(key, networks, optimizers,
                                                                   mpo, world.num_features),
        policy=lambda training, greedy=True: mpo_acting.make_policy(
            networks, mpo, training.policy_params, training.obs_stats, greedy))


def make_learner(config: TrainConfig) -> Learner:
    """The learner of `config.agent` ("ppo" or "mpo")."""
    return mpo_learner(config) if config.agent == "mpo" else ppo_learner(config)


# ---------------------------------------------------------------- rollouts and metrics


def world_rollout(world: AthleteWorld, act, length: int):
    """(carry, params) -> (carry, trajectory): `length` days of a batch under `act`.

    `act(params, observation, key) -> (action, extras)`; the carry is
    (env_state, observation, episode_return, key). The trajectory [T, B] holds the
    features and flat mask seen, the action, the reward, the timestep's discount
    (1.0 also on a season's last day: it ends by time), whether the season ended,
    what `act` returned, and the returns and gains of the seasons that ended.
    """

    def env_step(carry, _, params):
        env_state, observation, episode_return, key = carry
        key, k_act, k_env = jax.random.split(key, 3)
        action, extras = act(params, observation, k_act)
        env_state, ts = world.batch_step(env_state, action, k_env, autoreset=True)
        done = ts.step_type == LAST
        episode_return = episode_return + ts.reward
        step = {
            "features": observation["features"], "action_mask": observation["action_mask"],
            "action": action, "reward": ts.reward, "discount": ts.discount, "done": done,
            **extras,
            "finished_return": jnp.where(done, episode_return, 0.0),
            "finished_gain": jnp.where(done, ts.extras["metrics"]["gain"], 0.0),
            "violations": jnp.sum(ts.extras["violations"], axis=-1),
        }
        episode_return = jnp.where(done, 0.0, episode_return)
        return (env_state, ts.observation, episode_return, key), step

    def run(carry, params):
        return jax.lax.scan(lambda c, x: env_step(c, x, params), carry, None, length=length)

    return run


def season_metrics(traj: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    return {"seasons_finished": jnp.sum(traj["done"]),
            "return_sum": jnp.sum(traj["finished_return"]),
            "gain_sum": jnp.sum(traj["finished_gain"]),
            "violations": jnp.sum(traj["violations"]),
            "reward_per_day": jnp.mean(traj["reward"])}


SUMMED_METRICS = ("seasons_finished", "return_sum", "gain_sum", "violations")


def aggregate(metrics: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Metrics of a chunk's iterations: season counts summed, the rest averaged (NaN: skipped)."""
    return {k: jnp.sum(v) if k in SUMMED_METRICS else jnp.nanmean(v) for k, v in metrics.items()}


def init_envs(config: TrainConfig, world: AthleteWorld, key: jax.Array,
              num_envs: int | None = None):
    """(env_state, observation, episode_return): a batch of training athletes on day 0
    (`trainer.num_envs` of them unless `num_envs` is given)."""
    k_athletes, k_reset = jax.random.split(key)
    num = num_envs or config.trainer.num_envs
    athletes = sample_athletes(k_athletes, num, config.world)
    env_state, ts = jax.jit(jax.vmap(world.reset))(jax.random.split(k_reset, num), athletes)
    return env_state, ts.observation, jnp.zeros((num,), jnp.float32)


def init_runner(config: TrainConfig, world: AthleteWorld, training: Any,
                key: jax.Array) -> RunnerState:
    """A batch of training athletes on day 0 of their seasons."""
    k_envs, k_run = jax.random.split(key)
    return RunnerState(training, *init_envs(config, world, k_envs), k_run)


def evaluate_policy(config: TrainConfig, policy: Policy, num_athletes: int | None = None,
                    seed: int | None = None) -> dict[str, float]:
    """Mean held-out outcomes of `policy` (the evaluation harness, no baselines)."""
    from coachrl.evaluation import evaluate  # pandas and the harness: only when evaluating

    result = evaluate({policy.name: policy}, config.world,
                      num_athletes or config.trainer.eval_athletes, config.trainer.eval_days,
                      seed=config.seed + 1 if seed is None else seed)
    means = result.metrics.mean(numeric_only=True)
    return {f"eval_{name}": float(means[name]) for name in EVAL_METRICS}


__all__ = ["EVAL_METRICS", "SUMMED_METRICS", "AgentSetup", "Learner", "RunnerState",
           "TrainResult", "aggregate",
           "evaluate_policy", "init_envs", "init_runner", "make_learner", "mpo_learner",
           "ppo_learner", "ppo_total_updates", "season_metrics", "world_rollout"]
