"""readings and alerts: air-quality stations' values and the episodes over their levels

Revision ID: 0005_readings_alerts
Revises: 0004_objects
Create Date: 2026-12-03 18:50:00

Adds ``reading`` (unique on station, pollutant and time: ingest is
idempotent) and ``alert`` (``open_key`` unique: one open alert per station
and pollutant). Stations themselves are sites (``kind: "station"``) in the
``site`` table, which needs no change. No enum types: the same revision runs
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_readings_alerts"
down_revision: str | None = "0004_objects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_readings() -> None:
    op.create_table(
        "reading",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("pollutant", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wind_speed_m_s", sa.Float(), nullable=True),
        sa.Column("wind_from_deg", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "station_id", "pollutant", "time", name="uq_reading_station_pollutant_time"
        ),
    )
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reading_time"), ["time"])


def _create_alerts() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("pollutant", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("averaging_h", sa.Integer(), nullable=False),
        sa.Column("over_limit", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("peak_value", sa.Float(), nullable=False),
        sa.Column("peak_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("below_count", sa.Integer(), nullable=False),
        sa.Column("open_key", sa.String(length=160), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        for column in ("station_id", "opened_at", "closed_at"):
            batch_op.create_index(batch_op.f(f"ix_alert_{column}"), [column])
        batch_op.create_index(batch_op.f("ix_alert_open_key"), ["open_key"], unique=True)


def upgrade() -> None:
    _create_readings()
    _create_alerts()


def downgrade() -> None:
    op.drop_table("alert")
    op.drop_table("reading")
