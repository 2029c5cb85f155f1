"""The daily coach as a service: an athlete's log in the store -> today's plan and the week.

    coach = load_coach("runs/demo/coach")            # coachrl.training.checkpoints
    store = open_store("sqlite:///runs/demo/coach.db")
    daily = today_plan(store, coach, "demo", dt.date(2026, 12, 2))
    daily.plan, daily.week, daily.result                # Plan, [Plan] x 7, the stored JSON

The one path from a log to a plan, used by the `coachrl today` command and the web app:
the logged days are screened (implausible readings become missing, and are named in the
reasons), the SHARED feature function is folded over the days before `date` plus the
morning of `date`, the coach decides under the SHARED safety masks, and the plan is
written to the store for that date (replacing an earlier plan of that date; logged data
are never touched).

The athlete's habit file (`Store.set_habits`), when they have one, must be the one the
coach was trained for (`HabitFileMismatch` names what differs); today's habits come out as
a to-do list in the person's units with the reasons for the ones pushed, with the body
weight's 7-day mean, trend and target band and the habits' alignment
(`coachrl.coach.todo`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from coachrl.coach.features import history_from_log, record_of, screened, with_gaps_filled
from coachrl.coach.plan import Plan, outlook
from coachrl.coach.store import Athlete, LoggedDay, Store
from coachrl.coach.todo import (
    HabitFileMismatch,
    habit_alignment,
    habit_file_differences,
    todo_list,
    week_shares,
    weight_status,
)
from coachrl.sim.config import WorldConfig

RECENT = dt.timedelta(days=7)  # the reasons name implausible readings of the last week,
RECENT_NOTES = 3  # at most this many
OUTLOOK_DAYS = 7
NO_HISTORY_REASON = "no logged days before today: the plan starts from a neutral history"


@dataclasses.dataclass(frozen=True)
class DailyPlan:
    plan: Plan  # today's, with the reasons of today's and the last week's readings
    week: list[Plan]  # today first, then the outlook
    result: dict[str, Any]  # what was written to the store (plan JSON + outlook + ids)


def initial_ctl(days: Sequence[LoggedDay], config: WorldConfig) -> float:
    """The athlete's load before the log: the mean daily TSS of its first 28 days."""
    first = with_gaps_filled(days)[:28]
    return (float(sum(float(record_of(d, config).tss) for d in first) / len(first))
            if first else 0.0)


def check_habit_file(config: WorldConfig, athlete: Athlete, coach_path: Any) -> None:
    """HabitFileMismatch when the athlete's habit file is not the one the coach was trained
    for, naming every habit and field that differs."""
    if athlete.habits is None:
        return
    differences = habit_file_differences(config.habits, athlete.habits)
    if differences:
        raise HabitFileMismatch(
            f"coach {coach_path} was trained for another habit file than athlete "
            f"{athlete.id!r}'s: " + "; ".join(differences) + ". Train a coach with the "
            "athlete's habit file (a world file with `habits: <their file>`), or give the "
            "athlete the coach's (`coachrl habits --set`).")


def today_plan(store: Store, coach: Any, athlete_id: str, date: dt.date,
               write: bool = True) -> DailyPlan:
    """Plans `date` for `athlete_id` with `coach` (a `load_coach` result) from the store's log.

    Raises the store's `StoreError` for an unknown athlete, `HabitFileMismatch` for an
    athlete whose habit file the coach was not trained for. `write=False` plans without
    writing the plan to the store.
    """
    config = coach.config.world
    athlete = store.athlete(athlete_id)
    check_habit_file(config, athlete, coach.path)
    checked = [screened(day) for day in store.days(athlete_id, end=date)]
    past = [day for day, _ in checked if day.date < date]
    today, today_notes = next(((day, notes) for day, notes in checked if day.date == date),
                              (LoggedDay(date), []))
    recent = [note for day, notes in checked if date - RECENT <= day.date < date
              for note in notes]
    history = history_from_log(past, config, initial_ctl(past, config), today=today)
    week = outlook(coach.policy, config, history, athlete, date, days=OUTLOOK_DAYS,
                   cautious=bool(today_notes))
    extra = today_notes + recent[-RECENT_NOTES:]
    if not past:
        extra.append(NO_HISTORY_REASON)
    habits = config.habits
    ema = np.asarray(history.habit_ema)
    todo = todo_list(week[0].action[2:], habits, ema, week_shares(past, habits, date))
    band = (athlete.habits or habits).weight_band_kg
    weight = weight_status([day for day, _ in checked], date, band)
    plan = dataclasses.replace(week[0], reasons=week[0].reasons + tuple(extra), todo=todo)
    week = [plan] + week[1:]
    result = {**plan.to_json(), "outlook": [p.to_json() for p in week[1:]],
              "athlete": athlete_id, "coach": str(coach.path),
              "weight": None if weight is None else weight.to_json(),
              "habit_alignment": round(habit_alignment(ema, weight), 3)}
    if write:
        store.write_plan(athlete_id, date, result)
    return DailyPlan(plan, week, result)


__all__ = ["DailyPlan", "HabitFileMismatch", "NO_HISTORY_REASON", "OUTLOOK_DAYS",
           "check_habit_file", "initial_ctl", "today_plan"]
