"""The athlete's log store: what a real athlete logged, day by day, and the plans written.

SQLAlchemy 2 ORM over embedded SQLite by default (`default_url()`: `$COACHRL_HOME/coach.db`,
else `~/.coachrl/coach.db`); PostgreSQL (`postgresql+psycopg://...`) works the same, and
both are tested. The schema is the Alembic revisions of `coachrl.coach.migrations`;
`open_store` creates a new store and upgrades an older one (including one made before
Alembic) to the current revision, in one transaction.

Tables:
  alembic_version the store's revision (`coachrl.coach.migrations.HEAD` once opened)
  schema_version  legacy marker: 1 before Alembic, `SCHEMA_VERSION` (2) from revision 0002
  athletes        id, name, max_hr, threshold_hr, threshold_power_w, threshold_pace_s_per_km
  habit_goals     per athlete and habit: unit and weekly goal (athletes without a habit file)
  habit_files     per athlete: every habit file given (`HabitsConfig` JSON), the latest in
                  force; it sets the athlete's habits and goals (`Athlete.habits`)
  readings        per athlete and date: the wearable readings (NULL = missing), benchmark_w,
                  weight_kg, ill, injured, source. A row here is what makes a date a
                  logged day.
  sessions        per athlete and date: 'planned' or 'done' sessions (type from
                  `coachrl.sim.sessions.SESSION_NAMES`, minutes, TSS, RPE, steps JSON;
                  tss_logged: TSS as logged, else derived from the type's intensity
                  factor; zone_<name>_min: logged minutes in each ZONE_NAMES domain)
  habits_done     per athlete, date and habit: the amount done (habit units)
  plans           per athlete and date: the plan JSON written by the coach

Logged data are never overwritten or removed, but a day logged again is merged: what is
new is added (readings from a wearable, then the day's rides from FIT files, say). When a
stored day is logged again, field by field:

  readings    hrv_ms, rhr_bpm, sleep_h, sleep_eff, recovery, benchmark_w, weight_kg: a stored NULL
              takes the new value; a new NULL changes nothing; two values that differ
              (beyond float rounding, `math.isclose` rel 1e-9) are a conflict.
  ill/injured a new True sets a stored False (a report added); a new False changes nothing.
  habits      a habit without a stored amount is added; a habit missing from the new day
              changes nothing; a different amount for a stored habit is a conflict.
  sessions    compared as multisets of exact `DoneSession` values (stored: S, new: N).
              N containing S (more sessions of the day) adds N - S, in N's order; N
              contained in S changes nothing. Otherwise, when none of S was added by the
              new log's source, a list sharing no session with S (another source adding
              its own activities, e.g. a second FIT file) is added too. Anything else is
              a conflict: a same-source list that neither contains nor is contained in S
              (a correction, e.g. an edited CSV file's `tempo 50` for its `tempo 45`),
              or one that repeats some stored sessions but not all and adds others. So is
              an added session with the same type and minutes as a stored one but another
              rpe, tss or zone_minutes (a corrected activity, not a second one).
              The store cannot tell another source's corrected session of another type or
              duration from a new one: it gets added.

A conflict raises `StoreError` naming the date and the field with the old and new value,
and nothing of the whole call is written. Logging the same values again is a no-op.
`readings.source` keeps the source that first logged the day; each session row keeps the
source that added it. Every write is one transaction: on any error, nothing of it is
written; on PostgreSQL `log_days` locks the athlete's row, so concurrent logs of one
athlete merge one after the other (SQLite serialises all writers). Plans are the exception
to never-overwrite: `write_plan` replaces the plan of a date (and touches nothing else).
A new habit file (`set_habits`) is added next to the earlier ones, which are kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
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
    false,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from coachrl.coach import migrations
from coachrl.schema import from_dict, to_dict
from coachrl.sim.config import HabitsConfig
from coachrl.sim.sessions import NUM_ZONES, SESSION_NAMES, SESSION_TYPES, ZONE_NAMES, tss

# The legacy marker in `schema_version` from revision 0002 on: coachrl from before Alembic
# reads only 1 and so refuses newer stores. The schema's version is the Alembic revision.
SCHEMA_VERSION = 2
READING_FIELDS = ("hrv_ms", "rhr_bpm", "sleep_h", "sleep_eff", "recovery")
# Every measured value of a day: the readings, a benchmark effort and the body weight.
MEASURE_FIELDS = (*READING_FIELDS, "benchmark_w", "weight_kg")

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
    "tss": Range(0.0, 2000.0),  # one session's Training Stress Score (1 h at threshold = 100)
    "benchmark_w": Range(0.0, 3000.0, low_inclusive=False),  # benchmark effort (W)
    "weight_kg": Range(20.0, 400.0),  # body weight (kg)
}
ZONE_SLACK_MIN = 1.0  # a session's time in zone may exceed its minutes by this much (rounding)
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


def entry_source(kind: str) -> str:
    """The source of one hand entry (`coachrl log`, the web app's form): `kind` and the time
    of the entry, so each entry is its own source and a second session logged later for the
    same day is added under the session rule (a repeated entry still changes nothing)."""
    return f"{kind} {_now().strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


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


class HabitFileRow(Base):
    __tablename__ = "habit_files"  # revision 0003
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    athlete_id: Mapped[str] = mapped_column(ForeignKey("athletes.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    habits: Mapped[str] = mapped_column(Text)


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
    weight_kg: Mapped[float | None] = mapped_column(Float)  # revision 0003
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
    # Revision 0002: whether `tss` was logged (else derived from the type), time in zone.
    tss_logged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    zone_recovery_min: Mapped[float | None] = mapped_column(Float)
    zone_low_min: Mapped[float | None] = mapped_column(Float)
    zone_threshold_min: Mapped[float | None] = mapped_column(Float)
    zone_high_min: Mapped[float | None] = mapped_column(Float)


ZONE_COLUMNS = tuple(f"zone_{name}_min" for name in ZONE_NAMES)  # SessionRow, ZONE_NAMES order


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
    """An athlete as stored. `habits`: their habit file in force (the latest given), or
    None; `habit_goals`: habit name -> (unit, weekly goal), the file's when there is one."""

    id: str
    name: str | None
    max_hr: float | None
    threshold_hr: float | None
    threshold_power_w: float | None
    threshold_pace_s_per_km: float | None
    created_at: dt.datetime
    habit_goals: Mapping[str, tuple[str, float]]
    habits: HabitsConfig | None = None


class DoneSession(NamedTuple):
    """A session done, as logged.

    Attributes:
      type: the session type, one of `coachrl.sim.sessions.SESSION_NAMES`.
      minutes: its duration (min).
      rpe: session RPE on the CR-10 scale, or None.
      tss: the Training Stress Score a device computed, or None (the store then derives it
        from the type's intensity factor; the features use the same rule).
      zone_minutes: minutes in each intensity domain, in the order of
        `coachrl.sim.sessions.ZONE_NAMES` (recovery, low, threshold, high), or None (the
        session catalogue's split is used).

    A DoneSession equals the plain tuple it was made from: `("tempo", 45.0, None)` ==
    `DoneSession("tempo", 45.0)` (the fields left out are None).
    """

    type: str
    minutes: float
    rpe: float | None = None
    tss: float | None = None
    zone_minutes: tuple[float, float, float, float] | None = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple) and not isinstance(other, DoneSession) \
                and 3 <= len(other) < len(self):
            other = (*other, *(None,) * (len(self) - len(other)))
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # Equal to the hash of the shortest plain tuple it equals.
        items = tuple(self)
        while len(items) > 3 and items[-1] is None:
            items = items[:-1]
        return hash(items)


@dataclasses.dataclass(frozen=True)
class LoggedDay:
    """One logged day, as the athlete reported it. Missing readings are None (NaN is read
    as None). `sessions`: the done sessions (`DoneSession`; plain tuples of 3 to 5 items
    (type, minutes, rpe[, tss[, zone_minutes]]) are taken and made DoneSessions);
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
    weight_kg: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise StoreError(f"date: expected a datetime.date, got {self.date!r}")
        where = self.date.isoformat()
        for name in MEASURE_FIELDS:
            object.__setattr__(self, name, _optional_float(getattr(self, name), where, name))
        object.__setattr__(self, "ill", bool(self.ill))
        object.__setattr__(self, "injured", bool(self.injured))
        sessions = tuple(_done_session(item, where) for item in self.sessions)
        object.__setattr__(self, "sessions", sessions)
        habits = {}
        for habit, amount in dict(self.habits).items():
            value = _optional_float(amount, where, f"habits[{habit}]")
            if value is None or value < 0:
                raise StoreError(f"{where}: habit {habit!r} amount must be >= 0, got {amount!r}")
            habits[str(habit)] = value
        object.__setattr__(self, "habits", habits)


def _done_session(item: Any, where: str) -> DoneSession:
    """`item` (a DoneSession or a plain tuple of 3 to 5 items) validated as a DoneSession."""
    if not isinstance(item, tuple | list) or not 3 <= len(item) <= len(DoneSession._fields):
        raise StoreError(f"{where}: session {item!r} is not (type, minutes, rpe[, tss"
                         f"[, zone_minutes]])")
    kind, minutes, rpe, tss_, zones = (*item, *(None,) * (len(DoneSession._fields) - len(item)))
    if kind not in SESSION_NAMES:
        raise StoreError(f"{where}: unknown session type {kind!r}; "
                         f"known: {', '.join(SESSION_NAMES)}")
    minutes = _optional_float(minutes, where, f"{kind} minutes")
    if minutes is None or minutes < 0:
        raise StoreError(f"{where}: {kind} minutes must be >= 0, got {item[1]!r}")
    rpe = _optional_float(rpe, where, f"{kind} rpe")
    if rpe is not None and rpe not in PLAUSIBLE["rpe"]:
        raise StoreError(f"{where}: {kind} rpe must be in {PLAUSIBLE['rpe']}, got {rpe:g}")
    tss_ = _optional_float(tss_, where, f"{kind} tss")
    if tss_ is not None and tss_ not in PLAUSIBLE["tss"]:
        raise StoreError(f"{where}: {kind} tss must be in {PLAUSIBLE['tss']}, got {tss_:g}")
    if zones is not None:
        expected = (f"4 finite numbers >= 0 (minutes in {', '.join(ZONE_NAMES)}) summing "
                    f"to at most the session's {minutes:g} minutes")
        try:
            zones = tuple(float(z) for z in zones)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: {kind} zone_minutes must be {expected}, "
                             f"got {zones!r}") from None
        if len(zones) != NUM_ZONES or not all(math.isfinite(z) and z >= 0 for z in zones):
            raise StoreError(f"{where}: {kind} zone_minutes must be {expected}, "
                             f"got {zones!r}")
        if sum(zones) > minutes + ZONE_SLACK_MIN:
            raise StoreError(f"{where}: {kind} zone_minutes sum to {sum(zones):g}, more than "
                             f"the session's {minutes:g} minutes (+{ZONE_SLACK_MIN:g} for "
                             f"rounding)")
    return DoneSession(str(kind), minutes, rpe, tss_, zones)


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


_IF = {s.name: s.intensity_factor for s in SESSION_TYPES}


def _upsert(dialect: str):
    """The dialect's INSERT with ON CONFLICT, or None (imported when first needed: the
    dialect modules are a tenth of a second of a cold `coachrl today`)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    return insert


# ---------------------------------------------------------------------------------------------
# The store


def open_store(url: str | None = None) -> Store:
    """Opens the store at `url` (default: `default_url()`), creating it when new and
    upgrading it to the current schema (`coachrl.coach.migrations.HEAD`) when older."""
    return Store(url if url is not None else default_url())


SQLITE_BUSY_TIMEOUT_S = 60.0  # how long a SQLite writer waits for another one to finish
_WRITE = "coachrl_write"  # execution option: this connection's transaction will write


class Store:
    """The log store. Each write method runs in one transaction.

    Concurrent writers (threads or processes, each with its own Store) wait for each other:
    SQLite runs in WAL mode, every write transaction takes the write lock up front
    (BEGIN IMMEDIATE) and waits up to SQLITE_BUSY_TIMEOUT_S for it; on PostgreSQL the rows
    of different athletes never conflict and `write_plan` is an upsert."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._engine = _engine(url)
        except (SQLAlchemyError, ValueError, ImportError) as e:
            raise StoreError(f"cannot open store {url!r}: {e}") from e
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(self._engine.execution_options(**{_WRITE: True}),
                                    expire_on_commit=False)
        try:
            self._migrate()
        except BaseException:
            self._engine.dispose()
            raise

    def _migrate(self) -> None:
        """Upgrades the store to HEAD if it is not there (one transaction, one migrator at a
        time: SQLite's write lock, a PostgreSQL advisory lock on the schema's name)."""
        try:
            with self._engine.connect() as conn:
                if migrations.revision_of(conn) == migrations.HEAD:
                    return
            with self._engine.execution_options(**{_WRITE: True}).begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock("
                                      "hashtext('coachrl.store:' || current_schema()))"))
                migrations.upgrade(conn, "head", tuple(Base.metadata.tables))
        except migrations.MigrationError as e:
            raise StoreError(f"store {self.url!r} {e}") from e
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open store {self.url!r}: {e}") from e

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
            with self._writes.begin() as s:
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
            stored = _habit_file(s, id)
            try:
                habits = None if stored is None else from_dict(
                    HabitsConfig, json.loads(stored), f"athlete {id!r}'s stored habit file")
            except ValueError as e:  # ConfigError, or JSON this code cannot read
                raise StoreError(f"{e} (give the athlete a habit file again: `coachrl habits "
                                 f"--set`; the earlier files are kept)") from None
            goals = _goals(s, id) if habits is None else {
                h.name: (h.unit, h.weekly_goal) for h in habits.items}
            return Athlete(id=row.id, name=row.name, max_hr=row.max_hr,
                           threshold_hr=row.threshold_hr,
                           threshold_power_w=row.threshold_power_w,
                           threshold_pace_s_per_km=row.threshold_pace_s_per_km,
                           created_at=row.created_at, habit_goals=goals, habits=habits)

    def set_habits(self, athlete_id: str, habits: HabitsConfig) -> bool:
        """Gives the athlete the habit file `habits` (a `HabitsConfig`, e.g.
        `coachrl.config.load_habit_file(path)`); returns False when it is already the one in
        force. A new file is added next to the earlier ones (never overwritten) and is in
        force from now: the habits, units and goals of `athlete()` and the daily coach's."""
        if not isinstance(habits, HabitsConfig):
            raise StoreError(f"athlete {athlete_id!r}: expected a HabitsConfig, got "
                             f"{type(habits).__name__}")
        text = json.dumps(to_dict(habits), sort_keys=True)
        with self._write() as s:
            _athlete_row(s, athlete_id, lock=True)
            if _habit_file(s, athlete_id) == text:
                return False
            s.add(HabitFileRow(athlete_id=athlete_id, created_at=_now(), habits=text))
        return True

    def athletes(self) -> list[str]:
        """The ids of all stored athletes, sorted."""
        with self._sessions() as s:
            return list(s.scalars(select(AthleteRow.id).order_by(AthleteRow.id)))

    # -- logged days ----------------------------------------------------------------------------

    def log_days(self, athlete_id: str, days: Sequence[LoggedDay], source: str) -> int:
        """Logs `days` for the athlete in one transaction, each merged into the day already
        stored (`merge_day`, module docstring); returns how many days were new or changed
        (0: everything was already logged).

        A conflict with a stored value raises StoreError naming the date and the field, and
        nothing of the call is written. `source` is recorded with what this call adds, and
        decides whether the day's stored sessions are this source's own (module docstring)."""
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
        changed = 0
        with self._write() as s:
            # PostgreSQL: one merge of this athlete at a time (FOR NO KEY UPDATE does not
            # block other writers' foreign-key checks, e.g. write_plan).
            _athlete_row(s, athlete_id, lock=True)
            rows = {r.date: r for r in s.scalars(select(ReadingRow).where(
                ReadingRow.athlete_id == athlete_id, ReadingRow.date >= min(batch),
                ReadingRow.date <= max(batch)))}
            stored = {d.date: d for d in self._days(s, athlete_id, min(batch), max(batch))}
            session_sources: dict[dt.date, set[str]] = {}
            for date, added_by in s.execute(select(SessionRow.date, SessionRow.source).where(
                    SessionRow.athlete_id == athlete_id, SessionRow.kind == "done",
                    SessionRow.date >= min(batch), SessionRow.date <= max(batch))):
                session_sources.setdefault(date, set()).add(added_by)
            for date in sorted(batch):
                day = batch[date]
                if date not in stored:
                    s.add(ReadingRow(athlete_id=athlete_id, date=date, source=source,
                                     ill=day.ill, injured=day.injured,
                                     **{f: getattr(day, f) for f in MEASURE_FIELDS}))
                    changes = DayChanges(readings={}, sessions=day.sessions, habits=day.habits)
                else:
                    changes = merge_day(stored[date], day, source,
                                        session_sources.get(date, set()))
                    if changes == NO_CHANGES:
                        continue
                    for field, value in changes.readings.items():
                        setattr(rows[date], field, value)
                changed += 1
                for done in changes.sessions:
                    s.add(_session_row(athlete_id, date, done, source))
                for habit, amount in changes.habits.items():
                    s.add(HabitDoneRow(athlete_id=athlete_id, date=date, habit=habit,
                                       amount=amount))
        return changed

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
            sessions.setdefault(row.date, []).append(_done_of(row))
        habits: dict[dt.date, dict[str, float]] = {}
        for row in s.scalars(in_range(select(HabitDoneRow), HabitDoneRow)
                             .order_by(HabitDoneRow.id)):
            habits.setdefault(row.date, {})[row.habit] = row.amount
        return [LoggedDay(date=r.date, ill=r.ill, injured=r.injured,
                          sessions=sessions.get(r.date, ()), habits=habits.get(r.date, {}),
                          **{f: getattr(r, f) for f in MEASURE_FIELDS})
                for r in readings]

    # -- plans ----------------------------------------------------------------------------------

    def write_plan(self, athlete_id: str, date: dt.date, plan: Mapping[str, Any]) -> None:
        """Stores `plan` (JSON-serialisable) as the athlete's plan for `date`, replacing any
        earlier plan of that date. Only the plans table is touched."""
        _check_date(date)
        try:
            plan_json = json.dumps(dict(plan), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise StoreError(f"{date.isoformat()}: plan is not JSON-serialisable: {e}") from e
        values = dict(athlete_id=athlete_id, date=date, created_at=_now(), plan=plan_json)
        for attempt in range(2):  # without an upsert, a concurrent first plan: update it
            try:
                with self._write() as s:
                    _athlete_row(s, athlete_id)
                    upsert = _upsert(s.get_bind().dialect.name)
                    if upsert is not None:  # one statement: concurrent writers both succeed
                        insert = upsert(PlanRow).values(**values)
                        s.execute(insert.on_conflict_do_update(
                            index_elements=["athlete_id", "date"],
                            set_={"plan": insert.excluded.plan,
                                  "created_at": insert.excluded.created_at}))
                        return
                    row = s.scalars(select(PlanRow).where(
                        PlanRow.athlete_id == athlete_id, PlanRow.date == date)).one_or_none()
                    if row is None:
                        s.add(PlanRow(**values))
                    else:
                        row.plan, row.created_at = plan_json, values["created_at"]
                return
            except StoreError as e:
                if attempt or not isinstance(e.__cause__, IntegrityError):
                    raise

    def plan(self, athlete_id: str, date: dt.date) -> dict[str, Any] | None:
        """The athlete's plan for `date`, or None if none was written."""
        _check_date(date)
        with self._sessions() as s:
            _athlete_row(s, athlete_id)
            plan_json = s.scalars(select(PlanRow.plan).where(
                PlanRow.athlete_id == athlete_id, PlanRow.date == date)).one_or_none()
        return None if plan_json is None else json.loads(plan_json)


def _engine(url: str) -> Engine:
    """The engine of `url`; for SQLite: foreign keys on, WAL, a busy timeout, and real
    transactions (BEGIN, or BEGIN IMMEDIATE for writes) instead of pysqlite's own."""
    if not make_url(url).get_backend_name() == "sqlite":
        return create_engine(url)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE)
                             else "BEGIN")

    return engine


def _check_date(date: Any) -> None:
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise StoreError(f"date: expected a datetime.date, got {date!r}")


def _athlete_row(s: Session, athlete_id: str, lock: bool = False) -> AthleteRow:
    """The athlete's row; `lock`: held FOR NO KEY UPDATE until the transaction ends
    (PostgreSQL; SQLite's write transactions are serialised already)."""
    row = s.get(AthleteRow, athlete_id, with_for_update={"key_share": True} if lock else None)
    if row is None:
        known = list(s.scalars(select(AthleteRow.id).order_by(AthleteRow.id).limit(20)))
        raise StoreError(f"unknown athlete {athlete_id!r}; known: "
                         f"{', '.join(map(repr, known)) or '(none)'}")
    return row


def _goals(s: Session, athlete_id: str) -> dict[str, tuple[str, float]]:
    rows = s.scalars(select(HabitGoalRow).where(HabitGoalRow.athlete_id == athlete_id)
                     .order_by(HabitGoalRow.habit))
    return {r.habit: (r.unit, r.weekly_goal) for r in rows}


def _habit_file(s: Session, athlete_id: str) -> str | None:
    """The JSON of the athlete's habit file in force (the latest given), or None."""
    return s.scalars(select(HabitFileRow.habits).where(HabitFileRow.athlete_id == athlete_id)
                     .order_by(HabitFileRow.id.desc()).limit(1)).one_or_none()


def _session_row(athlete_id: str, date: dt.date, done: DoneSession, source: str) -> SessionRow:
    zones = done.zone_minutes or (None,) * NUM_ZONES
    return SessionRow(athlete_id=athlete_id, date=date, kind="done", session_type=done.type,
                      minutes=done.minutes, rpe=done.rpe, steps=None, source=source,
                      tss=float(tss(done.minutes, _IF[done.type]) if done.tss is None
                                else done.tss),
                      tss_logged=done.tss is not None, **dict(zip(ZONE_COLUMNS, zones)))


def _done_of(row: SessionRow) -> DoneSession:
    zones = tuple(getattr(row, c) for c in ZONE_COLUMNS)
    return DoneSession(row.session_type, row.minutes, row.rpe,
                       row.tss if row.tss_logged else None,
                       None if any(z is None for z in zones) else zones)


class DayChanges(NamedTuple):
    """What logging a day again adds to the stored day (`merge_day`).

    Attributes:
      readings: reading / benchmark_w / weight_kg / ill / injured columns to set.
      sessions: the done sessions to add, in the new day's order.
      habits: the habits to add, name -> amount.
    """

    readings: Mapping[str, float | bool]
    sessions: Sequence[DoneSession]
    habits: Mapping[str, float]


NO_CHANGES = DayChanges(readings={}, sessions=(), habits={})


def merge_day(stored: LoggedDay, new: LoggedDay, source: str,
              session_sources: Collection[str]) -> DayChanges:
    """What `new` (the same date, logged by `source`) adds to the `stored` day, whose
    sessions were added by `session_sources`, under the module docstring's merge rule;
    StoreError at the first conflict, naming the date, the field, the stored and the new
    value. Pure: the store applies the changes."""
    where = stored.date.isoformat()

    def refuse(field: str, old: Any, value: Any, why: str = "") -> None:
        raise StoreError(f"{where}: {field} already logged as {old!r}, new value {value!r} "
                         f"({why}logged data are never overwritten)")

    readings: dict[str, float | bool] = {}
    for field in MEASURE_FIELDS:
        old, value = getattr(stored, field), getattr(new, field)
        if value is not None and old is None:
            readings[field] = value
        elif value is not None and not _same(old, value):
            refuse(field, old, value)
    for flag in ("ill", "injured"):
        if getattr(new, flag) and not getattr(stored, flag):
            readings[flag] = True

    unmatched = Counter(stored.sessions)  # the stored sessions the new list does not repeat
    sessions = []
    for done in new.sessions:
        if unmatched[done] > 0:
            unmatched[done] -= 1
        else:
            sessions.append(done)
    repeated = len(new.sessions) - len(sessions)
    if sessions and unmatched.total():  # neither contains nor is contained in the stored
        if source in session_sources:
            refuse("sessions", list(stored.sessions), list(new.sessions),
                   f"{source!r} logged this day's sessions before and now logs others: "
                   f"a changed session; ")
        if repeated:
            refuse("sessions", list(stored.sessions), list(new.sessions),
                   "the new list repeats some logged sessions, drops others and adds new "
                   "ones: a changed session; ")
    for done in sessions:
        for old in stored.sessions:
            if (old.type, old.minutes) == (done.type, done.minutes) and old != done:
                refuse("sessions", old, done, "the same type and minutes: a changed session; ")

    habits = {}
    for habit, amount in new.habits.items():
        if habit not in stored.habits:
            habits[habit] = amount
        elif not _same(stored.habits[habit], amount):
            refuse(f"habits[{habit}]", stored.habits[habit], amount)
    return DayChanges(readings=readings, sessions=tuple(sessions), habits=habits)
