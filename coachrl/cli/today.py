"""`coachrl today`: today's plan for a logged athlete from a trained coach.

Reads the athlete's log from the store, folds the SHARED feature function over it,
applies the SHARED safety masks, asks the coach, prints today's plan (session, minutes,
zones from the athlete's thresholds, structured steps, habits, the reasons) with a 7-day
outlook, and writes the plan to the store for that date (replacing an earlier plan of
that date; logged data are never touched). Never imports TensorFlow, Ray or Reverb; JAX's
compiled programs are cached (`coachrl.cli.common.enable_compile_cache`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from coachrl.cli.common import (
    UsageError,
    coach_candidates,
    default_checkpoint,
    enable_compile_cache,
    parse_date,
    writable_file,
)


def add_arguments(parser: argparse.ArgumentParser, checkpoint_required: bool = False) -> None:
    looked = ", ".join(str(p) for p in coach_candidates())
    parser.add_argument("--checkpoint", required=checkpoint_required, default=None,
                        help="a training run folder or one checkpoint (default: the first "
                             f"holding a checkpoint of $COACHRL_CHECKPOINT or: {looked})")
    parser.add_argument("--athlete", default=None,
                        help="the athlete's id in the store (default: the store's only athlete)")
    parser.add_argument("--date", default=None, help="the day to plan, YYYY-MM-DD (default: "
                        "today)")
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite "
                        "at $COACHRL_HOME/coach.db or ~/.coachrl/coach.db)")
    parser.add_argument("--format", choices=["table", "json"], default="table",
                        help="what to print (default: table)")
    parser.add_argument("--ics", default=None, metavar="FILE",
                        help="write the 7-day plan as an iCalendar file here")
    parser.add_argument("--zwo", default=None, metavar="FILE",
                        help="write today's workout as a Zwift .zwo file here")
    parser.add_argument("--fit", default=None, metavar="FILE",
                        help="write today's workout as a FIT workout file here")
    parser.add_argument("--workout-file", default=None, metavar="FILE",
                        help="write today's structured workout as JSON here")
    parser.add_argument("--dry-run", action="store_true",
                        help="plan without writing the plan to the store")


def handle(args: argparse.Namespace) -> int:
    run(args)
    return 0


def ics(plans, athlete_id: str) -> str:
    """An iCalendar (RFC 5545) file: one all-day event per planned day (used for --ics when
    `coachrl.coach.exports` is not there)."""
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


def todo_lines(plan, result: dict[str, Any] | None = None) -> list[str]:
    """Today's habits as a to-do list (the pushed ones with their reason), then the body
    weight and the habits' alignment when the daily coach gave them."""
    if not plan.todo:
        return ["  habits: " + ", ".join(f"{k} {v}" for k, v in plan.habits.items())]
    todo = [t for t in plan.todo if t.amount > 0]
    width = max([len(t.name) for t in todo] + [1])
    out = ["  habits to do today:"]
    for t in todo:
        time = f" ({t.minutes:.0f} min)" if t.minutes >= 1 and t.unit != "min" else ""
        why = f"  <- {t.reason.split(': ', 1)[1]}" if t.reason else f"  ({t.status})"
        out.append(f"    [ ] {t.name:<{width}}  {t.text}{time}{why}")
    if skipped := [t.name for t in plan.todo if t.amount <= 0]:
        out.append(f"    not today: {', '.join(skipped)}")
    result = result or {}
    if result.get("weight"):
        out.append(f"  {result['weight']['text']}")
    if result.get("habit_alignment") is not None:
        out.append(f"  habit alignment {result['habit_alignment']:.2f} (1 = every goal met)")
    return out


def table(plan, week, result: dict[str, Any] | None = None) -> str:
    """Today's plan and the outlook as terminal text."""
    out = [f"{plan.date.isoformat()}: {plan.label}"
           + (f", {plan.minutes:.0f} min (~{plan.load_tss:.0f} TSS)" if plan.minutes else "")]
    out += [f"  {s.name:<16} {s.minutes:5.0f} min  {s.target}" for s in plan.steps]
    out += todo_lines(plan, result)
    out.append("  why:")
    out += [f"    - {r}" for r in plan.reasons]
    out.append("  next days:")
    out += [f"    {p.date.strftime('%a %d %b')}: {p.label}"
            + (f" {p.minutes:.0f} min" if p.minutes else "") for p in week[1:]]
    return "\n".join(out)


def _exports(need: bool):
    """`coachrl.coach.exports`, or None when it is not there (an older build); `need`:
    a flag that has no fallback asked for it."""
    try:
        from coachrl.coach import exports
    except ImportError as error:
        if need:
            raise UsageError(f"--zwo / --fit need coachrl.coach.exports, which this build "
                             f"lacks ({error})") from None
        return None
    return exports


def athlete_of(store, athlete: str | None) -> str:
    """`athlete`, or the store's only athlete when None."""
    if athlete is not None:
        return athlete
    known = store.athletes()
    if len(known) != 1:
        raise UsageError("--athlete: " + (f"the store holds {len(known)} athletes "
                                          f"({', '.join(known)}); say which" if known else
                                          "the store holds no athlete yet (`coachrl import "
                                          "--new-athlete` or `coachrl demo`)"))
    return known[0]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Plans the day, writes the files asked for, prints the plan; returns the plan JSON."""
    date = parse_date(args.date)
    files = {flag: writable_file(getattr(args, name), flag)  # checked before any write
             for flag, name in (("--ics", "ics"), ("--zwo", "zwo"), ("--fit", "fit"),
                                ("--workout-file", "workout_file"))}
    exports = _exports(need=bool(files["--zwo"] or files["--fit"])) if any(
        files[f] for f in ("--ics", "--zwo", "--fit")) else None
    checkpoint = args.checkpoint or default_checkpoint()
    enable_compile_cache()
    from coachrl.checkpoint import CheckpointError
    from coachrl.coach.daily import HabitFileMismatch, today_plan
    from coachrl.coach.store import StoreError, open_store
    from coachrl.files import write_atomic
    from coachrl.training.checkpoints import load_coach

    try:
        coach = load_coach(checkpoint)
    except (CheckpointError, OSError) as error:
        raise UsageError(f"--checkpoint {checkpoint}: {error}") from None
    try:
        with open_store(args.db) as store:
            athlete_id = athlete_of(store, args.athlete)
            daily = today_plan(store, coach, athlete_id, date, write=not args.dry_run)
            athlete = store.athlete(athlete_id)
    except (StoreError, HabitFileMismatch) as error:
        raise UsageError(str(error)) from None
    plan, week, result = daily.plan, daily.week, daily.result
    try:
        if files["--ics"]:
            write_atomic(files["--ics"], exports.calendar(week, athlete_id) if exports
                         else ics(week, athlete_id))
        if files["--zwo"]:
            write_atomic(files["--zwo"], exports.zwift_workout(plan, athlete))
        if files["--fit"]:
            write_atomic(files["--fit"], exports.fit_workout(plan, athlete))
    except ValueError as error:  # e.g. no workout on a rest day
        raise UsageError(f"cannot write the workout file: {error}") from None
    if files["--workout-file"]:
        write_atomic(files["--workout-file"], json.dumps(
            {"date": date.isoformat(), "sport_session": plan.session, "minutes": plan.minutes,
             "steps": result["steps"]}, indent=2))
    print(json.dumps(result) if args.format == "json" else table(plan, week, result))
    return result


__all__ = ["add_arguments", "athlete_of", "handle", "ics", "run", "table", "todo_lines"]
