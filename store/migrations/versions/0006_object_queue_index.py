"""objects: an index in the review queue's order, and a count of their changes

Revision ID: 0006_object_queue_index
Revises: 0005_readings_alerts
Create Date: 2026-12-03 19:00:00

The queue asks for one status's objects by severity (highest first), then
site, then id, a page at a time. With this index the database walks it back
one severity at a time and sorts only that severity's objects by site,
stopping at the page's end, instead of sorting every object of the status
(``bench/api.py`` measures it).

``change_counter`` counts changes of the objects (``store.models.ChangeCounter``):
a page of them is served again from memory while the count is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_object_queue_index"
down_revision: str | None = "0005_readings_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["status", "severity_rank", "site_id", "id"]


def upgrade() -> None:
    op.create_index("ix_detected_object_queue", "detected_object", COLUMNS)
    counter = op.create_table(
        "change_counter",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(counter, [{"name": "detected_object", "value": 0}])


def downgrade() -> None:
    op.drop_table("change_counter")
    op.drop_index("ix_detected_object_queue", table_name="detected_object")
