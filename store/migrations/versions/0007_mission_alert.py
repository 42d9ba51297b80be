"""missions planned from an alert: ``mission.alert_id``

Revision ID: 0007_mission_alert
Revises: 0006_object_queue_index
Create Date: 2026-12-03 22:00:00

A patrol planned to find the source of an air-quality alert
(``POST /alerts/{id}/patrol``) keeps the alert on each of its missions, so the
alert's page lists the patrols and what their flights found. Nullable and
indexed, a foreign key to ``alert.id``: missions planned before this revision,
and routine patrols, have none. The foreign key is named so that batch mode
(SQLite copies the table) can drop it again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_mission_alert"
down_revision: str | None = "0006_object_queue_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_mission_alert_id_alert"


def upgrade() -> None:
    with op.batch_alter_table("mission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_mission_alert_id"), ["alert_id"], unique=False)
        batch_op.create_foreign_key(FOREIGN_KEY, "alert", ["alert_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("mission", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_mission_alert_id"))
        batch_op.drop_column("alert_id")
