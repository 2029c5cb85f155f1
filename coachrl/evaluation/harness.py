"""The evaluation harness: policies -> held-out seasons -> metrics, statistics, files.

    result = evaluate({"fixed": make_baseline("fixed", config), ...}, config,
                      num_athletes=200, days=180, seed=0)
    write_evaluation(result, out_dir)   # metrics.csv, summary.csv, report.md, *.png

Every policy (a baseline or, later, a trained coach) faces the same held-out
athletes and the same random draws; the reference for the paired tests is the
best baseline on the primary metric (performance gain).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from coachrl.agents.baselines import NAMES as BASELINE_NAMES
from coachrl.agents.policy import Policy
from coachrl.evaluation.metrics import METRICS, PRIMARY, metrics_table
from coachrl.evaluation.rollout import Trajectory, evaluation_config, run_policies
from coachrl.evaluation.stats import best_policy, summarise
from coachrl.files import write_atomic
from coachrl.sim.config import WorldConfig


class Evaluation(NamedTuple):
    config: WorldConfig  # the world as evaluated (fixed season length)
    trajectories: dict[str, Trajectory]
    metrics: pd.DataFrame  # one row per (policy, athlete)
    summary: pd.DataFrame  # one row per (policy, metric): mean, SD, CI, paired test vs reference
    reference: str | None  # the best baseline on PRIMARY (None when no baseline was evaluated)
    setup: dict[str, Any]  # what was run, for the report
    seconds: float  # wall time of the rollouts


def evaluate(policies: Mapping[str, Policy], config: WorldConfig, num_athletes: int = 200,
             days: int = 180, seed: int = 0, race_probability: float | None = None,
             progress: bool = False) -> Evaluation:
    """Runs every policy on the same `num_athletes` held-out athletes for `days` days."""
    if not policies:
        raise ValueError("no policies to evaluate")
    config = evaluation_config(config, days, race_probability)
    start = time.perf_counter()
    trajectories = {}
    for name, policy in policies.items():
        tick = time.perf_counter()
        trajectories.update(run_policies({name: policy}, config, num_athletes, seed))
        if progress:
            print(f"  {name:<12} {num_athletes} athletes x {days} days  "
                  f"{time.perf_counter() - tick:5.1f} s", flush=True)
    seconds = time.perf_counter() - start
    metrics = metrics_table(trajectories, config)
    baselines = [name for name in policies if name in BASELINE_NAMES]
    higher = next(m.higher_is_better for m in METRICS if m.name == PRIMARY)
    reference = best_policy(metrics, baselines, PRIMARY, higher) if baselines else None
    summary = summarise(metrics, reference, seed=seed)
    setup = {
        "policies": ", ".join(policies), "athletes": f"{num_athletes} (held-out population)",
        "days": days, "seed": seed,
        "race probability": config.episode.race_probability,
        "reference (best baseline on performance gain)": reference or "none",
        "rollout time": f"{seconds:.1f} s",
    }
    return Evaluation(config, trajectories, metrics, summary, reference, setup, seconds)


def write_evaluation(result: Evaluation, out: str | Path,
                     extra_setup: Mapping[str, Any] | None = None) -> list[Path]:
    """Writes metrics.csv, summary.csv, the plots and report.md into `out`; returns the paths."""
    from coachrl.evaluation.plots import write_plots  # matplotlib only when writing
    from coachrl.evaluation.report import write_report

    out = Path(out)
    paths = [out / "metrics.csv", out / "summary.csv"]
    write_atomic(paths[0], result.metrics.to_csv(index=False, float_format="%.6g"))
    write_atomic(paths[1], result.summary.to_csv(index=False, float_format="%.6g"))
    plots = write_plots(out, result.trajectories, result.summary,
                        result.config.actions.durations_min)
    report = out / "report.md"
    write_report(report, result.summary, result.metrics, result.reference,
                 {**result.setup, **(extra_setup or {})}, [p.name for p in plots])
    return [*paths, *plots, report]


__all__ = ["Evaluation", "evaluate", "write_evaluation"]
