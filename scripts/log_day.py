"""Logs one day by hand: `coachrl log` (a thin wrapper).

    .venv/bin/python scripts/log_day.py --athlete ID [--date YYYY-MM-DD] violin=15 reading=20
        [--weight KG] [--session TYPE --minutes M [--rpe R]] [--hrv MS] [--sleep H] ...

Habits are HABIT=AMOUNT in the units of the athlete's habit file. Logging the same day
again changes nothing; a value that differs from what is logged is refused and nothing is
written. The logic: `coachrl.cli.logs`. Exits 2 on bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from coachrl.cli import main as coachrl


def main(argv: Sequence[str] | None = None) -> int:
    return coachrl(["log", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
