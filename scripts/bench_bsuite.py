"""Trains an agent on a bsuite task and scores it: the single-process dm_env loop, or the
distributed trainer.

    .venv/bin/python scripts/bench_bsuite.py --agent ppo --bsuite_id catch/0
        [--results_dir DIR] [--episodes N] [--seed 0] [--set ppo.key=value ...]
        [--backend distributed --num_actors 2 --envs_per_actor 1]

Runs bsuite's full episode budget for the task (or --episodes), records it with
bsuite's own CSV logger, and scores it with bsuite's analysis (regret-based,
0 to 1). Distributed, every actor steps its own instances of the task and the
first instance of actor 0 is the one recorded and scored; the run stops when it
has played the budget. Prints one JSON object as its last line: score,
env_steps_per_s, episodes, steps, seconds and the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Hyper-parameters for bsuite's small tasks (PPO on one environment).
BSUITE_PPO = {"hidden_sizes": (64, 64), "learning_rate": 2e-3, "num_epochs": 8,
              "num_minibatches": 2, "entropy_coef": 0.01, "discount": 0.99,
              "lr_schedule": "constant", "normalize_observations": False}
ROLLOUT_LENGTH = 64
# MPO on one environment: a small replay, learning from the first few hundred steps.
BSUITE_MPO = {"hidden_sizes": (64, 64), "critic_hidden_sizes": (64, 64), "num_samples": 16,
              "n_step": 3, "batch_size": 64, "samples_per_insert": 16.0,
              "replay_capacity": 100_000, "min_replay_size": 500, "learning_rate": 1e-3,
              "epsilon": 0.5, "epsilon_policy": 0.5, "target_update_rate": 0.1,
              "normalize_observations": False}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", choices=["ppo", "mpo"], default="ppo")
    parser.add_argument("--bsuite_id", default="catch/0", help="e.g. catch/0, cartpole/0")
    parser.add_argument("--results_dir", default=None, help="bsuite CSV folder (default: temp)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="episodes to run (default: the task's full bsuite budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rollout_length", type=int, default=ROLLOUT_LENGTH,
                        help="PPO: steps between updates")
    parser.add_argument("--backend", choices=["loop", "distributed"], default="loop")
    parser.add_argument("--num_actors", type=int, default=2, help="distributed: actors")
    parser.add_argument("--envs_per_actor", type=int, default=1,
                        help="distributed: task instances per actor")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override an agent key, e.g. ppo.learning_rate=3e-4 (repeatable)")
    return parser.parse_args(argv)


def agent_config(agent: str, overrides: Sequence[str]):
    """The agent's config: this script's defaults for bsuite, then `--set <agent>.key=value`."""
    import yaml

    from coachrl.agents.mpo.config import MPOConfig
    from coachrl.agents.ppo.config import PPOConfig
    from coachrl.schema import ConfigError

    cls, values = (PPOConfig, dict(BSUITE_PPO)) if agent == "ppo" else (MPOConfig,
                                                                        dict(BSUITE_MPO))
    names = {f.name for f in dataclasses.fields(cls)}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().removeprefix(f"{agent}.")
        if not sep or key not in names:
            raise ConfigError(f"--set {item}: expected {agent}.<key>=value with a key among "
                              + ", ".join(sorted(names)))
        value = yaml.safe_load(text)
        values[key] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def bsuite_score(results_dir: str, bsuite_id: str) -> float:
    """bsuite's own score of the run (the experiment's `analysis.score`, 0 to 1)."""
    import importlib

    from bsuite.logging import csv_load

    df, _ = csv_load.load_bsuite(results_dir)
    experiment = bsuite_id.split("/")[0]
    analysis = importlib.import_module(f"bsuite.experiments.{experiment}.analysis")
    return float(analysis.score(df[df.bsuite_id == bsuite_id]))


def run(args: argparse.Namespace, results_dir: str) -> dict:
    import bsuite

    from coachrl.schema import to_dict
    from coachrl.training.loop import EnvironmentLoop, MPOAgent, PPOAgent

    config = agent_config(args.agent, args.overrides)
    env = bsuite.load_and_record_to_csv(args.bsuite_id, results_dir=results_dir, overwrite=True)
    episodes = args.episodes or env.bsuite_num_episodes
    if args.agent == "ppo":
        # Budget the learning-rate schedule on a guess of the steps (episode lengths vary).
        agent = PPOAgent.for_env(env, config, args.rollout_length, total_steps=episodes * 50,
                                 seed=args.seed)
    else:
        agent = MPOAgent.for_env(env, config, seed=args.seed)
    loop = EnvironmentLoop(env, agent)
    start = time.perf_counter()
    returns = []
    for episode in range(episodes):
        returns.append(loop.run_episode()["episode_return"])
        if (episode + 1) % max(1, episodes // 10) == 0:
            print(f"[{args.bsuite_id}] episode {episode + 1}/{episodes}: mean return of the "
                  f"last {len(returns[-100:])} {sum(returns[-100:]) / len(returns[-100:]):.3f}",
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    return {"agent": args.agent, "bsuite_id": args.bsuite_id,
            "score": bsuite_score(results_dir, args.bsuite_id),
            "env_steps_per_s": loop.steps / seconds, "episodes": episodes, "steps": loop.steps,
            "seconds": seconds, "seed": args.seed,
            **({"rollout_length": args.rollout_length} if args.agent == "ppo" else {}),
            args.agent: to_dict(config)}


def bsuite_envs(bsuite_id: str, results_dir: str, num_envs: int, index: int):
    """Actor `index`'s instances of the task; actor 0's first one records to `results_dir`."""
    import bsuite

    from coachrl.training.distributed.environments import DmEnvBatch

    def make(i: int):
        if index == 0 and i == 0:
            return bsuite.load_and_record_to_csv(bsuite_id, results_dir=results_dir,
                                                 overwrite=True)
        return bsuite.load_from_id(bsuite_id)

    return DmEnvBatch(make, num_envs)


def recorded_episodes(results_dir: str) -> int:
    """The last episode bsuite's CSV logger has written (0 before its first row)."""
    import glob

    import pandas as pd

    files = glob.glob(f"{results_dir}/*.csv")
    try:
        frame = pd.read_csv(files[0])
    except (IndexError, pd.errors.EmptyDataError):  # no file, or no row written yet
        return 0
    return int(frame["episode"].max()) if len(frame) else 0


def run_distributed(args: argparse.Namespace, results_dir: str) -> dict:
    import functools

    import bsuite

    from coachrl.schema import to_dict
    from coachrl.training.config import load_train_config
    from coachrl.training.distributed.program import train_distributed

    agent = agent_config(args.agent, args.overrides)
    episodes = args.episodes or bsuite.load_from_id(args.bsuite_id).bsuite_num_episodes
    sets = [f"distributed.envs_per_actor={args.envs_per_actor}", "trainer.max_minutes=0",
            "distributed.log_every_s=1",
            f"trainer.rollout_length={args.rollout_length // 2}", f"seed={args.seed}"]
    config = dataclasses.replace(
        load_train_config(ROOT / "configs" / f"{args.agent}.yaml", sets), **{args.agent: agent})
    make_envs = functools.partial(bsuite_envs, args.bsuite_id, results_dir, args.envs_per_actor)
    with tempfile.TemporaryDirectory() as workdir:
        result = train_distributed(
            config, workdir, num_actors=args.num_actors, make_envs=make_envs,
            stop_when=lambda log: recorded_episodes(results_dir) >= episodes)
    return {"agent": args.agent, "backend": "distributed", "bsuite_id": args.bsuite_id,
            "score": bsuite_score(results_dir, args.bsuite_id),
            "env_steps_per_s": result.env_steps / max(result.seconds, 1e-9),
            "episodes": episodes, "steps": result.env_steps, "seconds": result.seconds,
            "learner_steps": result.learner_steps, "num_actors": args.num_actors,
            "envs_per_actor": args.envs_per_actor, "seed": args.seed,
            "samples_per_insert": result.samples_per_insert, args.agent: to_dict(agent)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.schema import ConfigError

    runner = run_distributed if args.backend == "distributed" else run
    try:
        if args.results_dir:
            report = runner(args, args.results_dir)
        else:
            with tempfile.TemporaryDirectory() as results_dir:
                report = runner(args, results_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
