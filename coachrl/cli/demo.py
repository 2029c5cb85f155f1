"""`coachrl demo`: the whole demo in one command (what `make demo` runs).

1. a 180-day season for one athlete of each archetype under the fixed-periodisation
   baseline: OUT/season.png, OUT/summary.csv (`coachrl.cli.season`);
2. a PPO coach trained for --minutes in OUT/coach (kept from an earlier run unless
   --retrain);
3. the coach against every baseline on --athletes held-out athletes: OUT/evaluation;
4. 60 days of a simulated athlete's log in the demo's own store OUT/coach.db (rebuilt
   each run; a store holding any other athlete is refused, never replaced);
5. today's plan for that athlete: printed, and OUT/week.ics, OUT/workout.json.

Then: `coachrl today --checkpoint OUT/coach --db sqlite:///OUT/coach.db --athlete demo`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from coachrl.cli.common import UsageError

ATHLETE = "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="the demo's folder (default "
                        "runs/demo)")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="training budget in minutes (default 4; 15 = the full budget)")
    parser.add_argument("--retrain", action="store_true",
                        help="train a new coach even if OUT/coach holds one (it is replaced)")
    parser.add_argument("--athletes", type=int, default=200,
                        help="held-out athletes in the evaluation (default 200)")
    parser.add_argument("--days", type=int, default=180,
                        help="season length of the chart and the evaluation (default 180)")
    parser.add_argument("--log-days", type=int, default=60,
                        help="days in the demo athlete's log (default 60)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a training config key "
                        "(repeatable), e.g. ppo.hidden_sizes=[32]")


def _namespace(add, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def _demo_store(path: Path) -> str:
    """The URL of the demo's store at `path`, emptied if it held only the demo athlete."""
    url = f"sqlite:///{path}"
    if path.exists():
        from coachrl.coach.store import StoreError, open_store

        try:
            with open_store(url) as store:
                athletes = store.athletes()
        except StoreError as error:
            raise UsageError(f"{path}: {error}") from None
        if athletes not in ([], [ATHLETE]):
            raise UsageError(f"{path} holds other athletes ({', '.join(athletes)}): the demo "
                             "rebuilds its store there; choose another --out")
        path.unlink()
    return url


def handle(args: argparse.Namespace) -> int:
    from coachrl.devices import request_host_devices

    request_host_devices()  # the demo's PPO trainer uses every core (before JAX starts)
    from coachrl.checkpoint import latest_checkpoint
    from coachrl.cli import demo_log, evaluate, season, today, train
    from coachrl.config import CONFIG_DIR, DEFAULT_WORLD_FILE

    out = Path(args.out)
    if args.minutes <= 0:
        raise UsageError(f"--minutes {args.minutes:g}: must be > 0")
    print(f"== 1/5 a season per archetype -> {out}", flush=True)
    season.write_season(out, args.days, None, str(DEFAULT_WORLD_FILE), [])
    coach = out / "coach"
    if latest_checkpoint(coach) is not None and not args.retrain:
        print(f"\n== 2/5 the coach in {coach} (kept; --retrain trains a new one)", flush=True)
    else:
        print(f"\n== 2/5 training a PPO coach for {args.minutes:g} min -> {coach}", flush=True)
        if coach.exists():
            shutil.rmtree(coach)
        train.run_training(str(CONFIG_DIR / "ppo.yaml"), coach,
                           [*args.overrides, f"trainer.max_minutes={args.minutes:g}"])
    print(f"\n== 3/5 the coach against the baselines -> {out / 'evaluation'}", flush=True)
    evaluate.handle(_namespace(evaluate.add_arguments, [
        "--checkpoint", str(coach), "--out", str(out / "evaluation"),
        "--athletes", str(args.athletes), "--days", str(args.days)]))
    print(f"\n== 4/5 the demo athlete's log -> {out / 'coach.db'}", flush=True)
    url = _demo_store(out / "coach.db")
    demo_log.write_demo_log(ATHLETE, args.log_days, url)
    print("\n== 5/5 today's plan", flush=True)
    today.run(_namespace(today.add_arguments, [
        "--checkpoint", str(coach), "--athlete", ATHLETE, "--db", url,
        "--ics", str(out / "week.ics"), "--workout-file", str(out / "workout.json")]))
    print(f"\ndemo store: {out / 'coach.db'} (athlete '{ATHLETE}'); coach: {coach}\n"
          f"next: coachrl today --checkpoint {coach} --db {url}")
    return 0


__all__ = ["add_arguments", "handle"]
