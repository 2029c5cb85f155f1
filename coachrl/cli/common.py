"""What the subcommands share: usage errors, dates, the default coach, JAX's compile cache.

Nothing heavy is imported here (no JAX at import time): `coachrl today` must start fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

ENV_HOME = "COACHRL_HOME"  # the user's folder: the store (coach.db), the coach, the cache
ENV_CHECKPOINT = "COACHRL_CHECKPOINT"  # the default coach (a run folder or a checkpoint)
ENV_JAX_CACHE = "COACHRL_JAX_CACHE"  # JAX's compile cache folder; "off" turns it off
DEMO_COACH = Path("runs") / "demo" / "coach"  # `make demo`'s coach, relative to the cwd


class UsageError(Exception):
    """Bad command-line input: reported in one line naming the flag or file; exit code 2."""


def home() -> Path:
    """`$COACHRL_HOME`, else `~/.coachrl` (where the embedded store lives)."""
    value = os.environ.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".coachrl"


def default_workdir() -> Path:
    """Where `coachrl train` writes a run unless told: `$COACHRL_HOME/coach`."""
    return home() / "coach"


def coach_candidates() -> list[Path]:
    """Where the default coach is looked for, in order: `$COACHRL_CHECKPOINT`, then
    `$COACHRL_HOME/coach` (`coachrl train`'s default run), then `runs/demo/coach`
    (`coachrl demo` / `make demo`, relative to the current folder)."""
    env = os.environ.get(ENV_CHECKPOINT)
    if env:
        return [Path(env).expanduser()]
    return [default_workdir(), DEMO_COACH]


def default_checkpoint() -> Path:
    """The first of `coach_candidates()` that holds a checkpoint; UsageError if none does."""
    from coachrl.checkpoint import latest_checkpoint

    candidates = coach_candidates()
    for path in candidates:
        try:
            if latest_checkpoint(path) is not None:
                return path
        except OSError:
            continue
    looked = ", ".join(str(p) for p in candidates)
    raise UsageError(f"--checkpoint: no coach found (looked in {looked}); train one with "
                     "`coachrl train` or `coachrl demo`, or pass --checkpoint RUN_DIR")


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """--config (a world or run YAML; default the default world) and repeatable --set."""
    parser.add_argument("--config", default=None,
                        help="world config YAML, or a run YAML with a `world:` section "
                             "(default configs/world/default.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a world config key, e.g. --set "
                        "adaptation.fatigue_cost=0.05 (repeatable)")


def parse_date(text: str | None, flag: str = "--date") -> dt.date:
    """YYYY-MM-DD (None: today)."""
    if text is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected YYYY-MM-DD") from None


def writable_file(path: str | None, flag: str) -> Path | None:
    """`path` resolved, its folder checked (and created) before anything is written."""
    if not path:
        return None
    from coachrl.files import check_writable

    resolved = Path(path).expanduser().resolve()
    try:
        check_writable(resolved.parent)
    except OSError as error:
        raise UsageError(f"{flag} {path}: cannot write there "
                         f"({error.strerror or error})") from None
    if resolved.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    return resolved


def jax_cache_dir() -> Path | None:
    """`$COACHRL_JAX_CACHE`, else `$COACHRL_HOME/jax-cache` (`~/.coachrl/jax-cache`);
    None when it is "off"."""
    value = os.environ.get(ENV_JAX_CACHE)
    if value is not None and value.strip().lower() in ("", "0", "off", "none"):
        return None
    return Path(value).expanduser() if value else home() / "jax-cache"


def enable_compile_cache() -> Path | None:
    """Turns on JAX's persistent compilation cache (every compile, however short, is kept),
    so a second `coachrl today` loads the plan's programs instead of compiling them.
    A folder that cannot be written leaves the cache off (slower, never wrong)."""
    folder = jax_cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


__all__ = ["DEMO_COACH", "ENV_CHECKPOINT", "ENV_HOME", "ENV_JAX_CACHE", "UsageError",
           "add_world_arguments", "coach_candidates", "default_checkpoint", "default_workdir",
           "enable_compile_cache", "home", "jax_cache_dir", "parse_date", "writable_file"]
