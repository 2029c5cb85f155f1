"""`coachrl serve`: the local web app (today's plan, the week, history charts, a log form,
a JSON API) on the store and the coach.

Bound to 127.0.0.1 by default (this machine only). Bound elsewhere it needs a token
(--token or $COACHRL_TOKEN), which every request must carry. Without a coach found the app
still serves the log and the history, and says how to give it one.
"""

from __future__ import annotations

import argparse
import os
import sys

from coachrl.cli.common import UsageError, coach_candidates, default_checkpoint

ENV_TOKEN = "COACHRL_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    looked = ", ".join(str(p) for p in coach_candidates())
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument("--token", default=None,
                        help=f"the access token (default ${ENV_TOKEN}); needed when --host is "
                             "not this machine")
    parser.add_argument("--db", default=None, help="store URL (default: the embedded SQLite "
                        "at $COACHRL_HOME/coach.db or ~/.coachrl/coach.db)")
    parser.add_argument("--checkpoint", default=None,
                        help=f"the coach: a run folder or checkpoint (default: the first "
                             f"holding a checkpoint of $COACHRL_CHECKPOINT or: {looked})")


def handle(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be in 1..65535")
    token = args.token or os.environ.get(ENV_TOKEN) or None
    checkpoint = args.checkpoint
    if checkpoint is None:
        try:
            checkpoint = default_checkpoint()
        except UsageError as error:
            print(f"note: {error}", file=sys.stderr)
    try:
        from coachrl.app import serve
        from coachrl.app.security import TokenRequired
    except ImportError as error:
        raise UsageError(f"the web app (coachrl.app) cannot be imported: {error}") from None
    from coachrl.cli.common import enable_compile_cache

    enable_compile_cache()
    try:
        serve(host=args.host, port=args.port, token=token, db_url=args.db,
              checkpoint=None if checkpoint is None else str(checkpoint))
    except TokenRequired as error:
        raise UsageError(f"--host {args.host}: {error}") from None
    return 0


__all__ = ["ENV_TOKEN", "add_arguments", "handle"]
