"""Benchmarks one coach for all of a person's habits against the original's split coaches.

    .venv/bin/python scripts/bench_habits.py [--config configs/ppo_habits23.yaml]
        [--minutes 10] [--group_size 5] [--athletes 200] [--days 180] [--out DIR]

Trains, for the same wall time on this machine, (a) one PPO coach over every habit of
the run file's habit file and (b) the original CoachRL's workaround (seed 004): separate
coaches for groups of about `--group_size` habits, each trained with the other habits
held at their defaults (`habits.coached`) for its share of the time; a habit group of
the file ("at most K a day") stays within one coach. The split coaches act together:
the first also prescribes the training, each prescribes its own habits. Both, the
habit-greedy baseline and random are then evaluated on the same held-out athletes.

Prints a table and, as its last line, one JSON object
`{"habits": H, "single": {...}, "split": {...}, "greedy": {...}, "random": {...}}`,
each with `alignment` (mean over the season of 1 - mean|1 - EMA|), `kept_pct` (habit
prescriptions done as prescribed), `over_budget_min` (minutes a day prescribed beyond
the person's real free time) and `gain_pct`; the trained ones add
`athlete_days_per_s`. Target (issue 14): single >= 0.90 alignment, >= split and
>= greedy + 0.03, with less time over budget than greedy.
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

from coachrl.benchmarking import machine_info, peak_rss_mb

FIELDS = {"alignment": "habit_alignment", "kept_pct": "habit_adherence_pct",
          "over_budget_min": "over_budget_min", "gain_pct": "gain_pct",
          "injury_days": "injury_days", "violations": "violations"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from coachrl.config import CONFIG_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(CONFIG_DIR / "ppo_habits23.yaml"))
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="wall time of each of the two coaches (the split ones share it)")
    parser.add_argument("--group_size", type=int, default=5)
    parser.add_argument("--athletes", type=int, default=200, help="held-out athletes")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE")
    parser.add_argument("--host_devices", type=int, default=0,
                        help="XLA CPU devices to ask for (default 0: one per core)")
    return parser.parse_args(argv)


def habit_chunks(habits, size: int) -> list[tuple[str, ...]]:
    """Habits in file order packed into chunks of about `size`, a group never split."""
    names = [h.name for h in habits.items]
    units, seen = [], set()
    for name in names:
        if name in seen:
            continue
        group = next((g.habits for g in habits.groups if name in g.habits), (name,))
        unit = tuple(n for n in names if n in group)
        units.append(unit)
        seen.update(unit)
    chunks: list[list[str]] = [[]]
    for unit in units:
        if chunks[-1] and len(chunks[-1]) + len(unit) > size:
            chunks.append([])
        chunks[-1].extend(unit)
    return [tuple(c) for c in chunks]


def combined(policies, chunks, config):
    """One policy from the split coaches: training from the first, each its own habits."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from coachrl.agents.policy import Policy

    names = config.habit_names
    owner = np.zeros(len(names), np.int32)
    for k, chunk in enumerate(chunks):
        owner[[names.index(n) for n in chunk]] = k

    def init(key):
        return tuple(p.init(k) for p, k in zip(policies, jax.random.split(key, len(policies))))

    def step(state, obs, key):
        keys = jax.random.split(key, len(policies))
        out = [p.step(s, obs, k) for p, s, k in zip(policies, state, keys)]
        actions = jnp.stack([a for a, _ in out])  # [K, H]
        habits = actions[owner, 2 + np.arange(len(names))]
        return (jnp.concatenate([actions[0, :2], habits]).astype(jnp.int32),
                tuple(s for _, s in out))

    return Policy("split", init, step)


def train_coach(config, workdir: Path, minutes: float):
    """Trains a PPO coach for `minutes`; returns (policy, athlete-days per second)."""
    from coachrl.training.anakin import make_agent, train

    trainer = dataclasses.replace(config.trainer, max_minutes=minutes, eval_every_steps=0,
                                  checkpoint_every_steps=0)
    config = dataclasses.replace(config, trainer=trainer)
    start = time.perf_counter()
    result = train(config, workdir, show_progress=False, evaluate_at_end=False)
    seconds = time.perf_counter() - start
    return make_agent(config).policy(result.training), result.env_steps / seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.devices import request_host_devices

    request_host_devices(args.host_devices or None)
    from coachrl.agents.baselines import make_baseline
    from coachrl.evaluation.harness import evaluate
    from coachrl.training.config import load_train_config

    config = load_train_config(args.config, args.overrides)
    world = config.world
    if world.num_habits < 2:
        print(f"{args.config}: needs a habit file with 2 or more habits", file=sys.stderr)
        return 2
    chunks = habit_chunks(world.habits, args.group_size)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_habits_"))
    print(f"{world.num_habits} habits; split coaches: "
          + " | ".join(", ".join(c) for c in chunks), flush=True)

    print(f"training one coach for {args.minutes:g} min ...", flush=True)
    single, single_speed = train_coach(config, root / "single", args.minutes)
    split_policies, split_steps = [], []
    for k, chunk in enumerate(chunks):
        print(f"training split coach {k + 1}/{len(chunks)} ({', '.join(chunk)}) for "
              f"{args.minutes / len(chunks):.2f} min ...", flush=True)
        habits = dataclasses.replace(world.habits, coached=chunk)
        part = dataclasses.replace(config, world=dataclasses.replace(world, habits=habits))
        policy, speed = train_coach(part, root / f"split_{k}", args.minutes / len(chunks))
        split_policies.append(policy)
        split_steps.append(speed)
    policies = {"single": single, "split": combined(split_policies, chunks, world),
                "greedy": make_baseline("habit", world), "random": make_baseline("random", world)}
    print(f"evaluating on {args.athletes} held-out athletes x {args.days} days ...", flush=True)
    result = evaluate(policies, world, num_athletes=args.athletes, days=args.days,
                      seed=args.seed, progress=True)
    means = result.metrics.groupby("policy").mean(numeric_only=True)
    out: dict = {"habits": world.num_habits}
    for name in policies:
        out[name] = {k: round(float(means.loc[name, v]), 4) for k, v in FIELDS.items()}
    out["single"]["athlete_days_per_s"] = round(single_speed, 1)
    out["split"]["athlete_days_per_s"] = round(sum(split_steps) / len(split_steps), 1)
    print(f"\n{'policy':<8} {'alignment':>9} {'kept %':>7} {'over budget':>11} {'gain %':>7}")
    for name in policies:
        r = out[name]
        print(f"{name:<8} {r['alignment']:9.3f} {r['kept_pct']:7.1f} "
              f"{r['over_budget_min']:9.1f} m {r['gain_pct']:7.2f}")
    out.update(minutes_each=args.minutes, split_chunks=[list(c) for c in chunks],
               athletes=args.athletes, days=args.days, peak_rss_mb=peak_rss_mb(),
               machine=machine_info())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
