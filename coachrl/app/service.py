"""What the web app serves, without the web: the store, the coach (loaded once, lazily) and
the caches.

    service = CoachService(open_store(url), checkpoint="runs/demo/coach")
    view = service.plan("demo", dt.date(2026, 3, 1))      # PlanView: result, week, athlete
    service.log("demo", LoggedDay(...))                   # never overwrites: Conflict

Plans: `today_plan` (the one path from a log to a plan) computes a date's plan, which is
written to the store with the fingerprint of the logged days it was computed from
(`log_fingerprint`) and the checkpoint. The stored plan is the cache: it is served as long as
the log up to that date and the checkpoint are unchanged, and recomputed (replacing it)
otherwise.

In front of the store, one in-memory snapshot per athlete (`LogSnapshot`: the athlete and the
whole log, read together) answers requests for `cache_seconds` after it was read, without
touching the database. Everything served about the athlete (plans, the history and its
charts, pages) is derived from the snapshot and kept with it while the log is unchanged
(`log_fingerprint`). The app's own writes drop the snapshot at once; writes by another
process (`coachrl log`) show within `cache_seconds`. A snapshot in use is read again in the
background once it is `REFRESH_AFTER` of `cache_seconds` old, so requests seldom wait for the
database; one older than `cache_seconds` is never served.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from types import ModuleType
from typing import Any, TypeVar

from coachrl.app.charts import CHARTS, chart
from coachrl.app.history import Series, history_series
from coachrl.coach.plan import Plan, Step
from coachrl.coach.store import Athlete, LoggedDay, Store, StoreError, entry_source
from coachrl.coach.todo import HabitFileMismatch, HabitTodo
from coachrl.sim.config import WorldConfig

log = logging.getLogger("coachrl.app")

CACHE_SECONDS = 5.0
REFRESH_AFTER = 0.75  # of cache_seconds: a snapshot in use this old is read again, ahead
MAX_KEPT = 64  # plans and pages kept per athlete (the oldest go first)
CHECKPOINT_ENV = "COACHRL_CHECKPOINT"
LOGGED_FIELDS = tuple(f.name for f in dataclasses.fields(LoggedDay))
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ServiceError(Exception):
    """A refused request, with the HTTP status it maps to and a message for the athlete."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unavailable(ServiceError):
    status = 503


@dataclasses.dataclass(frozen=True)
class PlanView:
    athlete: Athlete
    result: dict[str, Any]  # the stored plan JSON (today's plan, "outlook", ids)
    week: list[Plan]  # today first

    @functools.cached_property
    def json(self) -> bytes:
        return json.dumps(self.result, sort_keys=True).encode()


@dataclasses.dataclass
class HistoryView:
    athlete_id: str
    series: Series
    charts: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> data URI

    @functools.cached_property
    def json(self) -> bytes:
        """The whole series as JSON (the API's answer without start / end)."""
        return self.to_json()

    def to_json(self, start: dt.date | None = None, end: dt.date | None = None) -> bytes:
        return json.dumps({"athlete": self.athlete_id, **self.series.to_json(start, end)}
                          ).encode()


@dataclasses.dataclass(frozen=True)
class LogSnapshot:
    """The athlete and the whole log as the store held them at `read_at` (time.monotonic()
    when the read began); `fingerprint` = log_fingerprint(days, "")."""

    athlete: Athlete
    days: list[LoggedDay]
    fingerprint: str
    read_at: float


@dataclasses.dataclass
class _Kept:
    """An athlete's snapshot and what was derived from its log (valid while it is unchanged)."""

    snapshot: LogSnapshot
    plans: dict[dt.date, PlanView] = dataclasses.field(default_factory=dict)
    pages: dict[Hashable, str] = dataclasses.field(default_factory=dict)
    history: HistoryView | None = None
    refreshing: bool = False  # a read ahead is under way


def plan_from_json(data: dict[str, Any]) -> Plan:
    """A `Plan` back from its `Plan.to_json()` form."""
    return Plan(date=dt.date.fromisoformat(data["date"]), session=data["session"],
                label=data["label"], minutes=float(data["minutes"]),
                load_tss=float(data["load_tss"]),
                steps=tuple(Step(**step) for step in data["steps"]),
                habits=dict(data["habits"]), reasons=tuple(data["reasons"]),
                rules=tuple(data["rules"]), action=tuple(int(a) for a in data["action"]),
                todo=tuple(HabitTodo(**{k: v for k, v in t.items() if k != "text"})
                           for t in data.get("todo", ())))


def log_fingerprint(days: list[LoggedDay], checkpoint: str) -> str:
    """A digest of the logged days and the checkpoint a plan was computed from. (The JSON of
    each day's fields, as `dataclasses.asdict` would give it: a LoggedDay holds no nested
    dataclass, so the shallow dict is the same and cheaper.)"""
    text = json.dumps([{name: getattr(d, name) for name in LOGGED_FIELDS} for d in days],
                      default=str, sort_keys=True)
    return hashlib.sha256(f"{checkpoint}\n{text}".encode()).hexdigest()


def load_exports() -> ModuleType | None:
    """`coachrl.coach.exports` (iCalendar, Zwift .zwo, FIT) if this install has it."""
    try:
        return importlib.import_module("coachrl.coach.exports")
    except ImportError as error:
        log.info("exports unavailable: %s", error)
        return None


def _keep(kept: dict[K, V], key: K, value: V) -> V:
    """Stores `value` under `key`, dropping the oldest entries beyond MAX_KEPT."""
    kept[key] = value
    while len(kept) > MAX_KEPT:
        kept.pop(next(iter(kept)), None)
    return value


class CoachService:
    """The store and the coach behind the app; thread-safe. Methods named `cached_*` never
    block (no I/O): they answer from memory or say None."""

    def __init__(self, store: Store, checkpoint: str | os.PathLike[str] | None = None,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        checkpoint = checkpoint if checkpoint is not None else os.environ.get(CHECKPOINT_ENV)
        self.checkpoint = str(checkpoint) if checkpoint else None
        self.cache_seconds = cache_seconds
        self._coach: Any = None
        self._coach_lock = threading.Lock()
        self._read_lock = threading.Lock()  # snapshot reads, in order
        self._plan_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._chart_lock = threading.Lock()
        self._page_lock = threading.Lock()
        self._kept: dict[str, _Kept] = {}
        self._writes: dict[str, int] = {}  # athlete id -> writes by this app (see `forget`)
        self._athletes: tuple[float, list[str]] | None = None  # (read at, ids)
        self._reader = concurrent.futures.ThreadPoolExecutor(1, "coachrl-read-ahead")
        self._exports: ModuleType | None | bool = False  # False: not looked up yet

    def close(self) -> None:
        """Stops the reads ahead, then closes the store."""
        self._reader.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    # -- the coach ------------------------------------------------------------------------------

    @property
    def coach(self) -> Any:
        """The coach, loaded on first use; Unavailable (503) if there is none."""
        if self._coach is None:
            with self._coach_lock:
                if self._coach is None:
                    self._coach = self._load_coach()
        return self._coach

    def _load_coach(self) -> Any:
        if not self.checkpoint:
            raise Unavailable(f"no coach to plan with: start the app with a checkpoint "
                              f"(coachrl serve --checkpoint DIR) or set {CHECKPOINT_ENV}")
        from coachrl.checkpoint import CheckpointError
        from coachrl.training.checkpoints import load_coach
        try:
            return load_coach(self.checkpoint)
        except (CheckpointError, OSError, ValueError) as error:
            raise Unavailable(f"cannot load the coach from {self.checkpoint}: {error}") from None

    def world_config(self) -> WorldConfig:
        """The coach's world (the default world when the app has no checkpoint)."""
        if self.checkpoint:
            return self.coach.config.world
        from coachrl.config import default_world_config
        return default_world_config()

    @property
    def exports(self) -> ModuleType | None:
        if self._exports is False:
            self._exports = load_exports()
        return self._exports  # type: ignore[return-value]

    # -- the snapshots --------------------------------------------------------------------------

    def _fresh(self, athlete_id: str) -> _Kept | None:
        """The athlete's snapshot (and what is kept with it) if under `cache_seconds` old,
        else None; past REFRESH_AFTER, a read ahead is started. No I/O."""
        kept = self._kept.get(athlete_id)
        if kept is None:
            return None
        age = time.monotonic() - kept.snapshot.read_at
        if age >= self.cache_seconds:
            return None
        if age >= REFRESH_AFTER * self.cache_seconds and not kept.refreshing:
            kept.refreshing = True
            try:
                self._reader.submit(self._read_ahead, athlete_id)
            except RuntimeError:  # closed: the app is stopping
                pass
        return kept

    def _snapshot(self, athlete_id: str) -> _Kept:
        """The athlete's fresh snapshot, read from the store if needed; NotFound (404)
        naming the known athletes if unknown."""
        kept = self._fresh(athlete_id)
        if kept is None:
            with self._read_lock:
                kept = self._fresh(athlete_id) or self._read(athlete_id)
        return kept

    def _read_ahead(self, athlete_id: str) -> None:
        try:
            with self._read_lock:
                self._read(athlete_id)
        except Exception as error:  # the next request reads it again (and reports)
            log.warning("reading %s ahead failed: %s", athlete_id, error)
            self._kept.pop(athlete_id, None)

    def _read(self, athlete_id: str) -> _Kept:
        """Reads the athlete and the log (call with `_read_lock` held). What was derived is
        kept if the log is unchanged. A read that a write of this app overtook is returned
        to its caller but not kept."""
        writes, read_at = self._writes.get(athlete_id, 0), time.monotonic()
        try:
            athlete = self.store.athlete(athlete_id)
        except StoreError as error:
            raise NotFound(str(error)) from None
        days = self.store.days(athlete_id)
        snapshot = LogSnapshot(athlete, days, log_fingerprint(days, ""), read_at)
        kept = self._kept.get(athlete_id)
        if (kept is not None and kept.snapshot.fingerprint == snapshot.fingerprint
                and kept.snapshot.athlete == athlete):
            kept.snapshot, kept.refreshing = snapshot, False
        else:
            kept = _Kept(snapshot)
        if self._writes.get(athlete_id, 0) == writes:
            self._kept[athlete_id] = kept
        return kept

    def forget(self, athlete_id: str) -> None:
        """Drops everything kept about the athlete (after a write)."""
        self._writes[athlete_id] = self._writes.get(athlete_id, 0) + 1
        self._kept.pop(athlete_id, None)
        self._athletes = None

    # -- reads ----------------------------------------------------------------------------------

    def cached_athletes(self) -> list[str] | None:
        known = self._athletes
        if known is None or time.monotonic() - known[0] >= self.cache_seconds:
            return None
        return known[1]

    def athletes(self) -> list[str]:
        ids = self.cached_athletes()
        if ids is None:
            read_at = time.monotonic()
            ids = self.store.athletes()
            self._athletes = (read_at, ids)
        return ids

    def athlete(self, athlete_id: str) -> Athlete:
        """The stored athlete; NotFound (404) naming the known ones if unknown."""
        return self._snapshot(athlete_id).snapshot.athlete

    def cached_plan(self, athlete_id: str, date: dt.date) -> PlanView | None:
        kept = self._fresh(athlete_id)
        return kept.plans.get(date) if kept is not None else None

    def plan(self, athlete_id: str, date: dt.date) -> PlanView:
        """The athlete's plan for `date`: the stored one if its log is unchanged, else a new
        one from `today_plan`, written to the store."""
        kept = self._snapshot(athlete_id)
        view = kept.plans.get(date)
        if view is None:
            with self._plan_lock:
                view = kept.plans.get(date)
                if view is None:
                    view = _keep(kept.plans, date, self._plan(kept.snapshot, date))
        return view

    def _plan(self, snapshot: LogSnapshot, date: dt.date) -> PlanView:
        from coachrl.coach.daily import today_plan

        athlete = snapshot.athlete
        coach = self.coach  # Unavailable (503) with the reason when there is none
        days = [d for d in snapshot.days if d.date <= date]
        fingerprint = log_fingerprint(days, f"{self.checkpoint}\n{athlete.habits!r}")
        stored = self.store.plan(athlete.id, date)
        if stored is not None and stored.get("log_fingerprint") == fingerprint:
            try:
                week = [plan_from_json(stored)] + [plan_from_json(p) for p in stored["outlook"]]
                return PlanView(athlete, stored, week)
            except (KeyError, TypeError, ValueError) as error:
                log.warning("stored plan of %s on %s unreadable (%s): recomputed",
                            athlete.id, date, error)
        try:
            daily = today_plan(self.store, coach, athlete.id, date, write=False)
        except HabitFileMismatch as error:
            raise Conflict(str(error)) from None
        result = {**daily.result, "log_fingerprint": fingerprint}
        self.store.write_plan(athlete.id, date, result)
        return PlanView(athlete, result, daily.week)

    def cached_page(self, athlete_id: str, key: Hashable) -> str | None:
        """A page rendered before from the athlete's current log (no I/O), else None."""
        kept = self._fresh(athlete_id)
        return kept.pages.get(key) if kept is not None else None

    def page(self, athlete_id: str, key: Hashable | None,
             render: Callable[[], tuple[str, bool]]) -> str:
        """The page `key` of the athlete: kept from before, or `render()` -> (html, keep),
        kept with the log it was rendered from if `keep`. `key` None: rendered, never kept."""
        kept = self._snapshot(athlete_id)
        html = kept.pages.get(key) if key is not None else None
        if html is None:
            html, keep = render()  # from this snapshot or a newer one
            if keep and key is not None and self._kept.get(athlete_id) is kept:
                with self._page_lock:
                    _keep(kept.pages, key, html)
        return html

    def cached_history(self, athlete_id: str) -> HistoryView | None:
        kept = self._fresh(athlete_id)
        return kept.history if kept is not None else None

    def history(self, athlete_id: str) -> HistoryView:
        """The athlete's charted series (charts drawn on demand, then kept)."""
        kept = self._snapshot(athlete_id)
        if kept.history is None:
            with self._history_lock:
                if kept.history is None:
                    kept.history = HistoryView(
                        athlete_id, history_series(kept.snapshot.days, self.world_config()))
        return kept.history

    def chart(self, athlete_id: str, name: str) -> str:
        """The chart `name` of the athlete's history as an SVG data URI."""
        if name not in CHARTS:
            raise NotFound(f"unknown chart {name!r}; known: {', '.join(CHARTS)}")
        view = self.history(athlete_id)
        uri = view.charts.get(name)
        if uri is None:
            with self._chart_lock:  # drawn once, however many ask at once
                uri = view.charts.get(name)
                if uri is None:
                    uri = view.charts[name] = chart(name, view.series)
        return uri

    # -- writes ---------------------------------------------------------------------------------

    def log(self, athlete_id: str, day: LoggedDay, source: str | None = None) -> int:
        """Logs one day, merged into the day already logged under the store's rule
        (`coachrl.coach.store`): 1 if new or changed, 0 if it adds nothing. A conflicting
        value is a Conflict (409) and nothing is written."""
        self.athlete(athlete_id)
        try:
            new = self.store.log_days(athlete_id, [day],
                                     source=source or entry_source("web app"))
        except StoreError as error:
            raise Conflict(str(error)) from None
        finally:
            self.forget(athlete_id)
        return new


__all__ = ["CACHE_SECONDS", "CHECKPOINT_ENV", "CoachService", "Conflict", "HistoryView",
           "LogSnapshot", "NotFound", "PlanView", "ServiceError", "Unavailable",
           "log_fingerprint", "plan_from_json"]
