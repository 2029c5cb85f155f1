"""The jitted single-machine trainer: rollouts and learner updates in one `lax.scan`.

    result = train(load_train_config("configs/ppo.yaml"), workdir="runs/ppo")

Anakin (Hessel et al. 2021, "Podracer architectures"; PureJaxRL): the batch of
athletes (`world.batch_step`, seasons restarting with new athletes), the
policy's sampling and the learner's updates (PPO: GAE and epochs of minibatch
updates, here; MPO: replay and many updates per rollout, `anakin_mpo.py`) all
live in one jitted function that runs `updates_per_call` iterations. A learner
plugs in through `AgentSetup`. The Python loop around it only logs (CSV,
TensorBoard, terminal), evaluates the greedy policy on held-out athletes
through the evaluation harness, and writes checkpoints.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from coachrl.agents.networks import head_mask, make_policy_value_networks
from coachrl.agents.policy import Policy
from coachrl.agents.ppo.acting import make_actor_step, make_policy, value_of
from coachrl.agents.ppo.learning import (
    Batch,
    init_training_state,
    make_optimizer,
    make_update,
)
from coachrl.files import write_atomic
from coachrl.loggers import Logger, make_default_logger, progress
from coachrl.sim.population import sample_athletes
from coachrl.sim.world import LAST, AthleteWorld, WorldState
from coachrl.training.checkpoints import restore_training, save_training
from coachrl.training.config import TrainConfig

STATUS_EVERY_S = 30.0
# Held-out outcomes logged at each evaluation (columns eval_<name>; NaN between evaluations).
EVAL_METRICS = ("gain_pct", "injury_days", "illness_days", "violations", "habit_alignment",
                "recovery_gt60_pct", "delta_ctl", "hours_per_week")


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
    checkpoint: Path | None


class AgentSetup(NamedTuple):
    """What the generic training loop needs from a learner."""

    init_training: Callable[[jax.Array], Any]  # key -> TrainingState
    init_runner: Callable[[Any, jax.Array], RunnerState]  # (state, key) -> runner
    chunk: Callable[[RunnerState], tuple[RunnerState, dict]]  # jitted
    policy: Callable[..., Policy]  # (TrainingState, greedy=True) -> evaluation policy
    steps_per_call: int  # athlete-days stepped by one chunk
    runner_env_steps: int  # athlete-days stepped by init_runner (MPO fills its first rollout)


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


_SUMMED = ("seasons_finished", "return_sum", "gain_sum", "violations")


def aggregate(metrics: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Metrics of a chunk's iterations: season counts summed, the rest averaged (NaN: skipped)."""
    return {k: jnp.sum(v) if k in _SUMMED else jnp.nanmean(v) for k, v in metrics.items()}


def make_components(config: TrainConfig):
    """(world, networks, optimizer, update, act, total_updates) of a PPO run."""
    world = AthleteWorld(config.world)
    networks = make_policy_value_networks(world.nvec, config.ppo.hidden_sizes)
    total_updates = max(1, config.trainer.total_env_steps // config.trainer.steps_per_update)
    optimizer = make_optimizer(config.ppo, total_updates)
    update = make_update(networks, config.ppo, optimizer)
    act = make_actor_step(networks, config.ppo)
    return world, networks, optimizer, update, act, total_updates


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
    world, networks, optimizer, update, act, _ = make_components(config)
    t = config.trainer
    return AgentSetup(
        init_training=lambda key: init_training_state(key, networks, optimizer,
                                                      world.num_features),
        init_runner=lambda training, key: init_runner(config, world, training, key),
        chunk=make_train_chunk(config, world, networks, update, act),
        policy=lambda training, greedy=True: make_policy(networks, config.ppo, training.params,
                                                         training.obs_stats, greedy),
        steps_per_call=t.steps_per_update * t.updates_per_call, runner_env_steps=0)


def make_agent(config: TrainConfig) -> AgentSetup:
    """The learner of `config.agent`, set up for the jitted trainer."""
    if config.agent == "mpo":
        from coachrl.training.anakin_mpo import mpo_setup

        return mpo_setup(config)
    return ppo_setup(config)


def _season_stats(metrics: dict[str, Any]) -> dict[str, float]:
    """Per-chunk means of the seasons that ended (NaN when none did)."""
    n = float(metrics.pop("seasons_finished"))
    out = {k: float(v) for k, v in metrics.items() if k not in ("return_sum", "gain_sum")}
    out["season_return"] = float(metrics["return_sum"]) / n if n else math.nan
    out["season_gain_pct"] = float(metrics["gain_sum"]) / n if n else math.nan
    out["seasons_finished"] = n
    return out


def evaluate_policy(config: TrainConfig, policy: Policy, num_athletes: int | None = None,
                    seed: int | None = None) -> dict[str, float]:
    """Mean held-out outcomes of `policy` (the evaluation harness, no baselines)."""
    from coachrl.evaluation import evaluate

    result = evaluate({policy.name: policy}, config.world,
                      num_athletes or config.trainer.eval_athletes, config.trainer.eval_days,
                      seed=config.seed + 1 if seed is None else seed)
    means = result.metrics.mean(numeric_only=True)
    return {f"eval_{name}": float(means[name]) for name in EVAL_METRICS}


def train(config: TrainConfig, workdir: str | Path, resume: bool = False,
          logger: Logger | None = None, show_progress: bool | None = None,
          evaluate_at_end: bool = True,
          stop_when: Callable[[dict[str, float]], bool] | None = None) -> TrainResult:
    """Trains the coach of `config` in `workdir` (logs, checkpoints); resumes if asked.

    `stop_when(evaluation)` is asked after each periodic held-out evaluation and ends
    training early when it returns True (benchmarks stop at a target score).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    trainer = config.trainer
    agent = make_agent(config)
    total_calls = max(1, math.ceil(trainer.total_env_steps / agent.steps_per_call))
    key = jax.random.PRNGKey(config.seed)
    k_init, k_runner = jax.random.split(key)
    training = agent.init_training(k_init)
    env_steps = updates = 0
    elapsed_before = 0.0
    if resume:
        restored = restore_training(workdir, training, config)
        if restored is not None:
            training, counters = restored
            env_steps, updates = counters["env_steps"], counters["updates"]
            elapsed_before = counters.get("seconds", 0.0)
            k_runner = jax.random.fold_in(k_runner, updates)  # fresh athletes after a resume
            print(f"resumed from update {updates} ({env_steps:,} athlete-days)", flush=True)
        else:
            print(f"no checkpoint in {workdir}: starting afresh", flush=True)
    runner = agent.init_runner(training, k_runner)
    env_steps += agent.runner_env_steps
    logger = logger or make_default_logger(workdir)
    budget_s = trainer.max_minutes * 60.0 if trainer.max_minutes > 0 else math.inf
    steps_per_call = agent.steps_per_call
    calls = 0
    next_eval = (env_steps // trainer.eval_every_steps + 1) * trainer.eval_every_steps \
        if trainer.eval_every_steps else math.inf
    next_ckpt = (env_steps // trainer.checkpoint_every_steps + 1) * trainer.checkpoint_every_steps \
        if trainer.checkpoint_every_steps else math.inf
    last_eval: dict[str, float] = {}
    checkpoint: Path | None = None
    start, start_steps = time.perf_counter(), env_steps

    def counters() -> dict[str, Any]:
        return {"env_steps": env_steps, "updates": updates,
                "seconds": elapsed_before + time.perf_counter() - start}

    bar = progress(trainer.total_env_steps, desc="train",
                   disable=None if show_progress is None else not show_progress,
                   unit=" days", unit_scale=True, initial=env_steps)
    # Without a bar (not a terminal), a status line every STATUS_EVERY_S seconds instead.
    next_status = STATUS_EVERY_S if bar.disable and show_progress is not False else math.inf
    try:
        while env_steps < trainer.total_env_steps and calls < total_calls \
                and time.perf_counter() - start < budget_s:
            runner, metrics = agent.chunk(runner)
            metrics = jax.device_get(metrics)
            calls += 1
            updates += trainer.updates_per_call
            env_steps += steps_per_call
            seconds = time.perf_counter() - start
            row = _season_stats(dict(metrics))
            row.update(env_steps=env_steps, updates=updates,
                       env_steps_per_s=(env_steps - start_steps) / max(seconds, 1e-9))
            row.update({f"eval_{name}": math.nan for name in EVAL_METRICS})
            if env_steps >= next_eval:
                last_eval = evaluate_policy(config, agent.policy(runner.training))
                row.update(last_eval)
                next_eval += trainer.eval_every_steps
                bar.write(f"[{env_steps:,} athlete-days] held-out gain "
                          f"{last_eval['eval_gain_pct']:+.2f} %, injury days "
                          f"{last_eval['eval_injury_days']:.1f}, habit alignment "
                          f"{last_eval['eval_habit_alignment']:.2f}")
            logger.write(env_steps, row)
            bar.update(steps_per_call)
            bar.set_postfix(season_gain=f"{row['season_gain_pct']:+.2f}%",
                            ret=f"{row['season_return']:.1f}")
            if seconds >= next_status:
                print(f"[{seconds:5.0f} s] {env_steps:,} athlete-days ({updates} updates, "
                      f"{row['env_steps_per_s']:,.0f}/s): season return "
                      f"{row['season_return']:.2f}, season gain {row['season_gain_pct']:+.2f} %",
                      flush=True)
                next_status += STATUS_EVERY_S
            if env_steps >= next_ckpt:
                checkpoint = save_training(workdir, runner.training, config, counters())
                next_ckpt += trainer.checkpoint_every_steps
            if stop_when is not None and math.isfinite(row["eval_gain_pct"]) \
                    and stop_when(last_eval):
                break
    except KeyboardInterrupt:
        bar.write("interrupted: writing a final checkpoint")
        raise
    finally:
        bar.close()
        logger.close()
        checkpoint = save_training(workdir, runner.training, config, counters())
    seconds = time.perf_counter() - start
    if evaluate_at_end:
        last_eval = evaluate_policy(config, agent.policy(runner.training))
        write_atomic(workdir / "final_eval.json", json.dumps(
            {"env_steps": env_steps, "updates": updates, **last_eval}, indent=2))
        print("held-out evaluation of the final coach: " + ", ".join(
            f"{k.removeprefix('eval_')} {v:.3g}" for k, v in last_eval.items()), flush=True)
    return TrainResult(runner.training, env_steps, updates, seconds, last_eval, checkpoint)


__all__ = ["AgentSetup", "RunnerState", "TrainResult", "aggregate", "evaluate_policy",
           "init_envs", "init_runner", "make_agent", "make_components", "make_train_chunk",
           "season_metrics", "train", "world_rollout"]
