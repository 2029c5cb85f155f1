"""Today's plan for a logged athlete from a trained coach (the daily coach).

    .venv/bin/python scripts/daily_inference.py --checkpoint runs/demo/coach --athlete demo
        [--date YYYY-MM-DD] [--db URL] [--format table|json] [--ics FILE]
        [--workout-file FILE]

Reads the athlete's log from the store (SQLite at $COACHRL_HOME/coach.db or
~/.coachrl/coach.db by default; any SQLAlchemy URL with --db), folds the SHARED
feature function over it, applies the SHARED safety masks, asks the coach, and
prints today's plan (session, minutes, zones from the athlete's thresholds,
structured steps, habits, the reasons) with a 7-day outlook. The plan is written
to the store for that date (replacing an earlier plan of that date; logged data
are never touched). --ics writes the week as an iCalendar file; --workout-file
writes today's structured workout as JSON. Exits 2 on bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from coachrl.files import check_writable, write_atomic


class UsageError(Exception):
    pass


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a training run folder or checkpoint")
    parser.add_argument("--athlete", required=True, help="the athlete's id in the store")
    parser.add_argument("--date", default=None, help="the day to plan (default: today)")
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--ics", default=None, help="write the 7-day plan as iCalendar here")
    parser.add_argument("--workout-file", default=None,
                        help="write today's structured workout (JSON) here")
    return parser.parse_args(argv)


def ics(plans, athlete_id: str) -> str:
    """An iCalendar (RFC 5545) file: one all-day event per planned day."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//CoachRL//daily coach//EN"]
    for p in plans:
        title = p.label + (f" {p.minutes:.0f} min" if p.minutes else "")
        steps = "\\n".join(f"{s.name}: {s.minutes:g} min at {s.target}" for s in p.steps)
        lines += ["BEGIN:VEVENT", f"UID:coachrl-{athlete_id}-{p.date.isoformat()}",
                  f"DTSTAMP:{stamp}", f"DTSTART;VALUE=DATE:{p.date.strftime('%Y%m%d')}",
                  f"SUMMARY:{title}", f"DESCRIPTION:{steps or 'rest day'}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def table(plan, week) -> str:
    out = [f"{plan.date.isoformat()}: {plan.label}"
           + (f", {plan.minutes:.0f} min (~{plan.load_tss:.0f} TSS)" if plan.minutes else "")]
    out += [f"  {s.name:<16} {s.minutes:5.0f} min  {s.target}" for s in plan.steps]
    out.append("  habits: " + ", ".join(f"{k} {v}" for k, v in plan.habits.items()))
    out.append("  why:")
    out += [f"    - {r}" for r in plan.reasons]
    out.append("  next days:")
    out += [f"    {p.date.strftime('%a %d %b')}: {p.label}"
            + (f" {p.minutes:.0f} min" if p.minutes else "") for p in week[1:]]
    return "\n".join(out)


def run(args: argparse.Namespace) -> dict:
    from coachrl.checkpoint import CheckpointError
    from coachrl.coach.daily import today_plan
    from coachrl.coach.store import StoreError, open_store
    from coachrl.training.checkpoints import load_coach

    try:
        date = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    except ValueError:
        raise UsageError(f"--date {args.date!r}: expected YYYY-MM-DD") from None
    try:
        coach = load_coach(args.checkpoint)
    except (CheckpointError, OSError) as error:
        raise UsageError(f"--checkpoint {args.checkpoint}: {error}") from None
    for flag, path in (("--ics", args.ics), ("--workout-file", args.workout_file)):
        try:
            if path:  # checked before anything is written
                check_writable(Path(path).resolve().parent)
        except OSError as error:
            raise UsageError(f"{flag} {path}: cannot write there ({error})") from None
    try:
        daily = today_plan(open_store(args.db), coach, args.athlete, date)
    except StoreError as error:
        raise UsageError(str(error)) from None
    plan, week, result = daily.plan, daily.week, daily.result
    if args.ics:
        write_atomic(args.ics, ics(week, args.athlete))
    if args.workout_file:
        write_atomic(args.workout_file, json.dumps(
            {"date": date.isoformat(), "sport_session": plan.session, "minutes": plan.minutes,
             "steps": result["steps"]}, indent=2))
    print(json.dumps(result) if args.format == "json" else table(plan, week))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
