"""Initial state store: items, cursors, item_changes, runs, outbox, ledger.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
# Byte-wise id order on PostgreSQL, as on SQLite.
_ID = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("list_key", sa.String(100), primary_key=True),
        sa.Column("item_id", _ID, primary_key=True),
        sa.Column("etag", sa.String(255)),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("web_url", sa.Text),
        sa.Column("modified", _TS),
        sa.Column("modified_by", sa.String(255)),
        sa.Column("deleted_at", _TS),
        sa.Column("seen_gen", sa.Integer),
    )
    op.create_index(
        "ix_items_id_order", "items", ["list_key", sa.text("length(item_id)"), "item_id"]
    )
    op.create_table(
        "cursors",
        sa.Column("list_key", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("committed_at", _TS),
        sa.Column("enum_gen", sa.Integer, nullable=False, server_default="0"),
        sa.Column("enumerating", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "item_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_key", sa.String(100), nullable=False),
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("column", sa.String(255), nullable=False),
        sa.Column("old", sa.JSON),
        sa.Column("new", sa.JSON),
        sa.Column("changed_by", sa.String(255)),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
    )
    op.create_index("ix_item_changes_list_changed", "item_changes", ["list_key", "changed_at"])
    op.create_index("ix_item_changes_changed", "item_changes", ["changed_at"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_runs_job_started", "runs", ["job", "started_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("period", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(998), nullable=False),
        sa.Column("mime", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("job", "period", "recipient", name="uq_outbox_job_period_recipient"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.create_table(
        "ledger",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("ledger", "outbox", "runs", "item_changes", "cursors", "items"):
        op.drop_table(table)
