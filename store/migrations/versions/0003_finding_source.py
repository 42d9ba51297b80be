"""findings carry their source and, in the air, their height

Revision ID: 0003_finding_source
Revises: 0002_token_version
Create Date: 2026-12-03 01:50:00

``finding.source_id`` (the stack or outfall a finding is attributed to, indexed)
and, for findings placed in the air above their source, ``alt_amsl_m``,
``height_agl_m`` and ``source_distance_m``. All nullable: findings stored
before this revision have no source.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_finding_source"
down_revision: str | None = "0002_token_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("alt_amsl_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("height_agl_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("source_distance_m", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_finding_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_source_id"))
        batch_op.drop_column("source_distance_m")
        batch_op.drop_column("height_agl_m")
        batch_op.drop_column("alt_amsl_m")
        batch_op.drop_column("source_id")
