"""The log store's schema history as Alembic revisions (`versions/`), run from code.

    upgrade(connection)            # a connection in a transaction; to HEAD
    upgrade(connection, "0001")    # or to a given revision (tests build old stores)
    revision_of(connection)        # the store's revision, None when it has none

No alembic.ini: the `Config` is built here with `script_location` this folder, so it works
from an installed package. Revisions:
  0001  the schema as coachrl created it before Alembic (tables + `schema_version` 1)
  0002  sessions: `tss_logged` and time in zone (`zone_<name>_min`, ZONE_NAMES order)
  0003  `habit_files` (each athlete's habit files, the latest in force), readings.weight_kg

A store made before Alembic (a `schema_version` table holding 1 and no `alembic_version`)
is stamped 0001 and upgraded. Adding a revision: write `versions/NNNN_what.py` with
`down_revision` the previous head (`alembic -c <ini with script_location=this folder>
revision -m ...` uses script.py.mako), set HEAD below, and add its columns to the ORM models
in `coachrl.coach.store`; a test checks HEAD against the scripts.

Importing this module does not import Alembic (kept off the cold `coachrl today` path: a
store already at HEAD is only read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

HEAD = "0003"
LEGACY_TABLE = "schema_version"  # coachrl before Alembic: one row, the schema version (1)
LEGACY_VERSION = 1  # the only schema_version that code wrote (= revision 0001)
VERSION_TABLE = "alembic_version"
SCRIPT_LOCATION = Path(__file__).resolve().parent


class MigrationError(RuntimeError):
    """A store this code cannot bring to HEAD (unknown revision or schema)."""


def config(connection: Connection | None = None) -> Any:
    """An Alembic `Config` for the store's scripts (and `connection`, for env.py)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = connection
    return cfg


def revision_of(connection: Connection) -> str | None:
    """The store's Alembic revision; None for an empty database or a pre-Alembic store."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    revisions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    revisions = list(revisions)
    if len(revisions) != 1:
        raise MigrationError(f"{VERSION_TABLE} holds {len(revisions)} revisions "
                             f"{revisions!r}; expected one")
    return revisions[0]


def known_revisions() -> list[str]:
    """Every revision in `versions/`, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def upgrade(connection: Connection, revision: str = "head",
            store_tables: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """Brings the store on `connection` (in a transaction, which the caller commits) to
    `revision`; returns (revision before, revision after).

    An empty database is created from scratch; a pre-Alembic store (`schema_version`
    holding 1) is stamped 0001 first. `store_tables`: table names that, present without
    any version table, mean a store this code cannot identify (MigrationError)."""
    from alembic import command

    before = revision_of(connection)
    tables = set(inspect(connection).get_table_names())
    if before is None and LEGACY_TABLE in tables:
        versions = list(connection.execute(text(f"SELECT version FROM {LEGACY_TABLE}"))
                        .scalars())
        if versions != [LEGACY_VERSION]:
            raise MigrationError(
                f"has schema version {', '.join(map(str, versions)) or 'none'} and no "
                f"Alembic revision; this code upgrades version {LEGACY_VERSION} only")
        command.stamp(config(connection), "0001")
        before = "0001"
    elif before is None and tables & set(store_tables):
        raise MigrationError(f"has store tables ({', '.join(sorted(tables & set(store_tables)))})"
                             f" but neither {VERSION_TABLE} nor {LEGACY_TABLE}")
    if before is not None and before not in known_revisions():
        raise MigrationError(f"is at revision {before!r}, which this coachrl does not know "
                             f"(made by a newer coachrl?); this code's head is {HEAD}")
    command.upgrade(config(connection), revision)
    return before, revision_of(connection) or ""


__all__ = ["HEAD", "MigrationError", "config", "known_revisions", "revision_of", "upgrade"]
