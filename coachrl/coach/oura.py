"""Importing an Oura Ring export (Oura API v2 JSON) into the log store.

Format: a UTF-8 JSON file holding one object with any of the keys below (other keys, e.g.
`daily_activity`, are ignored; at least one of these three is required). Each is either a
list of items or an object with a `data` list, as the API's responses are. Only these fields
are read; others are ignored. A field that is missing or null means "missing".

  daily_readiness  items (one per day):
    day                    YYYY-MM-DD, required
    score                  readiness score, in [0, 100]        -> recovery
  sleep            items (the API's sleep periods; a day may have several):
    day                    YYYY-MM-DD, required (the day the sleep belongs to)
    type                   "long_sleep" (the main night), "sleep", "late_nap", "rest", ...;
                           "deleted" periods are skipped
    total_sleep_duration   seconds asleep; as hours in [0, 16]  -> sleep_h
    efficiency             percent, in [0, 100]                 -> sleep_eff (as a fraction)
    average_hrv            overnight HRV (rMSSD) in ms, in (0, 300] -> hrv_ms
    lowest_heart_rate      bpm, in [25, 150]                    -> rhr_bpm
  heartrate        items (the API's heart rate samples):
    timestamp              ISO 8601 date-time, required
    bpm                    beats per minute, required, in (0, 250]
    source                 "awake", "rest", "sleep", "workout", ...

Per day, the sleep readings come from one period: the `long_sleep` one if any (the longest
of them if several), else the day's longest period. A day's resting HR is that period's
`lowest_heart_rate`; only if it has none, the heartrate samples are used: the day's lowest
`rest` or `sleep` sample (which must then be in [25, 150]). A sample's day is the date of its
timestamp in the timestamp's own UTC offset, except that `sleep` samples from 18:00 on count
toward the next day (the night's wake-up day, as Oura dates sleep). Heartrate samples only
fill in days that have a readiness or sleep item; they never create a day on their own.

Days are merged across sections by date and returned sorted. Every error is an
`OuraImportError` naming the file and the item (section and index into its list) and field,
e.g. `oura.json, sleep[3].day: '2024-13-01' is not a date: expected YYYY-MM-DD`; invalid JSON
names the line and column. The file is only parsed with the `json` module; nothing in it is
evaluated.

`read_export(path)` returns the days; `import_export(store, athlete_id, path)` validates the
whole file first (a bad item writes nothing), then logs the days with source `oura`, merged
into days already logged under the store's rule (`coachrl.coach.store`), and returns how many
were new or changed. Re-importing the same file is a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coachrl.coach.store import PLAUSIBLE, LoggedDay, Range, StoreError

if TYPE_CHECKING:
    from coachrl.coach.store import Store

SECTIONS = ("daily_readiness", "sleep", "heartrate")
SOURCE = "oura"
MAIN_SLEEP = "long_sleep"
SKIPPED_SLEEP = frozenset({"deleted"})
RESTING_SOURCES = frozenset({"rest", "sleep"})
NIGHT_STARTS = dt.time(18, 0)

# plausible values, in the units checked (sleep in hours)
RANGES: dict[str, Range] = {
    "score": PLAUSIBLE["recovery"],
    "total_sleep_duration": PLAUSIBLE["sleep_h"],
    "efficiency": Range(0.0, 100.0),  # percent; stored as a fraction
    "average_hrv": PLAUSIBLE["hrv_ms"],
    "lowest_heart_rate": PLAUSIBLE["rhr_bpm"],
    "bpm": Range(0.0, 250.0, low_inclusive=False),  # any heart-rate sample
    "resting bpm": PLAUSIBLE["rhr_bpm"],
}


class OuraImportError(ValueError):
    """A refused Oura export: the message names the file, the item and the field."""


class _Item:
    """Error formatting and field parsing for one item of a section."""

    def __init__(self, file: str, section: str, index: int, item: Any) -> None:
        self.file, self.where = file, f"{section}[{index}]"
        if not isinstance(item, Mapping):
            raise self.error(None, f"expected an object, got {_kind(item)}")
        self.item = item

    def error(self, field: str | None, message: str) -> OuraImportError:
        where = f"{self.where}.{field}" if field else self.where
        return OuraImportError(f"{self.file}, {where}: {message}")

    def number(self, field: str, scale: float = 1.0, check: str | None = None,
               required: bool = False) -> float | None:
        raw = self.item.get(field)
        if raw is None:
            if required:
                raise self.error(field, "missing")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self.error(field, f"{raw!r} is not a number")
        value = float(raw)
        if not math.isfinite(value):
            raise self.error(field, f"{raw!r} is not a finite number")
        scaled = value * scale
        plausible = RANGES[check or field]
        if scaled not in plausible:
            unit = " (as hours)" if scale != 1.0 else ""
            raise self.error(field, f"{raw!r}{unit} is out of range: expected a value in "
                                    f"{plausible}")
        return scaled

    def text(self, field: str, required: bool = False) -> str | None:
        raw = self.item.get(field)
        if raw is None:
            if required:
                raise self.error(field, "missing")
            return None
        if not isinstance(raw, str):
            raise self.error(field, f"{raw!r} is not a string")
        return raw

    def day(self) -> dt.date:
        text = self.text("day", required=True)
        assert text is not None
        try:
            if len(text) != 10:
                raise ValueError
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self.error("day", f"{text!r} is not a date: expected YYYY-MM-DD") from None

    def timestamp(self) -> dt.datetime:
        text = self.text("timestamp", required=True)
        assert text is not None
        try:
            if len(text) < 10:
                raise ValueError
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise self.error("timestamp", f"{text!r} is not an ISO 8601 date-time") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def _items(file: str, data: Mapping[str, Any], section: str) -> list[Any]:
    value = data.get(section)
    if value is None:
        return []
    if isinstance(value, Mapping):
        if "data" not in value:
            raise OuraImportError(f"{file}, {section}: an object without a 'data' list")
        value = value["data"]
    if not isinstance(value, list):
        raise OuraImportError(f"{file}, {section}: expected a list of items (or an object "
                              f"with a 'data' list), got {_kind(value)}")
    return value


def _load(path: Path) -> tuple[str, dict[str, Any]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise OuraImportError(f"{file}: cannot read the file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise OuraImportError(f"{file}: not a UTF-8 text file: {e}") from e

    def refuse_constant(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as e:
        raise OuraImportError(f"{file}, line {e.lineno}, column {e.colno}: invalid JSON: "
                              f"{e.msg}") from e
    except ValueError as e:  # NaN / Infinity
        raise OuraImportError(f"{file}: invalid JSON: {e}") from e
    except RecursionError as e:
        raise OuraImportError(f"{file}: invalid JSON: nested too deeply") from e
    if not isinstance(data, dict):
        raise OuraImportError(f"{file}: expected a JSON object with keys "
                              f"{', '.join(SECTIONS)}; got {_kind(data)}")
    if not any(s in data for s in SECTIONS):
        raise OuraImportError(f"{file}: none of the keys {', '.join(SECTIONS)} in the export "
                              f"(keys: {', '.join(map(repr, data)) or 'none'})")
    return file, data


def _sleep_rank(period: dict[str, Any]) -> tuple[bool, float, int]:
    # long_sleep first, then the longest; earlier items win ties
    return (period["type"] == MAIN_SLEEP, period["sleep_h"] or 0.0, -period["index"])


def read_export(path: str | Path) -> list[LoggedDay]:
    """Parses and validates the Oura export at `path` (format: see the module docstring).
    Returns the days sorted by date; raises OuraImportError on any bad item."""
    file, data = _load(Path(path))

    recovery: dict[dt.date, float | None] = {}
    readiness_index: dict[dt.date, int] = {}
    for i, raw in enumerate(_items(file, data, "daily_readiness")):
        item = _Item(file, "daily_readiness", i, raw)
        day = item.day()
        if day in readiness_index:
            raise item.error("day", f"{day.isoformat()} is a duplicate: already "
                                    f"daily_readiness[{readiness_index[day]}]")
        readiness_index[day] = i
        recovery[day] = item.number("score")

    periods: dict[dt.date, list[dict[str, Any]]] = {}
    for i, raw in enumerate(_items(file, data, "sleep")):
        item = _Item(file, "sleep", i, raw)
        day = item.day()
        kind = item.text("type")
        period = {
            "index": i,
            "type": kind,
            "sleep_h": item.number("total_sleep_duration", scale=1 / 3600),
            "sleep_eff": item.number("efficiency"),
            "hrv_ms": item.number("average_hrv"),
            "rhr_bpm": item.number("lowest_heart_rate"),
        }
        if period["sleep_eff"] is not None:
            period["sleep_eff"] /= 100.0
        if kind in SKIPPED_SLEEP:
            continue
        periods.setdefault(day, []).append(period)

    days = set(recovery) | set(periods)
    resting: dict[dt.date, tuple[float, _Item]] = {}
    for i, raw in enumerate(_items(file, data, "heartrate")):
        item = _Item(file, "heartrate", i, raw)
        stamp = item.timestamp()
        bpm = item.number("bpm", required=True)
        assert bpm is not None
        source = item.text("source")
        if source not in RESTING_SOURCES:
            continue
        day = stamp.date()
        if source == "sleep" and stamp.time() >= NIGHT_STARTS:
            day += dt.timedelta(days=1)
        if day in days and (day not in resting or bpm < resting[day][0]):
            resting[day] = (bpm, item)

    result = []
    for day in sorted(days):
        chosen = max(periods[day], key=_sleep_rank) if day in periods else None
        readings = {f: chosen[f] if chosen else None
                    for f in ("sleep_h", "sleep_eff", "hrv_ms", "rhr_bpm")}
        if readings["rhr_bpm"] is None and day in resting:
            _, item = resting[day]
            readings["rhr_bpm"] = item.number("bpm", check="resting bpm")
        try:
            result.append(LoggedDay(date=day, recovery=recovery.get(day), **readings))
        except StoreError as e:  # should not happen after the checks above
            raise OuraImportError(f"{file}: {e}") from e
    return result


def import_export(store: Store, athlete_id: str, path: str | Path) -> int:
    """Reads and validates the whole Oura export at `path`, then logs its days for the
    athlete in one transaction (source `oura`), merged under the store's rule. Returns the
    number of new or changed days; a bad item (OuraImportError) or a conflict with stored
    days (StoreError) writes nothing."""
    days = read_export(path)
    return store.log_days(athlete_id, days, source=SOURCE)
