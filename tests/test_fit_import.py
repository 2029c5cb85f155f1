"""FIT activity import: files written in the test with Garmin's SDK Encoder, numbers by hand."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from garmin_fit_sdk import Encoder, Profile

from coachrl.coach.fit_import import (
    HR_ZONE_EDGES,
    FitImportError,
    import_fit,
    normalized_power,
    read_activity,
    read_fit,
    session_type,
)
from coachrl.coach.store import Athlete, DoneSession, Store

FTP, LTHR = 200.0, 160.0
T0 = dt.datetime(2024, 5, 1, 7, 0, tzinfo=dt.UTC)
MESG = Profile["mesg_num"]


def athlete(ftp: float | None = FTP, lthr: float | None = LTHR) -> Athlete:
    return Athlete(id="ann", name=None, max_hr=None, threshold_hr=lthr, threshold_power_w=ftp,
                   threshold_pace_s_per_km=None, created_at=T0, habit_goals={})


def activity_file(samples, start=T0, kind="activity", sport="cycling", sub_sport=None,
                  local_offset_s=7200, times=None) -> bytes:
    """A FIT activity: file_id, a record per (power or None, hr or None) sample (at `times`,
    s from the start; default one a second), session and activity messages, as a head unit
    writes them (local time `local_offset_s` ahead of UTC)."""
    times = range(len(samples)) if times is None else times
    e = Encoder()
    e.write_mesg({"mesg_num": MESG["FILE_ID"], "type": kind, "manufacturer": "development",
                  "product": 0, "serial_number": 1234, "time_created": start})
    for i, (power, hr) in zip(times, samples):
        e.write_mesg({"mesg_num": MESG["RECORD"], "timestamp": start + dt.timedelta(seconds=i),
                      "power": power, "heart_rate": hr})
    end = start + dt.timedelta(seconds=len(samples))
    e.write_mesg({"mesg_num": MESG["SESSION"], "message_index": 0, "timestamp": end,
                  "start_time": start, "total_elapsed_time": len(samples),
                  "total_timer_time": len(samples), "sport": sport, "sub_sport": sub_sport,
                  "first_lap_index": 0, "num_laps": 1})
    local = int(end.timestamp()) - 631065600 + local_offset_s  # seconds since the FIT epoch
    e.write_mesg({"mesg_num": MESG["ACTIVITY"], "timestamp": end, "num_sessions": 1,
                  "type": "manual", "total_timer_time": len(samples),
                  "local_timestamp": local})
    return e.close()


def steps(*parts):
    """[(seconds, power, hr), ...] -> 1 Hz samples."""
    return [(p, h) for seconds, p, h in parts for _ in range(seconds)]


# 20 min at exactly 0.5 FTP, then 10 min at 1.1 FTP
RIDE = steps((1200, 100, 120), (600, 220, 165))


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_power_ride_by_hand(tmp_path):
    a = read_activity(write(tmp_path, "ride.fit", activity_file(RIDE)), athlete())
    assert a.basis == "power"
    assert a.minutes == pytest.approx(30.0)
    # 100 W = 0.50 FTP < 0.56: recovery; 220 W = 1.10 FTP >= 1.00: high
    assert a.zone_minutes == pytest.approx((20.0, 0.0, 0.0, 10.0))
    # 30-s rolling average from 30 s: 1171 windows at 100 W (ending at s 29..1199), 29 mixed
    # windows with k = 1..29 s at 220 W (100 + 120 k / 30 W), 571 windows at 220 W.
    fourth = 1171 * 100.0**4 + sum((100 + 4 * k) ** 4 for k in range(1, 30)) + 571 * 220.0**4
    np_w = (fourth / 1771) ** 0.25
    assert a.normalized_power_w == pytest.approx(np_w, rel=1e-12)
    assert 169.9 < np_w < 170.1  # well above the 140 W mean
    assert a.intensity_factor == pytest.approx(np_w / FTP)
    assert a.tss == pytest.approx(0.5 * (np_w / FTP) ** 2 * 100)  # about 36.1
    assert a.session == "hiit"  # 10 min high >= max(4, 10 % of 30)
    assert a.start == T0 and a.date == dt.date(2024, 5, 1) and a.sport == "cycling"


def test_normalized_power_of_a_steady_series_is_its_power():
    assert normalized_power([250.0] * 600) == pytest.approx(250.0)
    assert normalized_power([100.0] * 10 + [200.0] * 10) == pytest.approx(150.0)  # < 30 s


def test_zone_edges_and_session_rule(tmp_path):
    # exactly at an edge is the domain above: 0.56 FTP low, 0.76 threshold, 1.00 high
    ride = steps((600, 112, None), (600, 152, None), (600, 200, None))
    a = read_activity(write(tmp_path, "edges.fit", activity_file(ride)), athlete())
    assert a.zone_minutes == pytest.approx((0.0, 10.0, 10.0, 10.0))
    assert a.session == "hiit"  # 10 min high >= max(4, 3)
    assert session_type((20.0, 0.0, 0.0, 10.0)) == "hiit"
    assert session_type((54.0, 0.0, 0.0, 6.0)) == "hiit"  # exactly 10 % of 60
    assert session_type((60.0, 0.0, 0.0, 5.9)) == "active_recovery"  # 5.9 < 10 % of 65.9
    assert session_type((40.0, 16.0, 0.0, 3.9)) == "aerobic_base"  # 3.9 < 4 min high
    assert session_type((30.0, 18.0, 12.0, 0.0)) == "tempo"  # 12 >= max(10, 0.2 x 60)
    assert session_type((30.0, 50.0, 12.0, 0.0)) == "aerobic_base"  # 12 < 0.2 x 92
    assert session_type((45.0, 15.0, 0.0, 0.0)) == "active_recovery"  # 75 % recovery
    assert session_type((44.0, 16.0, 0.0, 0.0)) == "aerobic_base"
    assert session_type((10.0, 200.0, 14.0, 6.0)) == "aerobic_base"  # a long ride, some hills



def test_heart_rate_only_gives_hr_tss(tmp_path):
    # 40 min at 120 bpm (0.75 LTHR: low) then 20 min at 152 bpm (0.95 LTHR: threshold)
    ride = steps((2400, None, 120), (1200, None, 152))
    a = read_activity(write(tmp_path, "hr.fit", activity_file(ride)), athlete())
    assert a.basis == "heart_rate" and a.normalized_power_w is None
    assert a.minutes == pytest.approx(60.0)
    assert a.zone_minutes == pytest.approx((0.0, 40.0, 20.0, 0.0))
    mean_hr = (40 * 120 + 20 * 152) / 60  # 130.67 bpm
    assert a.intensity_factor == pytest.approx(mean_hr / LTHR)
    assert a.tss == pytest.approx(1.0 * (mean_hr / LTHR) ** 2 * 100)  # about 66.7
    assert a.session == "tempo"  # 20 min threshold >= max(10, 12)
    # the same file without power threshold still works from HR; power present but no FTP
    both = steps((600, 150, 100))  # 100 bpm = 0.625 LTHR: recovery
    b = read_activity(write(tmp_path, "b.fit", activity_file(both)), athlete(ftp=None))
    assert b.basis == "heart_rate" and b.zone_minutes == pytest.approx((10.0, 0, 0, 0))
    assert b.session == "active_recovery"
    assert HR_ZONE_EDGES == (0.69, 0.84, 1.00)


def test_running_power_is_not_on_the_cycling_scale(tmp_path):
    run = steps((1800, 300, 150))
    a = read_activity(write(tmp_path, "run.fit", activity_file(run, sport="running")),
                      athlete())
    assert a.basis == "heart_rate"  # 150 / 160 = 0.94: threshold
    assert a.zone_minutes == pytest.approx((0.0, 0.0, 30.0, 0.0))


def test_gaps_dropouts_and_pauses(tmp_path):
    # 120 W = 0.6 FTP (low); a 60-s power dropout counts as 0 W (recovery); a 5-min stop
    # between records (after record 599) is a pause and counts one second
    samples = steps((600, 120, None), (60, None, None), (540, 120, None))
    times = [*range(600), *range(900, 1500)]
    a = read_activity(write(tmp_path, "drop.fit", activity_file(samples, times=times)),
                      athlete())
    assert a.minutes == pytest.approx(20.0)
    assert a.zone_minutes == pytest.approx((1.0, 19.0, 0.0, 0.0))
    # smart recording: a record every 5 s lasts 5 s (the last one 1 s)
    sparse = steps((120, 120, None))
    b = read_activity(write(tmp_path, "smart.fit", activity_file(
        sparse, times=range(0, 600, 5))), athlete())
    assert b.minutes == pytest.approx((119 * 5 + 1) / 60)
    assert b.zone_minutes == pytest.approx((0.0, b.minutes, 0.0, 0.0))
    assert b.normalized_power_w == pytest.approx(120.0)


def test_two_activities_on_a_day_combine(tmp_path):
    morning = write(tmp_path, "am.fit", activity_file(steps((1800, 130, None))))  # 0.65: low
    evening = write(tmp_path, "pm.fit", activity_file(steps((1200, 100, None)),
                                                      start=T0 + dt.timedelta(hours=10)))
    other = write(tmp_path, "next.fit", activity_file(steps((600, 100, None)),
                                                      start=T0 + dt.timedelta(days=1)))
    days = read_fit([evening, other, morning], athlete())
    assert [d.date for d in days] == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    first = days[0].sessions
    assert [s.type for s in first] == ["aerobic_base", "active_recovery"]  # start order
    assert first[0] == DoneSession("aerobic_base", pytest.approx(30.0), None,
                                   pytest.approx(0.5 * 0.65**2 * 100),
                                   pytest.approx((0.0, 30.0, 0.0, 0.0)))
    assert first[1].minutes == pytest.approx(20.0)
    assert first[1].zone_minutes == pytest.approx((20.0, 0.0, 0.0, 0.0))
    assert first[1].tss == pytest.approx(20 / 60 * 0.5**2 * 100)
    assert days[0].hrv_ms is None and days[0].rhr_bpm is None  # readings left missing
    assert days[1].sessions[0].type == "active_recovery"


def test_local_date_from_the_activity_offset(tmp_path):
    late = T0.replace(hour=23, minute=30)  # 23:30 UTC, 01:30 local at UTC+2
    path = write(tmp_path, "late.fit", activity_file(steps((600, 100, None)), start=late))
    assert read_activity(path, athlete()).date == dt.date(2024, 5, 2)
    utc = write(tmp_path, "utc.fit", activity_file(steps((600, 100, None)), start=late,
                                                   local_offset_s=0))
    assert read_activity(utc, athlete()).date == dt.date(2024, 5, 1)


def test_strength_file_needs_no_power_or_hr(tmp_path):
    path = write(tmp_path, "gym.fit", activity_file(steps((2700, None, None)),
                                                    sport="training",
                                                    sub_sport="strength_training"))
    (day,) = read_fit(path, athlete(ftp=None, lthr=None))
    assert day.sessions == (DoneSession("strength", pytest.approx(45.0), None, None,
                                        (0.0, 0.0, 0.0, 0.0)),)


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'coach.db'}")
    s.add_athlete("ann", threshold_power_w=FTP, threshold_hr=LTHR)
    yield s
    s.close()


def test_import_writes_days_and_is_idempotent(tmp_path, store):
    ride = write(tmp_path, "ride.fit", activity_file(RIDE))
    assert import_fit(store, "ann", [ride]) == 1
    (day,) = store.days("ann")
    (s,) = day.sessions
    assert s.type == "hiit" and s.minutes == pytest.approx(30.0) and s.rpe is None
    assert s.zone_minutes == pytest.approx((20.0, 0.0, 0.0, 10.0))
    assert s.tss == pytest.approx(read_activity(ride, athlete()).tss)
    assert import_fit(store, "ann", ride) == 0  # the same file again: nothing new


@pytest.mark.parametrize("damage", ["truncated", "random", "crc", "workout", "no power/hr",
                                    "duplicate"])
def test_bad_files_are_refused_and_nothing_is_written(tmp_path, store, damage):
    good = write(tmp_path, "good.fit", activity_file(RIDE))
    data = activity_file(steps((600, 150, 140)), start=T0 + dt.timedelta(days=3))
    if damage == "truncated":
        data, expected = data[:len(data) // 2], "truncated or corrupt"
    elif damage == "random":
        data, expected = os.urandom(2000), "not a FIT file"
    elif damage == "crc":
        data, expected = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:], "corrupt"
    elif damage == "workout":
        data, expected = activity_file(steps((60, 150, 140)), kind="workout"), "not an activity"
    elif damage == "no power/hr":
        data, expected = activity_file(steps((600, None, None))), "no usable power or heart"
    else:
        data, expected = activity_file(RIDE), "the same activity as"
    bad = write(tmp_path, "bad.fit", data)
    with pytest.raises(FitImportError, match=expected) as info:
        import_fit(store, "ann", [good, bad])
    assert "bad.fit" in str(info.value)
    assert store.days("ann") == []


def test_unreadable_and_empty_folder(tmp_path, store):
    with pytest.raises(FitImportError, match="missing.fit: cannot read"):
        read_fit(tmp_path / "missing.fit", athlete())
    with pytest.raises(FitImportError, match="folder without .fit files"):
        read_fit(tmp_path, athlete())
    (tmp_path / "a.FIT").write_bytes(activity_file(RIDE))
    assert len(read_fit(tmp_path, athlete())) == 1  # a folder stands for its .fit files
