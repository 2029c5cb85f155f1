"""Tests for the Apple Health export import (`coachrl.coach.apple_health`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coachrl.coach.apple_health import AppleHealthError, import_export, read_export
from coachrl.coach.store import open_store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "apple_health_export.xml"
D4, D5, D6 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)


def by_date() -> dict[dt.date, object]:
    days, _ = read_export(FIXTURE)
    return {d.date: d for d in days}


def test_days_sorted_and_only_logged_dates():
    days, _ = read_export(FIXTURE)
    assert [d.date for d in days] == [D4, D5, D6]


def test_hrv_is_first_reading_of_the_day_and_rhr_the_mean():
    days = by_date()
    assert days[D4].hrv_ms == 62.0  # 05:10 reading, not the 14:00 one (80)
    assert days[D5].hrv_ms == 58.0  # the absurd 0 before it is skipped
    assert days[D6].hrv_ms == 55.5
    assert [days[d].rhr_bpm for d in (D4, D5, D6)] == [52.0, 54.0, 51.0]


def test_sleep_crossing_midnight_attributed_to_the_date_it_ends():
    days = by_date()
    # 22:45-23:45 (ends on 3 March) + 1.5 + 1.5 + 3 h; the 15 min awake do not count
    assert days[D4].sleep_h == pytest.approx(7.0)
    assert days[D4].sleep_eff == pytest.approx(7.0 / 8.0)
    assert days[D5].sleep_h == pytest.approx(6.0)
    assert days[D5].sleep_eff == pytest.approx(6.0 / 7.0, abs=1e-4)
    assert days[D6].sleep_h is None and days[D6].sleep_eff is None


def test_workouts_mapped_to_sessions():
    days = by_date()
    assert days[D4].sessions == (("aerobic_base", 45.5, None),)
    assert days[D5].sessions == (("hiit", 32.25, None),)
    assert days[D6].sessions == (("strength", 40.0, None),)  # 2400 s


def test_absurd_reading_skipped_with_a_warning():
    _, warnings = read_export(FIXTURE)
    assert len(warnings) == 1
    assert "hrv_ms" in warnings[0] and "2024-03-05 04:30" in warnings[0]
    assert "outside the plausible range" in warnings[0]


def test_start_end_filter():
    days, _ = read_export(FIXTURE, start=D5, end=D5)
    assert [d.date for d in days] == [D5]


def test_unknown_activity_and_bad_resting_hr(tmp_path: Path):
    path = tmp_path / "export.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<HealthData locale="en">\n'
        ' <Workout workoutActivityType="HKWorkoutActivityTypeCurling" duration="1" '
        'durationUnit="h" startDate="2024-01-02 10:00:00 -0500"/>\n'
        ' <Record type="HKQuantityTypeIdentifierRestingHeartRate" unit="count/min" '
        'startDate="2024-01-02 00:00:00 -0500" value="300"/>\n'
        '</HealthData>\n', encoding="utf-8")
    days, warnings = read_export(path)
    assert len(days) == 1 and days[0].sessions == (("aerobic_base", 60.0, None),)
    assert days[0].rhr_bpm is None
    assert len(warnings) == 1 and "rhr_bpm" in warnings[0]


def test_reimport_is_a_noop(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path}/a.db") as store:
        store.add_athlete("ann")
        assert import_export(store, "ann", FIXTURE) == 3
        assert import_export(store, "ann", FIXTURE) == 0
        stored = store.days("ann")
        assert [d.date for d in stored] == [D4, D5, D6]
        assert stored[1].sessions == (("hiit", 32.25, None),)


def test_broken_xml_names_file_and_line(tmp_path: Path):
    text = FIXTURE.read_text(encoding="utf-8")
    path = tmp_path / "broken.xml"
    path.write_text(text[: len(text) // 2], encoding="utf-8")  # truncated
    with pytest.raises(AppleHealthError, match=r"broken\.xml, line \d+") as info:
        read_export(path)
    assert "broken XML" in str(info.value)


def test_not_a_health_export(tmp_path: Path):
    path = tmp_path / "other.xml"
    path.write_text("<?xml version='1.0'?><html><body/></html>", encoding="utf-8")
    with pytest.raises(AppleHealthError, match="other.xml.*HealthData"):
        read_export(path)


def test_doctype_with_entities_refused(tmp_path: Path):
    path = tmp_path / "laughs.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n'
        ' <!ENTITY lol "lol">\n'
        ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        ' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n'
        ']>\n<HealthData locale="&lol2;"/>\n', encoding="utf-8")
    with pytest.raises(AppleHealthError, match="laughs.xml.*refused"):
        read_export(path)


def test_external_entity_refused(tmp_path: Path):
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n'
        ' <!ENTITY x SYSTEM "file:///etc/passwd">\n'
        ']>\n<HealthData locale="en">&x;</HealthData>\n', encoding="utf-8")
    with pytest.raises(AppleHealthError, match="refused"):
        read_export(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(AppleHealthError, match="cannot read"):
        read_export(tmp_path / "nope.xml")
