"""The `coachrl` command: every entry point of CoachRL as one program.

    coachrl demo | train | evaluate | validate | import | log | habits | today | serve  [--help]

Each subcommand is a module here with `add_arguments(parser)` and
`handle(args) -> exit code`; its logic lives in the package (this folder and the modules
it calls), and the scripts in scripts/ and launch/ are thin wrappers. Only the chosen
subcommand's arguments are built, and no module imports anything heavy at import time,
so `coachrl today` pays for what it uses only. Bad input (a flag, a file, a conflict
with what is logged) is one line `error: ...` naming it, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from coachrl.cli.common import UsageError

# subcommand -> (module, its add_arguments, its handle, one-line help)
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "demo": ("demo", "add_arguments", "handle",
             "the demo: a season chart, a coach trained, evaluated, and today's plan"),
    "train": ("train", "add_arguments", "handle",
              "train a coach (PPO or MPO; jitted, or distributed on Ray)"),
    "evaluate": ("evaluate", "add_arguments", "handle",
                 "compare a coach with the baselines on held-out athletes (report + plots)"),
    "validate": ("validate", "add_arguments", "handle",
                 "run the virtual trials (published training studies) on the world"),
    "import": ("logs", "add_import_arguments", "run_import_command",
               "import a log: CSV, Apple Health export.xml, Oura JSON or .fit files"),
    "log": ("logs", "add_log_arguments", "run_log_command",
            "log one day by hand: a session, readings, habits, illness or injury"),
    "habits": ("habits", "add_arguments", "handle",
               "an athlete's habit file: store it (--set), list each habit's goal and status"),
    "today": ("today", "add_arguments", "handle",
              "today's plan for a logged athlete (table or JSON; .ics, .zwo, .fit files)"),
    "serve": ("serve", "add_arguments", "handle",
              "the local web app: plan, week, history charts, log form, JSON API"),
}


def _module(command: str):
    return importlib.import_module(f"coachrl.cli.{COMMANDS[command][0]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `coachrl` parser; only `command`'s arguments are added (all with None)."""
    from coachrl import __version__

    parser = argparse.ArgumentParser(
        prog="coachrl", description="CoachRL: reinforcement-learning coaches trained in "
        "simulation, and the daily coach that serves their advice.",
        epilog="`coachrl COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"coachrl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, add, _, text) in COMMANDS.items():
        if command is not None and name != command:
            subparsers.add_parser(name, help=text, add_help=False)
            continue
        module = _module(name)
        sub = subparsers.add_parser(name, help=text, description=f"coachrl {name}: {text}.",
                                    epilog=(module.__doc__ or "").strip() or None,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        getattr(module, add)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `coachrl ARGV`; returns the exit code (2: bad input, one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    handle = getattr(_module(args.command), COMMANDS[args.command][2])
    try:
        return int(handle(args) or 0)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


# Commands whose process ends the moment their work is done (see `entry`).
QUICK_EXIT = frozenset({"today"})


def entry() -> None:
    """The `coachrl` program: `main`, then, for QUICK_EXIT commands, an exit that skips the
    interpreter's teardown of JAX's runtime (~0.3 s of a cold `coachrl today`). By then the
    store is closed and every file written; stdout, stderr and logging are flushed here."""
    code = main()
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command in QUICK_EXIT:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


__all__ = ["COMMANDS", "QUICK_EXIT", "UsageError", "build_parser", "entry", "main"]
