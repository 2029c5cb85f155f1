"""Imports an athlete's log into the store: `coachrl import` (a thin wrapper).

    .venv/bin/python scripts/import_log.py --athlete ID (--csv FILE | --apple-health FILE
        | --oura FILE | --fit FILE [FILE ...]) [--db URL] [--new-athlete]
        [--threshold-power W] [--threshold-hr BPM] [--max-hr BPM]

The whole file is read and checked before anything is written; a bad row or element
fails with the file, the line (or item) and the field. Re-importing the same file changes
nothing; a file that changes an already logged day is refused (logged data are never
overwritten). The logic: `coachrl.cli.logs`. Exits 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from coachrl.cli.common import UsageError
from coachrl.cli.logs import add_import_arguments, run_import


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_import_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_import(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
