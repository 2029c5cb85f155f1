"""A real athlete's log -> the SAME history, features and safety mask the simulator uses.

    days = store.days("runner")
    history = history_from_log(days, config, initial_ctl=40.0, today=this_morning)
    observation = observe(history, config)   # {features, action_mask}, as in simulation

A logged day becomes a `DailyRecord` (`record_of`): missing readings are NaN; the
day's sessions are summed (minutes, TSS and time in each intensity domain) under the
type of the hardest one. A session's TSS and time in zone are the logged ones (a
device's) when the log has them, else its type's: TSS from the intensity factor, the
zones from the session catalogue's structured steps (as in the simulator);
habits are listed in the world config's order, 0 when not logged. Days missing
from the log between two logged days count as empty days (nothing worn, nothing
done). The history is folded with the simulator's own `update_history`, and today's
morning (readings synced, nothing trained yet) with `observe_morning`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence

import jax
import numpy as np

from coachrl.coach.programs import program
from coachrl.coach.store import MEASURE_FIELDS, PLAUSIBLE, DoneSession, LoggedDay
from coachrl.sim.config import WorldConfig
from coachrl.sim.features import History, init_history, observe_morning, update_history
from coachrl.sim.record import DailyRecord, empty_record
from coachrl.sim.sessions import INTENSITY_FACTORS, SESSION_NAMES, ZONE_FRACTIONS, tss


def _nan(value: float | None) -> np.float32:
    return np.float32(np.nan if value is None else value)


def session_tss(session: DoneSession) -> float:
    """The session's logged TSS, else its type's: hours x IF^2 x 100."""
    if session.tss is not None:
        return session.tss
    return float(tss(session.minutes, INTENSITY_FACTORS[SESSION_NAMES.index(session.type)]))


def session_zone_minutes(session: DoneSession) -> np.ndarray:
    """The session's logged minutes in each domain (ZONE_NAMES), else the session
    catalogue's split of its minutes (`coachrl.sim.sessions.ZONE_FRACTIONS`). f32[NUM_ZONES]"""
    if session.zone_minutes is not None:
        return np.asarray(session.zone_minutes, np.float32)
    fractions = ZONE_FRACTIONS[SESSION_NAMES.index(session.type)]
    return np.asarray(fractions, np.float32) * np.float32(session.minutes)


def record_of(day: LoggedDay, config: WorldConfig, morning_only: bool = False,
              days_to_race: int = -1) -> DailyRecord:
    """The `DailyRecord` of a logged day (its morning part only, if asked)."""
    base = empty_record(config.num_habits, days_to_race)
    record = base._replace(
        hrv_ms=_nan(day.hrv_ms), rhr_bpm=_nan(day.rhr_bpm), sleep_h=_nan(day.sleep_h),
        sleep_eff=_nan(day.sleep_eff), recovery=_nan(day.recovery),
        ill=np.bool_(day.ill), injured=np.bool_(day.injured))
    if morning_only:
        return record
    done = [s for s in day.sessions if s.minutes > 0 and s.type != "rest"]
    if done:
        record = record._replace(
            session=np.int32(max(SESSION_NAMES.index(s.type) for s in done)),
            minutes=np.float32(sum(s.minutes for s in done)),
            tss=np.float32(sum(session_tss(s) for s in done)),
            zone_minutes=np.sum([session_zone_minutes(s) for s in done],
                                axis=0).astype(np.float32))  # [NUM_ZONES]
    habits = [day.habits.get(h.name, 0.0) for h in config.habits.items]
    return record._replace(habits=np.asarray(habits, np.float32),
                           benchmark=_nan(day.benchmark_w))


def logged_day(record: DailyRecord, date: dt.date, config: WorldConfig) -> LoggedDay:
    """What an athlete logs for a simulated day (its observable record): the inverse of
    `record_of`, used by the demo log and the parity tests."""
    def reading(x) -> float | None:
        return None if np.isnan(x) else float(x)

    minutes = float(record.minutes)
    sessions = ((SESSION_NAMES[int(record.session)], minutes, None),) if minutes > 0 else ()
    return LoggedDay(
        date, hrv_ms=reading(record.hrv_ms), rhr_bpm=reading(record.rhr_bpm),
        sleep_h=reading(record.sleep_h), sleep_eff=reading(record.sleep_eff),
        recovery=reading(record.recovery), ill=bool(record.ill), injured=bool(record.injured),
        sessions=sessions,
        habits={h.name: float(a) for h, a in zip(config.habits.items, record.habits)},
        benchmark_w=reading(record.benchmark))


_UNITS = {"hrv_ms": "HRV {:g} ms", "rhr_bpm": "resting HR {:g} bpm", "sleep_h": "sleep {:g} h",
          "sleep_eff": "sleep efficiency {:g}", "recovery": "recovery {:g}",
          "benchmark_w": "benchmark {:g} W", "weight_kg": "weight {:g} kg"}


def screened(day: LoggedDay) -> tuple[LoggedDay, list[str]]:
    """`day` with every implausible reading (outside `store.PLAUSIBLE`) made missing, and a
    note for each: readings that reached the store without an importer's checks (another
    app, a hand edit) are not trusted."""
    notes, changes = [], {}
    for name in MEASURE_FIELDS:
        value = getattr(day, name)
        if value is not None and value not in PLAUSIBLE[name]:
            changes[name] = None
            notes.append(f"{day.date.isoformat()}: {_UNITS[name].format(value)} is outside the "
                         f"plausible range {PLAUSIBLE[name]}: ignored")
    return (dataclasses.replace(day, **changes) if changes else day), notes


def with_gaps_filled(days: Sequence[LoggedDay]) -> list[LoggedDay]:
    """`days` (chronological) with an empty day for every date missing between them."""
    filled: list[LoggedDay] = []
    for day in days:
        while filled and filled[-1].date + dt.timedelta(days=1) < day.date:
            filled.append(LoggedDay(filled[-1].date + dt.timedelta(days=1)))
        if filled and day.date <= filled[-1].date:
            raise ValueError(f"{day.date}: the log is not in date order (after "
                             f"{filled[-1].date})")
        filled.append(day)
    return filled


@functools.lru_cache(maxsize=8)
def history_spec(config: WorldConfig) -> History:
    """The shapes and dtypes of a `History` of `config` (traced, never computed)."""
    return jax.eval_shape(lambda: init_history(config, 0.0))


HISTORY_TREE = History(*(0,) * len(History._fields))  # the structure of a History


@functools.lru_cache(maxsize=8)
def _folders(config: WorldConfig):
    """Jitted (kept across runs: `coachrl.coach.programs`) start, day and morning folds."""
    def day_args():
        return history_spec(config), empty_record(config.num_habits)

    depends = (config,)
    return (program("init_history", lambda ctl: init_history(config, ctl),
                    lambda: (np.float32(0.0),), HISTORY_TREE, depends),
            program("update_history", lambda h, r: update_history(h, r, config), day_args,
                    HISTORY_TREE, depends),
            program("observe_morning", lambda h, r: observe_morning(h, r, config), day_args,
                    HISTORY_TREE, depends))


def history_from_log(days: Sequence[LoggedDay], config: WorldConfig, initial_ctl: float = 0.0,
                     today: LoggedDay | None = None, days_to_race: int = -1) -> History:
    """The history after every complete logged day, then this morning's readings (if any).

    `initial_ctl` warm-starts the load history of an athlete whose log starts today
    (as the simulator does for a new season).
    """
    init, update, morning = _folders(config)
    history = init(np.float32(initial_ctl))
    for day in with_gaps_filled(days):
        history = update(history, record_of(day, config))
    if today is not None:
        history = morning(history, record_of(today, config, morning_only=True, days_to_race=
                                             days_to_race))
    return history


__all__ = ["HISTORY_TREE", "history_from_log", "history_spec", "logged_day", "record_of",
           "screened", "session_tss", "session_zone_minutes", "with_gaps_filled"]
