"""Compares coaches on held-out athletes and writes the metrics, a report and plots.

    .venv/bin/python scripts/evaluate.py --out runs/eval
        [--policies random,rule,fixed,polarized,habit,coach] [--athletes 200] [--days 180]
        [--seed 0] [--race-probability P] [--checkpoint RUN_DIR [--sample]]
        [--config configs/world/default.yaml] [--set section.key=value ...]

A thin wrapper of `coachrl.cli.evaluate` (`coachrl evaluate`, where --out defaults to
runs/evaluation). Exits 2 on bad input.
"""

import sys

from coachrl.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
