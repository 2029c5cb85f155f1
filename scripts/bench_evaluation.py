"""Benchmarks the evaluation harness: every baseline on held-out athletes, as evaluate.py runs it.

    .venv/bin/python scripts/bench_evaluation.py [--athletes 200] [--days 180]

Times the rollouts (compilation included, as a user waits for it), the
statistics and the plots + report, and prints one JSON object as the last line:
seconds per phase, athlete-days per second, peak memory and the machine.
Target (issue 3): every baseline (six) x 200 athletes x 180 days in under 60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence

from coachrl.benchmarking import machine_info, peak_rss_mb

TARGET_S = 60.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--athletes", type=int, default=200)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import jax

    from coachrl.agents.baselines import NAMES, make_baseline
    from coachrl.config import default_world_config
    from coachrl.evaluation import evaluate, write_evaluation

    config = default_world_config()
    policies = {name: make_baseline(name, config) for name in NAMES}
    start = time.perf_counter()
    result = evaluate(policies, config, args.athletes, args.days, args.seed, progress=True)
    evaluated = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_evaluation(result, out)
    written = time.perf_counter()
    total = written - start
    report = {
        "policies": len(policies), "athletes": args.athletes, "days": args.days,
        "rollout_s": round(result.seconds, 2),
        "metrics_and_stats_s": round(evaluated - start - result.seconds, 2),
        "plots_and_report_s": round(written - evaluated, 2),
        "total_s": round(total, 2), "target_s": TARGET_S, "meets_target": total < TARGET_S,
        "athlete_days_per_s": round(len(policies) * args.athletes * args.days / result.seconds),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "jax_version": jax.__version__, "backend": jax.default_backend(),
        "machine": machine_info(),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
