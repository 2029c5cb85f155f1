"""Importing an athlete's daily log from a CSV file into the log store.

Format: a UTF-8 CSV file (comma-separated, optional BOM), a header row naming the columns,
then one row per day in chronological order. Column order is free; only `date` is required.
An empty cell means "missing" (readings) or "no" (flags). Whitespace around cells is ignored.

  date          YYYY-MM-DD, required; strictly increasing from row to row (no duplicates)
  hrv_ms        overnight HRV (rMSSD) in ms, in (0, 300]
  rhr_bpm       resting heart rate in bpm, in [25, 150]
  sleep_h       hours asleep, in [0, 16]
  sleep_eff     sleep efficiency as a fraction, in [0, 1]
  recovery      the wearable's recovery score, in [0, 100]
  ill           0/1, true/false, yes/no (any case); empty = false
  injured       same as ill
  session       the session done: one of `coachrl.sim.sessions.SESSION_NAMES`
                (rest, active_recovery, aerobic_base, strength, tempo, hiit);
                empty or `rest` = no session that day
  minutes       session duration in minutes, in [0, 600]; required and > 0 when a session
                other than rest is given; must be empty or 0 without a session
  rpe           session RPE (CR-10), in [0, 10]; optional; only with a session
  benchmark_w   a benchmark effort's power in W, in (0, 3000]; optional
  weight_kg     body weight in kg, in [20, 400]; optional (a smart scale's morning weigh-in)
  habit:<name>  any number of columns: the amount of habit <name> done that day, >= 0,
                in the habit's unit (e.g. `habit:sleep` hours in bed, `habit:mobility` and
                `habit:breathing` minutes); empty = not logged

Numbers are plain decimals (`62`, `7.5`, `1e2`); NaN and infinities are refused. Any other
column is an error. Every error is a `CSVImportError` naming the file, the line (as in a text
editor: the header is line 1) and the field, e.g. `log.csv, line 7, hrv_ms: 'abc' is not a
number`. The file is only parsed as text with the `csv` module; nothing in it is evaluated.

`read_csv(path)` returns the days; `import_csv(store, athlete_id, path)` validates the whole
file first (a bad row writes nothing), then logs the days with source `csv:<file name>`,
merged into days already logged under the store's rule (`coachrl.coach.store`), and returns
how many were new or changed. Re-importing the same file is a no-op; an edited file may add
to a day (an empty cell filled, another session) but a changed value or session is refused
by the store (`StoreError`) and nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

from coachrl.coach.store import PLAUSIBLE, LoggedDay, StoreError
from coachrl.sim.sessions import SESSION_NAMES

if TYPE_CHECKING:
    from coachrl.coach.store import Store

HABIT_PREFIX = "habit:"

# the store's one table of plausible values
RANGES = PLAUSIBLE
READING_COLUMNS = ("hrv_ms", "rhr_bpm", "sleep_h", "sleep_eff", "recovery")
COLUMNS = ("date", *READING_COLUMNS, "ill", "injured", "session", "minutes", "rpe",
           "benchmark_w", "weight_kg")
TRUE = frozenset({"1", "true", "yes"})
FALSE = frozenset({"", "0", "false", "no"})


class CSVImportError(ValueError):
    """A refused CSV log: the message names the file, the line and the field."""


class _Row:
    """Error formatting for one line of the file."""

    def __init__(self, file: str, line: int) -> None:
        self.file, self.line = file, line

    def error(self, field: str | None, message: str) -> CSVImportError:
        where = f"{self.file}, line {self.line}"
        return CSVImportError(f"{where}, {field}: {message}" if field else f"{where}: {message}")

    def number(self, field: str, text: str) -> float | None:
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.error(field, f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise self.error(field, f"{text!r} is not a finite number")
        if field in RANGES and value not in RANGES[field]:
            raise self.error(field, f"{text!r} is out of range: expected a value in "
                                    f"{RANGES[field]}")
        return value

    def flag(self, field: str, text: str) -> bool:
        lowered = text.lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise self.error(field, f"{text!r} is not a yes/no value: expected 0/1, true/false, "
                                f"yes/no or empty")

    def date(self, text: str) -> dt.date:
        if text == "":
            raise self.error("date", "missing: every row needs a date (YYYY-MM-DD)")
        try:
            if len(text) != 10:
                raise ValueError
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self.error("date", f"{text!r} is not a date: expected YYYY-MM-DD") from None


def _allowed() -> str:
    return ", ".join((*COLUMNS, f"{HABIT_PREFIX}<name>"))


def _header(row: _Row, header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise row.error(None, f"column {name!r} appears twice in the header")
        seen.add(name)
        if name.startswith(HABIT_PREFIX):
            if not name[len(HABIT_PREFIX):].strip():
                raise row.error(None, f"column {name!r} has no habit name: expected "
                                      f"{HABIT_PREFIX}<name>")
        elif name not in COLUMNS:
            raise row.error(None, f"unknown column {name!r}; allowed columns: {_allowed()}")
    if "date" not in seen:
        raise row.error(None, f"no 'date' column in the header {names!r}; allowed columns: "
                              f"{_allowed()}")
    return names


def _day(row: _Row, cells: dict[str, str]) -> LoggedDay:
    date = row.date(cells["date"])
    readings = {f: row.number(f, cells.get(f, "")) for f in READING_COLUMNS}
    ill = row.flag("ill", cells.get("ill", ""))
    injured = row.flag("injured", cells.get("injured", ""))
    session = cells.get("session", "")
    minutes = row.number("minutes", cells.get("minutes", ""))
    rpe = row.number("rpe", cells.get("rpe", ""))
    sessions: tuple[tuple[str, float, float | None], ...] = ()
    if session not in SESSION_NAMES and session != "":
        raise row.error("session", f"{session!r} is not a session type: expected one of "
                                   f"{', '.join(SESSION_NAMES)} (or empty)")
    if session in ("", "rest"):
        what = "rest" if session else "no session"
        if minutes:
            raise row.error("minutes", f"{cells['minutes']!r} minutes on a day with {what}: "
                                       f"name the session done, or leave minutes empty")
        if rpe is not None and session == "":
            raise row.error("rpe", f"{cells['rpe']!r} given without a session: name the "
                                   f"session done, or leave rpe empty")
    else:
        if not minutes:
            raise row.error("minutes", f"missing for session {session!r}: expected its "
                                       f"duration in minutes (> 0)")
        sessions = ((session, minutes, rpe),)
    benchmark_w = row.number("benchmark_w", cells.get("benchmark_w", ""))
    weight_kg = row.number("weight_kg", cells.get("weight_kg", ""))
    habits: dict[str, float] = {}
    for name, text in cells.items():
        if not name.startswith(HABIT_PREFIX) or text == "":
            continue
        value = row.number(name, text)
        assert value is not None
        if value < 0:
            raise row.error(name, f"{text!r} is negative: expected an amount >= 0")
        habits[name[len(HABIT_PREFIX):].strip()] = value
    try:
        return LoggedDay(date=date, ill=ill, injured=injured, sessions=sessions, habits=habits,
                         benchmark_w=benchmark_w, weight_kg=weight_kg, **readings)
    except StoreError as e:  # should not happen after the checks above
        raise row.error(None, str(e)) from e


def read_csv(path: str | Path) -> list[LoggedDay]:
    """Parses and validates the CSV log at `path` (format: see the module docstring).
    Returns the days in file (= date) order; raises CSVImportError on any bad row."""
    path = Path(path)
    file = str(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CSVImportError(f"{file}: cannot read the file: {e.strerror or e}") from e
    days: list[LoggedDay] = []
    lines: dict[dt.date, int] = {}
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = None
            line_after_header = 0
            for raw in reader:
                line = reader.line_num
                row = _Row(file, line)
                if header is None:
                    if not any(c.strip() for c in raw):
                        continue  # leading blank lines
                    header = _header(row, raw)
                    line_after_header = line
                    continue
                if not any(c.strip() for c in raw):
                    continue  # blank lines
                if len(raw) != len(header):
                    raise row.error(None, f"{len(raw)} fields, but the header (line "
                                          f"{line_after_header}) has {len(header)}")
                day = _day(row, {h: c.strip() for h, c in zip(header, raw)})
                if day.date in lines:
                    raise row.error("date", f"{day.date.isoformat()} is a duplicate: already "
                                            f"on line {lines[day.date]}")
                if days and day.date < days[-1].date:
                    raise row.error("date", f"{day.date.isoformat()} is out of order: it comes "
                                            f"after {days[-1].date.isoformat()} (line "
                                            f"{lines[days[-1].date]}); the log must be "
                                            f"chronological")
                lines[day.date] = line
                days.append(day)
        except csv.Error as e:
            raise CSVImportError(f"{file}, line {reader.line_num}: malformed CSV: {e}") from e
        except UnicodeDecodeError as e:
            raise CSVImportError(f"{file}: not a UTF-8 text file: {e}") from e
    if header is None:
        raise CSVImportError(f"{file}: empty file: expected a header row with at least a "
                             f"'date' column; allowed columns: {_allowed()}")
    return days


def import_csv(store: Store, athlete_id: str, path: str | Path) -> int:
    """Reads and validates the whole CSV log at `path`, then logs its days for the athlete
    in one transaction (source `csv:<file name>`), merged under the store's rule. Returns the
    number of new or changed days; a bad row (CSVImportError) or a conflict with stored days
    (StoreError) writes nothing."""
    path = Path(path)
    days = read_csv(path)
    return store.log_days(athlete_id, days, source=f"csv:{path.name}")
