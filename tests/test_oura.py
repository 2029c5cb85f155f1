"""Tests for the Oura export import (`coachrl.coach.oura`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from coachrl.coach.oura import OuraImportError, import_export, read_export
from coachrl.coach.store import open_store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "oura_export.json"


def fixture_data() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: Any, name: str = "oura.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path}/o.db") as s:
        s.add_athlete("runner")
        yield s


def test_fixture_values() -> None:
    days = {d.date: d for d in read_export(FIXTURE)}
    assert sorted(days) == [dt.date(2024, 3, d) for d in range(4, 9)]
    first = days[dt.date(2024, 3, 4)]
    assert first.sleep_h == pytest.approx(7.5)  # 27000 s
    assert first.sleep_eff == pytest.approx(0.91)  # efficiency 91
    assert (first.hrv_ms, first.rhr_bpm, first.recovery) == (62.0, 48.0, 78.0)
    assert (first.sessions, first.habits, first.ill, first.injured) == ((), {}, False, False)


def test_long_sleep_preferred_over_nap() -> None:
    day = {d.date: d for d in read_export(FIXTURE)}[dt.date(2024, 3, 5)]
    assert day.sleep_h == pytest.approx(7.0)  # 25200 s, not the nap's 1800 s
    assert day.sleep_eff == pytest.approx(0.88)
    assert (day.hrv_ms, day.rhr_bpm, day.recovery) == (55.0, 50.0, 71.0)


def test_longest_period_without_long_sleep(tmp_path: Path) -> None:
    data = {"sleep": [
        {"day": "2024-03-05", "type": "late_nap", "total_sleep_duration": 1800,
         "average_hrv": 40},
        {"day": "2024-03-05", "type": "sleep", "total_sleep_duration": 18000,
         "average_hrv": 51},
    ]}
    (day,) = read_export(write(tmp_path, data))
    assert (day.sleep_h, day.hrv_ms, day.recovery) == (5.0, 51.0, None)


def test_day_without_readiness() -> None:
    day = {d.date: d for d in read_export(FIXTURE)}[dt.date(2024, 3, 6)]
    assert day.recovery is None
    assert day.sleep_h == pytest.approx(6.8)
    assert day.rhr_bpm == 52.0


def test_heartrate_fallback() -> None:
    day = {d.date: d for d in read_export(FIXTURE)}[dt.date(2024, 3, 7)]
    # no lowest_heart_rate: the lowest rest/sleep sample (46), not awake (44) or workout
    assert day.rhr_bpm == 46.0
    assert (day.hrv_ms, day.sleep_h, day.recovery) == (68.0, 8.0, 83.0)


def test_heartrate_evening_sleep_counts_to_next_day(tmp_path: Path) -> None:
    data = {"sleep": [{"day": "2024-03-07", "type": "long_sleep"}],
            "heartrate": [
                {"timestamp": "2024-03-06T23:40:00+01:00", "bpm": 45, "source": "sleep"},
                {"timestamp": "2024-03-07T03:00:00+01:00", "bpm": 47, "source": "sleep"},
                {"timestamp": "2024-03-08T01:00:00+01:00", "bpm": 40, "source": "sleep"},
            ]}
    days = read_export(write(tmp_path, data))
    assert [(d.date, d.rhr_bpm) for d in days] == [(dt.date(2024, 3, 7), 45.0)]


def test_import_then_reimport(store, tmp_path: Path) -> None:
    assert import_export(store, "runner", FIXTURE) == 5
    assert import_export(store, "runner", FIXTURE) == 0
    stored = store.days("runner")
    assert stored == read_export(FIXTURE)


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: d["sleep"]["data"][0].update(average_hrv=500),
         ["sleep[0].average_hrv", "500", "out of range"]),
        (lambda d: d["sleep"]["data"][3].update(day="2024-13-01"),
         ["sleep[3].day", "'2024-13-01' is not a date"]),
        (lambda d: d["daily_readiness"][1].update(score=130),
         ["daily_readiness[1].score", "out of range"]),
        (lambda d: d["sleep"]["data"][2].update(efficiency="88"),
         ["sleep[2].efficiency", "not a number"]),
        (lambda d: d["heartrate"]["data"][1].update(timestamp="yesterday"),
         ["heartrate[1].timestamp"]),
    ],
)
def test_bad_item_names_file_and_field(store, tmp_path: Path, mutate, needles) -> None:
    data = fixture_data()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(OuraImportError) as info:
        import_export(store, "runner", path)
    message = str(info.value)
    assert "oura.json" in message
    for needle in needles:
        assert needle in message
    assert store.days("runner") == []


def test_invalid_json(store, tmp_path: Path) -> None:
    path = write(tmp_path, '{"sleep": [\n  {"day": "2024-03-04",}\n]}')
    with pytest.raises(OuraImportError, match=r"oura\.json, line 2, column \d+: invalid JSON"):
        import_export(store, "runner", path)
    assert store.days("runner") == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[]", "expected a JSON object"),
        ('{"daily_activity": []}', "none of the keys"),
        ('{"sleep": 3}', "sleep: expected a list"),
        ('{"sleep": [3]}', "sleep[0]: expected an object"),
        ('{"sleep": [{"day": "2024-03-04", "average_hrv": NaN}]}', "invalid JSON"),
    ],
)
def test_bad_structure(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(OuraImportError) as info:
        read_export(write(tmp_path, text))
    assert "oura.json" in str(info.value) and needle in str(info.value)
