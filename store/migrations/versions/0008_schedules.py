"""recurring patrols: ``schedule`` and ``schedule_run``

Revision ID: 0008_schedules
Revises: 0007_mission_alert
Create Date: 2026-12-03 22:40:00

A schedule says when a stored patrol flies by itself (times of day in a named
zone, on some weekdays, or every N minutes from an anchor) and the wind it may
fly in; ``server.scheduler`` decides each slot and records it in
``schedule_run``. Unique on (schedule, slot): the database refuses a second
record of one slot, so a restarted server or a second process never flies a
slot twice. Kinds and statuses are plain text: no enum types, so the same
revision runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_schedules"
down_revision: str | None = "0007_mission_alert"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patrol_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("times", sa.JSON(), nullable=True),
        sa.Column("days", sa.JSON(), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("interval_min", sa.Integer(), nullable=True),
        sa.Column("anchor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_wind_m_s", sa.Float(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_patrol_name"), ["patrol_name"])
    op.create_table(
        "schedule_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("flight_ids", sa.JSON(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedule.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_run_slot"),
    )
    with op.batch_alter_table("schedule_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_run_slot_at"), ["slot_at"])


def downgrade() -> None:
    op.drop_table("schedule_run")
    op.drop_table("schedule")
