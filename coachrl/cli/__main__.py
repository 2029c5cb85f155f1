"""`python -m coachrl.cli ...` = the `coachrl` command."""

import sys

from coachrl.cli import main

sys.exit(main())
