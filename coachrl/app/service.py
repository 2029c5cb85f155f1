"""What the web app serves, without the web: the store, the coach (loaded once, lazily) and
the caches.

    service = CoachService(open_store(url), checkpoint="runs/demo/coach")
    view = service.plan("demo", dt.date(2026, 3, 1))      # PlanView: result, week, athlete
    service.log("demo", LoggedDay(...))                   # never overwrites: Conflict

Plans: `today_plan` (the one path from a log to a plan) computes a date's plan, which is
written to the store with the fingerprint of the logged days it was computed from
(`log_fingerprint`) and the checkpoint. The stored plan is the cache: it is served as long as
the log up to that date and the checkpoint are unchanged, and recomputed (replacing it)
otherwise. In front of the store, an in-memory cache answers repeated requests for
`cache_seconds` without touching the database; the app's own writes clear it at once, writes
by another process (`coachrl log`) show within `cache_seconds`.
"""

from __future__ import annotations

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
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from coachrl.app.charts import CHARTS, chart
from coachrl.app.history import Series, history_series
from coachrl.coach.plan import Plan, Step
from coachrl.coach.store import Athlete, LoggedDay, Store, StoreError, entry_source
from coachrl.sim.config import WorldConfig

log = logging.getLogger("coachrl.app")

CACHE_SECONDS = 5.0
CHECKPOINT_ENV = "COACHRL_CHECKPOINT"
T = TypeVar("T")


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


def plan_from_json(data: dict[str, Any]) -> Plan:
    """A `Plan` back from its `Plan.to_json()` form."""
    return Plan(date=dt.date.fromisoformat(data["date"]), session=data["session"],
                label=data["label"], minutes=float(data["minutes"]),
                load_tss=float(data["load_tss"]),
                steps=tuple(Step(**step) for step in data["steps"]),
                habits=dict(data["habits"]), reasons=tuple(data["reasons"]),
                rules=tuple(data["rules"]), action=tuple(int(a) for a in data["action"]))


def log_fingerprint(days: list[LoggedDay], checkpoint: str) -> str:
    """A digest of the logged days and the checkpoint a plan was computed from."""
    text = json.dumps([dataclasses.asdict(d) for d in days], default=str, sort_keys=True)
    return hashlib.sha256(f"{checkpoint}\n{text}".encode()).hexdigest()


def load_exports() -> ModuleType | None:
    """`coachrl.coach.exports` (iCalendar, Zwift .zwo, FIT) if this install has it."""
    try:
        return importlib.import_module("coachrl.coach.exports")
    except ImportError as error:
        log.info("exports unavailable: %s", error)
        return None


class CoachService:
    """The store and the coach behind the app; thread-safe."""

    def __init__(self, store: Store, checkpoint: str | os.PathLike[str] | None = None,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        checkpoint = checkpoint if checkpoint is not None else os.environ.get(CHECKPOINT_ENV)
        self.checkpoint = str(checkpoint) if checkpoint else None
        self.cache_seconds = cache_seconds
        self._coach: Any = None
        self._coach_lock = threading.Lock()
        self._plan_lock = threading.Lock()
        self._history_lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._histories: dict[str, tuple[str, HistoryView]] = {}  # id -> (log digest, view)
        self._exports: ModuleType | None | bool = False  # False: not looked up yet

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

    # -- the in-memory cache --------------------------------------------------------------------

    def _cached(self, key: tuple) -> Any | None:
        hit = self._cache.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def _remember(self, key: tuple, value: T) -> T:
        self._cache[key] = (time.monotonic() + self.cache_seconds, value)
        return value

    def _through(self, key: tuple, make: Callable[[], T]) -> T:
        hit = self._cached(key)
        return hit if hit is not None else self._remember(key, make())

    def forget(self, athlete_id: str) -> None:
        """Drops everything cached about the athlete (after a write)."""
        for key in [k for k in self._cache if len(k) > 1 and k[1] == athlete_id]:
            self._cache.pop(key, None)
        self._cache.pop(("athletes",), None)

    # -- reads ----------------------------------------------------------------------------------

    def cached_athletes(self) -> list[str] | None:
        return self._cached(("athletes",))

    def athletes(self) -> list[str]:
        return self._through(("athletes",), self.store.athletes)

    def athlete(self, athlete_id: str) -> Athlete:
        """The stored athlete; NotFound (404) naming the known ones if unknown."""

        def read() -> Athlete:
            try:
                return self.store.athlete(athlete_id)
            except StoreError as error:
                raise NotFound(str(error)) from None
        return self._through(("athlete", athlete_id), read)

    def cached_plan(self, athlete_id: str, date: dt.date) -> PlanView | None:
        """The plan if the in-memory cache has it (no I/O), else None."""
        return self._cached(("plan", athlete_id, date))

    def plan(self, athlete_id: str, date: dt.date) -> PlanView:
        """The athlete's plan for `date`: the stored one if its log is unchanged, else a new
        one from `today_plan`, written to the store."""
        view = self.cached_plan(athlete_id, date)
        if view is not None:
            return view
        with self._plan_lock:
            view = self.cached_plan(athlete_id, date)
            if view is None:
                view = self._remember(("plan", athlete_id, date), self._plan(athlete_id, date))
        return view

    def _plan(self, athlete_id: str, date: dt.date) -> PlanView:
        from coachrl.coach.daily import today_plan

        athlete = self.athlete(athlete_id)
        coach = self.coach  # Unavailable (503) with the reason when there is none
        fingerprint = log_fingerprint(self.store.days(athlete_id, end=date), self.checkpoint)
        stored = self.store.plan(athlete_id, date)
        if stored is not None and stored.get("log_fingerprint") == fingerprint:
            try:
                week = [plan_from_json(stored)] + [plan_from_json(p) for p in stored["outlook"]]
                return PlanView(athlete, stored, week)
            except (KeyError, TypeError, ValueError) as error:
                log.warning("stored plan of %s on %s unreadable (%s): recomputed",
                            athlete_id, date, error)
        daily = today_plan(self.store, coach, athlete_id, date, write=False)
        result = {**daily.result, "log_fingerprint": fingerprint}
        self.store.write_plan(athlete_id, date, result)
        return PlanView(athlete, result, daily.week)

    def cached_page(self, athlete_id: str, key: Any) -> str | None:
        """A page rendered before for the athlete (cleared with the rest on a write)."""
        return self._cached(("page", athlete_id, key))

    def remember_page(self, athlete_id: str, key: Any, html: str) -> str:
        return self._remember(("page", athlete_id, key), html)

    def cached_history(self, athlete_id: str) -> HistoryView | None:
        return self._cached(("history", athlete_id))

    def history(self, athlete_id: str) -> HistoryView:
        """The athlete's charted series (charts drawn on demand, then kept)."""
        view = self.cached_history(athlete_id)
        if view is not None:
            return view
        self.athlete(athlete_id)
        with self._history_lock:
            view = self.cached_history(athlete_id)
            if view is None:
                days = self.store.days(athlete_id)
                fingerprint = log_fingerprint(days, "")
                known = self._histories.get(athlete_id)
                if known is not None and known[0] == fingerprint:  # the log is unchanged
                    view = known[1]
                else:
                    view = HistoryView(athlete_id, history_series(days, self.world_config()))
                    self._histories[athlete_id] = (fingerprint, view)
                view = self._remember(("history", athlete_id), view)
        return view

    def chart(self, athlete_id: str, name: str) -> str:
        """The chart `name` of the athlete's history as an SVG data URI."""
        if name not in CHARTS:
            raise NotFound(f"unknown chart {name!r}; known: {', '.join(CHARTS)}")
        view = self.history(athlete_id)
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
           "NotFound", "PlanView", "ServiceError", "Unavailable", "log_fingerprint",
           "plan_from_json"]
