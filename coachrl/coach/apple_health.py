"""Importing an athlete's days from an Apple Health export (`export.xml`) into the log store.

The export (Health app > profile > Export All Health Data, `apple_health_export/export.xml`)
is parsed streaming with `defusedxml.ElementTree.iterparse`: each top-level element is
handled when it ends and then cleared, so memory stays flat however large the file is.
The internal DTD subset Apple writes (`<!ELEMENT>`/`<!ATTLIST>` declarations) is accepted;
entity declarations and external references are refused (`AppleHealthError`), so neither
"billion laughs" expansion nor external entities can happen. Nothing in the file is evaluated.

Records used (everything else is ignored):

  HKQuantityTypeIdentifierHeartRateVariabilitySDNN  (unit ms) -> `hrv_ms`
      Apple reports SDNN, not rMSSD; it is used as the HRV reading as is (the baseline
      features compare an athlete with themselves, so the scale difference does not
      matter as long as one source is used). Apple takes several readings a day, mostly
      overnight; the day's reading is the FIRST one of the date (earliest `startDate`),
      i.e. the overnight/morning reading, the one comparable to other wearables'.
  HKQuantityTypeIdentifierRestingHeartRate  (unit count/min) -> `rhr_bpm`
      the mean of the date's readings (normally there is one per day).
  HKQuantityTypeIdentifierBodyMass  (unit kg or lb) -> `weight_kg`
      a smart scale's weigh-in; the day's reading is the FIRST one of the date (the
      morning weigh-in), pounds converted (1 lb = 0.45359237 kg).
  HKCategoryTypeIdentifierSleepAnalysis -> `sleep_h`, `sleep_eff`
      segments with value HKCategoryValueSleepAnalysisAsleep* (Asleep, AsleepUnspecified,
      AsleepCore, AsleepDeep, AsleepREM) count as asleep, HKCategoryValueSleepAnalysisInBed
      as in bed; Awake segments only join a night together. Segments (of any value) less
      than `NIGHT_GAP` apart form one sleep period, and the whole period is attributed to
      the local date on which it ENDS, so a night crossing midnight counts for the morning
      it ends. Overlapping segments (watch and phone both recording) are merged, not
      double counted. `sleep_h` = hours asleep of the periods ending on the date (a nap
      adds to it); `sleep_eff` = asleep / in bed (capped at 1) when both were recorded,
      else missing.
  Workout elements -> `sessions` (type, minutes from `duration` + `durationUnit`, no RPE)
      on the local date of `startDate`, typed by `workoutActivityType` (`SESSION_OF`):
      running, cycling, swimming and other endurance types -> aerobic_base;
      HighIntensityIntervalTraining -> hiit; Traditional/FunctionalStrengthTraining (and
      CrossTraining) -> strength; Yoga, Flexibility, Walking, Cooldown, MindAndBody,
      Pilates -> active_recovery; any other (unknown) type -> aerobic_base.

Dates are the local dates as written in the `startDate`/`endDate` attributes
(`2024-03-04 07:12:00 +0100` is 2024-03-04), whatever the offset.

Readings outside plausible ranges (HRV in (0, 300] ms, resting HR in [25, 150] bpm, body
weight in [20, 400] kg, hours asleep in [0, 16], workout minutes in (0, 600]) and records
with an unreadable value, unit or date are skipped, each with a warning in the list
returned next to the days; they are not fatal. Broken XML raises `AppleHealthError`
naming the file and the line; so does a DOCTYPE declaring entities, and a file whose
root is not `HealthData`.

`read_export(path, start, end)` returns (days sorted by date, warnings);
`import_export(store, athlete_id, path)` reads the whole file first, then logs its days in
one transaction (source `apple_health`), merged into days already logged under the store's
rule (`coachrl.coach.store`), and returns how many were new or changed. Re-importing the
same export is a no-op.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from coachrl.coach.store import PLAUSIBLE, LoggedDay, Range

if TYPE_CHECKING:
    from coachrl.coach.store import Store

SOURCE = "apple_health"
HRV = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"
RHR = "HKQuantityTypeIdentifierRestingHeartRate"
BODY_MASS = "HKQuantityTypeIdentifierBodyMass"
KG_PER = {"kg": 1.0, "lb": 0.45359237, "g": 0.001}
SLEEP = "HKCategoryTypeIdentifierSleepAnalysis"
ASLEEP_PREFIX = "HKCategoryValueSleepAnalysisAsleep"
IN_BED = "HKCategoryValueSleepAnalysisInBed"
NIGHT_GAP = dt.timedelta(hours=2)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"

RANGES: dict[str, Range] = {
    **{k: PLAUSIBLE[k] for k in ("hrv_ms", "rhr_bpm", "sleep_h", "weight_kg")},
    "minutes": PLAUSIBLE["minutes"]._replace(low_inclusive=False),  # a workout lasts > 0 min
}
UNITS = {HRV: ("hrv_ms", "ms"), RHR: ("rhr_bpm", "count/min")}
MINUTES_PER = {"s": 1 / 60, "sec": 1 / 60, "min": 1.0, "h": 60.0, "hr": 60.0}

_PREFIX = "HKWorkoutActivityType"
_TYPES = {
    "aerobic_base": ("Running", "Cycling", "Swimming", "Rowing", "Elliptical", "Hiking",
                     "CrossCountrySkiing", "StairClimbing", "Paddling", "SkatingSports"),
    "hiit": ("HighIntensityIntervalTraining",),
    "strength": ("TraditionalStrengthTraining", "FunctionalStrengthTraining",
                 "CrossTraining"),
    "active_recovery": ("Yoga", "Flexibility", "Walking", "Cooldown", "MindAndBody",
                        "Pilates"),
}
SESSION_OF: dict[str, str] = {_PREFIX + a: s for s, acts in _TYPES.items() for a in acts}
UNKNOWN_SESSION = "aerobic_base"


class AppleHealthError(ValueError):
    """A refused Apple Health export: the message names the file (and the line if known)."""


def _when(text: str | None) -> dt.datetime:
    if not text:
        raise ValueError("no date")
    return dt.datetime.strptime(text.strip(), DATE_FORMAT)


def _number(text: str | None) -> float:
    value = float(text) if text is not None else math.nan
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _merged_hours(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> float:
    """Length of the union of the intervals, in hours."""
    total = dt.timedelta()
    cur_start = cur_end = None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total.total_seconds() / 3600.0


class _Collector:
    """Per-date accumulation of the records of interest."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.warnings: list[str] = []
        self.hrv: dict[dt.date, tuple[dt.datetime, float]] = {}
        self.rhr: dict[dt.date, list[float]] = defaultdict(list)
        self.weight: dict[dt.date, tuple[dt.datetime, float]] = {}
        # (start, end, local end date, kind) with kind 'asleep', 'in_bed' or 'other'
        self.sleep: list[tuple[dt.datetime, dt.datetime, dt.date, str]] = []
        self.workouts: dict[dt.date, list[tuple[dt.datetime, str, float]]] = defaultdict(list)

    def warn(self, what: str, when: str | None, message: str) -> None:
        self.warnings.append(f"{self.file}: {what} at {when or '?'}: {message}; skipped")

    def record(self, attrib: dict[str, str]) -> None:
        kind = attrib.get("type")
        if kind in UNITS:
            self._reading(kind, attrib)
        elif kind == BODY_MASS:
            self._weight(attrib)
        elif kind == SLEEP:
            self._sleep(attrib)

    def _reading(self, kind: str, attrib: dict[str, str]) -> None:
        field, unit = UNITS[kind]
        when = attrib.get("startDate")
        try:
            start = _when(when)
            value = _number(attrib.get("value"))
        except ValueError as e:
            self.warn(field, when, f"unreadable record: {e}")
            return
        if attrib.get("unit", unit) != unit:
            self.warn(field, when, f"unit {attrib.get('unit')!r}, expected {unit!r}")
            return
        if value not in RANGES[field]:
            self.warn(field, when, f"{value:g} is outside the plausible range "
                                   f"{RANGES[field]}")
            return
        date = start.date()
        if field == "hrv_ms":
            if date not in self.hrv or start < self.hrv[date][0]:
                self.hrv[date] = (start, value)
        else:
            self.rhr[date].append(value)

    def _weight(self, attrib: dict[str, str]) -> None:
        when = attrib.get("startDate")
        try:
            start = _when(when)
            value = _number(attrib.get("value"))
        except ValueError as e:
            self.warn("weight_kg", when, f"unreadable record: {e}")
            return
        unit = attrib.get("unit", "kg")
        if unit not in KG_PER:
            self.warn("weight_kg", when, f"unit {unit!r}, expected one of {', '.join(KG_PER)}")
            return
        kg = round(value * KG_PER[unit], 3)
        if kg not in RANGES["weight_kg"]:
            self.warn("weight_kg", when, f"{kg:g} kg is outside the plausible range "
                                         f"{RANGES['weight_kg']}")
            return
        date = start.date()
        if date not in self.weight or start < self.weight[date][0]:
            self.weight[date] = (start, kg)

    def _sleep(self, attrib: dict[str, str]) -> None:
        when = attrib.get("startDate")
        try:
            start, end = _when(when), _when(attrib.get("endDate"))
        except ValueError as e:
            self.warn("sleep", when, f"unreadable record: {e}")
            return
        if end < start:
            self.warn("sleep", when, "ends before it starts")
            return
        value = attrib.get("value") or ""
        kind = ("asleep" if value.startswith(ASLEEP_PREFIX)
                else "in_bed" if value == IN_BED else "other")
        self.sleep.append((start, end, end.date(), kind))

    def workout(self, attrib: dict[str, str]) -> None:
        when = attrib.get("startDate")
        activity = attrib.get("workoutActivityType") or ""
        try:
            start = _when(when)
            duration = _number(attrib.get("duration"))
            unit = attrib.get("durationUnit", "min")
            if unit not in MINUTES_PER:
                raise ValueError(f"unknown durationUnit {unit!r}")
        except ValueError as e:
            self.warn(f"workout {activity}", when, f"unreadable record: {e}")
            return
        minutes = round(duration * MINUTES_PER[unit], 2)
        if minutes not in RANGES["minutes"]:
            self.warn(f"workout {activity}", when, f"{minutes:g} minutes is outside the "
                                                   f"plausible range {RANGES['minutes']}")
            return
        session = SESSION_OF.get(activity, UNKNOWN_SESSION)
        self.workouts[start.date()].append((start, session, minutes))

    def _nights(self) -> dict[dt.date, tuple[float, float | None]]:
        """date -> (hours asleep, efficiency or None) of the sleep periods ending that date."""
        asleep: dict[dt.date, float] = defaultdict(float)
        in_bed: dict[dt.date, float] = defaultdict(float)
        segments = sorted(self.sleep)
        i = 0
        while i < len(segments):
            period = [segments[i]]
            end = segments[i][1]
            i += 1
            while i < len(segments) and segments[i][0] - end <= NIGHT_GAP:
                period.append(segments[i])
                end = max(end, segments[i][1])
                i += 1
            last = max(period, key=lambda s: s[1])
            date = last[2]  # the local date of the period's end, as written
            asleep[date] += _merged_hours((s[0], s[1]) for s in period if s[3] == "asleep")
            in_bed[date] += _merged_hours((s[0], s[1]) for s in period if s[3] == "in_bed")
        nights = {}
        for date in asleep:
            hours = round(asleep[date], 4)
            if hours <= 0 and in_bed[date] <= 0:
                continue
            if hours not in RANGES["sleep_h"]:
                self.warn("sleep_h", date.isoformat(), f"{hours:g} h asleep is outside the "
                                                       f"plausible range {RANGES['sleep_h']}")
                continue
            eff = (round(min(1.0, asleep[date] / in_bed[date]), 4)
                   if hours > 0 and in_bed[date] > 0 else None)
            nights[date] = (hours, eff)
        return nights

    def days(self, start: dt.date | None, end: dt.date | None) -> list[LoggedDay]:
        nights = self._nights()
        dates = set(self.hrv) | set(self.rhr) | set(nights) | set(self.workouts) | set(self.weight)
        days = []
        for date in sorted(dates):
            if (start is not None and date < start) or (end is not None and date > end):
                continue
            rhr = self.rhr.get(date)
            hours, eff = nights.get(date, (None, None))
            sessions = tuple((s, m, None) for _, s, m in sorted(self.workouts.get(date, [])))
            days.append(LoggedDay(
                date=date,
                hrv_ms=self.hrv[date][1] if date in self.hrv else None,
                rhr_bpm=round(sum(rhr) / len(rhr), 4) if rhr else None,
                sleep_h=hours, sleep_eff=eff, sessions=sessions,
                weight_kg=self.weight[date][1] if date in self.weight else None))
        return days


def read_export(path: str | Path, start: dt.date | None = None,
                end: dt.date | None = None) -> tuple[list[LoggedDay], list[str]]:
    """Parses the Apple Health `export.xml` at `path` (see the module docstring), streaming.
    Returns (the days with start <= date <= end, sorted by date; the warnings about skipped
    records). Raises AppleHealthError on broken XML, a DOCTYPE with entities or a file
    that is not an Apple Health export."""
    path = Path(path)
    file = str(path)
    collector = _Collector(file)
    depth = 0
    root = None
    try:
        with path.open("rb") as handle:
            for event, elem in iterparse(handle, events=("start", "end"),
                                         forbid_dtd=False, forbid_entities=True,
                                         forbid_external=True):
                if event == "start":
                    if root is None:
                        root = elem
                        if elem.tag != "HealthData":
                            raise AppleHealthError(
                                f"{file}: not an Apple Health export: the root element is "
                                f"<{elem.tag}>, expected <HealthData>")
                    depth += 1
                    continue
                depth -= 1
                if depth == 1:  # a direct child of HealthData: handle it, then drop it
                    if elem.tag == "Record":
                        collector.record(elem.attrib)
                    elif elem.tag == "Workout":
                        collector.workout(elem.attrib)
                    elem.clear()
                    root.clear()
    except OSError as e:
        raise AppleHealthError(f"{file}: cannot read the file: {e.strerror or e}") from e
    except ParseError as e:
        line, column = getattr(e, "position", (None, None))
        raise AppleHealthError(f"{file}, line {line}, column {column}: broken XML: "
                               f"{e}") from e
    except DefusedXmlException as e:
        raise AppleHealthError(f"{file}: refused: the file declares entities or external "
                               f"references (a DOCTYPE with <!ENTITY>), which an Apple "
                               f"Health export never does: {e}") from e
    if root is None:
        raise AppleHealthError(f"{file}: empty file: expected a <HealthData> export")
    return collector.days(start, end), collector.warnings


def import_export(store: Store, athlete_id: str, path: str | Path) -> int:
    """Reads the whole export at `path` first (AppleHealthError writes nothing), then logs its
    days for the athlete in one transaction (source `apple_health`), merged under the store's
    rule. Returns the number of new or changed days; re-importing the same export returns 0.
    A value that conflicts with one already logged is refused by the store (StoreError) and
    nothing is written."""
    days, _warnings = read_export(path)
    return store.log_days(athlete_id, days, source=SOURCE)
