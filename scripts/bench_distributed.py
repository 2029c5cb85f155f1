"""Throughput of the distributed trainer with 1, 2 and 4 actor processes (JSON, last line).

    .venv/bin/python scripts/bench_distributed.py [--actors 1,2,4] [--window 30]
        [--config configs/ppo.yaml] [--set distributed.envs_per_actor=64 ...]

For each actor count it runs the program twice on this machine (Ray local):
- actors only: fixed parameters, a replay table that never blocks and no learner,
  so `actor_env_steps_per_s` is what the actors alone can step;
- end to end: the learner consuming (PPO: the queue holds the actors back to the
  learner's pace), giving `env_steps_per_s`, `learner_steps_per_s` and the observed
  `samples_per_insert` (sampled / inserted transitions).
Rates are measured over `--window` seconds once every actor is stepping (after
`--warmup` more seconds), from the counter's log rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "ppo.yaml"))
    parser.add_argument("--actors", default="1,2,4", help="comma-separated actor counts")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds skipped after the first steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (repeatable)")
    return parser.parse_args(argv)


def steady_rates(log: list[dict[str, float]], warmup: float) -> dict[str, float]:
    """Steps/s between the first row `warmup` s after stepping began and the last row."""
    stepping = [row for row in log if row["env_steps"] > 0]
    if len(stepping) < 2:
        raise RuntimeError("the run logged too few rows: raise --window")
    start_at = stepping[0]["seconds"] + warmup
    first = next((row for row in stepping if row["seconds"] >= start_at), stepping[0])
    last = stepping[-1]
    seconds = max(last["seconds"] - first["seconds"], 1e-9)
    return {"env_steps_per_s": (last["env_steps"] - first["env_steps"]) / seconds,
            "learner_steps_per_s": (last["learner_steps"] - first["learner_steps"]) / seconds,
            "measured_s": seconds}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.benchmarking import machine_info
    from coachrl.config import ConfigError
    from coachrl.training.config import load_train_config
    from coachrl.training.distributed.program import train_distributed

    try:
        config = load_train_config(args.config, args.overrides + ["trainer.max_minutes=0",
                                                                  "distributed.log_every_s=1"])
        counts = [int(n) for n in args.actors.split(",")]
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def measured_enough(log: list[dict[str, float]]) -> bool:
        stepping = [row for row in log if row["env_steps"] > 0]
        return bool(stepping) and (stepping[-1]["seconds"] - stepping[0]["seconds"]
                                   >= args.warmup + args.window)

    results = []
    for n in counts:
        row: dict[str, float] = {"num_actors": n}
        for consume in (False, True):
            with tempfile.TemporaryDirectory() as workdir:
                result = train_distributed(
                    config, workdir, num_actors=n, consume=consume, evaluate_at_end=False,
                    verbose=False, stop_when=measured_enough)
            rates = steady_rates(result.log, args.warmup)
            if consume:
                row.update(env_steps_per_s=rates["env_steps_per_s"],
                           learner_steps_per_s=rates["learner_steps_per_s"],
                           samples_per_insert=result.samples_per_insert,
                           measured_s=rates["measured_s"])
            else:
                row["actor_env_steps_per_s"] = rates["env_steps_per_s"]
            print(json.dumps({"consume": consume, **row}), flush=True)
        results.append(row)
    by_actors = {r["num_actors"]: r["actor_env_steps_per_s"] for r in results}
    report = {
        "benchmark": "distributed", "agent": config.agent,
        "envs_per_actor": config.distributed.envs_per_actor,
        "rollout_length": config.trainer.rollout_length, "window_s": args.window,
        "results": results,
        "actor_scaling_2_vs_1": by_actors[2] / by_actors[1] if {1, 2} <= by_actors.keys()
        else None,
        "machine": machine_info(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
