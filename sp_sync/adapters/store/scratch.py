"""A dry run's state store: reads the real store, keeps every change in memory.

A dry run computes everything a real run would — it pulls, plans, renders — so its plan is
the real run's plan; but nothing it changes may reach the state store. This store copies a
list from the real store into memory before the first change to it (copy on write) and
from then on serves it from memory; run history, outbox and ledger changes stay in memory
too. The real store is only read. Dropped with the run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sp_sync.adapters.store.memory import MemoryStore
from sp_sync.domain.model import FieldChange, MirrorItem, RunRecord
from sp_sync.ports import (
    KeyIndexEntry,
    LeaderInfo,
    ListSyncTransaction,
    OutboxEntry,
    Resolved,
    StateStore,
)


class ScratchStore:
    """See the module docstring. Implements :class:`~sp_sync.ports.StateStore`."""

    def __init__(self, base: StateStore) -> None:
        self.base = base
        self.mem = MemoryStore()
        self._copied: set[str] = set()
        self._lock = threading.Lock()
        self._mem_outbox: set[int] = set()
        self._marks: dict[int, OutboxEntry] = {}  # real entries "marked" during the dry run
        self._resolved: dict[tuple[str, str], Resolved | None] = {}  # None: dropped
        self._dropped: set[str] = set()  # kinds dropped whole

    # ------------------------------------------------------------------ mirror

    def _own(self, list_key: str) -> None:
        """Copy one list (items, tombstones, cursor) into memory before changing it."""
        with self._lock:
            if list_key in self._copied:
                return
            items = list(self.base.items(list_key, include_deleted=True))
            cursor = self.base.cursor(list_key)
            with self.mem.list_sync(list_key) as tx:
                tx.upsert(items)
                if cursor is not None:
                    tx.set_cursor(cursor)
            self._copied.add(list_key)

    def _mirror(self, list_key: str) -> StateStore:
        return self.mem if list_key in self._copied else self.base

    @contextmanager
    def _sync(self, list_key: str) -> Iterator[ListSyncTransaction]:
        self._own(list_key)
        with self.mem.list_sync(list_key) as tx:
            yield tx

    def list_sync(self, list_key: str) -> AbstractContextManager[ListSyncTransaction]:
        return self._sync(list_key)

    def cursor(self, list_key: str) -> str | None:
        return self._mirror(list_key).cursor(list_key)

    def get(self, list_key: str, item_id: str) -> MirrorItem | None:
        return self._mirror(list_key).get(list_key, item_id)

    def get_many(self, list_key: str, ids: Sequence[str]) -> dict[str, MirrorItem]:
        return self._mirror(list_key).get_many(list_key, ids)

    def items(self, list_key: str, include_deleted: bool = False) -> Iterator[MirrorItem]:
        return self._mirror(list_key).items(list_key, include_deleted)

    def count(self, list_key: str) -> int:
        return self._mirror(list_key).count(list_key)

    def key_index(
        self, list_key: str, key_field: str, by_key: bool = False
    ) -> Iterator[KeyIndexEntry]:
        return self._mirror(list_key).key_index(list_key, key_field, by_key)

    def changes(
        self, list_key: str | None = None, since: datetime | None = None
    ) -> list[FieldChange]:
        both = self.base.changes(list_key, since) + self.mem.changes(list_key, since)
        return sorted(both, key=lambda c: c.changed_at)

    def last_synced(self, list_key: str) -> datetime | None:
        return self._mirror(list_key).last_synced(list_key)

    # ------------------------------------------------------------------ run history

    def start_run(self, job: str, started_at: datetime) -> int:
        return self.mem.start_run(job, started_at)

    def finish_run(self, run_id: int, status: str, finished_at: datetime,
                   stats: Mapping[str, Any], message: str | None = None) -> None:
        self.mem.finish_run(run_id, status, finished_at, stats, message)

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        both = self.mem.runs(job, limit) + self.base.runs(job, limit)
        return sorted(both, key=lambda r: r.started_at, reverse=True)[:limit]

    def runs_since(self, since: datetime) -> list[RunRecord]:
        both = self.base.runs_since(since) + self.mem.runs_since(since)
        return sorted(both, key=lambda r: r.started_at)  # stable: base first on a tie

    # ------------------------------------------------------------------ outbox, ledger

    def _entry(self, entry: OutboxEntry | None) -> OutboxEntry | None:
        if entry is None or entry.id in self._mem_outbox:
            return entry
        return self._marks.get(entry.id, entry)

    def outbox_add(self, job: str, period: str, recipient: str, message_id: str,
                   mime: bytes, now: datetime) -> OutboxEntry | None:
        if self.base.outbox_get(job, period, recipient) is not None:
            return None
        entry = self.mem.outbox_add(job, period, recipient, message_id, mime, now)
        if entry is not None:
            self._mem_outbox.add(entry.id)
        return entry

    def outbox_get(self, job: str, period: str, recipient: str) -> OutboxEntry | None:
        mine = self.mem.outbox_get(job, period, recipient)
        return mine if mine is not None else self._entry(
            self.base.outbox_get(job, period, recipient))

    def outbox_pending(self, job: str | None = None) -> list[OutboxEntry]:
        real = [e for e in map(self._entry, self.base.outbox_pending(job))
                if e is not None and e.status in ("pending", "sending")]
        return real + self.mem.outbox_pending(job)

    def outbox_entries(self, job: str, period: str) -> list[OutboxEntry]:
        real = [e for e in map(self._entry, self.base.outbox_entries(job, period))
                if e is not None]
        return sorted(real + self.mem.outbox_entries(job, period), key=lambda e: e.recipient)

    def outbox_claim(self, entry_id: int, now: datetime,
                     stale_before: datetime | None = None) -> OutboxEntry | None:
        if entry_id in self._mem_outbox:
            return self.mem.outbox_claim(entry_id, now, stale_before)
        with self._lock:
            entry = next((e for e in self.outbox_pending() if e.id == entry_id), None)
            if entry is None or (entry.status == "sending" and (
                    stale_before is None or entry.claimed_at is None
                    or entry.claimed_at >= stale_before)):
                return None
            claimed = replace(entry, status="sending", attempts=entry.attempts + 1,
                              claimed_at=now)
            self._marks[entry_id] = claimed
            return claimed

    def outbox_mark(self, entry_id: int, status: str, now: datetime,
                    error: str | None = None) -> None:
        if entry_id in self._mem_outbox:
            self.mem.outbox_mark(entry_id, status, now, error)
            return
        entry = next((e for e in self.outbox_pending() if e.id == entry_id), None)
        if entry is not None:
            self._marks[entry_id] = replace(entry, status=status, error=error)

    def ledger_get(self, job: str, period: str) -> Mapping[str, Any] | None:
        mine = self.mem.ledger_get(job, period)
        return mine if mine is not None else self.base.ledger_get(job, period)

    def ledger_put(self, job: str, period: str, status: str, now: datetime,
                   detail: Mapping[str, Any] | None = None) -> None:
        self.mem.ledger_put(job, period, status, now, detail)

    def ledger_periods(self, job: str) -> list[tuple[str, str]]:
        merged = dict(self.base.ledger_periods(job))
        merged.update(self.mem.ledger_periods(job))
        return sorted(merged.items())

    # ------------------------------------------------------------------ replicas
    # The process's lease and locks are the real store's business, not a run's result:
    # a dry run neither marks runs nor touches the lease.

    def interrupt_runs(self, now: datetime, message: str, job: str | None = None) -> int:
        return 0

    def acquire_lease(self, holder: str, ttl_s: float) -> int | None:
        return self.base.acquire_lease(holder, ttl_s)

    def renew_lease(self, holder: str, token: int, ttl_s: float) -> bool:
        return self.base.renew_lease(holder, token, ttl_s)

    def release_lease(self, holder: str, token: int) -> None:
        self.base.release_lease(holder, token)

    def leader(self) -> LeaderInfo | None:
        return self.base.leader()

    def job_lock(self, job: str, wait: bool = True) -> AbstractContextManager[bool]:
        return self.base.job_lock(job, wait)

    def fence(self, token: int | None) -> None:
        """Nothing to fence: a dry run writes nothing to the real store."""

    # ------------------------------------------------------------------ kept lookups

    def resolved(self, kind: str, key: str) -> Resolved | None:
        if (kind, key) in self._resolved:
            return self._resolved[(kind, key)]
        return None if kind in self._dropped else self.base.resolved(kind, key)

    def put_resolved(self, kind: str, values: Mapping[str, Any], at: datetime) -> None:
        for key, value in values.items():
            self._resolved[(kind, key)] = Resolved(value, at)

    def drop_resolved(self, kind: str, keys: Sequence[str] | None = None) -> None:
        if keys is None:
            self._dropped.add(kind)
            self._resolved = {k: v for k, v in self._resolved.items() if k[0] != kind}
            return
        for key in keys:
            self._resolved[(kind, key)] = None

    def close(self) -> None:
        """Drop the scratch copy; the real store stays open (its owner closes it)."""
        self.mem.close()
