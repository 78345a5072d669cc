"""The state store's tables (SQLAlchemy Core). The schema itself is created by the
Alembic migrations in ``migrations/versions``; keep both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from sp_sync.adapters.store._common import as_utc


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every backend.

    SQLite has no time zones: the value is stored as naive UTC text (which also sorts
    correctly). PostgreSQL stores ``timestamptz`` and returns the session's zone, which
    is converted back to UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Ids compare byte-wise on PostgreSQL too (a locale collation would differ from SQLite).
ItemId = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
Json = sa.JSON(none_as_null=False)

metadata = sa.MetaData()

items = sa.Table(
    "items",
    metadata,
    sa.Column("list_key", sa.String(100), primary_key=True),
    sa.Column("item_id", ItemId, primary_key=True),
    sa.Column("etag", sa.String(255)),
    sa.Column("fields", Json, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("web_url", sa.Text),
    sa.Column("modified", UTCDateTime),
    sa.Column("modified_by", sa.String(255)),
    sa.Column("deleted_at", UTCDateTime),
    # The enumeration generation that last saw this row (see SqlStore's docstring).
    sa.Column("seen_gen", sa.Integer),
)
# Streams items in numeric id order without sorting the whole list for every chunk.
sa.Index("ix_items_id_order", items.c.list_key, sa.func.length(items.c.item_id), items.c.item_id)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("list_key", sa.String(100), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("committed_at", UTCDateTime),
    sa.Column("enum_gen", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enumerating", sa.Boolean, nullable=False, server_default=sa.false()),
)

item_changes = sa.Table(
    "item_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("list_key", sa.String(100), nullable=False),
    sa.Column("item_id", ItemId, nullable=False),
    sa.Column("column", sa.String(255), nullable=False),
    sa.Column("old", Json),
    sa.Column("new", Json),
    sa.Column("changed_by", sa.String(255)),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Index("ix_item_changes_list_changed", "list_key", "changed_at"),
    sa.Index("ix_item_changes_changed", "changed_at"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("stats", Json, nullable=False),
    sa.Column("message", sa.Text),
    # The process that started the run (host:pid:nonce): a new leader or the SQLite lock's
    # holder marks other processes' unfinished runs "interrupted".
    sa.Column("owner", sa.String(255)),
    sa.Index("ix_runs_job_started", "job", "started_at"),
    sa.Index("ix_runs_status", "status"),
)

# One row per lease (one: "sp-sync"): the replicas' leader and its fencing token.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("period", sa.String(100), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("message_id", sa.String(998), nullable=False),
    sa.Column("mime", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    # Since when a sender holds the entry ("sending"); see StateStore.outbox_claim.
    sa.Column("claimed_at", UTCDateTime),
    sa.UniqueConstraint("job", "period", "recipient", name="uq_outbox_job_period_recipient"),
    sa.Index("ix_outbox_status", "status"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("job", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(100), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("detail", Json, nullable=False),
)

# Lookups kept across processes (site and list ids, schema verdicts) with their age, so a
# run started by cron costs what a daemon's run costs (see ``sp_sync.ports.ResolvedStore``).
resolved = sa.Table(
    "resolved",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(1000), primary_key=True),
    sa.Column("value", Json),
    sa.Column("resolved_at", UTCDateTime, nullable=False),
)
