"""Evaluation: policies on held-out athletes, outcome metrics, statistics, plots and a report."""

from coachrl.evaluation.harness import Evaluation, evaluate, write_evaluation
from coachrl.evaluation.metrics import METRICS, PRIMARY, athlete_metrics, metrics_table
from coachrl.evaluation.rollout import Trajectory, evaluation_config, rollout, run_policies

__all__ = ["METRICS", "PRIMARY", "Evaluation", "Trajectory", "athlete_metrics", "evaluate",
           "evaluation_config", "metrics_table", "rollout", "run_policies", "write_evaluation"]
