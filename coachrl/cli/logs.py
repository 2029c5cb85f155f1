"""`coachrl import` (a log file into the store) and `coachrl log` (one day by hand).

    coachrl log --athlete me violin=15 reading=20 --weight 72.4
    coachrl log --athlete me --session aerobic_base --minutes 60 --rpe 4 --sleep 7.5

Both go through the store's `log_days`, which never overwrites: a day logged again with
the same values changes nothing; one that differs from what is stored is refused with the
date and the field, and nothing of the batch is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coachrl.cli.common import UsageError, parse_date

DB_HELP = "store URL (default: the embedded SQLite at $COACHRL_HOME/coach.db or " \
          "~/.coachrl/coach.db)"


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--athlete", required=True, help="the athlete's id in the store")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="a log in the documented CSV format "
                        "(examples/README.md)")
    source.add_argument("--apple-health", metavar="FILE", help="an Apple Health export.xml")
    source.add_argument("--oura", metavar="FILE", help="an Oura API v2 JSON export")
    source.add_argument("--fit", metavar="FILE", nargs="+",
                        help="one or more .fit activity files (sessions: time in zone, TSS)")
    parser.add_argument("--db", default=None, help=DB_HELP)
    parser.add_argument("--new-athlete", action="store_true",
                        help="add the athlete first (with the thresholds given)")
    parser.add_argument("--threshold-power", type=float, default=None, help="FTP (W)")
    parser.add_argument("--threshold-hr", type=float, default=None, help="LTHR (bpm)")
    parser.add_argument("--max-hr", type=float, default=None, help="maximum heart rate (bpm)")


def _importer(args: argparse.Namespace):
    """(what is read, importer(store, athlete_id) -> new days, its error types)."""
    if args.fit:
        from coachrl.coach import fit_import  # the Garmin SDK: only for .fit files

        paths = [str(Path(p)) for p in args.fit]
        return (", ".join(paths), lambda store, a: fit_import.import_fit(store, a, paths),
                (fit_import.FitImportError,))
    if args.csv:
        from coachrl.coach import csv_import

        return (args.csv, lambda store, a: csv_import.import_csv(store, a, args.csv),
                (csv_import.CSVImportError,))
    if args.apple_health:
        from coachrl.coach import apple_health

        return (args.apple_health,
                lambda store, a: apple_health.import_export(store, a, args.apple_health),
                (apple_health.AppleHealthError,))
    from coachrl.coach import oura

    return (args.oura, lambda store, a: oura.import_export(store, a, args.oura),
            (oura.OuraImportError,))


def run_import(args: argparse.Namespace) -> int:
    """Reads and checks the whole file(s), then logs the new days; returns how many."""
    from coachrl.coach.store import StoreError, default_url, open_store

    what, importer, errors = _importer(args)
    url = args.db or default_url()
    try:
        with open_store(url) as store:
            if args.new_athlete:
                store.add_athlete(args.athlete, threshold_power_w=args.threshold_power,
                                  threshold_hr=args.threshold_hr, max_hr=args.max_hr)
            store.athlete(args.athlete)  # an unknown athlete fails here, before reading
            new = importer(store, args.athlete)
    except (StoreError, OSError, *errors) as error:
        raise UsageError(str(error)) from None
    print(f"imported {new} new days from {what} for '{args.athlete}' into {url}")
    return new


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    from coachrl.sim.sessions import SESSION_NAMES

    parser.add_argument("done", nargs="*", metavar="HABIT=AMOUNT",
                        help="habits done, in their units, e.g. violin=15 reading=20 (the "
                             "athlete's habit file names them; `coachrl habits` lists them)")
    parser.add_argument("--athlete", required=True, help="the athlete's id in the store")
    parser.add_argument("--date", default=None, help="the day, YYYY-MM-DD (default: today)")
    parser.add_argument("--session", default=None, metavar="TYPE",
                        help=f"the session done: {', '.join(SESSION_NAMES)} (with --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="the session's minutes")
    parser.add_argument("--rpe", type=float, default=None, help="the session's RPE (0-10)")
    parser.add_argument("--hrv", type=float, default=None, help="HRV rMSSD this morning (ms)")
    parser.add_argument("--rhr", type=float, default=None, help="resting heart rate (bpm)")
    parser.add_argument("--sleep", type=float, default=None, help="last night's sleep (h)")
    parser.add_argument("--sleep-eff", type=float, default=None,
                        help="sleep efficiency (0-1)")
    parser.add_argument("--recovery", type=float, default=None,
                        help="the wearable's recovery / readiness score (0-100)")
    parser.add_argument("--habit", action="append", default=[], metavar="NAME=AMOUNT",
                        help="a habit done, in its unit, e.g. mobility=10 (repeatable; the "
                             "same as HABIT=AMOUNT)")
    parser.add_argument("--weight", type=float, default=None, help="body weight (kg)")
    parser.add_argument("--ill", action="store_true", help="ill today")
    parser.add_argument("--injured", action="store_true", help="injured today")
    parser.add_argument("--db", default=None, help=DB_HELP)


def logged_day(args: argparse.Namespace):
    """The `LoggedDay` the flags describe, checked as the importers check a CSV row."""
    from coachrl.coach.store import PLAUSIBLE, LoggedDay, StoreError
    from coachrl.sim.sessions import REST, SESSION_NAMES

    date = parse_date(args.date)
    if (args.session is None) != (args.minutes is None) and args.session != SESSION_NAMES[REST]:
        raise UsageError("--session and --minutes go together (a session type and its "
                         "minutes)")
    if args.session is not None and args.session not in SESSION_NAMES:
        raise UsageError(f"--session {args.session!r}: choose from {', '.join(SESSION_NAMES)}")
    if args.rpe is not None and args.session is None:
        raise UsageError("--rpe needs --session")
    readings = {"hrv_ms": ("--hrv", args.hrv), "rhr_bpm": ("--rhr", args.rhr),
                "sleep_h": ("--sleep", args.sleep), "sleep_eff": ("--sleep-eff", args.sleep_eff),
                "recovery": ("--recovery", args.recovery), "weight_kg": ("--weight", args.weight),
                "minutes": ("--minutes", args.minutes), "rpe": ("--rpe", args.rpe)}
    for field, (flag, value) in readings.items():
        if value is not None and field in PLAUSIBLE and value not in PLAUSIBLE[field]:
            raise UsageError(f"{flag} {value:g}: outside the plausible range {PLAUSIBLE[field]}")
    habits: dict[str, float] = {}
    for flag, item in [*(("", d) for d in args.done), *(("--habit ", h) for h in args.habit)]:
        name, sep, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None or value < 0:
            raise UsageError(f"{flag}{item!r}: expected HABIT=AMOUNT with an amount >= 0, "
                             "e.g. mobility=10")
        if name.strip() in habits:
            raise UsageError(f"{flag}{name.strip()}: given twice")
        habits[name.strip()] = value
    sessions = []
    if args.session is not None and args.session != SESSION_NAMES[REST]:
        sessions.append((args.session, args.minutes, args.rpe))
    try:
        return LoggedDay(date, hrv_ms=args.hrv, rhr_bpm=args.rhr, sleep_h=args.sleep,
                         sleep_eff=args.sleep_eff, recovery=args.recovery, ill=args.ill,
                         injured=args.injured, sessions=tuple(sessions), habits=habits,
                         weight_kg=args.weight)
    except StoreError as error:
        raise UsageError(str(error)) from None


def run_log(args: argparse.Namespace) -> int:
    """Logs the day (never over a different one); returns 1 if new, 0 if already logged."""
    from coachrl.coach.store import StoreError, default_url, entry_source, open_store

    day = logged_day(args)
    url = args.db or default_url()
    try:
        with open_store(url) as store:
            known = store.athlete(args.athlete).habit_goals
            unknown = [h for h in day.habits if known and h not in known]
            if unknown:
                raise UsageError(f"{unknown[0]}: not one of the athlete's habits "
                                 f"({', '.join(known)}); a session is logged with --session "
                                 "TYPE --minutes M")
            new = store.log_days(args.athlete, [day], source=entry_source("coachrl log"))
    except StoreError as error:
        raise UsageError(f"{error} (a logged day is never overwritten: nothing was "
                         "written)") from None
    what = ", ".join(f"{h} {a:g} {known[h][0] if h in known else ''}".rstrip()
                     for h, a in day.habits.items())
    print(f"logged {day.date} for '{args.athlete}' in {url}" + (f": {what}" if what else "")
          if new else
          f"{day.date} was already logged for '{args.athlete}' with these values: nothing "
          "changed")
    return new


def run_import_command(args: argparse.Namespace) -> int:
    run_import(args)
    return 0


def run_log_command(args: argparse.Namespace) -> int:
    run_log(args)
    return 0


__all__ = ["add_import_arguments", "add_log_arguments", "logged_day", "run_import",
           "run_import_command", "run_log", "run_log_command"]
