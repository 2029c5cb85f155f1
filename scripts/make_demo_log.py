"""Writes 60 days of a simulated athlete's observable log into the store (the demo athlete).

    .venv/bin/python scripts/make_demo_log.py [--athlete demo] [--days 60] [--db URL]
        [--end YYYY-MM-DD] [--seed 0]

A thin wrapper of `coachrl.cli.demo_log` (step 4 of `coachrl demo`): the log ends the day
before --end (default: today), so that `coachrl today --athlete demo` plans --end.
Re-running with the same settings changes nothing. Exits 2 on bad input.
"""

import sys

from coachrl.cli.demo_log import main

if __name__ == "__main__":
    sys.exit(main())
