"""An in-memory :class:`~sp_sync.ports.StateStore` for tests and dry runs.

Behaves like the SQL store (same contract tests): values come back as a JSON column
would return them, timestamps as aware UTC, and a ``list_sync`` block stages its
changes and applies them only when the block exits normally.

Enumeration marks: the first ``mark_seen`` after a finished enumeration starts a new
one (a new generation); committing a non-``None`` cursor finishes it. Until one has
started, ``unseen_ids`` returns every live id (an empty feed means all were deleted).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sp_sync.adapters.store._common import (
    OUTBOX_STATUSES,
    RUN_STATUSES,
    as_utc,
    as_utc_opt,
    check_status,
    id_sort_key,
    json_copy,
)
from sp_sync.domain.model import FieldChange, MirrorItem, RunRecord
from sp_sync.domain.normalize import canonicalizer
from sp_sync.errors import LeaseLost, StoreError
from sp_sync.ports import KeyIndexEntry, LeaderInfo, OutboxEntry, Resolved

_UNSET: Any = object()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stored_item(item: MirrorItem) -> MirrorItem:
    return item._replace(
        fields=json_copy(dict(item.fields)),
        modified=as_utc_opt(item.modified),
        deleted_at=as_utc_opt(item.deleted_at),
    )


def _stored_change(change: FieldChange) -> FieldChange:
    return replace(
        change,
        old=json_copy(change.old),
        new=json_copy(change.new),
        changed_at=as_utc(change.changed_at),
    )


@dataclass
class _ListState:
    items: dict[str, MirrorItem] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # item id -> enumeration generation
    cursor: str | None = None
    committed_at: datetime | None = None
    enum_gen: int = 0
    enumerating: bool = False


class _MemoryTransaction:
    """Stages one list's changes; :meth:`MemoryStore.list_sync` applies them on success."""

    def __init__(self, list_key: str, state: _ListState) -> None:
        self.list_key = list_key
        self._state = state
        self.items: dict[str, MirrorItem] = {}
        self.changes: list[FieldChange] = []
        self.seen: dict[str, int] = {}
        self.enum_gen = state.enum_gen
        self.enumerating = state.enumerating
        self.cursor: Any = _UNSET

    def _current(self, item_id: str) -> MirrorItem | None:
        staged = self.items.get(item_id)
        return staged if staged is not None else self._state.items.get(item_id)

    def upsert(self, items: Sequence[MirrorItem]) -> None:
        for item in items:
            if item.list_key != self.list_key:
                raise ValueError(
                    f"item {item.id} belongs to list {item.list_key!r}, "
                    f"not to {self.list_key!r}"
                )
            self.items[item.id] = _stored_item(item)

    def tombstone(self, item_ids: Sequence[str], seen_at: datetime) -> None:
        at = as_utc(seen_at)
        for item_id in item_ids:
            current = self._current(item_id)
            if current is not None and current.deleted_at is None:
                self.items[item_id] = current._replace(deleted_at=at)

    def record_changes(self, changes: Sequence[FieldChange]) -> None:
        self.changes.extend(_stored_change(c) for c in changes)

    def mark_seen(self, item_ids: Sequence[str]) -> None:
        if not self.enumerating:
            self.enum_gen += 1
            self.enumerating = True
        for item_id in item_ids:
            self.seen[item_id] = self.enum_gen

    def unseen_ids(self) -> list[str]:
        ids = set(self._state.items) | set(self.items)
        live = [i for i in ids if (item := self._current(i)) and item.deleted_at is None]
        if self.enumerating:
            gen = self.enum_gen
            live = [i for i in live if self.seen.get(i, self._state.seen.get(i)) != gen]
        return sorted(live, key=id_sort_key)

    def set_cursor(self, cursor: str | None) -> None:
        self.cursor = cursor

    def apply(self, store: MemoryStore, now: datetime) -> None:
        state = self._state
        state.items.update(self.items)
        state.seen.update(self.seen)
        # Marks only stick to rows that exist, as in the SQL store.
        for item_id in [i for i in self.seen if i not in state.items]:
            del state.seen[item_id]
        state.enum_gen = self.enum_gen
        state.enumerating = self.enumerating
        if self.cursor is not _UNSET:
            state.cursor = self.cursor
            state.committed_at = now
            if self.cursor is not None:
                state.enumerating = False
        store._changes.extend(self.changes)


class MemoryStore:
    """The whole :class:`~sp_sync.ports.StateStore` protocol, kept in process memory."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or _utcnow
        self._lock = threading.RLock()
        self._lists: dict[str, _ListState] = {}
        self._changes: list[FieldChange] = []
        self._runs: dict[int, RunRecord] = {}
        self._outbox: dict[int, OutboxEntry] = {}
        self._ledger: dict[tuple[str, str], dict[str, Any]] = {}
        self._resolved: dict[tuple[str, str], Resolved] = {}
        self._closed = False
        self._lease: LeaderInfo | None = None
        self._fence: int | None = None

    def _list(self, list_key: str) -> _ListState:
        return self._lists.setdefault(list_key, _ListState())

    def _check_open(self, write: bool = False) -> None:
        if self._closed:
            raise StoreError("the state store is closed")
        if write and self._fence is not None:
            token = self._lease.token if self._lease is not None else None
            if token != self._fence:
                raise LeaseLost(
                    f"state store: write refused: this replica lost the leader lease (its "
                    f"token {self._fence}, now {token}); another replica leads"
                )

    # ------------------------------------------------------------------ mirror

    @contextmanager
    def list_sync(self, list_key: str) -> Iterator[_MemoryTransaction]:
        self._check_open()
        with self._lock:
            tx = _MemoryTransaction(list_key, self._list(list_key))
            yield tx  # an exception propagates and the staged changes are dropped
            self._check_open(write=True)
            tx.apply(self, as_utc(self._clock()))

    def cursor(self, list_key: str) -> str | None:
        with self._lock:
            state = self._lists.get(list_key)
            return state.cursor if state else None

    def last_synced(self, list_key: str) -> datetime | None:
        with self._lock:
            state = self._lists.get(list_key)
            return state.committed_at if state else None

    def get(self, list_key: str, item_id: str) -> MirrorItem | None:
        with self._lock:
            state = self._lists.get(list_key)
            return state.items.get(item_id) if state else None

    def get_many(self, list_key: str, ids: Sequence[str]) -> dict[str, MirrorItem]:
        with self._lock:
            state = self._lists.get(list_key)
            if state is None:
                return {}
            return {i: item for i in ids if (item := state.items.get(i)) is not None}

    def items(self, list_key: str, include_deleted: bool = False) -> Iterator[MirrorItem]:
        with self._lock:
            state = self._lists.get(list_key)
            rows = list(state.items.values()) if state else []
        rows.sort(key=lambda i: id_sort_key(i.id))
        return iter([i for i in rows if include_deleted or i.deleted_at is None])

    def key_index(
        self, list_key: str, key_field: str, by_key: bool = False
    ) -> Iterator[KeyIndexEntry]:
        entries = [(i.fields.get(key_field), i.id, i.etag, i.content_hash)
                   for i in self.items(list_key)]
        if by_key:  # by the canonical key's text (stable: id order within a key)
            canon = canonicalizer(key_field)
            entries.sort(key=lambda e: "" if (k := canon(e[0])) is None else str(k))
        return iter(entries)

    def count(self, list_key: str) -> int:
        with self._lock:
            state = self._lists.get(list_key)
            if state is None:
                return 0
            return sum(1 for i in state.items.values() if i.deleted_at is None)

    def changes(
        self, list_key: str | None = None, since: datetime | None = None
    ) -> list[FieldChange]:
        after = as_utc_opt(since)
        with self._lock:
            found = [
                c
                for c in self._changes
                if (list_key is None or c.list_key == list_key)
                and (after is None or c.changed_at > after)
            ]
        # Stable sort keeps insertion order among equal timestamps, like the SQL id.
        return sorted(found, key=lambda c: c.changed_at)

    # ------------------------------------------------------------------ runs

    def start_run(self, job: str, started_at: datetime) -> int:
        self._check_open(write=True)
        with self._lock:
            run_id = len(self._runs) + 1
            self._runs[run_id] = RunRecord(
                id=run_id, job=job, started_at=as_utc(started_at), finished_at=None,
                status="running", stats={},
            )
            return run_id

    def finish_run(
        self,
        run_id: int,
        status: str,
        finished_at: datetime,
        stats: Mapping[str, Any],
        message: str | None = None,
    ) -> None:
        check_status(status, RUN_STATUSES, "run")
        self._check_open(write=True)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise StoreError(f"there is no run {run_id} to finish")
            self._runs[run_id] = replace(
                run, status=status, finished_at=as_utc(finished_at),
                stats=json_copy(dict(stats)), message=message,
            )

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            found = [r for r in self._runs.values() if job is None or r.job == job]
        found.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return found[:limit]

    def runs_since(self, since: datetime) -> list[RunRecord]:
        since = as_utc(since)
        with self._lock:
            found = [r for r in self._runs.values() if r.started_at >= since]
        found.sort(key=lambda r: (r.started_at, r.id))
        return found

    # ------------------------------------------------------------------ outbox

    def outbox_add(
        self, job: str, period: str, recipient: str, message_id: str, mime: bytes, now: datetime
    ) -> OutboxEntry | None:
        self._check_open(write=True)
        with self._lock:
            if self.outbox_get(job, period, recipient) is not None:
                return None
            entry = OutboxEntry(
                id=len(self._outbox) + 1, job=job, period=period, recipient=recipient,
                message_id=message_id, mime=bytes(mime), status="pending",
                created_at=as_utc(now),
            )
            self._outbox[entry.id] = entry
            return entry

    def outbox_get(self, job: str, period: str, recipient: str) -> OutboxEntry | None:
        with self._lock:
            for e in self._outbox.values():
                if (e.job, e.period, e.recipient) == (job, period, recipient):
                    return e
            return None

    def outbox_entries(self, job: str, period: str) -> list[OutboxEntry]:
        with self._lock:
            found = [e for e in self._outbox.values() if (e.job, e.period) == (job, period)]
        return sorted(found, key=lambda e: e.recipient)

    def outbox_pending(self, job: str | None = None) -> list[OutboxEntry]:
        with self._lock:
            found = [
                e
                for e in self._outbox.values()
                if e.status in ("pending", "sending") and (job is None or e.job == job)
            ]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def outbox_mark(
        self, entry_id: int, status: str, now: datetime, error: str | None = None
    ) -> None:
        check_status(status, OUTBOX_STATUSES, "outbox")
        self._check_open(write=True)
        with self._lock:
            entry = self._outbox.get(entry_id)
            if entry is None:
                raise StoreError(f"there is no outbox entry {entry_id}")
            self._outbox[entry_id] = replace(
                entry,
                status=status,
                error=error,
                attempts=entry.attempts + (1 if status == "sending" else 0),
                sent_at=as_utc(now) if status == "sent" else entry.sent_at,
                claimed_at=as_utc(now) if status == "sending" else entry.claimed_at,
            )

    def outbox_claim(
        self, entry_id: int, now: datetime, stale_before: datetime | None = None
    ) -> OutboxEntry | None:
        self._check_open()
        with self._lock:
            entry = self._outbox.get(entry_id)
            if entry is None:
                return None
            stale = (
                entry.status == "sending" and stale_before is not None
                and (entry.claimed_at is None or entry.claimed_at < as_utc(stale_before))
            )
            if entry.status not in ("pending", "failed") and not stale:
                return None
            claimed = replace(entry, status="sending", attempts=entry.attempts + 1,
                              claimed_at=as_utc(now), error=None)
            self._outbox[entry_id] = claimed
            return claimed

    # ------------------------------------------------------------------ ledger

    def ledger_get(self, job: str, period: str) -> Mapping[str, Any] | None:
        with self._lock:
            record = self._ledger.get((job, period))
            return None if record is None else json_copy_record(record)

    def ledger_put(
        self,
        job: str,
        period: str,
        status: str,
        now: datetime,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self._check_open(write=True)
        with self._lock:
            self._ledger[(job, period)] = {
                "status": status,
                "at": as_utc(now),
                "detail": json_copy(dict(detail or {})),
            }

    def ledger_periods(self, job: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted((p, r["status"]) for (j, p), r in self._ledger.items() if j == job)

    # ------------------------------------------------------------------ resolved

    def resolved(self, kind: str, key: str) -> Resolved | None:
        with self._lock:
            found = self._resolved.get((kind, key))
            return None if found is None else Resolved(json_copy(found.value), found.at)

    def put_resolved(self, kind: str, values: Mapping[str, Any], at: datetime) -> None:
        self._check_open()
        with self._lock:
            for key, value in values.items():
                self._resolved[(kind, key)] = Resolved(json_copy(value), as_utc(at))

    def drop_resolved(self, kind: str, keys: Sequence[str] | None = None) -> None:
        self._check_open()
        with self._lock:
            gone = [k for k in self._resolved
                    if k[0] == kind and (keys is None or k[1] in keys)]
            for k in gone:
                del self._resolved[k]

    def interrupt_runs(self, now: datetime, message: str, job: str | None = None) -> int:
        return 0  # every run in memory belongs to this process

    def acquire_lease(self, holder: str, ttl_s: float) -> int | None:
        with self._lock:
            now = _utcnow()
            until = now + timedelta(seconds=ttl_s)
            lease = self._lease
            if lease is not None and lease.expires_at > now:
                if lease.holder != holder:
                    return None
                self._lease = replace(lease, expires_at=until)
                return lease.token
            token = lease.token + 1 if lease is not None else 1
            self._lease = LeaderInfo(holder, token, until, True)
            return token

    def renew_lease(self, holder: str, token: int, ttl_s: float) -> bool:
        with self._lock:
            now = _utcnow()
            lease = self._lease
            if (lease is None or lease.holder != holder or lease.token != token
                    or lease.expires_at <= now):
                return False
            self._lease = replace(lease, expires_at=now + timedelta(seconds=ttl_s))
            return True

    def release_lease(self, holder: str, token: int) -> None:
        with self._lock:
            lease = self._lease
            if lease is not None and lease.holder == holder and lease.token == token:
                self._lease = replace(lease, expires_at=min(lease.expires_at, _utcnow()))

    def leader(self) -> LeaderInfo | None:
        with self._lock:
            lease = self._lease
        if lease is None:
            return None
        return replace(lease, valid=lease.expires_at > _utcnow())

    @contextmanager
    def job_lock(self, job: str, wait: bool = True) -> Iterator[bool]:
        yield True  # one process; the daemon's scheduler runs a job once at a time

    def fence(self, token: int | None) -> None:
        self._fence = token

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_copy_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger record as returned: ``{"status", "at", "detail"}`` (a fresh copy)."""
    return {"status": record["status"], "at": record["at"], "detail": json_copy(record["detail"])}
