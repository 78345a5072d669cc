"""Outbox claims: ``claimed_at`` says since when a sender holds an entry ("sending").

A sender takes an entry with one conditional UPDATE (see ``StateStore.outbox_claim``);
another process may take over a "sending" entry only once its claim is older than the
mailer's lease (the holder crashed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_at")
