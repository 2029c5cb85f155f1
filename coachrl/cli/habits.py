"""`coachrl habits`: an athlete's habit file, stored with them, and where each habit stands.

    coachrl habits --athlete me --set configs/habits/coachrl23.yaml   # give them a file
    coachrl habits --athlete me                                      # list it, with status

A habit file (`configs/habits/*.yaml`, README "Your own habits") names the habits, their
units, levels, goals, groups, the day's time budget and a target body weight. `--set`
stores it with the athlete (a new file is added next to the earlier ones, which are kept;
the same file again changes nothing); from then on `coachrl log` takes those habits, and
`coachrl today` plans them (only with a coach trained for that file: it names what
differs otherwise). Without `--set` it prints each habit's goal and where it stands in the
log: its EMA (1 = at the goal) and the share of a week's goal done in the last 7 days.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from coachrl.cli.common import UsageError, parse_date
from coachrl.cli.logs import DB_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--athlete", required=True, help="the athlete's id in the store")
    parser.add_argument("--set", default=None, metavar="FILE", dest="habit_file",
                        help="store this habit file with the athlete (YAML, "
                             "configs/habits/*.yaml)")
    parser.add_argument("--new-athlete", action="store_true",
                        help="add the athlete first (with --set)")
    parser.add_argument("--date", default=None, help="the status as of this day, YYYY-MM-DD "
                        "(default: today)")
    parser.add_argument("--db", default=None, help=DB_HELP)
    parser.add_argument("--format", choices=["table", "json"], default="table",
                        help="what to print (default: table)")


def status(store, athlete_id: str, date) -> dict[str, Any]:
    """The athlete's habit file in force and each habit's standing in the log before `date`."""
    from coachrl.coach.todo import (
        ema_from_log,
        habit_alignment,
        status_of,
        week_shares,
        weight_status,
    )

    athlete = store.athlete(athlete_id)
    if athlete.habits is None:
        raise UsageError(f"--athlete {athlete_id}: no habit file stored yet (`coachrl habits "
                         f"--athlete {athlete_id} --set FILE`)")
    habits = athlete.habits
    days = store.days(athlete_id, end=date)
    past = [d for d in days if d.date < date]
    ema = ema_from_log(past, habits)
    shares = week_shares(past, habits, date)
    weight = weight_status(days, date, habits.weight_band_kg)
    rows = [{"habit": h.name, "unit": h.unit, "weekly_goal": h.weekly_goal,
             "goal": (f"{h.amount:g} {h.unit}, {h.days_per_week:g} days a week"
                      if h.days_per_week is not None else f"{h.weekly_amount:g} {h.unit} a week"),
             "levels": list(h.levels), "effect": h.effect, "ema": round(float(e), 3),
             "week_share": round(float(s), 3), "status": status_of(float(e))}
            for h, e, s in zip(habits.items, ema, shares)]
    return {"athlete": athlete_id, "date": date.isoformat(), "habits": rows,
            "groups": [{"name": g.name, "habits": list(g.habits), "at_most": g.at_most}
                       for g in habits.groups],
            "time_budget_min": habits.time_budget_min,
            "weight": None if weight is None else weight.to_json(),
            "alignment": round(habit_alignment(ema, weight), 3)}


def table(result: dict[str, Any]) -> str:
    rows = result["habits"]
    width = max([len(r["habit"]) for r in rows] + [5])
    goal = max([len(r["goal"]) for r in rows] + [4])
    out = [f"{result['athlete']}'s habits on {result['date']}:",
           f"  {'habit':<{width}}  {'goal':<{goal}} {'EMA':>5} {'7 days':>7}  status"]
    out += [f"  {r['habit']:<{width}}  {r['goal']:<{goal}} {r['ema']:5.2f} "
            f"{r['week_share']:7.0%}  {r['status']}" for r in rows]
    out += [f"  group {g['name']}: at most {g['at_most']} of {', '.join(g['habits'])} a day"
            for g in result["groups"]]
    if result["time_budget_min"] is not None:
        out.append(f"  time budget: {result['time_budget_min']:g} min a day (training and "
                   "habits)")
    if result["weight"]:
        out.append(f"  {result['weight']['text']}")
    out.append(f"  alignment {result['alignment']:.2f} (1 = every goal met)")
    return "\n".join(out)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from coachrl.coach.store import StoreError, default_url, open_store
    from coachrl.config import ConfigError, load_habit_file

    date = parse_date(args.date)
    habits = None
    if args.habit_file is not None:
        try:
            habits = load_habit_file(args.habit_file)
        except ConfigError as error:
            raise UsageError(f"--set {error}") from None
    elif args.new_athlete:
        raise UsageError("--new-athlete needs --set FILE (the athlete's habit file)")
    url = args.db or default_url()
    try:
        with open_store(url) as store:
            if args.new_athlete:
                store.add_athlete(args.athlete)
            if habits is not None:
                new = store.set_habits(args.athlete, habits)
                print(f"{'stored' if new else 'already in force:'} the habit file "
                      f"{args.habit_file} ({len(habits.items)} habits) for '{args.athlete}' "
                      f"in {url}")
            result = status(store, args.athlete, date)
    except StoreError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(result) if args.format == "json" else table(result))
    return result


def handle(args: argparse.Namespace) -> int:
    run(args)
    return 0


__all__ = ["add_arguments", "handle", "run", "status", "table"]
