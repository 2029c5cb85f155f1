"""`coachrl evaluate`: compares coaches on held-out athletes; writes metrics, a report, plots.

    coachrl evaluate [--out runs/evaluation]
        [--policies random,rule,fixed,polarized,habit,coach] [--athletes 200] [--days 180]
        [--seed 0] [--race-probability P] [--checkpoint RUN_DIR [--sample]]
        [--config configs/world/default.yaml] [--set section.key=value ...]

With --checkpoint the trained coach (`ppo` or `mpo`: its most likely allowed action
each day; --sample draws from its policy instead) is compared with the baselines.
Every policy faces the same held-out athletes and the same random draws
(common random numbers). Writes DIR/metrics.csv (one row per policy and
athlete), DIR/summary.csv (mean, SD, 95 % bootstrap CI and a paired Wilcoxon
test against the best baseline, per policy and metric), DIR/report.md and the
plots pmc.png, metrics.png, actions.png and heatmap.png; prints the comparison.
Exits 2 on bad input (unknown policy, no athletes, bad config, unwritable DIR, a
missing, corrupt or mismatched checkpoint).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from coachrl.cli.common import UsageError, add_world_arguments

DEFAULT_OUT = "runs/evaluation"


def add_arguments(parser: argparse.ArgumentParser, out_required: bool = False) -> None:
    from coachrl.agents.baselines import NAMES
    parser.add_argument("--out", required=out_required,
                        default=None if out_required else DEFAULT_OUT,
                        help="output folder (created if missing)"
                        + ("" if out_required else f"; default {DEFAULT_OUT}"))
    parser.add_argument("--policies", default=",".join(NAMES),
                        help=f"comma-separated policies to compare (default: {','.join(NAMES)})")
    parser.add_argument("--athletes", type=int, default=200, help="held-out athletes (default 200)")
    parser.add_argument("--days", type=int, default=180, help="season length in days (default 180)")
    parser.add_argument("--seed", type=int, default=None,
                        help="picks the athletes and the noise (default: the run file's seed, "
                             "else 0)")
    parser.add_argument("--race-probability", type=float, default=None,
                        help="share of seasons with a race day (default: the world config's)")
    parser.add_argument("--checkpoint", default=None,
                        help="a training run folder (or one checkpoint): its coach joins the "
                             "comparison as 'ppo' or 'mpo'")
    parser.add_argument("--sample", action="store_true",
                        help="with --checkpoint: sample the coach's actions instead of the mode")
    add_world_arguments(parser)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags of scripts/evaluate.py (--out required)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, out_required=True)
    return parser.parse_args(argv)


def policy_names(text: str) -> list[str]:
    """The --policies list, checked: known names, no repeats, at least one."""
    from coachrl.agents.baselines import NAMES

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError("--policies: no policy given; choose from " + ", ".join(NAMES))
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise UsageError(f"--policies: unknown policy {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(NAMES)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--policies: a policy is listed twice in '{text}'")
    return names


def load_trained_coach(path: str, config, greedy: bool):
    """The coach in `path`, checked against the world (`WorldConfig`) it will be evaluated
    on."""
    from coachrl.checkpoint import CheckpointError
    from coachrl.sim.features import feature_names
    from coachrl.training.checkpoints import load_coach

    try:
        coach = load_coach(path, greedy=greedy)
    except CheckpointError as error:
        raise UsageError(f"--checkpoint: {error}") from None
    if coach.config.world.nvec != config.nvec or \
            feature_names(coach.config.world) != feature_names(config):
        raise UsageError(f"--checkpoint {path}: the coach was trained on other features or "
                         "actions than the world being evaluated (--config / --set)")
    return coach


def run(args: argparse.Namespace) -> Path:
    """Evaluates, writes the files and prints the comparison; returns the report's path.

    Raises UsageError, and ConfigError for a bad --config / --set."""
    from coachrl.agents.baselines import NAMES, make_baseline
    from coachrl.config import load_world
    from coachrl.evaluation import evaluate, evaluation_config, write_evaluation
    from coachrl.evaluation.metrics import PRIMARY
    from coachrl.evaluation.report import terminal_table
    from coachrl.files import check_writable

    names = policy_names(args.policies)
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file or folder")
    if args.athletes < 1:
        raise UsageError(f"--athletes: {args.athletes}; need at least 1 athlete")
    if args.race_probability is not None and not 0.0 <= args.race_probability <= 1.0:
        raise UsageError(f"--race-probability: {args.race_probability} is not in [0, 1]")
    config, run_seed = load_world(args.config, args.overrides)
    evaluation_config(config, args.days, args.race_probability)  # bad --days fail here, early
    seed = args.seed if args.seed is not None else (run_seed or 0)
    try:
        out = check_writable(args.out)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot write there "
                         f"({error.strerror or error})") from None

    start = time.perf_counter()
    print(f"Evaluating {len(names)} policies on {args.athletes} held-out athletes, "
          f"{args.days} days each (seed {seed}):", flush=True)
    policies = {name: make_baseline(name, config) for name in names}
    extra = {}
    if args.checkpoint is not None:
        coach = load_trained_coach(args.checkpoint, config, not args.sample)
        policies[coach.policy.name] = coach.policy
        counters = coach.metadata.get("counters", {})
        extra["checkpoint"] = (f"{coach.path} ({counters.get('env_steps', 0):,} athlete-days, "
                               f"{counters.get('seconds', 0.0) / 60:.1f} min of training; "
                               f"{'sampled' if args.sample else 'most likely'} actions)")
    result = evaluate(policies, config, args.athletes, args.days, seed, args.race_probability,
                      progress=True)
    from coachrl.config import DEFAULT_WORLD_FILE

    world_file = args.config or str(DEFAULT_WORLD_FILE)
    paths = write_evaluation(result, out, {"world config": world_file,
                                           "overrides": " ".join(args.overrides) or "none",
                                           **extra})
    print()
    print(terminal_table(result.summary).to_string())
    if result.reference is not None:
        rows = result.summary[(result.summary.metric == PRIMARY)
                              & (result.summary.policy != result.reference)]
        print(f"\nPerformance gain against the best baseline ({result.reference}), "
              "paired Wilcoxon signed-rank test:")
        best = float(result.summary[(result.summary.metric == PRIMARY)
                                    & (result.summary.policy == result.reference)]["mean"].iloc[0])
        for row in rows.itertuples():
            change = ""
            if row.policy not in NAMES and best != 0:
                change = (f"; mean {row.mean - best:+.2f} points = "
                          f"{100 * (row.mean - best) / abs(best):+.0f} % of |{best:.2f}|")
            print(f"  {row.policy:<12} median difference {row.median_diff_vs_ref:+.2f} "
                  f"percentage points, p = {row.p_value:.3g}{change}")
    print(f"\nwrote {', '.join(p.name for p in paths)} to {out} "
          f"({time.perf_counter() - start:.1f} s in all)")
    return out / "report.md"


def handle(args: argparse.Namespace) -> int:
    """Runs `run`; a bad config is a usage error (exit code 2)."""
    from coachrl.config import ConfigError

    try:
        run(args)
    except ConfigError as error:
        raise UsageError(f"bad config: {error}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/evaluate.py: exit code 2 on bad input."""
    args = parse_args(argv)
    try:
        return handle(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


__all__ = ["add_arguments", "handle", "load_trained_coach", "main",
           "parse_args", "policy_names", "run"]
