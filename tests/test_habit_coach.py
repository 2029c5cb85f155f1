"""The daily coach for a person's own habits (issue 14, part 4): the habit file stored with
the athlete, body weight, today's to-do list with its reasons, the check that a coach was
trained for the athlete's file, and `coachrl habits` / `coachrl log HABIT=AMOUNT`."""

import dataclasses
import datetime as dt
import types
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import sqlalchemy as sa

from coachrl.agents.acting import masked_policy
from coachrl.cli import main
from coachrl.coach.apple_health import read_export
from coachrl.coach.csv_import import read_csv
from coachrl.coach.daily import today_plan
from coachrl.coach.features import history_from_log
from coachrl.coach.store import LoggedDay, StoreError, open_store
from coachrl.coach.todo import (
    HabitFileMismatch,
    ema_from_log,
    habit_alignment,
    habit_file_differences,
    status_of,
    todo_list,
    week_shares,
    weight_status,
)
from coachrl.config import ConfigError, load_habit_file, load_world_config
from coachrl.sim import habits as habits_lib

ROOT = Path(__file__).resolve().parents[1]
HABITS23 = ROOT / "configs" / "habits" / "coachrl23.yaml"
DEFAULT_HABITS = ROOT / "configs" / "habits" / "default.yaml"
WORLD23 = load_world_config(ROOT / "configs" / "world" / "coachrl23.yaml")
D0 = dt.date(2026, 3, 1)


def day(i, **fields):
    return LoggedDay(D0 + dt.timedelta(days=i), **fields)


# -- the habit file in the store ------------------------------------------------------------------

def test_habit_file_is_stored_with_the_athlete_and_never_lost(store_url):
    habits23, default = load_habit_file(HABITS23), load_habit_file(DEFAULT_HABITS)
    with open_store(store_url) as store:
        store.add_athlete("me", habit_goals={"sleep": ("h", 56.0)})
        assert store.athlete("me").habits is None
        assert store.athlete("me").habit_goals == {"sleep": ("h", 56.0)}  # the old rows
        assert store.set_habits("me", habits23) is True
        assert store.set_habits("me", habits23) is False  # the same file: nothing new
        me = store.athlete("me")
        assert me.habits == habits23 and len(me.habit_goals) == 23
        assert me.habit_goals["violin"] == ("min", 120.0)  # 4 days a week x 30 min
        assert me.habit_goals["reading"] == ("pages", 140.0)
        assert store.set_habits("me", default) is True
        assert store.athlete("me").habits == default
        with pytest.raises(StoreError, match="unknown athlete 'nobody'"):
            store.set_habits("nobody", default)
        with pytest.raises(StoreError, match="expected a HabitsConfig"):
            store.set_habits("me", {"items": []})
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:  # both files kept, the latest in force
        assert conn.execute(sa.text("SELECT count(*) FROM habit_files")).scalar() == 2
    engine.dispose()


def test_body_weight_is_logged_merged_and_never_overwritten(store_url):
    with open_store(store_url) as store:
        store.add_athlete("me")
        assert store.log_days("me", [day(0, hrv_ms=60.0)], "watch") == 1
        assert store.log_days("me", [day(0, weight_kg=72.4)], "scale") == 1  # NULL filled
        assert store.log_days("me", [day(0, weight_kg=72.4)], "scale") == 0
        with pytest.raises(StoreError, match=r"2026-03-01: weight_kg already logged as 72.4, "
                                             r"new value 73.0"):
            store.log_days("me", [day(0, weight_kg=73.0)], "scale")
        assert store.days("me")[0].weight_kg == 72.4 and store.days("me")[0].hrv_ms == 60.0


def test_weight_from_csv_and_apple_health(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("date,weight_kg,habit:violin\n2026-03-01,72.5,15\n2026-03-02,,\n")
    days = read_csv(path)
    assert [d.weight_kg for d in days] == [72.5, None] and days[0].habits == {"violin": 15.0}
    path.write_text("date,weight_kg\n2026-03-01,7.5\n")
    with pytest.raises(Exception, match=r"log.csv, line 2, weight_kg: '7.5' is out of range"):
        read_csv(path)
    export = tmp_path / "export.xml"
    record = ('<Record type="HKQuantityTypeIdentifierBodyMass" unit="{}" '
              'startDate="2026-03-0{} {}:00:00 +0100" value="{}"/>')
    export.write_text('<?xml version="1.0"?>\n<HealthData locale="en">\n' + "\n".join([
        record.format("kg", 1, "19", 73.0), record.format("kg", 1, "07", 72.0),  # first: 07:00
        record.format("lb", 2, "07", 160.0), record.format("st", 3, "07", 11.0),
        record.format("kg", 4, "07", 900.0)]) + "\n</HealthData>\n")
    days, warnings = read_export(export)
    assert [(d.date.day, d.weight_kg) for d in days] == [(1, 72.0), (2, 72.575)]  # 160 lb
    assert len(warnings) == 2 and "unit 'st'" in warnings[0] and "900 kg" in warnings[1]


# -- to-do list, weight, alignment: numbers by hand ------------------------------------------------

def test_week_shares_and_ema_by_hand():
    habits = WORLD23.habits
    names = [h.name for h in habits.items]
    v, r = names.index("violin"), names.index("reading")
    # violin: 4 days a week at 30 min; 45 min counts as 30. reading: 140 pages a week.
    days = [day(i, habits={"violin": 45.0, "reading": 20.0}) for i in range(3)]
    shares = week_shares(days, habits, D0 + dt.timedelta(days=3))
    assert shares[v] == pytest.approx(3 * 30 * 7 / 120 / 7)  # 3 of 4 days: 0.75
    assert shares[r] == pytest.approx(3 * 20 / 140)
    assert week_shares(days, habits, D0 + dt.timedelta(days=10))[v] == 0.0  # out of the week
    ema = ema_from_log(days, habits)
    a, start = habits.alpha, habits_lib.initial_ema(habits)[v]
    expected = start
    for _ in range(3):
        expected = (1 - a) * expected + a * 30 * 7 / 120
    assert ema[v] == pytest.approx(expected, rel=1e-5)
    # the coach's own history folds the same EMA
    history = history_from_log(days, WORLD23, 0.0)
    np.testing.assert_allclose(np.asarray(history.habit_ema), ema, rtol=1e-5)


def test_todo_list_gives_the_reason_of_every_pushed_habit():
    habits = WORLD23.habits
    levels = [h.default_level for h in habits.items]
    names = [h.name for h in habits.items]
    r = names.index("reading")
    levels[r] = 4  # 20 pages, above the default (0)
    ema = np.ones(len(names), np.float32)
    ema[r] = 0.62
    shares = np.zeros(len(names), np.float32)
    shares[r] = 0.45
    todo = todo_list(levels, habits, ema, shares)
    assert [t.name for t in todo] == names
    reading = todo[r]
    assert (reading.amount, reading.unit, reading.text, reading.minutes) == (
        20.0, "pages", "20 pages", 30.0)
    assert reading.pushed and reading.status == "behind"
    assert reading.reason == ("reading: EMA 0.62 of the goal, 45% of a week's goal done in "
                              "the last 7 days: behind")
    assert all(t.reason is None for t in todo if t.name != "reading")
    assert [status_of(x) for x in (0.89, 0.9, 1.1, 1.11)] == ["behind", "on track",
                                                             "on track", "ahead"]


def test_weight_trend_band_and_alignment_by_hand():
    # 72, 72.5, ... one weigh-in every other day over 13 days: +0.25 kg a day = +1.75 kg/week
    days = [day(i, weight_kg=72.0 + 0.25 * i) for i in range(0, 13, 2)]
    today = D0 + dt.timedelta(days=12)
    w = weight_status(days, today, (72.0, 74.0))
    assert (w.latest_kg, w.latest_date) == (75.0, today)
    assert w.mean_7d_kg == pytest.approx((73.5 + 74.0 + 74.5 + 75.0) / 4)  # days 6..12
    assert w.trend_kg_per_week == pytest.approx(1.75)
    # 74.25 is 0.25 above a 2 kg band: 1 - 0.25 / 2
    assert w.score == pytest.approx(0.875)
    assert "above the band" in w.text and "+1.75 kg/week" in w.text
    assert habits_lib.weight_score(73.0, (72.0, 74.0)) == 1.0
    assert habits_lib.weight_score(69.0, (72.0, 74.0)) == 0.0
    assert habit_alignment([1.0, 0.5]) == pytest.approx(0.75)
    assert habit_alignment([1.0, 0.5], w) == pytest.approx((1.0 + 0.5 + 0.875) / 3)
    assert weight_status([day(0)], today) is None
    lone = weight_status([day(0, weight_kg=70.0)], today)
    assert lone.mean_7d_kg is None and lone.trend_kg_per_week is None and lone.score is None


def test_habit_file_differences_name_the_habits():
    default, habits23 = load_habit_file(DEFAULT_HABITS), load_habit_file(HABITS23)
    assert habit_file_differences(habits23, habits23) == []
    banded = dataclasses.replace(habits23, weight_band_kg=(60.0, 65.0))
    assert habit_file_differences(habits23, banded) == []  # the world has no body weight
    diff = habit_file_differences(default, habits23)
    assert diff[0].startswith("habits only in the athlete's file: meditation, workout, ")
    assert diff[1] == "habits only in the coach's: breathing"
    assert any(d.startswith("habit 'sleep': levels [6.5, 7.0, 7.5") for d in diff)
    assert any(d.startswith("time_budget_min: 300") for d in diff)


def test_bad_habit_file_names_the_file_habit_and_field(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("alpha: 0.02\nweight_band_kg: [80, 70]\nitems:\n"
                    "  - {name: violin, unit: min, levels: [0, 30], minutes: 1.0, "
                    "days_per_week: 4, amount: 30}\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: key 'weight_band_kg: expected \[low, "
                                          r"high\] with low < high, got \[80.0, 70.0\]"):
        load_habit_file(path)


# -- today's plan for a 23-habit person ------------------------------------------------------------

GREEDY23 = masked_policy(
    lambda f: jnp.broadcast_to(jnp.arange(max(WORLD23.nvec), dtype=jnp.float32),
                               (len(WORLD23.nvec), max(WORLD23.nvec))), WORLD23.nvec)
COACH23 = types.SimpleNamespace(config=types.SimpleNamespace(world=WORLD23), policy=GREEDY23,
                                path="greedy-23")


def test_todays_plan_for_23_habits_is_a_todo_list_within_the_budget(tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    with open_store(url) as store:
        store.add_athlete("me", threshold_power_w=250)
        store.set_habits("me", WORLD23.habits)
        store.log_days("me", [day(i, hrv_ms=60.0, rhr_bpm=50.0, sleep_h=7.5, weight_kg=74.0,
                                  sessions=(("aerobic_base", 45.0, None),),
                                  habits={"reading": 10.0, "violin": 30.0})
                              for i in range(14)], "csv")
        daily = today_plan(store, COACH23, "me", D0 + dt.timedelta(days=14))
        todo = daily.plan.todo
        assert len(todo) == 23 and {t.name for t in todo} == {h.name for h in
                                                             WORLD23.habits.items}
        pushed = [t for t in todo if t.pushed]
        assert pushed and all(t.reason and t.reason.startswith(f"{t.name}: EMA ") for t in pushed)
        assert sum(t.minutes for t in todo) + daily.plan.minutes <= 300 + 1e-6  # the budget
        sport = [t for t in todo if t.name in ("workout", "basketball", "swim") and t.amount]
        assert len(sport) <= 1  # the group rule
        result = daily.result
        assert len(result["todo"]) == 23 and result["weight"]["mean_7d_kg"] == 74.0
        assert result["weight"]["score"] == 1.0  # in the 72-75 kg band
        assert 0.0 < result["habit_alignment"] <= 1.0
        assert store.plan("me", D0 + dt.timedelta(days=14))["todo"] == result["todo"]
        # a coach for another habit file refuses this athlete, naming what differs
        store.set_habits("me", load_habit_file(DEFAULT_HABITS))
        with pytest.raises(HabitFileMismatch, match=r"coach greedy-23 was trained for another "
                                                    r"habit file than athlete 'me''s: habits "
                                                    r"only in the athlete's file: breathing"):
            today_plan(store, COACH23, "me", D0 + dt.timedelta(days=14))


# -- the command line -----------------------------------------------------------------------------

def test_habits_and_log_commands(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/c.db"
    assert main(["habits", "--athlete", "me", "--new-athlete", "--set", str(HABITS23),
                 "--db", db, "--date", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "stored the habit file" in out and "(23 habits)" in out
    assert "violin" in out and "30 min, 4 days a week" in out and "group sport" in out
    log = ["log", "--athlete", "me", "--date", "2026-03-01", "--db", db]
    assert main([*log, "violin=15", "reading=20", "--weight", "72.4"]) == 0
    assert "violin 15 min, reading 20 pages" in capsys.readouterr().out
    assert main([*log, "violin=15", "--weight", "72.4"]) == 0  # again: a no-op
    assert "nothing changed" in capsys.readouterr().out
    assert main([*log, "violin=20"]) == 2
    assert "habits[violin] already logged as 15.0, new value 20.0" in capsys.readouterr().err
    assert main([*log, "run=30"]) == 2
    assert "run: not one of the athlete's habits (" in capsys.readouterr().err
    assert main([*log, "violin"]) == 2
    assert "expected HABIT=AMOUNT" in capsys.readouterr().err
    assert main([*log, "--weight", "7"]) == 2
    assert "--weight 7: outside the plausible range [20, 400]" in capsys.readouterr().err
    with open_store(db) as store:
        (logged,) = store.days("me")
    assert logged.habits == {"violin": 15.0, "reading": 20.0} and logged.weight_kg == 72.4
    assert main(["habits", "--athlete", "me", "--db", db, "--date", "2026-03-02",
                 "--format", "json"]) == 0
    import json
    status = json.loads(capsys.readouterr().out)
    violin = next(r for r in status["habits"] if r["habit"] == "violin")
    assert violin["week_share"] == pytest.approx(15 * 7 / 120 / 7, abs=1e-3)
    assert status["weight"]["latest_kg"] == 72.4
    bad = tmp_path / "bad.yaml"
    bad.write_text("alpha: 0.02\nitems:\n  - {name: violin, unit: min, levels: [0, 30, 15], "
                   "minutes: 1.0, days_per_week: 4, amount: 30}\n")
    assert main(["habits", "--athlete", "me", "--set", str(bad), "--db", db]) == 2
    assert "habit 'violin': [0.0, 30.0, 15.0] must be strictly increasing" in \
        capsys.readouterr().err
