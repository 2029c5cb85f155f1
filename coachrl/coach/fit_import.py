"""Importing `.fit` activity files (Garmin, Wahoo, Zwift, ...) into the log store.

    days = read_fit(["ride.fit", "run.fit"], athlete)   # -> list[LoggedDay]
    new = import_fit(store, "ann", ["ride.fit"])        # writes, returns new days

Files are decoded with Garmin's official FIT SDK (`garmin_fit_sdk`): the SDK's integrity
check (header, size and CRC) must pass, `file_id.type` must be `activity`, and the record
messages (timestamps; power and/or heart rate, normally 1 Hz) are what is used. The file is
only parsed as binary data; nothing in it is evaluated.

Per activity (one file):

  minutes     moving time: each record lasts until the next one; a gap of more than
              `MAX_GAP_S` seconds between records is a pause (auto-pause, a stop) and
              counts as one second; the last record counts one second.
  zones       minutes in each intensity domain of `coachrl.sim.sessions.ZONE_NAMES`
              (recovery, low, threshold, high). From POWER when the athlete has a threshold
              power (FTP) and at least `MIN_SHARE` of the moving time has power, as fractions
              of FTP at the catalogue's `ZONE_EDGES` (0.56, 0.76, 1.00); seconds without a
              power reading count as 0 W (coasting, dropouts). Else from HEART RATE (the
              athlete's threshold heart rate, LTHR) at `HR_ZONE_EDGES`; seconds without a
              reading hold the last one. Power of sports other than cycling
              (`POWER_SPORTS`; e.g. running power) is not on the cycling FTP scale: heart
              rate is used for them.
  TSS         Coggan's Training Stress Score (Allen & Coggan, "Training and Racing with a
              Power Meter", 2010): NP = (mean of the 30-s rolling average power^4)^(1/4)
              over the 1 Hz moving series (the rolling average starts at 30 s; a series
              under 30 s is one window), IF = NP / FTP, TSS = hours x IF^2 x 100.
              From heart rate only: hrTSS = hours x (mean HR / LTHR)^2 x 100, the heart-rate
              analogue of the same formula (IF = mean HR / LTHR, so an hour at LTHR scores
              100, the anchor of TrainingPeaks' hrTSS). Banister's TRIMP is not used: it
              needs resting and maximal heart rate, which an athlete may not have set.
  session     the catalogue type (`coachrl.sim.sessions.SESSION_NAMES`) the time in zone
              implies, first rule that holds (see `session_type`):
                hiit             high-domain time >= max(4 min, 10 % of the minutes)
                                 (4 min: one work interval of the catalogue's HIIT)
                tempo            threshold + high time >= max(10 min, 20 % of the minutes)
                active_recovery  recovery-domain time >= 75 % of the minutes
                aerobic_base     otherwise.
              A strength-training file (sport `training`, sub-sport `strength_training`)
              is `strength` with no endurance-domain time and no TSS (the store derives its
              load from the type, as for strength logged by hand); it needs no power or HR.

Heart-rate edges (`HR_ZONE_EDGES`, fractions of LTHR) are Coggan's LTHR zones (Allen &
Coggan 2010: Z1 active recovery < 68 %, Z2 endurance 69-83 %, Z3 tempo 84-94 %, Z4
threshold 95-105 %, Z5 > 105 %) cut at the same places as the power domains: recovery below
69 % (Coggan Z1, as power Z1 < 56 %), low from 69 % (Z2, as power Z2 from 56 %), threshold
from 84 % (Z3, as power Z3 from 76 %), high from 100 % (LTHR itself, as the power domain
starts at FTP itself: Seiler's second threshold). The catalogue's `hr_zone` of each session
type falls in its power domain under these edges.

Several activities on one day (the local date of their start, from the activity message's
local time offset; UTC when the file has none) are that day's sessions, in start order.
The day's readings are left missing. Each session goes in as
`DoneSession(type, minutes, rpe=None, tss=..., zone_minutes=(rec, low, thr, high))`.

Every error is a `FitImportError` naming the file and what was expected: unreadable, not a
FIT file, truncated or corrupt (integrity check or decode error), not an activity file, no
records, no usable power or heart rate for the athlete's thresholds, the same activity in two
files, longer than the plausible session. `import_fit` reads every file first and writes
nothing if any is refused; a day already logged is merged under the store's rule
(`coachrl.coach.store`), and a conflict with it is the store's `StoreError` (logged data are
never overwritten).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from garmin_fit_sdk import FIT_EPOCH_S, Decoder, Stream

from coachrl.coach.store import PLAUSIBLE, Athlete, DoneSession, LoggedDay, StoreError
from coachrl.sim.sessions import HIIT, NUM_ZONES, SESSION_TYPES, ZONE_EDGES, ZONE_NAMES

if TYPE_CHECKING:
    from coachrl.coach.store import Store

# Coggan's LTHR zones cut where the power domains are cut (module docstring): fraction of
# LTHR where each domain above `recovery` begins.
HR_ZONE_EDGES = (0.69, 0.84, 1.00)
MAX_GAP_S = 10  # a longer gap between records is a pause (smart recording writes every 1-8 s)
MIN_SHARE = 0.5  # share of the moving time that must carry the power / heart-rate reading
NP_WINDOW_S = 30  # Coggan's rolling average for normalised power
POWER_SPORTS = frozenset({"cycling", "e_biking", "generic"})  # power on the cycling FTP scale
MAX_FILE_BYTES = 128 * 2**20  # larger files are refused before reading
VALID_POWER_W = (0.0, 3000.0)  # readings outside are sensor glitches: treated as missing
VALID_HR_BPM = (25.0, 250.0)

# The session-type rule (module docstring): minutes and shares of the activity's minutes.
HIIT_HIGH_MIN = SESSION_TYPES[HIIT].structure.work_min  # one work interval of the HIIT
HIIT_HIGH_SHARE = 0.10
TEMPO_HARD_MIN = 10.0
TEMPO_HARD_SHARE = 0.20
RECOVERY_SHARE = 0.75

RECOVERY, LOW, THRESHOLD, HIGH = (ZONE_NAMES.index(z) for z in
                                  ("recovery", "low", "threshold", "high"))


class FitImportError(ValueError):
    """A refused FIT file: the message names the file and what was expected."""


class Activity(NamedTuple):
    """One activity file, summarised.

    Attributes:
      file: the file's path, as given.
      start: the first record's time (UTC).
      date: the local date of the start (the day it is logged on).
      sport: the file's sport (`session.sport`), or None.
      minutes: moving time (min).
      zone_minutes: minutes in each domain of ZONE_NAMES (recovery, low, threshold, high).
      basis: what the zones and TSS come from: "power", "heart_rate" or "none" (strength).
      normalized_power_w: Coggan's NP (W), or None without power.
      intensity_factor: NP / FTP, or mean HR / LTHR; None for strength.
      tss: TSS (power) or hrTSS (heart rate); None for strength.
      session: the session type name the time in zone implies.
    """

    file: str
    start: dt.datetime
    date: dt.date
    sport: str | None
    minutes: float
    zone_minutes: tuple[float, float, float, float]
    basis: str
    normalized_power_w: float | None
    intensity_factor: float | None
    tss: float | None
    session: str

    def done(self) -> DoneSession:
        """The activity as a logged session."""
        return DoneSession(self.session, self.minutes, None, self.tss, self.zone_minutes)


# ---------------------------------------------------------------------------------------------
# The numbers (pure functions of 1 Hz series)


def zone_seconds(fraction_t: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Seconds in each domain of a 1 Hz series of fractions of threshold ([T] -> [NUM_ZONES]);
    a second at exactly an edge is in the domain above (as `sessions.intensity_zone`)."""
    zone_t = np.sum(np.asarray(fraction_t)[:, None] >= np.asarray(edges)[None, :], axis=1)
    return np.bincount(zone_t, minlength=NUM_ZONES).astype(np.float64)


def normalized_power(power_t: np.ndarray) -> float:
    """Coggan's normalised power of a 1 Hz power series (W): the 4th root of the mean of the
    4th power of the 30-s rolling average, which starts at 30 s (Allen & Coggan 2010). A
    series shorter than 30 s is one window (its mean)."""
    p = np.asarray(power_t, np.float64)
    if p.size < NP_WINDOW_S:
        rolling = np.asarray([p.mean()])
    else:
        c = np.concatenate([[0.0], np.cumsum(p)])
        rolling = (c[NP_WINDOW_S:] - c[:-NP_WINDOW_S]) / NP_WINDOW_S  # [T - 29]
    return float(np.mean(rolling**4) ** 0.25)


def training_stress(seconds: float, intensity_factor: float) -> float:
    """TSS = hours x IF^2 x 100 (Coggan)."""
    return seconds / 3600.0 * intensity_factor**2 * 100.0


def session_type(zone_minutes: Sequence[float]) -> str:
    """The catalogue type that minutes in the domains (ZONE_NAMES order) imply: the first of
    hiit, tempo, active_recovery whose rule holds (module docstring), else aerobic_base."""
    total = float(sum(zone_minutes))
    high, hard = zone_minutes[HIGH], zone_minutes[THRESHOLD] + zone_minutes[HIGH]
    if total > 0 and high >= max(HIIT_HIGH_MIN, HIIT_HIGH_SHARE * total):
        return "hiit"
    if total > 0 and hard >= max(TEMPO_HARD_MIN, TEMPO_HARD_SHARE * total):
        return "tempo"
    if total > 0 and zone_minutes[RECOVERY] >= RECOVERY_SHARE * total:
        return "active_recovery"
    return "aerobic_base"


# ---------------------------------------------------------------------------------------------
# Reading files


def _decode(path: Path) -> dict[str, list[dict[str, Any]]]:
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FitImportError(f"{file}: {size} bytes, larger than the {MAX_FILE_BYTES} "
                                 f"bytes accepted for one activity file")
        data = path.read_bytes()
    except OSError as e:
        raise FitImportError(f"{file}: cannot read the file: {e.strerror or e}") from e
    expected = "expected a FIT activity file (.fit) as a device or app exports it"
    if not Decoder(Stream.from_byte_array(bytearray(data))).is_fit():
        raise FitImportError(f"{file}: not a FIT file (no valid FIT file header); {expected}")
    if not Decoder(Stream.from_byte_array(bytearray(data))).check_integrity():
        raise FitImportError(f"{file}: truncated or corrupt FIT file (the FIT integrity check "
                             f"of size and CRC failed); {expected}, copied whole")
    try:
        messages, errors = Decoder(Stream.from_byte_array(bytearray(data))).read(
            convert_datetimes_to_dates=False)
    except Exception as e:  # the SDK reports errors in `errors`; anything else is the same
        errors = [e]
    if errors:
        raise FitImportError(f"{file}: cannot decode the FIT file, corrupt or using a "
                             f"feature the FIT SDK does not read ({errors[0]}); {expected}")
    return messages


def _first(messages: dict[str, list[dict[str, Any]]], key: str) -> dict[str, Any]:
    found = messages.get(key) or [{}]
    return found[0]


def _local_offset_s(messages: dict[str, list[dict[str, Any]]]) -> int:
    """Local time - UTC (s) from the activity message; 0 (UTC) when missing or absurd."""
    activity = _first(messages, "activity_mesgs")
    utc, local = activity.get("timestamp"), activity.get("local_timestamp")
    if not isinstance(utc, int | float) or not isinstance(local, int | float):
        return 0
    offset = int(local - utc)
    return offset if abs(offset) <= 18 * 3600 else 0


def _series(records: list[dict[str, Any]], field: str, valid: tuple[float, float]
            ) -> np.ndarray:
    """The field of each record as float, NaN where missing or outside `valid`. [N]"""
    out = np.full(len(records), np.nan)
    for i, r in enumerate(records):
        v = r.get(field)
        if isinstance(v, int | float) and not isinstance(v, bool) \
                and valid[0] <= v <= valid[1]:
            out[i] = float(v)
    return out


def _hold(values_t: np.ndarray) -> np.ndarray:
    """Missing values (NaN) take the last reading before; leading ones the first reading."""
    valid = ~np.isnan(values_t)
    index = np.where(valid, np.arange(values_t.size), 0)
    np.maximum.accumulate(index, out=index)
    held = values_t[index]
    return np.where(np.isnan(held), values_t[valid][0], held)


def _share(present: np.ndarray, seconds: np.ndarray) -> float:
    return float(np.sum(seconds[present]) / np.sum(seconds))


def read_activity(path: str | Path, athlete: Athlete) -> Activity:
    """Decodes and summarises one FIT activity file for the athlete (module docstring);
    FitImportError names the file and what was expected."""
    path = Path(path)
    file = str(path)
    messages = _decode(path)
    file_id = _first(messages, "file_id_mesgs")
    kind = file_id.get("type")
    if kind != "activity":
        raise FitImportError(f"{file}: not an activity file (file_id type {kind!r}); expected "
                             f"a recorded activity (file_id type 'activity')")
    session_mesg = _first(messages, "session_mesgs")
    sport = session_mesg.get("sport")
    sport = sport if isinstance(sport, str) else None
    records = sorted((r for r in messages.get("record_mesgs", [])
                      if isinstance(r.get("timestamp"), int)), key=lambda r: r["timestamp"])
    if not records:
        raise FitImportError(f"{file}: no record messages with timestamps; expected the "
                             f"activity's recorded samples (power and/or heart rate)")
    t = np.asarray([r["timestamp"] for r in records], np.int64)  # [N] s since the FIT epoch
    gap = np.diff(t, append=t[-1] + 1)  # [N] each record lasts until the next
    seconds = np.where(gap > MAX_GAP_S, 1, gap)  # [N] a long gap is a pause: one second
    moving_s = float(np.sum(seconds))
    minutes = moving_s / 60.0
    if minutes not in PLAUSIBLE["minutes"]:
        raise FitImportError(f"{file}: {minutes:.0f} min of moving time; expected one "
                             f"session's minutes in {PLAUSIBLE['minutes']}")
    start = dt.datetime.fromtimestamp(FIT_EPOCH_S + int(t[0]), dt.UTC)
    date = (start + dt.timedelta(seconds=_local_offset_s(messages))).date()

    def summary(zones: Sequence[float], basis: str, np_w: float | None,
                intensity: float | None, load: float | None, session: str) -> Activity:
        zone_minutes = tuple(float(z) / 60.0 for z in zones)
        return Activity(file, start, date, sport, minutes, zone_minutes,  # type: ignore[arg-type]
                        basis, np_w, intensity, load, session)

    if sport == "training" and session_mesg.get("sub_sport") == "strength_training":
        return summary((0.0,) * NUM_ZONES, "none", None, None, None, "strength")

    power = _series(records, "power", VALID_POWER_W)  # [N]
    heart = _series(records, "heart_rate", VALID_HR_BPM)  # [N]
    ftp, lthr = athlete.threshold_power_w, athlete.threshold_hr
    power_share = _share(~np.isnan(power), seconds)
    heart_share = _share(~np.isnan(heart), seconds)
    if ftp and (sport is None or sport in POWER_SPORTS) and power_share >= MIN_SHARE:
        power_t = np.repeat(np.nan_to_num(power, nan=0.0), seconds)  # [T] 1 Hz, moving
        zones = zone_seconds(power_t / ftp, ZONE_EDGES)
        np_w = normalized_power(power_t)
        intensity = np_w / ftp
        return summary(zones, "power", np_w, intensity, training_stress(moving_s, intensity),
                       session_type(zones))
    if lthr and heart_share >= MIN_SHARE:
        heart_t = np.repeat(_hold(heart), seconds)  # [T]
        zones = zone_seconds(heart_t / lthr, HR_ZONE_EDGES)
        intensity = float(np.mean(heart_t)) / lthr
        return summary(zones, "heart_rate", None, intensity,
                       training_stress(moving_s, intensity), session_type(zones))
    power_why = ("no threshold power set" if not ftp else
                 f"power of sport {sport!r} is not on the cycling FTP scale"
                 if sport is not None and sport not in POWER_SPORTS else
                 f"threshold power {ftp:g} W")
    heart_why = "no threshold heart rate set" if not lthr else f"threshold heart rate {lthr:g}"
    raise FitImportError(
        f"{file}: no usable power or heart rate for athlete {athlete.id!r}: power in "
        f"{power_share:.0%} of the moving time ({power_why}), heart rate in {heart_share:.0%} "
        f"({heart_why}); expected power (with the athlete's threshold power) or heart rate "
        f"(with the athlete's threshold heart rate) in at least {MIN_SHARE:.0%} of it")


def fit_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The files to read: a path, or several; a folder stands for its `*.fit` files."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for p in map(Path, given):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() == ".fit" and f.is_file())
            if not found:
                raise FitImportError(f"{p}: folder without .fit files; expected FIT activity "
                                     f"files (*.fit) in it")
            out += found
        else:
            out.append(p)
    if not out:
        raise FitImportError("no FIT files given; expected one or more .fit activity files")
    return out


def read_activities(paths: str | Path | Iterable[str | Path], athlete: Athlete
                    ) -> list[Activity]:
    """Every file's activity (read_activity), in start order; FitImportError on the first
    refused file, or when two files hold the same activity (the same start time)."""
    activities = sorted((read_activity(p, athlete) for p in fit_paths(paths)),
                        key=lambda a: a.start)
    for a, b in zip(activities, activities[1:]):
        if a.start == b.start:
            raise FitImportError(f"{b.file}: the same activity as {a.file} (both start at "
                                 f"{a.start.isoformat()}); expected each activity once")
    return activities


def read_fit(paths: str | Path | Iterable[str | Path], athlete: Athlete) -> list[LoggedDay]:
    """The days of the FIT activity files at `paths` (one path, several, or a folder of
    .fit files), in date order: each day's activities are its sessions, in start order
    (`Activity.done()`); its readings are missing. Raises FitImportError on any refused file.
    """
    by_date: dict[dt.date, list[Activity]] = {}
    for a in read_activities(paths, athlete):
        by_date.setdefault(a.date, []).append(a)
    days = []
    for date in sorted(by_date):
        try:
            days.append(LoggedDay(date=date, sessions=tuple(a.done() for a in by_date[date])))
        except StoreError as e:  # should not happen after the checks in read_activity
            raise FitImportError(f"{', '.join(a.file for a in by_date[date])}: {e}") from e
    return days


def import_fit(store: Store, athlete_id: str, paths: str | Path | Iterable[str | Path]) -> int:
    """Reads every FIT file at `paths` with the stored athlete's thresholds, then logs the
    days in one transaction (source `fit:<file name>`, or `fit:<n> files`). A day already
    logged (readings from a wearable, rides from other files) is merged under the store's
    rule (`coachrl.coach.store`); returns the number of new or changed days (0: the files
    were imported before). A refused file (FitImportError) or a conflict with stored days
    (StoreError) writes nothing."""
    files = fit_paths(paths)
    days = read_fit(files, store.athlete(athlete_id))
    source = f"fit:{files[0].name}" if len(files) == 1 else f"fit:{len(files)} files"
    return store.log_days(athlete_id, days, source=source[:100])


__all__ = ["HR_ZONE_EDGES", "Activity", "FitImportError", "fit_paths", "import_fit",
           "normalized_power", "read_activities", "read_activity", "read_fit", "session_type",
           "training_stress", "zone_seconds"]
