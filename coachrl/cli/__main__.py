"""`python -m coachrl.cli ...` = the `coachrl` command."""

from coachrl.cli import entry

entry()
