"""Today's habits as a to-do list in the person's own units, their body weight, and the check
that a coach was trained for the athlete's habit file.

    todo = todo_list(plan.action[2:], habits, history.habit_ema, week_shares(days, habits, date))
    weight = weight_status(days, date, habits.weight_band_kg)
    score = habit_alignment(history.habit_ema, weight)
    differences = habit_file_differences(coach_habits, athlete_habits)   # [] = the same

A habit's status is read from its goal-normalised EMA (`coachrl.sim.habits`, the number the
coach sees): behind below 1 - ON_TRACK, ahead above 1 + ON_TRACK, else on track. The to-do
list gives a reason for each habit pushed today (prescribed above its default level), e.g.
"reading: EMA 0.62 of the goal, 45 % of a week's goal done in the last 7 days: behind".
The body weight's 7-day mean, its trend (least squares over the last TREND_DAYS, in kg a
week) and, when the habit file sets `weight_band_kg`, its score (`habits.weight_score`)
counted in the alignment as one more item.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from coachrl.coach.features import with_gaps_filled
from coachrl.coach.store import LoggedDay
from coachrl.schema import to_dict
from coachrl.sim import habits as habits_lib
from coachrl.sim.config import HabitsConfig

ON_TRACK = 0.1  # an EMA within 10 % of the goal is on track
WEEK = 7
TREND_DAYS = 14  # the weight trend is fitted over the last two weeks
TREND_MIN_POINTS = 3


class HabitFileMismatch(ValueError):
    """A coach trained for one habit file asked to plan for an athlete with another."""


@dataclasses.dataclass(frozen=True)
class HabitTodo:
    """One habit on today's to-do list."""

    name: str
    amount: float  # prescribed today, in `unit`
    unit: str
    minutes: float  # the time it takes
    pushed: bool  # prescribed above the person's default level
    ema: float  # goal-normalised EMA this morning (1 = at the goal)
    week_share: float  # share of a week's goal done in the last 7 days
    status: str  # behind / on track / ahead
    reason: str | None  # why it is pushed today (pushed habits only)

    @property
    def text(self) -> str:
        return f"{self.amount:g} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "text": self.text, "ema": round(self.ema, 3),
                "week_share": round(self.week_share, 3), "minutes": round(self.minutes, 1)}


def status_of(ema: float) -> str:
    """behind / on track / ahead of the goal, from the EMA."""
    if ema < 1.0 - ON_TRACK:
        return "behind"
    return "ahead" if ema > 1.0 + ON_TRACK else "on track"


def ema_from_log(days: Sequence[LoggedDay], habits: HabitsConfig) -> np.ndarray:
    """f32[H]: the habit EMAs after the logged `days` (chronological; missing dates count
    as nothing done), from the default levels' EMA: the fold the coach's history makes
    (`coachrl.sim.features.update_history`), without a coach."""
    ema = habits_lib.initial_ema(habits)
    for day in with_gaps_filled(days):
        amounts = np.asarray([day.habits.get(h.name, 0.0) for h in habits.items], np.float32)
        ema = np.asarray(habits_lib.update_ema(ema, amounts, habits))
    return ema


def week_shares(days: Sequence[LoggedDay], habits: HabitsConfig, date: dt.date) -> np.ndarray:
    """f32[H]: the share of each habit's weekly goal done in the 7 days before `date`
    (each day normalised as the EMA's: capped at an "N days a week" goal's amount)."""
    start = date - dt.timedelta(days=WEEK)
    done = np.zeros(len(habits.items), np.float32)
    for day in days:
        if start <= day.date < date:
            amounts = np.asarray([day.habits.get(h.name, 0.0) for h in habits.items], np.float32)
            done += np.asarray(habits_lib.normalised(amounts, habits))
    return done / WEEK


def todo_list(levels: Sequence[int], habits: HabitsConfig, ema: Sequence[float],
              shares: Sequence[float]) -> tuple[HabitTodo, ...]:
    """Every habit at today's prescribed `levels`, in the file's order, with its status and,
    for a habit pushed above its default level, the reason."""
    todo = []
    for h, level, e, share in zip(habits.items, levels, ema, shares):
        level, e, share = int(level), float(e), float(share)
        status, pushed = status_of(e), level > h.default_level
        reason = (f"{h.name}: EMA {e:.2f} of the goal, {share:.0%} of a week's goal done in "
                  f"the last 7 days: {status}") if pushed else None
        todo.append(HabitTodo(h.name, h.levels[level], h.unit, h.level_minutes[level], pushed,
                              e, share, status, reason))
    return tuple(todo)


@dataclasses.dataclass(frozen=True)
class WeightStatus:
    """The body weight as logged: the latest, its 7-day mean and trend, the target band."""

    latest_kg: float
    latest_date: dt.date
    mean_7d_kg: float | None  # None: not weighed in the last 7 days
    trend_kg_per_week: float | None  # None: fewer than TREND_MIN_POINTS in TREND_DAYS
    band_kg: tuple[float, float] | None
    score: float | None  # habits.weight_score of the 7-day mean, with a band

    @property
    def text(self) -> str:
        out = f"weight {self.latest_kg:.1f} kg ({self.latest_date:%d %b})"
        if self.mean_7d_kg is not None:
            out += f", 7-day mean {self.mean_7d_kg:.1f} kg"
        if self.trend_kg_per_week is not None:
            out += f", trend {self.trend_kg_per_week:+.2f} kg/week"
        if self.band_kg is not None and self.mean_7d_kg is not None:
            low, high = self.band_kg
            where = ("in" if low <= self.mean_7d_kg <= high else
                     "below" if self.mean_7d_kg < low else "above")
            out += f"; target {low:g}-{high:g} kg: {where} the band"
        return out

    def to_json(self) -> dict[str, Any]:
        return {"latest_kg": self.latest_kg, "latest_date": self.latest_date.isoformat(),
                "mean_7d_kg": self.mean_7d_kg, "trend_kg_per_week": self.trend_kg_per_week,
                "band_kg": None if self.band_kg is None else list(self.band_kg),
                "score": self.score, "text": self.text}


def weight_status(days: Sequence[LoggedDay], date: dt.date,
                  band: Sequence[float] | None = None) -> WeightStatus | None:
    """The weight up to `date` (inclusive), or None when none was ever logged."""
    weighed = [(d.date, d.weight_kg) for d in days if d.weight_kg is not None and d.date <= date]
    if not weighed:
        return None
    latest_date, latest = max(weighed)
    week = [w for day, w in weighed if (date - day).days < WEEK]
    mean = float(np.mean(week)) if week else None
    recent = [((day - date).days, w) for day, w in weighed if (date - day).days < TREND_DAYS]
    trend = None
    if len(recent) >= TREND_MIN_POINTS and len({x for x, _ in recent}) >= 2:
        x, y = np.asarray(recent, np.float64).T
        trend = float(np.polyfit(x, y, 1)[0] * WEEK)
    band_kg = None if band is None else (float(band[0]), float(band[1]))
    score = (habits_lib.weight_score(mean, band_kg)
             if band_kg is not None and mean is not None else None)
    return WeightStatus(latest, latest_date, mean, trend, band_kg, score)


def habit_alignment(ema: Sequence[float], weight: WeightStatus | None = None) -> float:
    """1 - mean|1 - EMA| over the habits, with the weight's score as one more item when the
    habit file sets a target band and the athlete was weighed this week."""
    scores = [1.0 - abs(1.0 - float(e)) for e in ema]
    if weight is not None and weight.score is not None:
        scores.append(weight.score)
    return float(np.mean(scores)) if scores else 1.0


def habit_file_differences(coach: HabitsConfig, athlete: HabitsConfig) -> list[str]:
    """What differs between the habit file a coach was trained for and an athlete's, one line
    per difference ([] when the coach can plan for it). The weight band is not compared:
    the world has no body weight, so it changes no plan."""
    ours, theirs = ({h.name: h for h in f.items} for f in (coach, athlete))
    out = []
    if only := [n for n in theirs if n not in ours]:
        out.append(f"habits only in the athlete's file: {', '.join(only)}")
    if only := [n for n in ours if n not in theirs]:
        out.append(f"habits only in the coach's: {', '.join(only)}")
    common = [n for n in ours if n in theirs]
    if not out and common != [n for n in theirs]:
        out.append(f"habit order: the coach's {', '.join(ours)}, the athlete's "
                   f"{', '.join(theirs)}")
    for name in common:
        a, b = to_dict(ours[name]), to_dict(theirs[name])
        for key in a:
            if a[key] != b[key]:
                out.append(f"habit '{name}': {key} {b[key]!r} in the athlete's file, "
                           f"{a[key]!r} in the coach's")
    a, b = to_dict(coach), to_dict(athlete)
    for key in a:
        if key not in ("items", "weight_band_kg") and a[key] != b[key]:
            out.append(f"{key}: {b[key]!r} in the athlete's file, {a[key]!r} in the coach's")
    return out


__all__ = ["HabitFileMismatch", "HabitTodo", "ON_TRACK", "WeightStatus", "ema_from_log",
           "habit_alignment",
           "habit_file_differences", "status_of", "todo_list", "week_shares", "weight_status"]
