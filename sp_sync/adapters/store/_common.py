"""Helpers shared by the store implementations, so both behave identically."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

RUN_STATUSES = frozenset({"running", "ok", "partial", "failed", "interrupted"})
LEASE_NAME = "sp-sync"  # one lease row: one leader per state store
OUTBOX_STATUSES = frozenset({"pending", "sending", "sent", "failed"})


def as_utc(dt: datetime) -> datetime:
    """Aware UTC. A naive value is taken to be UTC already (sp-sync's clock is UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def as_utc_opt(dt: datetime | None) -> datetime | None:
    return None if dt is None else as_utc(dt)


def id_sort_key(item_id: str) -> tuple[int, str]:
    """Numeric order for SharePoint's numeric ids: shorter first, then by digits.

    The SQL store orders by ``(length(item_id), item_id)`` — same key, same order.
    """
    return (len(item_id), item_id)


def json_copy(value: Any) -> Any:
    """What a JSON column would give back (also detaches the caller's mutable dicts)."""
    return json.loads(json.dumps(value))


def check_status(status: str, allowed: frozenset[str], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"unknown {what} status {status!r}; expected one of {sorted(allowed)}")
