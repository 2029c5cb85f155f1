"""The athlete log store: round trips, idempotent logging, never-overwrite, plans, schema."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sqlite3

import pytest

from coachrl.coach import store as store_mod
from coachrl.coach.store import (
    SCHEMA_VERSION,
    LoggedDay,
    StoreError,
    default_url,
    open_store,
)

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'coach.db'}"


@pytest.fixture
def store(url):
    s = open_store(url)
    s.add_athlete("ann", name="Ann", max_hr=190, threshold_hr=170, threshold_power_w=250,
                  habit_goals={"sleep": ("h", 56.0), "mobility": ("min", 70.0)})
    yield s
    s.close()


def _days():
    return [
        LoggedDay(date=D1, hrv_ms=60.0, rhr_bpm=50.0, sleep_h=7.5, sleep_eff=0.9, recovery=70.0,
                  sessions=[("aerobic_base", 60.0, 3.0)], habits={"sleep": 7.5}),
        LoggedDay(date=D2, hrv_ms=61.0, rhr_bpm=float("nan"), sleep_h=None, sleep_eff=None,
                  recovery=math.nan, ill=True,
                  sessions=[("tempo", 45.0, None), ("strength", 30.0, 7.0)],
                  habits={"sleep": 8.0, "mobility": 10.0}),
        LoggedDay(date=D3),
    ]


def _counts(url):
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("readings", "sessions", "habits_done", "plans")}


def test_athlete_round_trip(store):
    a = store.athlete("ann")
    assert (a.id, a.name, a.max_hr, a.threshold_hr, a.threshold_power_w) == (
        "ann", "Ann", 190.0, 170.0, 250.0)
    assert a.threshold_pace_s_per_km is None
    assert a.habit_goals == {"sleep": ("h", 56.0), "mobility": ("min", 70.0)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "Bob"  # type: ignore[misc]


def test_add_athlete_same_is_noop_different_is_refused(store):
    store.add_athlete("ann", name="Ann", max_hr=190, threshold_hr=170, threshold_power_w=250,
                      habit_goals={"mobility": ("min", 70.0), "sleep": ("h", 56.0)})
    with pytest.raises(StoreError, match="max_hr"):
        store.add_athlete("ann", name="Ann", max_hr=185, threshold_hr=170, threshold_power_w=250,
                          habit_goals={"sleep": ("h", 56.0), "mobility": ("min", 70.0)})
    with pytest.raises(StoreError, match=r"habit_goals\[sleep\]"):
        store.add_athlete("ann", name="Ann", max_hr=190, threshold_hr=170, threshold_power_w=250,
                          habit_goals={"sleep": ("h", 50.0), "mobility": ("min", 70.0)})
    assert store.athlete("ann").max_hr == 190.0
    assert store.athlete("ann").habit_goals["sleep"] == ("h", 56.0)


def test_unknown_athlete(store):
    for call in (lambda: store.athlete("zed"), lambda: store.days("zed"),
                 lambda: store.log_days("zed", _days(), "test"),
                 lambda: store.plan("zed", D1)):
        with pytest.raises(StoreError, match=r"unknown athlete 'zed'; known: 'ann'"):
            call()


def test_days_round_trip(store, url):
    assert store.log_days("ann", _days(), source="test") == 3
    got = store.days("ann")
    assert got == _days()
    assert [d.date for d in got] == [D1, D2, D3]
    d2 = got[1]
    assert d2.hrv_ms == 61.0
    assert d2.rhr_bpm is None and d2.sleep_h is None and d2.recovery is None
    assert d2.ill and not d2.injured
    assert d2.sessions == (("tempo", 45.0, None), ("strength", 30.0, 7.0))
    assert d2.habits == {"sleep": 8.0, "mobility": 10.0}
    assert got[2].sessions == () and got[2].habits == {}
    assert [d.date for d in store.days("ann", start=D2)] == [D2, D3]
    assert [d.date for d in store.days("ann", end=D2)] == [D1, D2]
    assert [d.date for d in store.days("ann", start=D2, end=D2)] == [D2]
    # TSS derived from the session type's IF: 1 h of aerobic base at IF 0.70 = 49.
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        tss = conn.execute("SELECT tss FROM sessions WHERE session_type='aerobic_base'").fetchone()
    assert tss[0] == pytest.approx(49.0)
    # Survives reopening.
    store.close()
    with open_store(url) as again:
        assert again.days("ann") == _days()


def test_relog_same_days_is_noop(store, url):
    store.log_days("ann", _days(), source="test")
    before = _counts(url)
    assert store.log_days("ann", _days(), source="other") == 0
    assert store.log_days("ann", _days()[1:2], source="test") == 0
    assert _counts(url) == before
    assert store.days("ann") == _days()


@pytest.mark.parametrize("change, field", [
    (dict(hrv_ms=58.0), "hrv_ms already logged as 61.0, new value 58.0"),
    (dict(rhr_bpm=49.0), "rhr_bpm already logged as None, new value 49.0"),
    (dict(ill=False), "ill already logged as True"),
    (dict(sessions=[("tempo", 50.0, None), ("strength", 30.0, 7.0)]), "sessions"),
    (dict(habits={"sleep": 7.0, "mobility": 10.0}), r"habits\[sleep\]"),
    (dict(habits={"sleep": 8.0}), r"habits\[mobility\]"),
])
def test_conflicting_relog_is_refused_and_writes_nothing(store, url, change, field):
    store.log_days("ann", _days()[:2], source="test")
    before = _counts(url)
    d2 = _days()[1]
    conflicting = LoggedDay(**{**{f: getattr(d2, f) for f in d2.__dataclass_fields__}, **change})
    new_day = LoggedDay(date=dt.date(2026, 2, 28), hrv_ms=55.0, sessions=[("hiit", 40, 9)])
    later_day = LoggedDay(date=dt.date(2026, 3, 4), hrv_ms=57.0, habits={"sleep": 6.0})
    with pytest.raises(StoreError, match=f"2026-03-02: {field}"):
        store.log_days("ann", [new_day, conflicting, later_day], source="test")
    assert _counts(url) == before
    assert [d.date for d in store.days("ann")] == [D1, D2]
    assert store.days("ann") == _days()[:2]


def test_invalid_days_are_refused(store, url):
    with pytest.raises(StoreError, match="2026-03-01: unknown session type 'yoga'"):
        LoggedDay(date=D1, sessions=[("yoga", 30.0, None)])
    with pytest.raises(StoreError, match="2026-03-01: tempo minutes must be >= 0"):
        LoggedDay(date=D1, sessions=[("tempo", -5.0, None)])
    with pytest.raises(StoreError, match="2026-03-01: logged twice"):
        store.log_days("ann", [LoggedDay(date=D1, hrv_ms=1.0), LoggedDay(date=D1)], "test")
    assert _counts(url)["readings"] == 0


def test_plan_replace_leaves_log_untouched(store, url):
    store.log_days("ann", _days(), source="test")
    assert store.plan("ann", D2) is None
    store.write_plan("ann", D2, {"session": "tempo", "minutes": 60})
    before = _counts(url)
    store.write_plan("ann", D2, {"session": "rest", "minutes": 0, "why": ["low HRV"]})
    assert store.plan("ann", D2) == {"session": "rest", "minutes": 0, "why": ["low HRV"]}
    assert store.plan("ann", D1) is None
    assert _counts(url) == before and before["plans"] == 1
    assert store.days("ann") == _days()
    with pytest.raises(StoreError, match="JSON"):
        store.write_plan("ann", D1, {"bad": object()})
    assert store.plan("ann", D1) is None


def test_schema_version_recorded_and_mismatch_refused(url):
    open_store(url).close()
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)]
    open_store(url).close()  # same version reopens
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        open_store(url)


def test_default_url_honours_coachrl_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("COACHRL_HOME", str(home))
    assert default_url() == f"sqlite:///{home / 'coach.db'}"
    assert home.is_dir()
    with open_store() as s:
        s.add_athlete("ann")
    assert (home / "coach.db").is_file()
    monkeypatch.delenv("COACHRL_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert store_mod.default_db_path() == tmp_path / "user" / ".coachrl" / "coach.db"
