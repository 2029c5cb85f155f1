"""Sessions done carry a logged TSS and time in zone.

`tss_logged` says whether `sessions.tss` was logged (a device's) or derived from the session
type (all rows before this revision); `zone_<name>_min` hold the minutes in each intensity
domain of `coachrl.sim.sessions.ZONE_NAMES` (all four NULL when not logged). The legacy
`schema_version` marker becomes 2, so coachrl from before Alembic (which reads only 1)
refuses the store instead of writing to a schema it does not know.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ZONE_COLUMNS = ("zone_recovery_min", "zone_low_min", "zone_threshold_min", "zone_high_min")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("tss_logged", sa.Boolean, nullable=False,
                                        server_default=sa.false()))
    for name in ZONE_COLUMNS:
        op.add_column("sessions", sa.Column(name, sa.Float, nullable=True))
    op.execute(sa.text("UPDATE schema_version SET version = 2"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:  # SQLite cannot drop columns in place
        for name in (*ZONE_COLUMNS, "tss_logged"):
            batch.drop_column(name)
    op.execute(sa.text("UPDATE schema_version SET version = 1"))
