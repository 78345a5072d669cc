"""Lookups kept across processes: site and list ids, schema verdicts (issue 15).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "resolved",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resolved")
