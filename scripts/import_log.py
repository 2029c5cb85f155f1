"""Imports an athlete's log into the store: CSV, Apple Health export.xml or Oura JSON.

    .venv/bin/python scripts/import_log.py --athlete ID (--csv FILE | --apple-health FILE
        | --oura FILE) [--db URL] [--new-athlete] [--threshold-power W] [--threshold-hr BPM]
        [--max-hr BPM]

The whole file is read and checked before anything is written; a bad row or
element fails with the file, the line (or item) and the field. Re-importing the
same file changes nothing; a file that changes an already logged day is refused
(logged data are never overwritten). --new-athlete adds the athlete first (with the
thresholds given); without it the athlete must already be in the store.
Exits 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--athlete", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="a log in the documented CSV format")
    source.add_argument("--apple-health", help="an Apple Health export.xml")
    source.add_argument("--oura", help="an Oura API v2 JSON export")
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite)")
    parser.add_argument("--new-athlete", action="store_true", help="add the athlete first")
    parser.add_argument("--threshold-power", type=float, default=None, help="FTP (W)")
    parser.add_argument("--threshold-hr", type=float, default=None, help="LTHR (bpm)")
    parser.add_argument("--max-hr", type=float, default=None, help="maximum heart rate (bpm)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from coachrl.coach import apple_health, csv_import, oura
    from coachrl.coach.store import StoreError, default_url, open_store

    if args.csv:
        path, importer = args.csv, csv_import.import_csv
    elif args.apple_health:
        path, importer = args.apple_health, apple_health.import_export
    else:
        path, importer = args.oura, oura.import_export
    url = args.db or default_url()
    try:
        with open_store(url) as store:
            if args.new_athlete:
                store.add_athlete(args.athlete, threshold_power_w=args.threshold_power,
                                  threshold_hr=args.threshold_hr, max_hr=args.max_hr)
            store.athlete(args.athlete)  # an unknown athlete fails here, before reading
            new = importer(store, args.athlete, path)
    except (StoreError, csv_import.CSVImportError, apple_health.AppleHealthError,
            oura.OuraImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"imported {new} new days from {path} for '{args.athlete}' into {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
