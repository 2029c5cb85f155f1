"""Plan exports, each read back with its format's own parser: .zwo (XML), FIT (Garmin's SDK
Decoder), iCalendar (`icalendar.Calendar.from_ical`)."""

from __future__ import annotations

import datetime as dt

import pytest
from defusedxml import ElementTree
from garmin_fit_sdk import Decoder, Stream
from icalendar import Calendar

from coachrl.coach.exports import ExportError, calendar, fit_workout, zwift_workout
from coachrl.coach.plan import Plan, workout_steps
from coachrl.coach.store import Athlete
from coachrl.sim.sessions import AEROBIC_BASE, HIIT, REST, SESSION_TYPES, STRENGTH, TEMPO

DAY = dt.date(2024, 5, 1)


def athlete(ftp: float | None = 200.0, lthr: float | None = 160.0, name: str | None = "Ann"
            ) -> Athlete:
    return Athlete(id="ann", name=name, max_hr=None, threshold_hr=lthr, threshold_power_w=ftp,
                   threshold_pace_s_per_km=None, created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                   habit_goals={})


def plan(session: int, minutes: float, who: Athlete | None = None, date: dt.date = DAY,
         reasons: tuple[str, ...] = ("form (TSB) +3, acute:chronic load 1.05",)) -> Plan:
    s = SESSION_TYPES[session]
    minutes = 0.0 if session == REST else minutes
    return Plan(date=date, session=s.name, label=s.label, minutes=minutes,
                load_tss=minutes / 60 * s.intensity_factor**2 * 100,
                steps=workout_steps(session, minutes, who or athlete()),
                habits={"sleep": "8 h in bed", "mobility": "10 min"}, reasons=reasons,
                rules=(), action=(session, 0, 0, 0))


# ---------------------------------------------------------------------------------------------
# Zwift


def test_zwift_hiit_is_warmup_intervals_cooldown():
    # HIIT 60 min: warm-up 15 (25 %), cool-down 9 (15 %), main 36 = 5 x (4 + 3) + 1 -> cool 10
    root = ElementTree.fromstring(zwift_workout(plan(HIIT, 60), athlete()))
    assert root.tag == "workout_file"
    assert [c.tag for c in root] == ["author", "name", "description", "sportType", "workout"]
    assert root.findtext("sportType") == "bike" and root.findtext("author") == "CoachRL"
    warm, intervals, cool = list(root.find("workout"))
    assert (warm.tag, intervals.tag, cool.tag) == ("Warmup", "IntervalsT", "Cooldown")
    assert warm.attrib == {"Duration": "900", "PowerLow": "0.450", "PowerHigh": "0.550"}
    assert intervals.attrib == {"Repeat": "5", "OnDuration": "240", "OffDuration": "180",
                                "OnPower": "1.130", "OffPower": "0.500"}  # (1.06 + 1.20) / 2
    assert cool.attrib == {"Duration": "600", "PowerLow": "0.550", "PowerHigh": "0.450"}
    assert 900 + 5 * (240 + 180) + 600 == 60 * 60
    assert "212-240 W" in root.findtext("description")  # the athlete's own targets


def test_zwift_continuous_sessions_are_steady_state():
    # tempo 60: 15 + 36 + 9 min, main at (0.88 + 1.05) / 2 of FTP
    work = list(ElementTree.fromstring(zwift_workout(plan(TEMPO, 60), athlete()))
                .find("workout"))
    assert [(w.tag, w.get("Duration")) for w in work] == [
        ("Warmup", "900"), ("SteadyState", "2160"), ("Cooldown", "540")]
    assert work[1].get("Power") == "0.965"
    # aerobic base 90: 9 + 72 + 9 min at (0.56 + 0.75) / 2
    work = list(ElementTree.fromstring(zwift_workout(plan(AEROBIC_BASE, 90), None))
                .find("workout"))
    assert [(w.tag, w.get("Duration")) for w in work] == [
        ("Warmup", "540"), ("SteadyState", "4320"), ("Cooldown", "540")]
    assert work[1].get("Power") == "0.655"


def test_zwift_escapes_text_and_refuses_rest_and_strength():
    who = athlete(name='Ann & "Bo" <b>')
    root = ElementTree.fromstring(zwift_workout(plan(TEMPO, 60, who), who))
    assert 'Ann & "Bo" <b>' in root.findtext("description")
    with pytest.raises(ExportError, match="2024-05-01: a rest day"):
        zwift_workout(plan(REST, 0), athlete())
    with pytest.raises(ExportError, match="not a bike workout"):
        zwift_workout(plan(STRENGTH, 45), athlete())


# ---------------------------------------------------------------------------------------------
# FIT workout


def decode(data: bytes) -> dict:
    assert Decoder(Stream.from_byte_array(bytearray(data))).check_integrity()
    messages, errors = Decoder(Stream.from_byte_array(bytearray(data))).read()
    assert errors == []
    return messages


def test_fit_workout_steps_match_the_plan_in_watts():
    p = plan(HIIT, 60)
    m = decode(fit_workout(p, athlete()))
    assert m["file_id_mesgs"][0]["type"] == "workout"
    (workout,) = m["workout_mesgs"]
    assert workout["sport"] == "cycling" and workout["wkt_name"] == "HIIT 60 min"
    steps = m["workout_step_mesgs"]
    assert workout["num_valid_steps"] == len(steps) == len(p.steps) == 12
    assert [s["wkt_step_name"] for s in steps] == [s.name for s in p.steps]
    assert [s["duration_type"] for s in steps] == ["time"] * 12
    assert [s["duration_time"] for s in steps] == [s.minutes * 60 for s in p.steps]
    assert sum(s["duration_time"] for s in steps) == 3600
    assert [s["intensity"] for s in steps] == (
        ["warmup"] + ["active", "recovery"] * 5 + ["cooldown"])
    # FTP 200 W: intervals 1.06-1.20 -> 212-240 W, easy 0.45-0.55 -> 90-110 W (W + 1000)
    assert {s["target_type"] for s in steps} == {"power"}
    assert (steps[1]["custom_target_power_low"], steps[1]["custom_target_power_high"]) == (
        1212, 1240)
    assert (steps[0]["custom_target_power_low"], steps[0]["custom_target_power_high"]) == (
        1090, 1110)
    assert fit_workout(p, athlete()) == fit_workout(p, athlete())  # deterministic bytes


def test_fit_workout_heart_rate_percent_and_strength():
    # no FTP, LTHR 160: HIIT intervals 1.00-1.10 -> 160-176 bpm, easy 0.60-0.68 -> 96-109 bpm
    hr = athlete(ftp=None)
    steps = decode(fit_workout(plan(HIIT, 60, hr), hr))["workout_step_mesgs"]
    assert {s["target_type"] for s in steps} == {"heart_rate"}
    assert (steps[1]["custom_target_heart_rate_low"],
            steps[1]["custom_target_heart_rate_high"]) == (260, 276)  # bpm + 100
    assert (steps[0]["custom_target_heart_rate_low"],
            steps[0]["custom_target_heart_rate_high"]) == (196, 209)
    # no thresholds: % of the device's FTP (tempo main set 88-105 %)
    steps = decode(fit_workout(plan(TEMPO, 60), None))["workout_step_mesgs"]
    assert [s["duration_time"] for s in steps] == [900, 2160, 540]
    assert (steps[1]["custom_target_power_low"], steps[1]["custom_target_power_high"]) == (
        88, 105)
    m = decode(fit_workout(plan(STRENGTH, 45), athlete()))
    assert m["workout_mesgs"][0]["sport"] == "training"
    assert {s["target_type"] for s in m["workout_step_mesgs"]} == {"open"}
    with pytest.raises(ExportError, match="rest day"):
        fit_workout(plan(REST, 0), athlete())


# ---------------------------------------------------------------------------------------------
# iCalendar


def week(reasons=("form (TSB) +3, acute:chronic load 1.05",)) -> list[Plan]:
    kinds = [HIIT, REST, AEROBIC_BASE, TEMPO, REST, STRENGTH, AEROBIC_BASE]
    return [plan(k, 60, date=DAY + dt.timedelta(days=i), reasons=reasons)
            for i, k in enumerate(kinds)]


def test_calendar_one_all_day_event_per_day_with_stable_uids():
    first = Calendar.from_ical(calendar(week(), "ann"))
    again = Calendar.from_ical(calendar(week(), "ann",
                                        stamp=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)))
    events = first.walk("VEVENT")
    assert len(events) == 7
    uids = [str(e["UID"]) for e in events]
    assert uids == [f"coachrl-ann-{(DAY + dt.timedelta(days=i)).isoformat()}@coachrl"
                    for i in range(7)]
    assert uids == [str(e["UID"]) for e in again.walk("VEVENT")]
    for i, e in enumerate(events):
        start, end = e.decoded("DTSTART"), e.decoded("DTEND")
        assert not isinstance(start, dt.datetime)  # all-day: a DATE
        assert start == DAY + dt.timedelta(days=i) and end == start + dt.timedelta(days=1)
    assert str(events[0]["SUMMARY"]) == "HIIT 60 min" and str(events[1]["SUMMARY"]) == "Rest"
    assert str(events[1]["DESCRIPTION"]).startswith("Rest day.")
    assert "interval 1/5: 4 min at 212-240 W" in str(events[0]["DESCRIPTION"])


def test_calendar_escaping_round_trips_and_lines_fold_at_75_octets():
    tricky = ("commas, semicolons; a backslash \\ and a long reason — with non-ASCII "
              "characters (é, ü, €) that runs well past seventy-five octets on one line",)
    data = calendar(week(tricky), "ann")
    assert b"\\," in data and b"\\;" in data and b"\\\\" in data  # RFC 5545 escapes
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # folded continuation lines
    for line in lines:
        line.decode("utf-8")  # folding never splits a UTF-8 character
    (event, *_) = Calendar.from_ical(data).walk("VEVENT")
    description = str(event["DESCRIPTION"])
    assert description.endswith("Why: " + tricky[0])
    assert description.splitlines()[0] == "warm-up (ramp): 15 min at 90-110 W"
