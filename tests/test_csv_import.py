"""Tests for the CSV log import (`coachrl.coach.csv_import`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coachrl.coach.csv_import import CSVImportError, import_csv, read_csv
from coachrl.coach.store import open_store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "athlete_log.csv"
HEADER = "date,hrv_ms,rhr_bpm,sleep_h,session,minutes,rpe,habit:mobility"
GOOD = [
    "2024-03-04,62,52,7.4,aerobic_base,60,3,10",
    "2024-03-05,58,53,6.9,tempo,50,6.5,0",
    "2024-03-06,55,54,7.1,rest,,,15",
]


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path}/c.db") as s:
        s.add_athlete("runner")
        yield s


def test_example_parses() -> None:
    days = read_csv(EXAMPLE)
    assert len(days) == 14
    assert days[0].date == dt.date(2024, 3, 4)
    assert days[-1].date == dt.date(2024, 3, 17)
    first = days[0]
    assert (first.hrv_ms, first.rhr_bpm, first.sleep_h, first.sleep_eff, first.recovery) == (
        62.0, 52.0, 7.4, 0.91, 71.0)
    assert first.sessions == (("aerobic_base", 60.0, 3.0),)
    assert first.habits == {"sleep": 8.0, "mobility": 10.0, "breathing": 5.0}
    assert not first.ill and not first.injured
    interval = days[8]
    assert interval.sessions == (("hiit", 60.0, 8.5),)
    assert interval.benchmark_w == 312.0
    rest = days[4]
    assert rest.sessions == ()
    assert rest.habits["mobility"] == 20.0


def test_missing_readings_are_none() -> None:
    days = read_csv(EXAMPLE)
    no_watch = days[3]  # 2024-03-07: wearable not worn
    assert (no_watch.hrv_ms, no_watch.rhr_bpm, no_watch.sleep_h, no_watch.sleep_eff,
            no_watch.recovery) == (None, None, None, None, None)
    assert "breathing" not in no_watch.habits
    partial = days[9]  # 2024-03-13: no sleep data, no rpe
    assert partial.hrv_ms == 54.0 and partial.sleep_h is None and partial.recovery is None
    assert partial.sessions == (("active_recovery", 30.0, None),)
    assert all(d.benchmark_w is None for i, d in enumerate(days) if i != 8)


def test_flags_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, ["2024-03-04,,,,,,,", "", "2024-03-05,,,,,,,",
                            "2024-03-06,,,,,,,"],
                 header="date,ill,injured,hrv_ms,session,minutes,rpe,habit:x")
    days = read_csv(path)
    assert [d.date.day for d in days] == [4, 5, 6]
    path = write(tmp_path, ["2024-03-04,yes,0", "2024-03-05,FALSE,True", "2024-03-06,1,no"],
                 header="date,ill,injured")
    assert [(d.ill, d.injured) for d in read_csv(path)] == [
        (True, False), (False, True), (True, False)]


def test_import_is_idempotent(store) -> None:
    assert import_csv(store, "runner", EXAMPLE) == 14
    assert import_csv(store, "runner", EXAMPLE) == 0
    stored = store.days("runner")
    assert stored == read_csv(EXAMPLE)


BAD = [
    ("bad number", "2024-03-07,abc,52,7.0,aerobic_base,60,3,10", "hrv_ms", "not a number"),
    ("hrv zero", "2024-03-07,0,52,7.0,aerobic_base,60,3,10", "hrv_ms", "out of range"),
    ("hrv 500", "2024-03-07,500,52,7.0,aerobic_base,60,3,10", "hrv_ms", "out of range"),
    ("rhr 300", "2024-03-07,60,300,7.0,aerobic_base,60,3,10", "rhr_bpm", "out of range"),
    ("nan", "2024-03-07,nan,52,7.0,aerobic_base,60,3,10", "hrv_ms", "finite"),
    ("inf", "2024-03-07,60,52,inf,aerobic_base,60,3,10", "sleep_h", "finite"),
    ("sleep 20", "2024-03-07,60,52,20,aerobic_base,60,3,10", "sleep_h", "out of range"),
    ("minutes 700", "2024-03-07,60,52,7,aerobic_base,700,3,10", "minutes", "out of range"),
    ("rpe 11", "2024-03-07,60,52,7,aerobic_base,60,11,10", "rpe", "out of range"),
    ("unknown session", "2024-03-07,60,52,7,marathon,60,3,10", "session", "not a session"),
    ("missing minutes", "2024-03-07,60,52,7,tempo,,6,10", "minutes", "missing"),
    ("zero minutes", "2024-03-07,60,52,7,tempo,0,6,10", "minutes", "missing"),
    ("minutes no session", "2024-03-07,60,52,7,,30,,10", "minutes", "no session"),
    ("negative habit", "2024-03-07,60,52,7,rest,,,-5", "habit:mobility", "negative"),
    ("bad date", "2024-3-7,60,52,7,rest,,,5", "date", "YYYY-MM-DD"),
    ("empty date", ",60,52,7,rest,,,5", "date", "missing"),
    ("duplicate date", "2024-03-05,60,52,7,rest,,,5", "date", "line 3"),
    ("out of order", "2024-03-01,60,52,7,rest,,,5", "date", "out of order"),
    ("too many fields", "2024-03-07,60,52,7,rest,,,5,9", None, "fields"),
]


@pytest.mark.parametrize("case,row,field,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_rows(tmp_path: Path, store, case: str, row: str, field: str | None,
                  expected: str) -> None:
    # the bad row is line 5 (header, three good rows); nothing may be written
    path = write(tmp_path, [*GOOD, row], name="bad_log.csv")
    with pytest.raises(CSVImportError) as info:
        import_csv(store, "runner", path)
    message = str(info.value)
    assert message.startswith(f"{path}, line 5")
    assert "bad_log.csv" in message
    if field is not None:
        assert f"line 5, {field}:" in message
    assert expected in message
    assert store.days("runner") == []


def test_duplicate_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, [*GOOD, "2024-03-07,,,,,,,", "2024-03-05,,,,,,,"])
    with pytest.raises(CSVImportError, match=r"line 6, date: .*duplicate.*line 3"):
        read_csv(path)


def test_unknown_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, header=HEADER + ",vo2max")
    with pytest.raises(CSVImportError) as info:
        read_csv(path)
    message = str(info.value)
    assert "log.csv, line 1" in message and "'vo2max'" in message
    assert "allowed columns: date, hrv_ms" in message and "habit:<name>" in message


def test_empty_file_and_missing_date(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CSVImportError, match=r"empty\.csv: empty file"):
        read_csv(empty)
    path = write(tmp_path, ["62,52"], header="hrv_ms,rhr_bpm")
    with pytest.raises(CSVImportError, match=r"log\.csv, line 1: no 'date' column"):
        read_csv(path)
    with pytest.raises(CSVImportError, match=r"cannot read"):
        read_csv(tmp_path / "nope.csv")


def test_header_only_is_no_days(tmp_path: Path, store) -> None:
    path = write(tmp_path, [])
    assert read_csv(path) == []
    assert import_csv(store, "runner", path) == 0
