"""Today's plan for a logged athlete from a trained coach: `coachrl today` (a thin wrapper).

    .venv/bin/python scripts/daily_inference.py --checkpoint runs/demo/coach --athlete demo
        [--date YYYY-MM-DD] [--db URL] [--format table|json] [--ics FILE] [--zwo FILE]
        [--fit FILE] [--workout-file FILE] [--dry-run]

The logic and the flags' meaning: `coachrl.cli.today` (`coachrl today --help`).
Exits 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from coachrl.cli.common import UsageError
from coachrl.cli.today import add_arguments, ics, run, table

__all__ = ["ics", "main", "parse_args", "run", "table"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, checkpoint_required=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
