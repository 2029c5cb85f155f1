"""The store's schema as coachrl created it before Alembic (`schema_version` 1).

Stores made by that code (a `schema_version` table holding 1, no `alembic_version`) are
stamped with this revision by `coachrl.coach.migrations.upgrade`, then upgraded.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_version = op.create_table(
        "schema_version",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "athletes",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("max_hr", sa.Float),
        sa.Column("threshold_hr", sa.Float),
        sa.Column("threshold_power_w", sa.Float),
        sa.Column("threshold_pace_s_per_km", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "habit_goals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("habit", sa.String(100), nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("weekly_goal", sa.Float, nullable=False),
        sa.UniqueConstraint("athlete_id", "habit"),
    )
    op.create_index("ix_habit_goals_athlete_id", "habit_goals", ["athlete_id"])
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("hrv_ms", sa.Float),
        sa.Column("rhr_bpm", sa.Float),
        sa.Column("sleep_h", sa.Float),
        sa.Column("sleep_eff", sa.Float),
        sa.Column("recovery", sa.Float),
        sa.Column("benchmark_w", sa.Float),
        sa.Column("ill", sa.Boolean, nullable=False),
        sa.Column("injured", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.UniqueConstraint("athlete_id", "date"),
    )
    op.create_index("ix_readings_athlete_id", "readings", ["athlete_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("session_type", sa.String(50), nullable=False),
        sa.Column("minutes", sa.Float, nullable=False),
        sa.Column("tss", sa.Float),
        sa.Column("rpe", sa.Float),
        sa.Column("steps", sa.Text),
        sa.Column("source", sa.String(100), nullable=False),
        sa.CheckConstraint("kind IN ('planned', 'done')", name="session_kind"),
    )
    op.create_index("ix_sessions_athlete_id", "sessions", ["athlete_id"])
    op.create_index("ix_sessions_date", "sessions", ["date"])
    op.create_table(
        "habits_done",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("habit", sa.String(100), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.UniqueConstraint("athlete_id", "date", "habit"),
    )
    op.create_index("ix_habits_done_athlete_id", "habits_done", ["athlete_id"])
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("athlete_id", sa.String(200), sa.ForeignKey("athletes.id"), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.UniqueConstraint("athlete_id", "date"),
    )
    op.create_index("ix_plans_athlete_id", "plans", ["athlete_id"])
    op.bulk_insert(schema_version, [{"version": 1, "created_at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    for table in ("plans", "habits_done", "sessions", "readings", "habit_goals", "athletes",
                  "schema_version"):
        op.drop_table(table)
