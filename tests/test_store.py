"""The athlete log store on SQLite and PostgreSQL (the `store_url` fixture of conftest.py):
round trips, idempotent logging, merging a day logged again (never overwriting), plans,
migrations, concurrent writers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from coachrl.coach import migrations
from coachrl.coach import store as store_mod
from coachrl.coach.store import (
    SCHEMA_VERSION,
    DoneSession,
    LoggedDay,
    StoreError,
    default_url,
    open_store,
)

D1, D2, D3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)
TABLES = ("readings", "sessions", "habits_done", "plans")


@pytest.fixture
def url(store_url):
    return store_url


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


def _sql(url, query, **params):
    """All rows of `query` on the store at `url`, through a connection of its own."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(query), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def _counts(url):
    return {t: _sql(url, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}


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
    assert _sql(url, "SELECT tss, tss_logged FROM sessions WHERE session_type='aerobic_base'"
                ) == [(pytest.approx(49.0), False)]
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


# -- merging a day logged again -------------------------------------------------------------------

def _sources(url):
    """(date, source) of each readings row, (date, type, source) of each session row."""
    readings = _sql(url, "SELECT date, source FROM readings ORDER BY date")
    sessions = _sql(url, "SELECT date, session_type, source FROM sessions ORDER BY id")
    def date(d):  # SQLite returns dates as text
        return dt.date.fromisoformat(str(d))

    return [(date(d), *rest) for d, *rest in readings], [(date(d), *rest) for d, *rest in sessions]


def test_relog_fills_missing_and_never_clears(store, url):
    store.log_days("ann", _days()[:2], source="test")
    # D2 is stored with hrv 61, rhr/sleep/recovery missing, ill, habits sleep 8 and
    # mobility 10. A later log without hrv, ill or habits clears nothing.
    later = LoggedDay(D2, rhr_bpm=49.0, sleep_eff=0.85, ill=False, injured=True,
                      habits={"mobility": 10.0, "stretch": 5.0})
    assert store.log_days("ann", [later, LoggedDay(D1, benchmark_w=240.0)], "other") == 2
    d1, d2 = store.days("ann")
    assert d1 == dataclasses.replace(_days()[0], benchmark_w=240.0)
    assert d2 == dataclasses.replace(_days()[1], rhr_bpm=49.0, sleep_eff=0.85, injured=True,
                                     habits={"sleep": 8.0, "mobility": 10.0, "stretch": 5.0})
    assert _counts(url) == {"readings": 2, "sessions": 3, "habits_done": 4, "plans": 0}
    # The readings keep the first source; a second log of the same is a no-op.
    assert _sources(url)[0] == [(D1, "test"), (D2, "test")]
    assert store.log_days("ann", [later], "other") == 0
    assert store.log_days("ann", _days()[:2], "test") == 0
    assert store.days("ann") == [d1, d2]


def test_readings_then_sessions_of_the_same_date_merge(store, url):
    wearable = LoggedDay(D1, hrv_ms=62.0, rhr_bpm=48.0, sleep_h=7.2, sleep_eff=0.91,
                         recovery=80.0)
    ride = LoggedDay(D1, sessions=[RIDE_A])
    assert store.log_days("ann", [wearable], source="oura") == 1
    assert store.log_days("ann", [ride], source="fit:ride.fit") == 1
    assert store.days("ann") == [dataclasses.replace(wearable, sessions=(RIDE_A,))]
    assert _sources(url) == ([(D1, "oura")], [(D1, "aerobic_base", "fit:ride.fit")])
    assert store.log_days("ann", [wearable], source="oura") == 0
    assert store.log_days("ann", [ride], source="fit:ride.fit") == 0
    # The other way round: sessions first, then the readings.
    assert store.log_days("ann", [LoggedDay(D2, sessions=[RIDE_A])], source="fit") == 1
    assert store.log_days("ann", [dataclasses.replace(wearable, date=D2)], "oura") == 1
    assert store.days("ann", start=D2) == [dataclasses.replace(wearable, date=D2,
                                                               sessions=(RIDE_A,))]


# Sessions as FIT files give them (exact floats: minutes from seconds / 60).
RIDE_A = DoneSession("aerobic_base", 3661 / 60, None, 45.25, (5.0, 3601 / 60 - 5.0, 1.0, 0.0))
RIDE_B = DoneSession("hiit", 1801 / 60, None, 36.1, (20.0, 0.0, 0.0, 601 / 60))
RIDE_C = DoneSession("aerobic_base", 90.0, None, 70.0, (10.0, 75.0, 5.0, 0.0))  # A's type


def test_two_sessions_logged_in_two_calls_both_land(store, url):
    assert store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_A])], "fit:am.fit") == 1
    assert store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_B])], "fit:pm.fit") == 1
    assert store.days("ann") == [LoggedDay(D1, sessions=[RIDE_A, RIDE_B])]
    assert _sources(url) == ([(D1, "fit:am.fit")], [(D1, "aerobic_base", "fit:am.fit"),
                                                    (D1, "hiit", "fit:pm.fit")])
    before = _counts(url)
    for again in ([RIDE_A], [RIDE_B], [RIDE_A, RIDE_B], [RIDE_B, RIDE_A], []):
        assert store.log_days("ann", [LoggedDay(D1, sessions=again)], "fit") == 0
    assert _counts(url) == before


# The stored day is [RIDE_A, RIDE_B]; what each new list leaves stored when it comes from
# another source, and from the same one (None: refused, nothing written).
SESSION_MERGES = [
    ([], [RIDE_A, RIDE_B], [RIDE_A, RIDE_B]),  # contained in the stored: nothing new
    ([RIDE_B], [RIDE_A, RIDE_B], [RIDE_A, RIDE_B]),
    ([RIDE_B, RIDE_A], [RIDE_A, RIDE_B], [RIDE_A, RIDE_B]),
    ([RIDE_A, RIDE_B, RIDE_C], [RIDE_A, RIDE_B, RIDE_C], [RIDE_A, RIDE_B, RIDE_C]),  # C added
    ([RIDE_C, RIDE_B, RIDE_A], [RIDE_A, RIDE_B, RIDE_C], [RIDE_A, RIDE_B, RIDE_C]),
    ([RIDE_A, RIDE_A, RIDE_B], [RIDE_A, RIDE_B, RIDE_A], [RIDE_A, RIDE_B, RIDE_A]),  # a 2nd A
    # disjoint: another source's activity; from the same source, a correction
    ([RIDE_C], [RIDE_A, RIDE_B, RIDE_C], None),
    ([RIDE_C, RIDE_C], [RIDE_A, RIDE_B, RIDE_C, RIDE_C], None),
    ([RIDE_A, RIDE_C], None, None),  # B dropped, C added
]


@pytest.mark.parametrize("new, other_source, same_source", SESSION_MERGES)
@pytest.mark.parametrize("source", ["other", "fit"])
def test_session_merge_rule(store, url, source, new, other_source, same_source):
    store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_A, RIDE_B])], "fit")
    expected = other_source if source == "other" else same_source
    before = _counts(url)
    if expected is None:
        with pytest.raises(StoreError, match=r"2026-03-01: sessions already logged as \["):
            store.log_days("ann", [LoggedDay(D1, sessions=new)], source)
        assert _counts(url) == before
        expected = [RIDE_A, RIDE_B]
    else:
        assert store.log_days("ann", [LoggedDay(D1, sessions=new)], source) == (
            len(expected) > 2)
    assert store.days("ann")[0].sessions == tuple(expected)


def test_same_source_counts_if_it_added_any_stored_session(store):
    """A day holding sessions of two sources: each may still re-import (containment), but
    a disjoint list is refused from either of them and added from a third."""
    store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_A])], "fit:am.fit")
    store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_B])], "fit:pm.fit")
    for source in ("fit:am.fit", "fit:pm.fit"):
        assert store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_A])], source) == 0
        with pytest.raises(StoreError, match=f"'{source}' logged this day's sessions before"):
            store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_C])], source)
    assert store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_C])], "fit:eve.fit") == 1
    assert store.days("ann")[0].sessions == (RIDE_A, RIDE_B, RIDE_C)


def test_corrected_csv_is_refused_and_a_second_fit_source_appends(store, url, tmp_path):
    from coachrl.coach.csv_import import import_csv

    log = tmp_path / "log.csv"
    log.write_text("date,hrv_ms,session,minutes\n2026-03-01,60,tempo,45\n", encoding="utf-8")
    assert import_csv(store, "ann", log) == 1
    assert import_csv(store, "ann", log) == 0  # the same file again: a no-op
    before = _counts(url)
    # The edited file: D1's tempo 45 corrected to 50, and a new day after it.
    log.write_text("date,hrv_ms,session,minutes\n2026-03-01,60,tempo,50\n"
                   "2026-03-02,61,,\n", encoding="utf-8")
    with pytest.raises(StoreError, match=(
            r"2026-03-01: sessions already logged as \[DoneSession\(type='tempo', "
            r"minutes=45.0.*\], new value \[DoneSession\(type='tempo', minutes=50.0.*\] "
            r"\('csv:log.csv' logged this day's sessions before")):
        import_csv(store, "ann", log)
    assert _counts(url) == before
    assert store.days("ann") == [LoggedDay(D1, hrv_ms=60.0, sessions=[("tempo", 45.0, None)])]
    # A ride from a FIT file (its own source) on that day is a second session.
    assert store.log_days("ann", [LoggedDay(D1, sessions=[RIDE_A])], "fit:ride.fit") == 1
    assert store.days("ann")[0].sessions == (("tempo", 45.0, None), RIDE_A)
    assert _sources(url)[1] == [(D1, "tempo", "csv:log.csv"), (D1, "aerobic_base",
                                                               "fit:ride.fit")]


def _replace(day, **change):
    return LoggedDay(**{**{f: getattr(day, f) for f in day.__dataclass_fields__}, **change})


# Each conflict with the stored D2 of _days() (source "test": hrv 61, ill, tempo 45 min +
# strength 30 min RPE 7, habits sleep 8 and mobility 10), the source of the conflicting
# log, and the start of its message.
CONFLICTS = [
    (dict(hrv_ms=58.0), "other", "hrv_ms already logged as 61.0, new value 58.0"),
    (dict(hrv_ms=58.0), "test", "hrv_ms already logged as 61.0, new value 58.0"),
    (dict(habits={"sleep": 7.0, "mobility": 10.0}), "other",
     r"habits\[sleep\] already logged as 8.0, new value 7.0"),
    (dict(habits={"mobility": 12.0}), "other", r"habits\[mobility\] already logged as 10.0"),
    # some stored sessions repeated, one dropped, one added: a changed session
    (dict(sessions=[("tempo", 50.0, None), ("strength", 30.0, 7.0)]), "other",
     r"sessions already logged as \[.*\], new value .* \(the new list repeats some"),
    # from the source that logged them: any list neither containing nor contained in them
    (dict(sessions=[("tempo", 50.0, None), ("strength", 30.0, 7.0)]), "test",
     r"sessions already logged as \[.*\], new value .* \('test' logged this day's "
     r"sessions before and now logs others"),
    (dict(sessions=[("tempo", 50.0, None)]), "test",
     r"sessions already logged as \[DoneSession\(type='tempo', minutes=45.0.*"
     r"new value \[DoneSession\(type='tempo', minutes=50.0.*'test' logged this day's"),
    (dict(sessions=[("hiit", 30.0, 8.0)]), "test", "sessions .*'test' logged this day's"),
    # the same type and minutes, another RPE / TSS / zones: a changed session
    (dict(sessions=[("strength", 30.0, 6.0)]), "other",
     r"sessions already logged as DoneSession\(type='strength', minutes=30.0, rpe=7.0.*"
     r"new value DoneSession\(type='strength', minutes=30.0, rpe=6.0.*same type and minutes"),
    (dict(sessions=[("tempo", 45.0, None, 50.0)]), "other",
     "sessions .*the same type and minutes"),
    (dict(sessions=[("tempo", 45.0, None, None, (0.0, 20.0, 25.0, 0.0))]), "other",
     "sessions .*the same type and minutes"),
    (dict(sessions=[("tempo", 45.0, None), ("strength", 30.0, 7.0), ("strength", 30.0, 6.0)]),
     "test", "sessions .*the same type and minutes"),
]


@pytest.mark.parametrize("change, source, message", CONFLICTS)
def test_conflicting_relog_is_refused_and_writes_nothing(store, url, change, source, message):
    store.log_days("ann", _days()[:2], source="test")
    before = _counts(url)
    # In the same call: a new day, a valid merge into D1 (from either source: it contains
    # D1's session), a fill of D2 before its conflict, and a later new day. None of it may
    # land.
    new_day = LoggedDay(date=dt.date(2026, 2, 28), hrv_ms=55.0, sessions=[("hiit", 40, 9)])
    merge_d1 = LoggedDay(D1, benchmark_w=240.0, sessions=[*_days()[0].sessions, RIDE_C],
                         habits={"mobility": 5.0})
    conflicting = _replace(_days()[1], rhr_bpm=49.0, injured=True, **change)
    later_day = LoggedDay(date=dt.date(2026, 3, 4), hrv_ms=57.0, habits={"sleep": 6.0})
    with pytest.raises(StoreError, match=f"2026-03-02: {message}"):
        store.log_days("ann", [new_day, merge_d1, conflicting, later_day], source=source)
    assert _counts(url) == before
    assert store.days("ann") == _days()[:2]
    # Without the conflicting day the rest of the call lands.
    assert store.log_days("ann", [new_day, merge_d1, later_day], source=source) == 3


def test_merge_day_is_pure_and_lists_the_changes():
    stored = _days()[1]
    changes = store_mod.merge_day(stored, _replace(
        stored, hrv_ms=None, rhr_bpm=49.0, ill=False, injured=True,
        sessions=[("strength", 30.0, 7.0), RIDE_C, ("tempo", 45.0, None)],
        habits={"stretch": 5.0}), "test", {"test"})
    assert changes == store_mod.DayChanges(readings={"rhr_bpm": 49.0, "injured": True},
                                           sessions=(RIDE_C,), habits={"stretch": 5.0})
    assert store_mod.merge_day(stored, stored, "test", {"test"}) == store_mod.NO_CHANGES
    other = _replace(stored, sessions=[RIDE_C])
    assert store_mod.merge_day(stored, other, "fit", {"test"}).sessions == (RIDE_C,)
    with pytest.raises(StoreError, match="'fit' logged this day's sessions before"):
        store_mod.merge_day(stored, other, "fit", {"test", "fit"})
    assert stored == _days()[1]


def test_fit_rides_of_one_date_imported_one_by_one(url, tmp_path):
    from test_fit_import import FTP, LTHR, RIDE, T0, activity_file, steps, write

    from coachrl.coach.fit_import import import_fit, read_activity

    am = write(tmp_path, "am.fit", activity_file(RIDE))  # 07:00 UTC, 09:00 local
    pm = write(tmp_path, "pm.fit", activity_file(steps((1800, 130, None)),
                                                 start=T0 + dt.timedelta(hours=10)))
    with open_store(url) as store:
        athlete = store.add_athlete("fit", threshold_power_w=FTP, threshold_hr=LTHR)
        rides = [read_activity(f, athlete).done() for f in (am, pm)]
        date = T0.date()
        store.log_days("fit", [LoggedDay(date, hrv_ms=58.0, sleep_h=7.0)], source="oura")
        assert import_fit(store, "fit", am) == 1
        assert import_fit(store, "fit", pm) == 1
        assert store.days("fit") == [LoggedDay(date, hrv_ms=58.0, sleep_h=7.0, sessions=rides)]
        assert [s.type for s in rides] == ["hiit", "aerobic_base"]
        for again in (am, pm, [am, pm], tmp_path):  # each file again, both, the folder
            assert import_fit(store, "fit", again) == 0
        assert len(store.days("fit")[0].sessions) == 2
    assert _sources(url) == ([(date, "oura")], [(date, "hiit", "fit:am.fit"),
                                                (date, "aerobic_base", "fit:pm.fit")])


def test_concurrent_merges_into_one_day_all_land(store, url):
    """Writers adding readings, a session and a habit to the same new days at once: each
    call merges after the other (PostgreSQL: the athlete's row lock; SQLite: BEGIN
    IMMEDIATE), none fails on the day's first insert."""
    dates = [D1 + dt.timedelta(days=i) for i in range(6)]
    parts = [dict(hrv_ms=60.0, rhr_bpm=50.0), dict(sessions=[RIDE_A]), dict(habits={"sleep": 7.0})]
    stores = [open_store(url) for _ in parts]
    try:
        for date in dates:
            errors = _run_together([lambda s=s, p=p, date=date: s.log_days(
                "ann", [LoggedDay(date, **p)], source="w") for s, p in zip(stores, parts)])
            assert errors == []
    finally:
        for s in stores:
            s.close()
    merged = {k: v for p in parts for k, v in p.items()}
    assert store.days("ann") == [LoggedDay(d, **merged) for d in dates]


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


# -- TSS and time in zone -------------------------------------------------------------------------

ZONED = LoggedDay(date=D1, sessions=[
    ("aerobic_base", 60.0, 3.0, 52.5, (10.0, 48.5, 1.5, 0.0)),  # a device's TSS and zones
    ("tempo", 40.0, 6.0, 45.0),  # TSS only
    ["hiit", 30.0, None, None, [12.0, 4.0, 2.0, 12.5]],  # zones only (lists are taken)
    ("strength", 20.0, 5.0),
])


def test_done_session_fields_and_plain_tuples():
    s = DoneSession("tempo", 45.0)
    assert (s.type, s.minutes, s.rpe, s.tss, s.zone_minutes) == ("tempo", 45.0, None, None,
                                                                  None)
    assert s == ("tempo", 45.0, None) and s != ("tempo", 45.0, 5.0)
    assert hash(s) == hash(("tempo", 45.0, None))
    sessions = ZONED.sessions
    assert all(isinstance(x, DoneSession) for x in sessions)
    assert sessions[0] == DoneSession("aerobic_base", 60.0, 3.0, 52.5, (10.0, 48.5, 1.5, 0.0))
    assert sessions[1] == ("tempo", 40.0, 6.0, 45.0) and sessions[1].zone_minutes is None
    assert sessions[2].zone_minutes == (12.0, 4.0, 2.0, 12.5) and sessions[2].tss is None


def test_tss_and_zones_round_trip_and_are_never_overwritten(store, url):
    assert store.log_days("ann", [ZONED], source="fit") == 1
    (got,) = store.days("ann")
    assert got == ZONED and got.sessions == ZONED.sessions
    rows = _sql(url, "SELECT session_type, tss, tss_logged, zone_recovery_min, zone_low_min, "
                     "zone_threshold_min, zone_high_min FROM sessions ORDER BY id")
    # The logged TSS is kept; without one it is derived: 0.5 h hiit at IF 0.9 = 40.5,
    # 20 min strength at IF 0.7 = 16.33.
    assert rows == [("aerobic_base", 52.5, True, 10.0, 48.5, 1.5, 0.0),
                    ("tempo", 45.0, True, None, None, None, None),
                    ("hiit", pytest.approx(40.5), False, 12.0, 4.0, 2.0, 12.5),
                    ("strength", pytest.approx(20 / 60 * 0.49 * 100), False, None, None, None,
                     None)]
    before = _counts(url)
    assert store.log_days("ann", [ZONED], source="again") == 0
    for changed in ([("aerobic_base", 60.0, 3.0, 52.0, (10.0, 48.5, 1.5, 0.0))],  # TSS
                    [("aerobic_base", 60.0, 3.0, 52.5, (10.0, 48.0, 2.0, 0.0))],  # zones
                    [("aerobic_base", 60.0, 3.0, 52.5)]):  # zones dropped
        day = dataclasses.replace(ZONED, sessions=[*changed, *ZONED.sessions[1:]])
        with pytest.raises(StoreError, match="2026-03-01: sessions already logged"):
            store.log_days("ann", [LoggedDay(D2, hrv_ms=50.0), day], source="fit")
    assert _counts(url) == before and store.days("ann") == [ZONED]


@pytest.mark.parametrize("session, message", [
    (("tempo",), r"session \('tempo',\) is not \(type, minutes, rpe\[, tss\[, zone_minutes"),
    (("tempo", 40.0, None, -1.0), r"tempo tss must be in \[0, 2000\], got -1"),
    (("tempo", 40.0, None, "x"), "tempo tss must be a number, got 'x'"),
    (("tempo", 40.0, 11.0), r"tempo rpe must be in \[0, 10\], got 11"),
    (("tempo", 40.0, None, None, (1.0, 2.0, 3.0)), "tempo zone_minutes must be 4 finite"),
    (("tempo", 40.0, None, None, (1.0, -2.0, 3.0, 0.0)), "tempo zone_minutes must be 4 fin"),
    (("tempo", 40.0, None, None, (1.0, math.nan, 3.0, 0.0)), "tempo zone_minutes must be 4"),
    (("tempo", 40.0, None, None, "abcd"), "tempo zone_minutes must be 4 finite"),
    (("tempo", 40.0, None, None, (10.0, 10.0, 20.0, 1.5)),
     r"tempo zone_minutes sum to 41.5, more than the session's 40 minutes \(\+1"),
])
def test_invalid_sessions_name_the_date_and_field(session, message):
    with pytest.raises(StoreError, match=f"2026-03-01: {message}"):
        LoggedDay(date=D1, sessions=[session])
    # Up to a minute over (rounding) is accepted.
    LoggedDay(date=D1, sessions=[("tempo", 40.0, None, None, (10.0, 10.0, 20.0, 1.0))])


# -- migrations -----------------------------------------------------------------------------------

def _engine_of(url):
    return store_mod._engine(url)


def _previous_store(url, pre_alembic):
    """A store at revision 0001 (the schema on main before 0002) with a row in every table;
    `pre_alembic`: as coachrl made it before Alembic (no alembic_version table)."""
    engine = _engine_of(url)
    with engine.execution_options(coachrl_write=True).begin() as conn:
        migrations.upgrade(conn, "0001")
        if pre_alembic:
            conn.execute(sa.text("DROP TABLE alembic_version"))
        created = dt.datetime(2026, 2, 1, 6, 30, tzinfo=dt.UTC)
        rows = {
            "athletes": [dict(id="ann", name="Ann", max_hr=190.0, threshold_hr=170.0,
                              threshold_power_w=250.0, threshold_pace_s_per_km=None,
                              created_at=created)],
            "habit_goals": [dict(athlete_id="ann", habit="sleep", unit="h", weekly_goal=56.0)],
            "readings": [dict(athlete_id="ann", date=D1, hrv_ms=60.0, rhr_bpm=50.0,
                              sleep_h=7.5, sleep_eff=0.9, recovery=None, benchmark_w=240.0,
                              ill=False, injured=True, source="csv")],
            "sessions": [dict(athlete_id="ann", date=D1, kind="done", session_type="tempo",
                              minutes=45.0, tss=54.1875, rpe=6.0, steps=None, source="csv"),
                         dict(athlete_id="ann", date=D2, kind="planned", session_type="hiit",
                              minutes=30.0, tss=40.5, rpe=None, steps='[{"min": 30}]',
                              source="coach")],
            "habits_done": [dict(athlete_id="ann", date=D1, habit="sleep", amount=7.5)],
            "plans": [dict(athlete_id="ann", date=D2, created_at=created,
                           plan='{"minutes": 30, "session": "hiit"}')],
        }
        for table, values in rows.items():
            for row in values:
                conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                                     f"({', '.join(':' + k for k in row)})"), row)
    engine.dispose()


@pytest.mark.parametrize("pre_alembic", [False, True], ids=["revision-0001", "pre-alembic"])
def test_previous_schema_is_upgraded_and_every_value_kept(url, pre_alembic):
    _previous_store(url, pre_alembic)
    with open_store(url) as s:
        a = s.athlete("ann")
        assert (a.name, a.max_hr, a.threshold_hr, a.threshold_power_w,
                a.threshold_pace_s_per_km) == ("Ann", 190.0, 170.0, 250.0, None)
        assert a.created_at.replace(tzinfo=a.created_at.tzinfo or dt.UTC) == dt.datetime(
            2026, 2, 1, 6, 30, tzinfo=dt.UTC)
        assert a.habit_goals == {"sleep": ("h", 56.0)} and a.habits is None
        assert s.days("ann")[0].weight_kg is None  # revision 0003's column, not weighed
        assert s.days("ann") == [LoggedDay(
            D1, hrv_ms=60.0, rhr_bpm=50.0, sleep_h=7.5, sleep_eff=0.9, benchmark_w=240.0,
            injured=True, sessions=[DoneSession("tempo", 45.0, 6.0)], habits={"sleep": 7.5})]
        assert s.plan("ann", D2) == {"minutes": 30, "session": "hiit"}
        # New data use the new columns next to the old rows.
        s.log_days("ann", [LoggedDay(D2, sessions=[("tempo", 30.0, 5.0, 33.0,
                                                     (5.0, 5.0, 20.0, 0.0))])], "fit")
        assert s.days("ann", start=D2)[0].sessions == (
            DoneSession("tempo", 30.0, 5.0, 33.0, (5.0, 5.0, 20.0, 0.0)),)
    assert _sql(url, "SELECT version_num FROM alembic_version") == [(migrations.HEAD,)]
    assert _sql(url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    # The derived TSS of the old done row stays derived; the planned row is untouched.
    assert _sql(url, "SELECT kind, tss, tss_logged, zone_low_min, steps FROM sessions "
                     "ORDER BY id") == [("done", 54.1875, False, None, None),
                                        ("planned", 40.5, False, None, '[{"min": 30}]'),
                                        ("done", 33.0, True, 5.0, None)]


def test_new_store_is_at_head_and_matches_the_models(url):
    open_store(url).close()
    open_store(url).close()  # reopening is a no-op
    assert _sql(url, "SELECT version_num FROM alembic_version") == [(migrations.HEAD,)]
    assert _sql(url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert migrations.known_revisions() == ["0001", "0002", "0003"]
    assert migrations.known_revisions()[-1] == migrations.HEAD
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = _engine_of(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), store_mod.Base.metadata)
    engine.dispose()
    assert [d for d in diff if "alembic_version" not in str(d)] == []


@pytest.mark.parametrize("setup, message", [
    ("UPDATE alembic_version SET version_num = '9999'",
     "is at revision '9999', which this coachrl does not know"),
    ("DROP TABLE alembic_version; UPDATE schema_version SET version = 7",
     "has schema version 7 and no Alembic revision"),
    ("DROP TABLE alembic_version; DROP TABLE schema_version",
     "has store tables .*athletes.* but neither alembic_version nor schema_version"),
])
def test_unknown_schemas_are_refused(url, setup, message):
    open_store(url).close()
    for statement in setup.split("; "):
        _sql(url, statement)
    with pytest.raises(StoreError, match=message):
        open_store(url)


# -- concurrent writers ---------------------------------------------------------------------------

def _run_together(calls):
    """Runs the calls in threads released at once; returns the exceptions raised."""
    barrier, errors = threading.Barrier(len(calls)), []

    def run(call):
        try:
            barrier.wait()
            call()
        except Exception as e:  # collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_concurrent_plans_for_one_date_leave_one_row(store, url):
    stores = [open_store(url) for _ in range(3)]
    try:
        dates = [D1 + dt.timedelta(days=i) for i in range(8)]
        for date in dates:
            errors = _run_together([lambda s=s, i=i, date=date: s.write_plan(
                "ann", date, {"writer": i}) for i, s in enumerate(stores)])
            assert errors == []
        assert _sql(url, "SELECT COUNT(*) FROM plans") == [(len(dates),)]
        assert all(store.plan("ann", d) in ({"writer": 0}, {"writer": 1}, {"writer": 2})
                   for d in dates)
    finally:
        for s in stores:
            s.close()


def test_concurrent_logs_of_different_athletes_all_land(store, url):
    names = ["bo", "cy", "di", "ed"]
    for name in names:
        store.add_athlete(name)
    days = [LoggedDay(D1 + dt.timedelta(days=i), hrv_ms=50.0 + i,
                      sessions=[("tempo", 30.0 + i, 5.0, 40.0, (10.0, 0.0, 20.0, 0.0))],
                      habits={"sleep": 7.0}) for i in range(20)]
    stores = [open_store(url) for _ in names]
    try:
        errors = _run_together([lambda s=s, n=n: s.log_days(n, days, source=n)
                                for s, n in zip(stores, names)])
    finally:
        for s in stores:
            s.close()
    assert errors == []
    for name in names:
        assert store.days(name) == days
    assert _counts(url) == {"readings": 80, "sessions": 80, "habits_done": 80, "plans": 0}


_WRITER = """
import datetime as dt, sys
from coachrl.coach.store import LoggedDay, open_store
url, name = sys.argv[1], sys.argv[2]
with open_store(url) as s:
    for i in range(10):
        s.write_plan("ann", dt.date(2026, 3, 1 + i), {"writer": name})
    s.log_days(name, [LoggedDay(dt.date(2026, 3, 1 + i), hrv_ms=50.0 + i) for i in range(10)],
               source=name)
"""


def test_concurrent_processes_on_sqlite(tmp_path):
    """Two processes on one SQLite file (threads cover both backends above)."""
    url = f"sqlite:///{tmp_path / 'coach.db'}"
    with open_store(url) as store:
        for name in ("ann", "p0", "p1"):
            store.add_athlete(name)
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, f"p{i}"],
                                  stderr=subprocess.PIPE, text=True) for i in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        assert _sql(url, "SELECT COUNT(*) FROM plans") == [(10,)]
        assert [len(store.days(n)) for n in ("p0", "p1")] == [10, 10]
