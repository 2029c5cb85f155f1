"""One season of one athlete of each archetype under the fixed-periodisation baseline.

    .venv/bin/python scripts/demo.py --out runs/demo [--days 180] [--seed 0]
        [--config configs/world/default.yaml] [--set section.key=value ...]

A thin wrapper of `coachrl.cli.season` (step 1 of `coachrl demo`): writes DIR/season.png
and DIR/summary.csv and prints the summary table. Exits 2 on bad input.
"""

import sys

from coachrl.cli.season import main

if __name__ == "__main__":
    sys.exit(main())
