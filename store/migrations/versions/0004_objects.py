"""objects: the unit of review (a group of findings), and decisions on them

Revision ID: 0004_objects
Revises: 0003_finding_source
Create Date: 2026-12-03 15:10:00

Adds ``detected_object``; ``finding.object_id``; and on ``review`` the
``object_id`` a decision is about, ``duplicate_of_object`` and a rejection's
``reason`` (``finding_id`` becomes nullable: an object decision is one row).
Findings stored before this revision get their objects on the next
processing of their flight (``store.objects.sync_flight``), or at once from
``ecopatrol`` commands that call it; nothing here reads findings, so the
revision is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_objects"
down_revision: str | None = "0003_finding_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the finding status type exists (0001): on PostgreSQL, use it rather than create it again
_STATUS = postgresql.ENUM(
    "PENDING", "CONFIRMED", "REJECTED", "DUPLICATE", name="findingstatus", create_type=False
)


def _create_objects() -> None:
    op.create_table(
        "detected_object",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("flight_id", sa.Uuid(), nullable=True),
        sa.Column("patrol_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=128), nullable=True),
        sa.Column("source_id", sa.String(length=128), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("position_error_m", sa.Float(), nullable=True),
        sa.Column("alt_amsl_m", sa.Float(), nullable=True),
        sa.Column("height_agl_m", sa.Float(), nullable=True),
        sa.Column("finding_count", sa.Integer(), nullable=False),
        sa.Column("best_finding_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("change", sa.String(length=16), nullable=True),
        sa.Column("previous_object_id", sa.Uuid(), nullable=True),
        sa.Column("split_from", sa.Uuid(), nullable=True),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["flight_id"], ["flight.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("detected_object", schema=None) as batch_op:
        for column in ("flight_id", "patrol_name", "kind", "site_id", "lat", "lon", "status"):
            batch_op.create_index(batch_op.f(f"ix_detected_object_{column}"), [column])
        batch_op.create_index(batch_op.f("ix_detected_object_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_detected_object_created_at"), ["created_at"])
        batch_op.create_index(
            "ix_object_status_rank_site", ["status", "severity_rank", "site_id", "id"]
        )


def upgrade() -> None:
    _create_objects()
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_finding_object_id"), ["object_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_finding_object_id", "detected_object", ["object_id"], ["id"]
        )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.alter_column("finding_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("object_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of_object", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_review_object_id"), ["object_id"], unique=False)
        batch_op.create_foreign_key("fk_review_object_id", "detected_object", ["object_id"], ["id"])
        batch_op.create_foreign_key(
            "fk_review_duplicate_of_object", "detected_object", ["duplicate_of_object"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_constraint("fk_review_duplicate_of_object", type_="foreignkey")
        batch_op.drop_constraint("fk_review_object_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_review_object_id"))
        batch_op.drop_column("reason")
        batch_op.drop_column("duplicate_of_object")
        batch_op.drop_column("object_id")
    op.execute("DELETE FROM review WHERE finding_id IS NULL")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.alter_column("finding_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_constraint("fk_finding_object_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_finding_object_id"))
        batch_op.drop_column("object_id")
    op.drop_table("detected_object")
