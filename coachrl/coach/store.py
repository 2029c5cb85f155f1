"""The athlete's log store: what a real athlete logged, day by day, and the plans written.

SQLAlchemy 2 ORM over embedded SQLite by default (`default_url()`: `$COACHRL_HOME/coach.db`,
else `~/.coachrl/coach.db`); any SQLAlchemy URL (e.g. PostgreSQL) works the same.

Tables:
  schema_version  the one schema version the store was created with (`SCHEMA_VERSION`)
  athletes        id, name, max_hr, threshold_hr, threshold_power_w, threshold_pace_s_per_km
  habit_goals     per athlete and habit: unit and weekly goal
  readings        per athlete and date: the wearable readings (NULL = missing), benchmark_w,
                  ill, injured, source. A row here is what makes a date a logged day.
  sessions        per athlete and date: 'planned' or 'done' sessions (type from
                  `coachrl.sim.sessions.SESSION_NAMES`, minutes, TSS, RPE, steps JSON)
  habits_done     per athlete, date and habit: the amount done (habit units)
  plans           per athlete and date: the plan JSON written by the coach

Logged data are never overwritten. Logging a day again with exactly the same values
is a no-op; any difference (a reading, a session, a habit amount) raises `StoreError`
naming the date and the field, and writes nothing. Every write is one transaction:
on any error, nothing of it is written. Plans are the exception: `write_plan` replaces
the plan of a date (and touches nothing else).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from coachrl.sim.sessions import SESSION_NAMES, SESSION_TYPES, tss

SCHEMA_VERSION = 1
READING_FIELDS = ("hrv_ms", "rhr_bpm", "sleep_h", "sleep_eff", "recovery")

class Range(NamedTuple):
    """A plausible interval of a reading: `low`..`high`, each end inclusive or not."""

    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __contains__(self, value: object) -> bool:
        v = float(value)  # type: ignore[arg-type]
        return (self.low <= v if self.low_inclusive else self.low < v) and (
            v <= self.high if self.high_inclusive else v < self.high)

    def __str__(self) -> str:
        return (f"{'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}"
                f"{']' if self.high_inclusive else ')'}")


# Plausible values of a logged day, the one table every importer and the daily coach
# check against.
PLAUSIBLE: dict[str, Range] = {
    "hrv_ms": Range(0.0, 300.0, low_inclusive=False),  # overnight rMSSD (ms)
    "rhr_bpm": Range(25.0, 150.0),  # resting heart rate (bpm)
    "sleep_h": Range(0.0, 16.0),  # hours asleep
    "sleep_eff": Range(0.0, 1.0),  # sleep efficiency (fraction)
    "recovery": Range(0.0, 100.0),  # recovery / readiness score
    "minutes": Range(0.0, 600.0),  # one session's duration
    "rpe": Range(0.0, 10.0),  # session RPE (CR-10)
    "benchmark_w": Range(0.0, 3000.0, low_inclusive=False),  # benchmark effort (W)
}
ATHLETE_FIELDS = ("name", "max_hr", "threshold_hr", "threshold_power_w",
                  "threshold_pace_s_per_km")


def default_db_path() -> Path:
    """`$COACHRL_HOME/coach.db` if COACHRL_HOME is set, else `~/.coachrl/coach.db`."""
    home = os.environ.get("COACHRL_HOME")
    folder = Path(home).expanduser() if home else Path.home() / ".coachrl"
    return folder / "coach.db"


DEFAULT_DB_PATH = default_db_path()


def default_url() -> str:
    """`sqlite:///<default_db_path()>`, creating its folder if needed."""
    path = default_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class StoreError(ValueError):
    """A refused store operation (unknown athlete, conflicting log, bad value, bad schema)."""


# ---------------------------------------------------------------------------------------------
# Models


class Base(DeclarativeBase):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SchemaVersionRow(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AthleteRow(Base):
    __tablename__ = "athletes"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    max_hr: Mapped[float | None] = mapped_column(Float)
    threshold_hr: Mapped[float | None] = mapped_column(Float)
    threshold_power_w: Mapped[float | None] = mapped_column(Float)
    threshold_pace_s_per_km: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class HabitGoalRow(Base):
    __tablename__ = "habit_goals"
    __table_args__ = (UniqueConstraint("athlete_id", "habit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    habit: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(50))
    weekly_goal: Mapped[float] = mapped_column(Float)


class ReadingRow(Base):
    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("athlete_id", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    hrv_ms: Mapped[float | None] = mapped_column(Float)
    rhr_bpm: Mapped[float | None] = mapped_column(Float)
    sleep_h: Mapped[float | None] = mapped_column(Float)
    sleep_eff: Mapped[float | None] = mapped_column(Float)
    recovery: Mapped[float | None] = mapped_column(Float)
    benchmark_w: Mapped[float | None] = mapped_column(Float)
    ill: Mapped[bool] = mapped_column(Boolean, default=False)
    injured: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(100))


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (CheckConstraint("kind IN ('planned', 'done')", name="session_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    session_type: Mapped[str] = mapped_column(String(50))
    minutes: Mapped[float] = mapped_column(Float)
    tss: Mapped[float | None] = mapped_column(Float)
    rpe: Mapped[float | None] = mapped_column(Float)
    steps: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(100))


class HabitDoneRow(Base):
    __tablename__ = "habits_done"
    __table_args__ = (UniqueConstraint("athlete_id", "date", "habit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    habit: Mapped[str] = mapped_column(String(100))
    amount: Mapped[float] = mapped_column(Float)


class PlanRow(Base):
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("athlete_id", "date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    plan: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------
# Values


@dataclasses.dataclass(frozen=True)
class Athlete:
    """An athlete as stored. `habit_goals`: habit name -> (unit, weekly goal)."""

    id: str
    name: str | None
    max_hr: float | None
    threshold_hr: float | None
    threshold_power_w: float | None
    threshold_pace_s_per_km: float | None
    created_at: dt.datetime
    habit_goals: Mapping[str, tuple[str, float]]


DoneSession = tuple[str, float, float | None]  # (session type name, minutes, rpe or None)


@dataclasses.dataclass(frozen=True)
class LoggedDay:
    """One logged day, as the athlete reported it. Missing readings are None (NaN is read
    as None). `sessions`: the done sessions as (type name, minutes, rpe or None);
    `habits`: habit name -> amount done."""

    date: dt.date
    hrv_ms: float | None = None
    rhr_bpm: float | None = None
    sleep_h: float | None = None
    sleep_eff: float | None = None
    recovery: float | None = None
    ill: bool = False
    injured: bool = False
    sessions: Sequence[DoneSession] = ()
    habits: Mapping[str, float] = dataclasses.field(default_factory=dict)
    benchmark_w: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise StoreError(f"date: expected a datetime.date, got {self.date!r}")
        where = self.date.isoformat()
        for name in (*READING_FIELDS, "benchmark_w"):
            object.__setattr__(self, name, _optional_float(getattr(self, name), where, name))
        object.__setattr__(self, "ill", bool(self.ill))
        object.__setattr__(self, "injured", bool(self.injured))
        sessions = []
        for item in self.sessions:
            try:
                kind, minutes, rpe = item
            except (TypeError, ValueError):
                raise StoreError(f"{where}: session {item!r} is not (type, minutes, rpe)") from None
            if kind not in SESSION_NAMES:
                raise StoreError(f"{where}: unknown session type {kind!r}; "
                                 f"known: {', '.join(SESSION_NAMES)}")
            minutes = _optional_float(minutes, where, "minutes")
            if minutes is None or minutes < 0:
                raise StoreError(f"{where}: {kind} minutes must be >= 0, got {item[1]!r}")
            rpe = _optional_float(rpe, where, "rpe")
            if rpe is not None and not 0.0 <= rpe <= 10.0:
                raise StoreError(f"{where}: {kind} rpe must be in [0, 10], got {rpe}")
            sessions.append((str(kind), minutes, rpe))
        object.__setattr__(self, "sessions", tuple(sessions))
        habits = {}
        for habit, amount in dict(self.habits).items():
            value = _optional_float(amount, where, f"habits[{habit}]")
            if value is None or value < 0:
                raise StoreError(f"{where}: habit {habit!r} amount must be >= 0, got {amount!r}")
            habits[str(habit)] = value
        object.__setattr__(self, "habits", habits)


def _optional_float(value: Any, where: str, name: str) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StoreError(f"{where}: {name} must be a number, got {value!r}") from None
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise StoreError(f"{where}: {name} must be finite, got {value}")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _session_key(s: DoneSession) -> tuple:
    return (s[0], s[1], -1.0 if s[2] is None else s[2])


def _same_sessions(a: Sequence[DoneSession], b: Sequence[DoneSession]) -> bool:
    a, b = sorted(a, key=_session_key), sorted(b, key=_session_key)
    return len(a) == len(b) and all(
        all(_same(x, y) for x, y in zip(sa, sb)) for sa, sb in zip(a, b))


_IF = {s.name: s.intensity_factor for s in SESSION_TYPES}


# ---------------------------------------------------------------------------------------------
# The store


def open_store(url: str | None = None) -> Store:
    """Opens (creating the tables if missing) the store at `url` (default: `default_url()`)."""
    return Store(url if url is not None else default_url())


class Store:
    """The log store. Each write method runs in one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._engine = create_engine(url)
        except (SQLAlchemyError, ValueError) as e:
            raise StoreError(f"cannot open store {url!r}: {e}") from e
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_foreign_keys)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        try:
            self._init_schema()
        except BaseException:
            self._engine.dispose()
            raise

    def _init_schema(self) -> None:
        with self._engine.begin() as conn:
            if inspect(conn).has_table(SchemaVersionRow.__tablename__):
                versions = conn.execute(select(SchemaVersionRow.version)).scalars().all()
                if versions != [SCHEMA_VERSION]:
                    raise StoreError(
                        f"store {self.url!r} has schema version "
                        f"{', '.join(map(str, versions)) or 'none'}; this code reads version "
                        f"{SCHEMA_VERSION} (migrate the store or use a matching coachrl)")
                Base.metadata.create_all(conn)
            else:
                Base.metadata.create_all(conn)
                conn.execute(SchemaVersionRow.__table__.insert().values(
                    version=SCHEMA_VERSION, created_at=_now()))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One ORM session in one transaction: any error rolls all of it back; database
        integrity errors (e.g. a concurrent writer) come out as StoreError."""
        try:
            with self._sessions.begin() as s:
                yield s
        except IntegrityError as e:
            raise StoreError(f"store refused the write (concurrent change?): {e.orig}") from e

    # -- athletes -------------------------------------------------------------------------------

    def add_athlete(self, id: str, name: str | None = None, max_hr: float | None = None,
                    threshold_hr: float | None = None, threshold_power_w: float | None = None,
                    threshold_pace_s_per_km: float | None = None,
                    habit_goals: Mapping[str, tuple[str, float]] | None = None) -> Athlete:
        """Adds an athlete. Adding an existing id with the same fields is a no-op; with
        different fields it raises StoreError naming the field (nothing is overwritten)."""
        if not isinstance(id, str) or not id:
            raise StoreError(f"athlete id must be a non-empty string, got {id!r}")
        where = f"athlete {id!r}"
        fields = {"name": name}
        for key, value in (("max_hr", max_hr), ("threshold_hr", threshold_hr),
                           ("threshold_power_w", threshold_power_w),
                           ("threshold_pace_s_per_km", threshold_pace_s_per_km)):
            value = _optional_float(value, where, key)
            if value is not None and value <= 0:
                raise StoreError(f"{where}: {key} must be > 0, got {value}")
            fields[key] = value
        goals: dict[str, tuple[str, float]] = {}
        for habit, pair in (habit_goals or {}).items():
            try:
                unit, goal = pair
            except (TypeError, ValueError):
                raise StoreError(f"{where}: habit_goals[{habit}] must be (unit, weekly_goal), "
                                 f"got {pair!r}") from None
            goal = _optional_float(goal, where, f"habit_goals[{habit}]")
            if goal is None or goal <= 0:
                raise StoreError(f"{where}: habit_goals[{habit}] weekly goal must be > 0, "
                                 f"got {pair[1]!r}")
            goals[str(habit)] = (str(unit), goal)
        with self._write() as s:
            row = s.get(AthleteRow, id)
            if row is None:
                s.add(AthleteRow(id=id, created_at=_now(), **fields))
                s.flush()
                for habit, (unit, goal) in goals.items():
                    s.add(HabitGoalRow(athlete_id=id, habit=habit, unit=unit, weekly_goal=goal))
            else:
                for key, value in fields.items():
                    stored = getattr(row, key)
                    if not _same(stored, value):
                        raise StoreError(f"{where} already exists with {key}={stored!r}, "
                                         f"new value {value!r} (athletes are never overwritten)")
                stored_goals = _goals(s, id)
                for habit in sorted(set(stored_goals) | set(goals)):
                    old, new = stored_goals.get(habit), goals.get(habit)
                    if old is None or new is None or old[0] != new[0] or not _same(old[1], new[1]):
                        raise StoreError(f"{where} already exists with habit_goals[{habit}]="
                                         f"{old!r}, new value {new!r} "
                                         f"(athletes are never overwritten)")
        return self.athlete(id)

    def athlete(self, id: str) -> Athlete:
        """The stored athlete `id`; StoreError if unknown."""
        with self._sessions() as s:
            row = _athlete_row(s, id)
            return Athlete(id=row.id, name=row.name, max_hr=row.max_hr,
                           threshold_hr=row.threshold_hr,
                           threshold_power_w=row.threshold_power_w,
                           threshold_pace_s_per_km=row.threshold_pace_s_per_km,
                           created_at=row.created_at, habit_goals=_goals(s, id))

    def athletes(self) -> list[str]:
        """The ids of all stored athletes, sorted."""
        with self._sessions() as s:
            return list(s.scalars(select(AthleteRow.id).order_by(AthleteRow.id)))

    # -- logged days ----------------------------------------------------------------------------

    def log_days(self, athlete_id: str, days: Sequence[LoggedDay], source: str) -> int:
        """Logs `days` for the athlete in one transaction; returns how many were new.

        A day already logged with exactly the same values is skipped; one whose stored values
        differ raises StoreError naming the date and the field, and nothing is written."""
        if not isinstance(source, str) or not source:
            raise StoreError(f"source must be a non-empty string, got {source!r}")
        batch: dict[dt.date, LoggedDay] = {}
        for day in days:
            if not isinstance(day, LoggedDay):
                raise StoreError(f"expected LoggedDay, got {type(day).__name__}")
            if day.date in batch and batch[day.date] != day:
                raise StoreError(f"{day.date.isoformat()}: logged twice in one batch "
                                 f"with different values")
            batch[day.date] = day
        if not batch:
            return 0
        new = 0
        with self._write() as s:
            _athlete_row(s, athlete_id)
            stored = {d.date: d for d in self._days(s, athlete_id, min(batch), max(batch))}
            for date in sorted(batch):
                day = batch[date]
                if date in stored:
                    _check_same(stored[date], day)
                    continue
                new += 1
                s.add(ReadingRow(athlete_id=athlete_id, date=date, source=source, ill=day.ill,
                                 injured=day.injured, benchmark_w=day.benchmark_w,
                                 **{f: getattr(day, f) for f in READING_FIELDS}))
                for kind, minutes, rpe in day.sessions:
                    s.add(SessionRow(athlete_id=athlete_id, date=date, kind="done",
                                     session_type=kind, minutes=minutes,
                                     tss=float(tss(minutes, _IF[kind])), rpe=rpe, steps=None,
                                     source=source))
                for habit, amount in day.habits.items():
                    s.add(HabitDoneRow(athlete_id=athlete_id, date=date, habit=habit,
                                       amount=amount))
        return new

    def days(self, athlete_id: str, start: dt.date | None = None,
             end: dt.date | None = None) -> list[LoggedDay]:
        """The logged days of the athlete with start <= date <= end, in date order."""
        with self._sessions() as s:
            _athlete_row(s, athlete_id)
            return self._days(s, athlete_id, start, end)

    @staticmethod
    def _days(s: Session, athlete_id: str, start: dt.date | None,
              end: dt.date | None) -> list[LoggedDay]:
        def in_range(query: Any, model: Any) -> Any:
            query = query.where(model.athlete_id == athlete_id)
            if start is not None:
                query = query.where(model.date >= start)
            if end is not None:
                query = query.where(model.date <= end)
            return query

        readings = s.scalars(in_range(select(ReadingRow), ReadingRow).order_by(ReadingRow.date))
        sessions: dict[dt.date, list[DoneSession]] = {}
        for row in s.scalars(in_range(select(SessionRow), SessionRow)
                             .where(SessionRow.kind == "done").order_by(SessionRow.id)):
            sessions.setdefault(row.date, []).append((row.session_type, row.minutes, row.rpe))
        habits: dict[dt.date, dict[str, float]] = {}
        for row in s.scalars(in_range(select(HabitDoneRow), HabitDoneRow)
                             .order_by(HabitDoneRow.id)):
            habits.setdefault(row.date, {})[row.habit] = row.amount
        return [LoggedDay(date=r.date, ill=r.ill, injured=r.injured, benchmark_w=r.benchmark_w,
                          sessions=sessions.get(r.date, ()), habits=habits.get(r.date, {}),
                          **{f: getattr(r, f) for f in READING_FIELDS})
                for r in readings]

    # -- plans ----------------------------------------------------------------------------------

    def write_plan(self, athlete_id: str, date: dt.date, plan: Mapping[str, Any]) -> None:
        """Stores `plan` (JSON-serialisable) as the athlete's plan for `date`, replacing any
        earlier plan of that date. Only the plans table is touched."""
        _check_date(date)
        try:
            text = json.dumps(dict(plan), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StoreError(f"{date.isoformat()}: plan is not JSON-serialisable: {e}") from e
        with self._write() as s:
            _athlete_row(s, athlete_id)
            row = s.scalars(select(PlanRow).where(PlanRow.athlete_id == athlete_id,
                                                  PlanRow.date == date)).one_or_none()
            if row is None:
                s.add(PlanRow(athlete_id=athlete_id, date=date, created_at=_now(), plan=text))
            else:
                row.plan, row.created_at = text, _now()

    def plan(self, athlete_id: str, date: dt.date) -> dict[str, Any] | None:
        """The athlete's plan for `date`, or None if none was written."""
        _check_date(date)
        with self._sessions() as s:
            _athlete_row(s, athlete_id)
            text = s.scalars(select(PlanRow.plan).where(PlanRow.athlete_id == athlete_id,
                                                        PlanRow.date == date)).one_or_none()
        return None if text is None else json.loads(text)


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _check_date(date: Any) -> None:
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise StoreError(f"date: expected a datetime.date, got {date!r}")


def _athlete_row(s: Session, athlete_id: str) -> AthleteRow:
    row = s.get(AthleteRow, athlete_id)
    if row is None:
        known = list(s.scalars(select(AthleteRow.id).order_by(AthleteRow.id).limit(20)))
        raise StoreError(f"unknown athlete {athlete_id!r}; known: "
                         f"{', '.join(map(repr, known)) or '(none)'}")
    return row


def _goals(s: Session, athlete_id: str) -> dict[str, tuple[str, float]]:
    rows = s.scalars(select(HabitGoalRow).where(HabitGoalRow.athlete_id == athlete_id)
                     .order_by(HabitGoalRow.habit))
    return {r.habit: (r.unit, r.weekly_goal) for r in rows}


def _check_same(stored: LoggedDay, new: LoggedDay) -> None:
    """Raises StoreError at the first field where `new` differs from the stored day."""
    where = stored.date.isoformat()

    def refuse(field: str, old: Any, value: Any) -> None:
        raise StoreError(f"{where}: {field} already logged as {old!r}, new value {value!r} "
                         f"(logged data are never overwritten)")

    for field in (*READING_FIELDS, "benchmark_w", "ill", "injured"):
        old, value = getattr(stored, field), getattr(new, field)
        if (old is None) != (value is None) or (old is not None and not _same(old, value)):
            refuse(field, old, value)
    if not _same_sessions(stored.sessions, new.sessions):
        refuse("sessions", list(stored.sessions), list(new.sessions))
    for habit in sorted(set(stored.habits) | set(new.habits)):
        old, value = stored.habits.get(habit), new.habits.get(habit)
        if old is None or value is None or not _same(old, value):
            refuse(f"habits[{habit}]", old, value)
