"""Runs the virtual trials (published training studies) in the simulated world.

    scripts/validate_world.py [--athletes 200] [--seed 0] [--out runs/validation]
                              [--trials stoggl2014,detraining] [--config RUN.yaml]

A thin wrapper of `coachrl.cli.validate` (`coachrl validate`): a table, report.md,
results.json and forest.png in --out, and one JSON object as the last line.
Exits 1 when a trial fails, 2 on bad input.
"""

import sys

from coachrl.cli.validate import main

if __name__ == "__main__":
    sys.exit(main())
