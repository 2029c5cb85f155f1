"""An athlete's habit file is stored with them, and a day carries a body weight.

`habit_files` keeps every habit file an athlete was given (`coachrl habits --set`), the
latest being the one in force, as the JSON of `coachrl.sim.config.HabitsConfig`: a new
file adds a row, so no earlier goal is ever lost. `readings.weight_kg` is the day's body
weight (a smart scale through Apple Health, a CSV `weight_kg` column, `coachrl log
--weight`), NULL when not weighed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "habit_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("habits", sa.Text, nullable=False),
    )
    op.create_index("ix_habit_files_athlete_id", "habit_files", ["athlete_id"])
    op.add_column("readings", sa.Column("weight_kg", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings") as batch:  # SQLite cannot drop columns in place
        batch.drop_column("weight_kg")
    op.drop_index("ix_habit_files_athlete_id", "habit_files")
    op.drop_table("habit_files")
