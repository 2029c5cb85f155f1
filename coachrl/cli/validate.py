"""`coachrl validate`: the virtual trials (published training studies) in the simulated world.

Prints a table (study, published, simulated mean [95 % CI], pass), writes report.md,
results.json and forest.png to --out, and prints as its last line one JSON object
{"trials": {...}, "passed": n, "total": m}. Exit code 1 when a trial fails, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from coachrl.cli.common import UsageError, add_world_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from coachrl.validation.trials import TRIAL_IDS

    parser.add_argument("--athletes", type=int, default=200,
                        help="held-out athletes per trial arm (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of athletes and noise")
    parser.add_argument("--out", default="runs/validation", help="folder for the report "
                        "(default runs/validation)")
    parser.add_argument("--trials", default="",
                        help=f"comma-separated trial ids (default all: {','.join(TRIAL_IDS)})")
    add_world_arguments(parser)


def handle(args: argparse.Namespace) -> int:
    """Runs the trials and writes the report; 0 when every trial passes, else 1."""
    from coachrl.config import ConfigError, load_world
    from coachrl.files import check_writable, write_atomic
    from coachrl.validation.report import forest_plot, table, write_report
    from coachrl.validation.trials import TRIAL_IDS, run_trials, summary_json

    if args.athletes < 2:
        raise UsageError(f"--athletes: {args.athletes}; need at least 2 for a confidence "
                         "interval")
    ids = [i.strip() for i in args.trials.split(",") if i.strip()]
    unknown = [i for i in ids if i not in TRIAL_IDS]
    if unknown:
        raise UsageError(f"--trials: unknown {', '.join(unknown)}; choose from "
                         f"{', '.join(TRIAL_IDS)}")
    try:
        out = check_writable(args.out)
    except OSError as error:
        raise UsageError(f"--out: cannot write to {args.out}: {error}") from None
    try:
        config, _ = load_world(args.config, args.overrides)
    except (ConfigError, OSError) as error:
        raise UsageError(f"--config: {error}") from None

    start = time.time()
    results = run_trials(config, args.athletes, args.seed, ids or None,
                         progress=lambda tid: print(f"running {tid} "
                                                    f"({time.time() - start:.0f} s)", flush=True))
    print(table(results))
    summary = summary_json(results)
    write_atomic(out / "results.json", json.dumps(summary, indent=2, ensure_ascii=False))
    write_report(results, out / "report.md", athletes=args.athletes, seed=args.seed)
    forest_plot(results, out / "forest.png")
    print(f"{summary['passed']}/{summary['total']} trials pass ({time.time() - start:.0f} s); "
          f"report: {out / 'report.md'}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["passed"] == summary["total"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    """scripts/validate_world.py."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return handle(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


__all__ = ["add_arguments", "handle", "main"]
