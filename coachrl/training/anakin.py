"""The jitted single-machine trainer: rollouts and learner updates in one `lax.scan`.

    result = train(load_train_config("configs/ppo.yaml"), workdir="runs/ppo")

Anakin (Hessel et al. 2021, "Podracer architectures"; PureJaxRL): the batch of
athletes (`world.batch_step`, seasons restarting with new athletes), the
policy's sampling and the learner's updates (PPO: GAE and epochs of minibatch
updates, `anakin_ppo.py`; MPO: replay and many updates per rollout,
`anakin_mpo.py`) all live in one jitted function that runs `updates_per_call`
iterations. A learner plugs in through `AgentSetup`. The Python loop around it
(`train`, here) only logs (CSV, TensorBoard, terminal), evaluates the greedy
policy on held-out athletes through the evaluation harness, and writes
checkpoints.

Module layout (no import circle): `common.py` holds what the learners' halves
share (containers, rollouts, metrics, learners); `anakin_ppo.py` and
`anakin_mpo.py` build on it and not on each other; this module picks one
(`make_agent`) and runs it. The names that used to live here are still
importable from here.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from coachrl.files import write_atomic
from coachrl.loggers import Logger, make_default_logger, progress
from coachrl.training.anakin_mpo import mpo_setup
from coachrl.training.anakin_ppo import make_components, make_train_chunk, ppo_setup
from coachrl.training.checkpoints import restore_training, save_training
from coachrl.training.common import (
    EVAL_METRICS,
    AgentSetup,
    RunnerState,
    TrainResult,
    aggregate,
    evaluate_policy,
    init_envs,
    init_runner,
    season_metrics,
    world_rollout,
)
from coachrl.training.config import TrainConfig

STATUS_EVERY_S = 30.0


def make_agent(config: TrainConfig) -> AgentSetup:
    """The learner of `config.agent`, set up for the jitted trainer."""
    return mpo_setup(config) if config.agent == "mpo" else ppo_setup(config)


def _season_stats(metrics: dict[str, Any]) -> dict[str, float]:
    """Per-chunk means of the seasons that ended (NaN when none did)."""
    n = float(metrics.pop("seasons_finished"))
    out = {k: float(v) for k, v in metrics.items() if k not in ("return_sum", "gain_sum")}
    out["season_return"] = float(metrics["return_sum"]) / n if n else math.nan
    out["season_gain_pct"] = float(metrics["gain_sum"]) / n if n else math.nan
    out["seasons_finished"] = n
    return out


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
                last_eval = evaluate_policy(config, agent.policy(agent.training_of(runner)))
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
                checkpoint = save_training(workdir, agent.training_of(runner), config,
                                           counters())
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
        checkpoint = save_training(workdir, agent.training_of(runner), config, counters())
    seconds = time.perf_counter() - start
    training = agent.training_of(runner)
    if evaluate_at_end:
        last_eval = evaluate_policy(config, agent.policy(training))
        write_atomic(workdir / "final_eval.json", json.dumps(
            {"env_steps": env_steps, "updates": updates, **last_eval}, indent=2))
        print("held-out evaluation of the final coach: " + ", ".join(
            f"{k.removeprefix('eval_')} {v:.3g}" for k, v in last_eval.items()), flush=True)
    return TrainResult(training, env_steps, updates, seconds, last_eval, checkpoint)


__all__ = ["EVAL_METRICS", "AgentSetup", "RunnerState", "TrainResult", "aggregate",
           "evaluate_policy", "init_envs", "init_runner", "make_agent", "make_components",
           "make_train_chunk", "mpo_setup", "ppo_setup", "season_metrics", "train",
           "world_rollout"]
